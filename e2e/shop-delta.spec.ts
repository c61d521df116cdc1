/**
 * The shop delta in a real browser: the tag fuses the delta the stream job published, looks for a
 * newer one when the page becomes visible again, and asks with a conditional GET (the browser's
 * cache sends If-None-Match; an unchanged delta costs a 304), with no query string and no cookie.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders, Server } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { serveStatic } from '../src/vite/serve.js';
import { publishDelta } from '../src/cli/stream/publish.js';

let dir = '';
let server: Server;
let base = '';
const seen: { url: string; status: number; headers: IncomingHttpHeaders }[] = [];
const catalog = JSON.parse(readFileSync('dist/catalog.json', 'utf8')) as { id: string; title: string }[];
const version = (JSON.parse(readFileSync('dist/models/manifest.json', 'utf8')) as { version: string }).version;

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clickwise-delta-'));
  cpSync('dist/models', join(dir, 'models'), { recursive: true });
  writeFileSync(
    join(dir, 'page.html'),
    `<!doctype html><meta charset="utf-8"><title>delta</title><link rel="icon" href="data:,">
<ol data-clickwise-slot data-k="3"></ol>
<script src="/clickwise.js" data-catalog="/catalog.json" data-model="/shop/models/" data-backend="wasm" data-namespace="delta"></script>`,
  );
  const files = serveStatic({ '/shop/': dir, '/': 'dist' });
  server = createServer((req, res) => {
    res.on('finish', () => {
      if (req.url?.includes('/delta/')) seen.push({ url: req.url, status: res.statusCode, headers: req.headers });
    });
    files(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

test.afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the tag fuses the shop delta, refreshes it when the page is visible again, and revalidates with a conditional GET', async ({
  page,
}) => {
  const model = join(dir, 'models');
  const [first, second] = [catalog[catalog.length - 1]!, catalog[catalog.length - 2]!];
  publishDelta(model, { baseVersion: version, seq: 1, ids: [first.id], bias: [50], events: 10, eventsThrough: null });
  await page.context().addCookies([{ name: 'session', value: 'secret', url: base }]);
  await page.goto(`${base}/shop/page.html`);
  const slot = page.locator('[data-clickwise-slot] [data-clickwise-item]').first();
  await expect(slot).toHaveAttribute('data-clickwise-item', first.id, { timeout: 60_000 });
  const seq = (): Promise<number | null> =>
    page.evaluate(async () => {
      const rec = await (window as unknown as { Clickwise: { ready: Promise<{ stats(): { shopDelta: { seq: number } | null } }> } })
        .Clickwise.ready;
      return rec.stats().shopDelta?.seq ?? null;
    });
  expect(await seq()).toBe(1);

  // The stream job publishes a newer delta; the page looks for it when it becomes visible again.
  publishDelta(model, { baseVersion: version, seq: 2, ids: [second.id], bias: [50], events: 20, eventsThrough: null });
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await expect(slot).toHaveAttribute('data-clickwise-item', second.id);
  expect(await seq()).toBe(2);

  // Nothing new: the browser revalidates and the server answers 304.
  const before = seen.length;
  await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
  await expect.poll(() => seen.length).toBeGreaterThan(before);
  const last = seen[seen.length - 1]!;
  expect(last.url).toBe('/shop/models/delta/manifest.json');
  expect(last.headers['if-none-match']).toBeTruthy();
  expect(last.status).toBe(304);
  expect(seen.every((s) => !s.url.includes('?') && s.headers.cookie === undefined)).toBe(true);
  expect(await seq()).toBe(2);
});
