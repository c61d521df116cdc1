/** The run's check for temporary folders left behind names Clickwise's own, and only those. */
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempFolder } from './helpers.js';
import { folderForRun, leftBehind, restoreTmpdir } from './temp-folders.js';

describe('temporary folders of the unit tests', () => {
  it('lists the folders of Clickwise a test left behind, not those of other programs', () => {
    const dir = tempFolder('clickwise-leftovers-');
    for (const name of ['clickwise-delta-a1', 'tsx-0', 'clickwise-data-b2', 'chromium-x']) mkdirSync(join(dir, name));
    expect(leftBehind(dir)).toEqual(['clickwise-data-b2', 'clickwise-delta-a1']);
  });

  let first = '';
  it('removes a folder asked for in a test when that test ends', () => {
    first = tempFolder('clickwise-ends-');
    expect(existsSync(first)).toBe(true);
  });
  it('(the folder of the test before is gone)', () => {
    expect(first).not.toBe('');
    expect(existsSync(first)).toBe(false);
  });

  for (const fail of ['throw', 'exitCode'] as const) {
    it(`fails a run (${fail}) that left a folder of its own behind, and removes the run's folder`, () => {
      const outer = process.env['TMPDIR'];
      const code = process.exitCode;
      let runDir = '';
      try {
        const teardown = folderForRun('check', fail);
        runDir = tmpdir();
        expect(runDir).not.toBe(outer);
        mkdirSync(join(runDir, 'clickwise-left-x1'));
        writeFileSync(join(runDir, 'other-file'), '');
        if (fail === 'throw') expect(teardown).toThrow(/left 1 temporary folder\(s\) behind: clickwise-left-x1/);
        else {
          teardown();
          expect(process.exitCode).toBe(1);
        }
        expect(process.env['TMPDIR']).toBe(outer);
        expect(existsSync(runDir)).toBe(false);
      } finally {
        process.exitCode = code;
        restoreTmpdir(outer);
      }
    });
  }

  it("removes the folder of an earlier run that was killed, and leaves a running one's", () => {
    const outer = process.env['TMPDIR'];
    // The folders two earlier runs made in this TMPDIR: one of a process that no longer runs
    // (killed: its teardown never ran), one of this process's parent, which still runs.
    const parent = tempFolder('clickwise-outer-');
    const dead = join(parent, 'clickwise-check-run-999999999-aB3dEf');
    const live = join(parent, `clickwise-check-run-${process.ppid}-gH4iJk`);
    mkdirSync(dead);
    mkdirSync(live);
    try {
      process.env['TMPDIR'] = parent;
      const teardown = folderForRun('check', 'throw');
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(live)).toBe(true);
      // This run's own folder is named by its process, so that a later run can tell.
      expect(tmpdir()).toMatch(new RegExp(`clickwise-check-run-${process.pid}-`));
      teardown();
    } finally {
      restoreTmpdir(outer);
    }
  });

  it('passes a run that left nothing of its own', () => {
    const outer = process.env['TMPDIR'];
    try {
      const teardown = folderForRun('check', 'throw');
      mkdirSync(join(tmpdir(), 'chromium-profile-y'));
      expect(teardown).not.toThrow();
    } finally {
      restoreTmpdir(outer);
    }
  });
});
