/**
 * The tests' temporary folders: a run of the unit tests (vitest's `globalSetup`) or of the
 * end-to-end tests (Playwright's, `e2e/temp-folders.ts`) gets a folder of its own as the `TMPDIR`
 * (`os.tmpdir()`) of every process it starts, and fails at its end when a folder of Clickwise's (a
 * name that begins `clickwise-`) is still in it, since a test that leaves its copy of the model
 * behind fills the disk of the machine that runs it, a few megabytes a run. The run's folder goes
 * either way, and a run that was killed before its end has its folder removed by the next run.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepLeftTempFolders } from '../src/cli/common.js';

/** Puts `TMPDIR` back as it was: `value`, or unset where it was (not the string "undefined"). */
export function restoreTmpdir(value: string | undefined): void {
  if (value === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = value;
}

/** The names in `dir` that a test of Clickwise's made and did not remove. */
export function leftBehind(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith('clickwise-'))
    .sort();
}

/**
 * Gives this run a `TMPDIR` of its own and returns the teardown that checks and removes it. What
 * the runner heeds decides how a leftover fails the run: vitest prints an error thrown in its
 * teardown but exits with 0, so `fail: 'exitCode'` sets the exit code; Playwright fails on an error
 * thrown there (`fail: 'throw'`).
 */
export function folderForRun(tests: string, fail: 'exitCode' | 'throw'): () => void {
  const outer = process.env['TMPDIR'];
  // Named by this process, so that a later run removes it should this one be killed before its
  // teardown (which then never runs); those of earlier runs killed so go now.
  const prefix = `clickwise-${tests}-run-`;
  sweepLeftTempFolders(prefix);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}${process.pid}-`));
  process.env['TMPDIR'] = dir;
  return () => {
    restoreTmpdir(outer);
    const left = leftBehind(dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length === 0) return;
    const message = `The ${tests} tests left ${left.length} temporary folder(s) behind: ${left.slice(0, 8).join(', ')}${left.length > 8 ? ', …' : ''}. Remove each folder a test makes (in the unit tests, test/helpers.ts's tempFolder does).`;
    if (fail === 'throw') throw new Error(message);
    console.error(message);
    process.exitCode = 1;
  };
}

export default function setup(): () => void {
  return folderForRun('unit', 'exitCode');
}
