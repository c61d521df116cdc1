/**
 * The README's three quick starts, run as written against the package as a shop gets it: `npm
 * pack` (dist/ is built by then), installed from the tarball into a new project in a temporary
 * folder. Node finds the package's own model with no modelUrl and the command-line tool runs; the
 * storefront tag copied out of the package fills its slot and learns; a Vite + React app with the
 * `clickwise/vite` plugin and no asset options runs on WASM, learns and keeps its clicks across a
 * reload. No console errors anywhere.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { serveStatic } from '../src/vite/serve.js';

const root = resolve(import.meta.dirname, '..');
let project = '';

test.describe.configure({ mode: 'serial' });
test.setTimeout(180_000);

test.beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'clickwise-package-'));
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
});

test.afterAll(() => rmSync(project, { recursive: true, force: true }));

/** The fenced code blocks of a README section (`### title`), in order, with their language. */
function readmeBlocks(title: string): { lang: string; code: string }[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`### ${title}\n`);
  expect(start, title).toBeGreaterThan(0);
  const rest = readme.slice(start + title.length + 5);
  const section = rest.slice(0, rest.search(/\n##+ /));
  return [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

/** Runs the shell lines of a quick start in the project, all but `npm install` (the tarball is installed already). */
function runShell(code: string): void {
  const lines = code.split('\n').filter((l) => l.trim() !== '' && !/^npm install/.test(l));
  execFileSync('bash', ['-euo', 'pipefail', '-c', lines.join('\n')], { cwd: project, stdio: 'pipe' });
}

/** Serves a folder; collects console errors and failed requests of the page. */
async function servePage(page: Page, mounts: Record<string, string>): Promise<{ url: string; errors: string[]; close: () => void }> {
  // A shop's site has a favicon; without one the browser's own request for it logs a 404.
  const icon = join(project, 'favicon.ico');
  writeFileSync(icon, '');
  const server: Server = createServer(serveStatic({ '/favicon.ico': icon, ...mounts }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  // Which resource a "Failed to load resource" error was about (the console message does not say).
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, errors, close: () => server.close() };
}

/** Writes the README's React quick start into the project (its shell lines, then its three files). */
function writeReactApp(): void {
  const [sh, config, html, jsx] = readmeBlocks('A React app (Vite)');
  runShell(sh!.code);
  for (const [block, file] of [
    [config!, 'vite.config.js'],
    [html!, 'index.html'],
    [jsx!, 'src/main.jsx'],
  ] as const) {
    expect(block.code).toContain(file);
    writeFileSync(join(project, file), block.code);
  }
}

test('Node, and the command-line tool: the quick start runs as written', () => {
  const [js, sh] = readmeBlocks('Node, and the command-line tool');
  expect(js!.code).toMatch(/^\/\/ recommend\.mjs/);
  writeFileSync(join(project, 'recommend.mjs'), js!.code);
  expect(sh!.code).toMatch(/^node recommend\.mjs\nnpx clickwise --help/);
  // Without colours (the test runner asks for them), so that the output reads as a shop would see it.
  const env = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  const out = execFileSync(process.execPath, ['recommend.mjs'], { cwd: project, encoding: 'utf8', env });
  expect(out).toMatch(/because: kit-01a/);
  expect(out).toMatch(/^Stoneware Coffee Mug$/m);
  expect(out).toMatch(/clicks: 1/);
  expect(out).toMatch(/modelVersion: 'cw-enc-/);
  const help = execFileSync(join(project, 'node_modules', '.bin', 'clickwise'), ['--help'], { cwd: project, encoding: 'utf8' });
  expect(help).toMatch(/maintain[\s\S]*vectors[\s\S]*stream[\s\S]*eval/);
});

test('a storefront page: the tag copied out of the package fills its slot and learns', async ({ page }) => {
  const [sh, html] = readmeBlocks('A storefront page: one tag');
  runShell(sh!.code);
  expect(html!.code).toMatch(/^<!-- public\/index\.html -->/);
  writeFileSync(
    join(project, 'public', 'index.html'),
    `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">\n${html!.code}`,
  );
  const site = await servePage(page, { '/': join(project, 'public') });
  try {
    await page.goto(`${site.url}index.html`);
    await expect(page.locator('[data-clickwise-slot] [data-clickwise-item]')).toHaveCount(4, { timeout: 60_000 });
    await page.click('button[data-clickwise-item="kit-01a"]');
    const stats = await page.evaluate(async () => {
      const rec = await (window as unknown as { Clickwise: { ready: Promise<{ stats(): { clicks: number; backend: string } }> } }).Clickwise
        .ready;
      for (let i = 0; i < 100 && rec.stats().clicks === 0; i++) await new Promise((r) => setTimeout(r, 50));
      return rec.stats();
    });
    expect(stats).toMatchObject({ clicks: 1, backend: 'wasm' });
    expect(site.errors).toEqual([]);
  } finally {
    site.close();
  }
});

test('a React app (Vite): no asset options, WASM, learns, and keeps its clicks after a reload', async ({ page }) => {
  writeReactApp();
  execFileSync(join(project, 'node_modules', '.bin', 'vite'), ['build', '--logLevel', 'warn'], { cwd: project, stdio: 'pipe' });
  const site = await servePage(page, { '/': join(project, 'dist') });
  const wasm: number[] = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.wasm')) wasm.push(r.status());
  });
  // Requests of the page itself for the catalogue: the catalogue's worker makes its own.
  const pageAsked = (): Promise<number> =>
    page.evaluate(() => performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname === '/catalog.json').length);
  try {
    await page.goto(`${site.url}index.html`);
    const list = page.locator('ol li');
    await expect(list).toHaveCount(4, { timeout: 60_000 });
    expect(await pageAsked()).toBe(0);
    const before = await list.allTextContents();
    await page.click('button');
    await expect.poll(() => list.allTextContents()).not.toEqual(before);
    const learned = await list.allTextContents();
    // The click is kept (IndexedDB): after a reload the list is the learned one, not the first.
    await page.reload();
    await expect(list).toHaveCount(4, { timeout: 60_000 });
    await expect.poll(() => list.allTextContents()).toEqual(learned);
    expect(await pageAsked()).toBe(0);
    expect(wasm.length).toBeGreaterThan(0);
    expect(wasm.every((st) => st === 200 || st === 304)).toBe(true);
    expect(site.errors).toEqual([]);
  } finally {
    site.close();
  }
});

test('the same React app on the Vite dev server (npx vite): the plugin serves the model and WASM', async ({ page }) => {
  writeReactApp();
  // A site has a favicon (the browser asks for one; a 404 would be logged as an error).
  writeFileSync(join(project, 'public', 'favicon.ico'), '');
  const dev = spawn(join(project, 'node_modules', '.bin', 'vite'), ['--port', '0'], { cwd: project });
  try {
    const url = await new Promise<string>((ok, fail) => {
      let out = '';
      dev.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /Local:\s+(http:\/\/\S+)/.exec(out.replace(/\x1b\[[0-9;]*m/g, ''));
        if (m) ok(m[1]!);
      });
      dev.on('exit', (code) => fail(new Error(`vite exited (${code}): ${out}`)));
    });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const wasm: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith('.wasm')) wasm.push(r.status());
    });
    await page.goto(url);
    await expect(page.locator('ol li')).toHaveCount(4, { timeout: 90_000 });
    expect(wasm.length).toBeGreaterThan(0);
    expect(wasm.every((st) => st === 200 || st === 304)).toBe(true);
    expect(errors).toEqual([]);
  } finally {
    dev.kill();
  }
});
