/** Helpers shared by the Node command-line tools: argument parsing, progress bars, hashing, temporary folders. */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelDigestNow } from '../core/digest.js';
import type { ManifestFile } from '../core/model-io.js';

/** Parses `--name value` and `--flag` arguments. Unknown names are an error listing the valid ones. */
export function parseArgs(
  argv: string[],
  spec: Record<string, 'string' | 'number' | 'boolean'>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--'))
      throw new UsageError(
        `Unexpected argument ${JSON.stringify(a)}. Valid options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}.`,
      );
    const name = a.slice(2);
    const kind = spec[name];
    if (!kind)
      throw new UsageError(
        `Unknown option --${name}. Valid options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}.`,
      );
    if (kind === 'boolean') {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new UsageError(`Option --${name} needs a value.`);
    if (kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`Option --${name} must be a number, got ${JSON.stringify(v)}.`);
      out[name] = n;
    } else out[name] = v;
  }
  return out;
}

/** A one-line progress bar on stderr (plain lines when stderr is not a terminal). */
export function progressBar(label: string, total: number): { tick(done: number): void; end(): void } {
  const start = Date.now();
  let lastPct = -1;
  const tty = process.stderr.isTTY;
  return {
    tick(done: number) {
      const pct = Math.floor((100 * done) / Math.max(1, total));
      if (pct === lastPct) return;
      if (!tty && pct % 10 !== 0) return;
      lastPct = pct;
      const width = 30;
      const fill = Math.round((width * pct) / 100);
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      const line = `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${secs}s`;
      if (tty) process.stderr.write(`\r${line}`);
      else process.stderr.write(`${line}\n`);
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/**
 * A comma-separated list of numbers from `lo` to `hi` (`--flag 0.01,0.1`), or a UsageError naming
 * the flag: an empty entry is refused, not read as 0.
 */
export function numberList(flag: string, value: unknown, lo: number, hi: number): number[] {
  const parts = String(value).split(',');
  const list = parts.map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  if (!list.every((v) => Number.isFinite(v) && v >= lo && v <= hi))
    throw new UsageError(`--${flag} must be one or more numbers from ${lo} to ${hi}, separated by commas, got ${String(value)}.`);
  return list;
}

/** A `yes` or `no` flag's answer; `fallback` where it is not given. */
export function yesNo(flag: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = String(value);
  if (v !== 'yes' && v !== 'no') throw new UsageError(`--${flag} must be yes or no, got ${v}.`);
  return v === 'yes';
}

/** Hex sha256 of a file's bytes. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Hex sha256 of bytes. */
export function sha256Bytes(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A manifest's entry for a file: its sha256, its length and, where the WebAssembly kernel runs,
 * its `k64` digest, which loaders check instead of sha256 (see `ManifestFile`).
 */
export function manifestFile(path: string, data: Uint8Array): ManifestFile {
  const k64 = kernelDigestNow(data);
  return { path, sha256: sha256Bytes(data), bytes: data.byteLength, ...(k64 ? { k64 } : {}) };
}

/** Bad command-line input: the command prints the message and its usage, and exits with 2. */
export class UsageError extends Error {}

/**
 * The folder `--out` names, resolved, once it is known that it can be written: it is there and a
 * writable folder, or the nearest folder above it that is there is. Made by the tool as it
 * writes; a path through a file, or a folder without write permission, is a
 * {@link UsageError} before any work (`npm run maintain` trains for minutes before it writes).
 */
export function outputFolder(arg: unknown): string {
  const out = resolve(String(arg));
  let at = out;
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  try {
    if (!statSync(at).isDirectory()) throw new Error(`${at} is not a folder`);
    accessSync(at, constants.W_OK);
  } catch (err) {
    throw new UsageError(`--out ${out}: it cannot be written (${err instanceof Error ? err.message : String(err)}).`);
  }
  return out;
}

/**
 * The file `--out` names, resolved, with its folder made now: a run of many minutes must not end
 * unable to write what it measured. A folder that cannot be made (a file in its path, no
 * permission) is a {@link UsageError} before any work.
 */
export function outputFile(arg: unknown): string {
  const out = resolve(String(arg));
  try {
    mkdirSync(dirname(out), { recursive: true });
  } catch (err) {
    throw new UsageError(`--out ${out}: its folder cannot be made (${err instanceof Error ? err.message : String(err)}).`);
  }
  return out;
}

/** A command of the command-line tool: its usage text and what it does with its arguments. */
export interface Command {
  usage: string;
  run(argv: string[]): Promise<void>;
}

/**
 * Runs a command as a process: `--help` prints its usage (exit 0); a `UsageError` prints the
 * message and the usage (exit 2); any other failure prints its message (exit 1). Scripts can
 * trust the exit code.
 */
export function runCommand(command: Command, argv: string[]): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(command.usage);
    return;
  }
  command.run(argv).catch((err: unknown) => {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n\n${command.usage}`);
      process.exit(2);
    }
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}

/** The signals that stop a command from outside: Ctrl-C, a kill, a closed terminal. */
const STOPPING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Folders to remove should one of {@link STOPPING_SIGNALS} stop the process. */
const removedOnStop = new Set<string>();

function stopped(signal: NodeJS.Signals): void {
  for (const path of removedOnStop) rmSync(path, { recursive: true, force: true });
  removedOnStop.clear();
  for (const s of STOPPING_SIGNALS) process.removeListener(s, stopped);
  // With no listener left, the signal does what it would have done: the process ends by it.
  process.kill(process.pid, signal);
}

/**
 * Removes `path` (a temporary folder) should the process be stopped by Ctrl-C, a kill or a closed
 * terminal before the returned function is called; the process then ends by that signal, as it
 * would have. A `finally` does not run then. Call the returned function once the folder is gone
 * or kept on purpose.
 */
export function removedIfStopped(path: string): () => void {
  if (removedOnStop.size === 0) for (const s of STOPPING_SIGNALS) process.on(s, stopped);
  removedOnStop.add(path);
  return () => {
    if (!removedOnStop.delete(path) || removedOnStop.size > 0) return;
    for (const s of STOPPING_SIGNALS) process.removeListener(s, stopped);
  };
}

/** True while a process of that id runs (or one this process may not signal). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the folders `<prefix><pid>-…` in `dir` whose process no longer runs: what a run killed
 * outright left (out of memory, `kill -9`, or a runner that force-kills a command that did not
 * stop within its grace time, as `tsx` does after 60 ms). Returns the names removed.
 */
export function sweepLeftTempFolders(prefix: string, dir: string = tmpdir()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)-/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || running(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * A temporary folder of this process's own, `<tmpdir>/<prefix><pid>-XXXXXX`, removed should a
 * signal stop the process ({@link removedIfStopped}); those that runs killed outright left are
 * removed first ({@link sweepLeftTempFolders}). `remove` removes it, once the work is done.
 */
export function ownTempFolder(prefix: string): { path: string; remove(): void } {
  sweepLeftTempFolders(prefix);
  const path = mkdtempSync(join(tmpdir(), `${prefix}${process.pid}-`));
  const release = removedIfStopped(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      release();
    },
  };
}

/** True when the module at `url` is the script Node was started with. */
export function isEntry(url: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(url);
}

/**
 * The `models/` folder shipped with this package: found upward from this file, so it is right
 * from src/cli (a checkout) and from dist/lib/cli (the installed package) alike.
 */
export function packageModels(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models', 'manifest.json'))) return join(dir, 'models');
    if (dirname(dir) === dir) return resolve('models');
  }
}
