/**
 * The package as a shop gets it: `npm pack` (dist/ is built by then), installed from the tarball
 * into a new project in a temporary folder. Node finds the package's own model with no modelUrl,
 * the command-line tool runs, and the storefront tag served from the package's folder works in
 * Chromium with no console errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { serveStatic } from '../src/bench/serve.js';

const root = resolve(import.meta.dirname, '..');
let project = '';
let pkg = '';

test.describe.configure({ mode: 'serial' });
test.setTimeout(180_000);

test.beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'cw-package-'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', project], { cwd: root, stdio: 'pipe' });
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'))!;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-shop', version: '1.0.0', private: true, type: 'module' }));
  // The dependencies come from npm's cache where `npm ci` left them.
  execFileSync('npm', ['install', `./${tarball}`, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, stdio: 'pipe' });
  pkg = join(project, 'node_modules', 'clickwise');
});

test.afterAll(() => rmSync(project, { recursive: true, force: true }));

test('Node: the default modelUrl is the package’s own model; the command-line tool runs', () => {
  const script = `
    import { createRecommender } from 'clickwise';
    const rec = await createRecommender({ catalog: ${JSON.stringify(join(root, 'public', 'catalog.json'))}, backend: 'cpu' });
    await rec.click('kit-01a');
    const top = await rec.recommend({ k: 3 });
    console.log(JSON.stringify({ model: rec.stats().modelVersion, clicks: rec.stats().clicks, n: top.length }));
    rec.dispose();`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: project, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { model: string; clicks: number; n: number };
  expect(r).toMatchObject({ clicks: 1, n: 3 });
  expect(r.model).toMatch(/^cw-enc-/);
  const help = execFileSync(join(project, 'node_modules', '.bin', 'clickwise'), ['--help'], { cwd: project, encoding: 'utf8' });
  expect(help).toMatch(/maintain[\s\S]*vectors[\s\S]*stream[\s\S]*eval/);
});

test('the storefront tag served from the package’s folder fills its slot and learns, with no console errors', async ({ page }) => {
  const shop = mkdtempSync(join(tmpdir(), 'cw-package-shop-'));
  writeFileSync(
    join(shop, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>shop</title><link rel="icon" href="data:,">
<button data-clickwise-item="kit-01a">Product</button>
<ol data-clickwise-slot data-k="4"></ol>
<script src="/clickwise/dist/clickwise.js" data-catalog="/catalog.json" data-model="/clickwise/models/" data-backend="wasm"></script>`,
  );
  const files = serveStatic({ '/clickwise/': pkg, '/catalog.json': join(root, 'public', 'catalog.json'), '/': shop });
  const server: Server = createServer(files);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/index.html`);
    await expect(page.locator('[data-clickwise-slot] [data-clickwise-item]')).toHaveCount(4, { timeout: 60_000 });
    await page.click('button[data-clickwise-item="kit-01a"]');
    const stats = await page.evaluate(async () => {
      const rec = await (window as unknown as { Clickwise: { ready: Promise<{ stats(): { clicks: number; backend: string } }> } }).Clickwise
        .ready;
      for (let i = 0; i < 100 && rec.stats().clicks === 0; i++) await new Promise((r) => setTimeout(r, 50));
      return rec.stats();
    });
    expect(stats).toMatchObject({ clicks: 1, backend: 'wasm' });
    expect(errors).toEqual([]);
  } finally {
    server.close();
    rmSync(shop, { recursive: true, force: true });
  }
});
