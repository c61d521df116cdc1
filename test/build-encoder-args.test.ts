import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const tsx = resolve(root, 'node_modules/.bin/tsx');

describe('npm run build:encoder refuses a split it cannot read', () => {
  // A split read as NaN kept every basket (no event is at or after NaN): the encoder trained on
  // the evaluation period too. The split is checked before the word vectors are read or installed.
  it.each(['2011-13-45', 'october', '01/10/2011'])('--split %s exits 2 naming the flag, before any reading', (split) => {
    const glove = mkdtempSync(join(tmpdir(), 'clickwise-glove-'));
    onTestFinished(() => rmSync(glove, { recursive: true, force: true }));
    const r = spawnSync(tsx, ['src/cli/encoder/build-encoder.ts', '--split', split, '--out', join(glove, 'out')], {
      cwd: root,
      encoding: 'utf8',
      // Nothing may be installed: an empty vector folder and npm kept offline make a run that
      // goes on past the flags fail at once, with another message.
      env: { ...process.env, CLICKWISE_GLOVE_DIR: glove, npm_config_offline: 'true' },
      timeout: 60_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`--split ${split} is not a date`);
    expect(r.stderr).not.toMatch(/Installing|Reading/);
  });
});
