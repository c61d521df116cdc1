/** The README's stream job example runs as written (its quick starts run in e2e/package.spec.ts). */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempFolder } from './helpers.js';

const root = resolve(import.meta.dirname, '..');
const built = existsSync(resolve(root, 'dist/lib/index.js'));

describe.skipIf(!built && process.env['CLICKWISE_REQUIRE_BUILD'] !== '1')('README', () => {
  it('runs the stream job example (its first part, which needs no secret)', () => {
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
    const block = /### What the whole shop sells now[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const lines = block!.split('\n');
    const upTo = lines.findIndex((l) => l.includes('--once'));
    expect(lines[0]).toBe('npm run build');
    // In a folder of its own, with a copy of what the build wrote (the build itself has run).
    const dir = tempFolder('clickwise-readme-');
    mkdirSync(join(dir, 'dist'));
    cpSync(resolve(root, 'dist/models'), join(dir, 'dist/models'), { recursive: true });
    cpSync(resolve(root, 'dist/catalog.json'), join(dir, 'dist/catalog.json'));
    const script = lines
      .slice(1, upTo + 1)
      .join('\n')
      .replaceAll('npm run stream --', `${resolve(root, 'node_modules/.bin/tsx')} ${resolve(root, 'src/cli/stream/main.ts')}`);
    execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(dir, 'dist/models/delta/manifest.json'), 'utf8')) as { events: number; items: number };
    expect(manifest.events).toBe(2);
    expect(manifest.items).toBeGreaterThan(0);
  });
});
