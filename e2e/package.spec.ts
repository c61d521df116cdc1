/**
 * The package as a shop gets it: `npm pack` (dist/ is built by then), installed from the tarball
 * into a new project in a temporary folder. Node finds the package's own model with no modelUrl,
 * the command-line tool runs, the storefront tag served from the package's folder works in
 * Chromium, and a Vite + React app with the `clickwise/vite` plugin and no asset options runs on
 * WASM, learns and keeps its clicks across a reload, all with no console errors.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { serveStatic } from '../src/vite/serve.js';

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
  const versions = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
  const pin = (name: string): string => `${name}@${versions.devDependencies[name]!}`;
  execFileSync(
    'npm',
    ['install', `./${tarball}`, pin('vite'), pin('react'), pin('react-dom'), '--prefer-offline', '--no-audit', '--no-fund'],
    {
      cwd: project,
      stdio: 'pipe',
    },
  );
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

test('a Vite + React app with the clickwise/vite plugin and no asset options runs on WASM, learns, and keeps its clicks after a reload', async ({
  page,
}) => {
  const app = join(project, 'app');
  mkdirSync(join(app, 'public'), { recursive: true });
  cpSync(join(root, 'public', 'catalog.json'), join(app, 'public', 'catalog.json'));
  writeFileSync(join(app, 'vite.config.js'), `import clickwise from 'clickwise/vite';\nexport default { plugins: [clickwise()] };\n`);
  writeFileSync(
    join(app, 'index.html'),
    `<!doctype html><meta charset="utf-8"><title>app</title><link rel="icon" href="data:,"><div id="root"></div><script type="module" src="/main.js"></script>`,
  );
  // What the README's React quick start shows, in plain JavaScript (no JSX build step).
  writeFileSync(
    join(app, 'main.js'),
    `import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { useRecommender, useRecommendations } from 'clickwise/react';
function App() {
  const { rec, error } = useRecommender({ catalog: '/catalog.json', backend: 'wasm' });
  const { items } = useRecommendations(rec, { k: 4 });
  if (error) return h('p', { id: 'error' }, error.message);
  if (!rec) return h('p', null, 'loading');
  window.rec = rec;
  return h('div', null,
    h('button', { id: 'buy', onClick: () => rec.click('kit-01a') }, 'Buy'),
    h('ol', { id: 'recs' }, items.map((r) => h('li', { key: r.id }, r.item.title))));
}
createRoot(document.getElementById('root')).render(h(App));
`,
  );
  execFileSync(join(project, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], { cwd: app, stdio: 'pipe' });
  const server: Server = createServer(serveStatic({ '/': join(app, 'dist') }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/index.html`);
    await expect(page.locator('#recs li')).toHaveCount(4, { timeout: 60_000 });
    const stats = (): Promise<{ backend: string; clicks: number; storage: string }> =>
      page.evaluate(() => (window as unknown as { rec: { stats(): { backend: string; clicks: number; storage: string } } }).rec.stats());
    expect(await stats()).toMatchObject({ backend: 'wasm', clicks: 0, storage: 'indexeddb' });
    await page.click('#buy');
    await expect.poll(async () => (await stats()).clicks).toBe(1);
    await page.reload();
    await expect(page.locator('#recs li')).toHaveCount(4, { timeout: 60_000 });
    await expect.poll(async () => (await stats()).clicks).toBe(1);
    expect(errors).toEqual([]);
  } finally {
    server.close();
  }
});
