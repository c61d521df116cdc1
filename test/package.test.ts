/**
 * `import { createRecommender } from 'clickwise'` works in plain Node through the package's
 * `exports` map, with types. Needs `npm run build:lib` (run by `npm test` before the unit tests).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const built = existsSync(resolve(root, 'dist/lib/index.js'));

describe.skipIf(!built && process.env['CLICKWISE_REQUIRE_BUILD'] !== '1')('the clickwise package', () => {
  it('exports createRecommender with types, and runs in Node with a folder path as modelUrl', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
      name: string;
      exports: Record<string, { types: string; import: string }>;
    };
    expect(pkg.name).toBe('clickwise');
    expect(existsSync(resolve(root, pkg.exports['.']!.types))).toBe(true);
    expect(existsSync(resolve(root, pkg.exports['./react']!.types))).toBe(true);
    expect(readFileSync(resolve(root, pkg.exports['.']!.types), 'utf8')).toMatch(/createRecommender/);
    const script = `
      import { createRecommender } from 'clickwise';
      const rec = await createRecommender({ catalog: 'public/catalog.json', modelUrl: 'models/', backend: 'cpu' });
      await rec.click('kit-01a');
      const top = await rec.recommend({ k: 3 });
      console.log(JSON.stringify({ backend: rec.stats().backend, storage: rec.stats().storage, clicks: rec.stats().clicks, n: top.length }));
      rec.dispose();`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ backend: 'cpu', storage: 'memory', clicks: 1, n: 3 });
  });

  it('exports what a shop uses and no internals; is publishable, with a semver version and its changelog entry', async () => {
    const entry = (await import(resolve(root, 'dist/lib/index.js'))) as Record<string, unknown>;
    expect(Object.keys(entry).sort()).toEqual([
      'ArgumentError',
      'BackendError',
      'CatalogError',
      'ChecksumError',
      'ClickwiseError',
      'DisposedError',
      'ModelLoadError',
      'UnknownItemError',
      'createRecommender',
    ]);
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { private?: boolean; version: string; license: string };
    expect(pkg.private).toBeUndefined();
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
    expect(readFileSync(resolve(root, 'CHANGELOG.md'), 'utf8')).toContain(`## ${pkg.version}`);
    expect(readFileSync(resolve(root, 'LICENSE'), 'utf8')).toMatch(/Apache License/);
  });

  it('packs what the library, the tag and its lazy parts need, with the licence, and builds them first', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // `npm pack` on a fresh clone must build dist/ first, or the tarball's import fails.
    expect(pkg.scripts['prepack']).toMatch(/npm run build/);
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    for (const f of [
      'LICENSE',
      'CHANGELOG.md',
      'README.md',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/catalog-worker.js',
      'dist/lib/compact-worker.js',
      'dist/embed/compact-worker.js',
      'dist/lib/react/index.js',
      'dist/lib/cli/clickwise.js',
      'dist/lib/cli/stream/main.js',
      'dist/clickwise.js',
      'dist/embed/runtime.js',
      'dist/tfjs/tfjs-backend-wasm-simd.wasm',
      'models/manifest.json',
      'models/encoder/weights.bin',
    ]) {
      expect(files.has(f), f).toBe(true);
    }
    expect([...files].some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('e2e/'))).toBe(false);
  });

  it('ships the command-line tool: npx clickwise <command>, each with --help, exit codes scripts can trust', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      dependencies: Record<string, string>;
    };
    const bin = resolve(root, pkg.bin['clickwise']!);
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
    // What the tools import at run time is a dependency, not a dev dependency.
    expect(pkg.dependencies['csv-parse']).toBeDefined();
    const cli = (...args: string[]): { status: number | null; out: string; err: string } => {
      const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
      return { status: r.status, out: r.stdout, err: r.stderr };
    };
    const top = cli('--help');
    expect(top.status).toBe(0);
    for (const c of ['maintain', 'vectors', 'stream', 'eval']) {
      expect(top.out).toContain(`  ${c} `);
      const help = cli(c, '--help');
      expect(help.status, c).toBe(0);
      expect(help.out).toMatch(new RegExp(`^Usage: clickwise ${c} `));
    }
    // A script that pins the tool's version can ask it (it was an unknown command).
    const version = cli('--version');
    expect(version.status).toBe(0);
    expect(version.out.trim()).toBe((JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }).version);
    const unknown = cli('train');
    expect(unknown.status).toBe(2);
    expect(unknown.err).toMatch(/Unknown command "train"/);
    const missing = cli('vectors');
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/Missing --catalog F/);
    const badOption = cli('stream', '--model', 'models', '--colour', 'red');
    expect(badOption.status).toBe(2);
    expect(badOption.err).toMatch(/Unknown option --colour\. Valid options: --model/);
    const noFile = cli('vectors', '--catalog', 'no-such-catalog.json');
    expect(noFile.status).toBe(1);
    expect(noFile.err).toMatch(/no-such-catalog\.json does not exist/);
  });
});

/** The packages under `dir` (node_modules, nested and scoped too), each with its package.json. */
function installedPackages(dir: string, found: { name: string; version: string; scripts: Record<string, string>; gyp: boolean }[] = []) {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const at = join(dir, entry.name);
    if (entry.name.startsWith('@')) {
      installedPackages(at, found);
      continue;
    }
    const manifest = join(at, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string; scripts?: Record<string, string> };
      if (pkg.name && pkg.version)
        found.push({ name: pkg.name, version: pkg.version, scripts: pkg.scripts ?? {}, gyp: existsSync(join(at, 'binding.gyp')) });
    }
    installedPackages(join(at, 'node_modules'), found);
  }
  return found;
}

describe('install scripts', () => {
  it('every installed dependency with an install script is approved or denied in package.json allowScripts', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const allowed = pkg.allowScripts ?? {};
    for (const [key, value] of Object.entries(allowed)) expect(typeof value, key).toBe('boolean');
    const withScripts = installedPackages(resolve(root, 'node_modules')).filter(
      (p) => ['preinstall', 'install', 'postinstall'].some((s) => p.scripts[s]) || p.gyp,
    );
    // The tree npm ci installs has some (the build's bundler): the check reads them, not nothing.
    expect(withScripts.map((p) => p.name)).toContain('esbuild');
    const uncovered = withScripts.filter((p) => allowed[`${p.name}@${p.version}`] === undefined && allowed[p.name] === undefined);
    expect(uncovered.map((p) => `${p.name}@${p.version}`)).toEqual([]);
  });
});
