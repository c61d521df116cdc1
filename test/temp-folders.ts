/**
 * The unit tests' temporary folders: every test file's forks get a folder of this run as their
 * `TMPDIR` (`os.tmpdir()`), and the run fails at its end when a folder of Clickwise's (a name that
 * begins `clickwise-`) is still in it, since a test that leaves its copy of the model behind fills
 * the disk of the machine that runs it, a few megabytes a run. The run's folder goes either way.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The names in `dir` that a test of Clickwise's made and did not remove. */
export function leftBehind(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith('clickwise-'))
    .sort();
}

export default function setup(): () => void {
  const outer = process.env['TMPDIR'];
  const dir = mkdtempSync(join(tmpdir(), 'clickwise-unit-run-'));
  process.env['TMPDIR'] = dir;
  return () => {
    if (outer === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = outer;
    const left = leftBehind(dir);
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) {
      // An error thrown here is printed but does not fail the run: the exit code does.
      console.error(
        `The unit tests left ${left.length} temporary folder(s) behind: ${left.slice(0, 8).join(', ')}${left.length > 8 ? ', …' : ''}. Remove each one a test makes (see test/helpers.ts, tempFolder).`,
      );
      process.exitCode = 1;
    }
  };
}
