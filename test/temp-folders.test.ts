/** The run's check for temporary folders left behind names Clickwise's own, and only those. */
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempFolder } from './helpers.js';
import { leftBehind } from './temp-folders.js';

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
});
