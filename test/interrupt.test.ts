// A command stopped by Ctrl-C or a kill must not leave its temporary folder behind: the eval's
// holds a copy of every base it trains (megabytes on a small shop, far more on a large one).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ownTempFolder, removedIfStopped, running, sweepLeftTempFolders } from '../src/cli/common.js';
import { gzipLines, syntheticLog } from '../src/cli/dev/synthetic-log.js';
import { tempFolder } from './helpers.js';

const root = resolve(import.meta.dirname, '..');

/** Waits until `ready()` holds, checking every 50 ms, for at most `ms`. */
async function until(ready: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (ready()) return true;
  return ready();
}

/**
 * A small synthetic log in a test folder, the eval's arguments to replay it, and the folder the
 * eval is to take as its `TMPDIR`, with the eval's temporary folders in it.
 */
function evalOnSmallLog(prefix: string): { args: string[]; tmp: string; made: () => string[] } {
  const dir = tempFolder(prefix);
  const log = syntheticLog({ items: 300, shoppers: 120, seed: 5 });
  writeFileSync(join(dir, 'events.csv.gz'), gzipLines(log.events));
  writeFileSync(join(dir, 'items.csv'), log.items.join('\n') + '\n');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  return {
    args: ['--events', join(dir, 'events.csv.gz'), '--items', join(dir, 'items.csv'), '--split', '2021-11-01', '--methods', 'clickwise'],
    tmp,
    made: () => readdirSync(tmp).filter((f) => f.startsWith('clickwise-eval-')),
  };
}

describe('an interrupted eval', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`removes its temporary folder on ${signal} and ends as that signal asks`, async () => {
      const { args, tmp, made } = evalOnSmallLog('clickwise-interrupt-');
      // Node itself, with tsx's loader, as the npm scripts run it (the next test runs it so).
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/eval/eval.ts', ...args], {
        cwd: root,
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
        child.on('exit', (code, signal) => done({ code, signal })),
      );
      // The folder is made once the log is read, before the base is trained.
      expect(await until(() => made().length === 1, 60_000), stderr).toBe(true);
      const folder = join(tmp, made()[0]!);
      expect(existsSync(folder)).toBe(true);
      child.kill(signal);
      const end = await ended;
      expect(end, stderr).toEqual({ code: null, signal });
      expect(existsSync(folder), `${folder} was left behind`).toBe(false);
    }, 90_000);
  }
});

describe('an eval stopped under npm run', () => {
  it('removes its folder though it was busy when Ctrl-C came', async () => {
    const { args, tmp, made } = evalOnSmallLog('clickwise-interrupt-npm-');
    // `npm run eval`, in a process group of its own, as a terminal runs it.
    const npm = spawn('npm', ['run', '--silent', 'eval', '--', ...args], {
      cwd: root,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    let stderr = '';
    npm.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const ended = new Promise<void>((done) => npm.on('exit', () => done()));
    expect(await until(() => made().length === 1, 60_000), stderr).toBe(true);
    const folder = join(tmp, made()[0]!);
    // The folder is named by the eval's own process. Stopping that process for a moment stands
    // for a command busy in a long computation when Ctrl-C comes: it cannot answer at once.
    const evalPid = Number(/^clickwise-eval-(\d+)-/.exec(made()[0]!)![1]);
    process.kill(evalPid, 'SIGSTOP');
    try {
      process.kill(-npm.pid!, 'SIGINT');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      // A runner that force-kills a command slow to stop has already ended it.
      if (running(evalPid)) process.kill(evalPid, 'SIGCONT');
    }
    await ended;
    // The eval itself may outlive npm by a moment.
    expect(await until(() => !running(evalPid), 30_000), 'the eval did not stop').toBe(true);
    expect(existsSync(folder), `${folder} was left behind`).toBe(false);
  }, 90_000);
});

describe('removedIfStopped', () => {
  it('listens for the stopping signals only while a folder is registered', () => {
    const before = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    const releaseA = removedIfStopped(tempFolder('clickwise-interrupt-a-'));
    const releaseB = removedIfStopped(tempFolder('clickwise-interrupt-b-'));
    const during = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
    expect(during).toEqual(before.map((c) => c + 1));
    releaseA();
    releaseA();
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(during);
    releaseB();
    expect(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s))).toEqual(before);
  });
});

describe('sweepLeftTempFolders', () => {
  it('removes the folders of processes that no longer run, and only those', () => {
    const dir = tempFolder('clickwise-sweep-');
    // A process that has ended: its id is free (the system may give it again, but not this soon).
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const names = [
      `clickwise-eval-${gone}-aB3dEf`,
      `clickwise-eval-${process.pid}-gH5jKl`,
      `clickwise-eval-${process.ppid}-mN7pQr`,
      `clickwise-eval-notapid`,
      `clickwise-load-${gone}-sT9vWx`,
    ];
    for (const name of names) mkdirSync(join(dir, name));
    expect(sweepLeftTempFolders('clickwise-eval-', dir)).toEqual([names[0]]);
    expect(readdirSync(dir).sort()).toEqual(names.slice(1).sort());
  });
});

describe('ownTempFolder', () => {
  it("names its folder by the process, sweeps a dead run's first, and removes its own", () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const left = join(tmpdir(), `clickwise-own-${gone}-aB3dEf`);
    mkdirSync(left);
    const folder = ownTempFolder('clickwise-own-');
    expect(existsSync(left)).toBe(false);
    expect(basename(folder.path)).toMatch(new RegExp(`^clickwise-own-${process.pid}-`));
    expect(process.listenerCount('SIGINT')).toBeGreaterThan(0);
    folder.remove();
    expect(existsSync(folder.path)).toBe(false);
  });
});
