/** The README's library example runs as written (against the built package, in Node). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const built = existsSync(resolve(root, 'dist/lib/index.js'));

describe.skipIf(!built && process.env['CLICKWISE_REQUIRE_BUILD'] !== '1')('README', () => {
  it('runs the library example', () => {
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    const block = /### As a library\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    // The example is TypeScript only in name: it is valid JavaScript as written.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', block!], { cwd: root, encoding: 'utf8' });
    expect(out).toMatch(/because: kit-01a/);
    expect(out).toMatch(/backend: 'wasm'|backend: 'cpu'/);
    expect(out).toMatch(/clicks: 1/);
  });
});
