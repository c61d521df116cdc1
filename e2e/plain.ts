/**
 * A page run in Chromium with no DevTools protocol attached, for the tests that bound the page's
 * long tasks. Under the protocol (Playwright's own connection) Chromium's network agent copies
 * and decodes every response body on the page's main thread, and a loaded machine then sees long
 * tasks that no shopper's browser runs (`npm run bench:visit-plain` against `npm run bench:load`,
 * docs/PERFORMANCE.md). Here Chromium is started on the page's URL alone, in a fresh profile; the
 * page measures itself and posts what it saw to a local server, visit after visit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staticFiles } from '../src/vite/serve.js';
import { BASE_ARGS, CHROMIUM } from '../playwright.config.js';
import { longTaskObserver } from '../src/bench/long-tasks.js';

/** One self-measuring page and the visits it makes. */
export interface PlainPage<V extends string> {
  /** URL prefixes and the folders they serve (`/` is usually `dist`). */
  mounts: Record<string, string>;
  /** Where the page is served, e.g. `/big/page.html`. */
  path: string;
  /**
   * The page's own markup (the tag and what it needs). It defines `window.__measure`, an async
   * function whose result is the visit's report, and may define `window.__beforeNext`, awaited
   * before the page loads itself again for the next visit.
   */
  body: string;
  /** The visits' names, in order: the page loads itself once per visit. */
  visits: readonly V[];
  /** How long all visits may take together. */
  timeoutMs: number;
  /** Text files gzipped, as a shop's host sends them (default: every file as it is on disk). */
  gzip?: boolean;
}

/**
 * The script every plain page starts with: the long-task observer (`window.__tasks`, the
 * durations in ms, `longTaskObserver`), the visit's name (`window.__visit`), and the error reporting, so that a page
 * that fails says why instead of timing out.
 */
function prelude(visits: readonly string[]): string {
  return `${longTaskObserver('Math.round(ms)')}
<script>
window.__visit = ${JSON.stringify(visits)}.includes(location.search.slice(1)) ? location.search.slice(1) : ${JSON.stringify(visits[0])};
window.__post = (msg) => fetch('/report', { method: 'POST', body: JSON.stringify({ visit: window.__visit, ...msg }) });
addEventListener('error', (e) => window.__post({ error: String(e.message) }));
addEventListener('unhandledrejection', (e) => window.__post({ error: String(e.reason && e.reason.stack || e.reason) }));
</script>`;
}

/** The script every plain page ends with: measure once loaded, report, then go on to the next visit. */
function postlude(visits: readonly string[]): string {
  return `<script>
addEventListener('load', async () => {
  try {
    const result = await window.__measure();
    await window.__post({ result });
    const next = ${JSON.stringify(visits)}[${JSON.stringify(visits)}.indexOf(window.__visit) + 1];
    if (!next) return;
    if (window.__beforeNext) await window.__beforeNext();
    location.replace(location.pathname + '?' + next);
  } catch (e) {
    await window.__post({ error: String(e && e.stack || e) });
  }
});
</script>`;
}

/**
 * Serves the page, starts Chromium on it without the DevTools protocol, and returns each
 * visit's report. Throws the page's error if it reported one, or when the visits do not all
 * report within the time allowed.
 */
export async function plainVisits<T, V extends string = string>(page: PlainPage<V>): Promise<Record<V, T>> {
  const html = `<!doctype html><meta charset="utf-8"><title>plain</title><link rel="icon" href="data:,">
${prelude(page.visits)}
${page.body}
${postlude(page.visits)}`;
  const reports = new Map<string, T>();
  let failure: string | null = null;
  const files = staticFiles(page.mounts, undefined, { gzip: page.gzip ?? false });
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST' && path === '/report') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const msg = JSON.parse(body) as { visit: string; result?: T; error?: string };
        if (msg.error !== undefined) failure ??= `${msg.visit} visit: ${msg.error}`;
        else reports.set(msg.visit, msg.result as T);
        res.end();
      });
      return;
    }
    if (path === page.path) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(html);
      return;
    }
    if (!files(req, res)) res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${page.path}`;
  const profile = mkdtempSync(join(tmpdir(), 'clickwise-plain-e2e-'));
  const browser = spawn(CHROMIUM, ['--headless=new', ...BASE_ARGS, `--user-data-dir=${profile}`, url], { stdio: 'ignore' });
  let exited: number | null = null;
  browser.on('exit', (code) => (exited = code ?? -1));
  try {
    const deadline = Date.now() + page.timeoutMs;
    while (reports.size < page.visits.length && failure === null && exited === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (failure !== null) throw new Error(failure);
    if (reports.size < page.visits.length) {
      const why = exited !== null ? `Chromium exited (${exited})` : `${page.timeoutMs / 1000} s passed`;
      throw new Error(
        `${why} after ${reports.size} of ${page.visits.length} visits reported (${[...reports.keys()].join(', ') || 'none'}).`,
      );
    }
    return Object.fromEntries(reports) as Record<V, T>;
  } finally {
    browser.kill();
    await new Promise((r) => setTimeout(r, 300));
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * A page script: resolves once the page's origin has saved a prepared catalogue entry for its
 * next visit (the save runs in the background, while the shopper is quiet), or rejects after
 * `ms`.
 */
export const WAIT_PREPARED = `async (ms) => {
  const count = () => new Promise((resolve) => {
    const req = indexedDB.open('clickwise-prepared');
    req.onupgradeneeded = () => req.transaction.abort();
    req.onerror = () => resolve(0);
    req.onsuccess = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('headers')) { db.close(); resolve(0); return; }
      const c = db.transaction('headers').objectStore('headers').count();
      c.onsuccess = () => { db.close(); resolve(c.result); };
      c.onerror = () => { db.close(); resolve(0); };
    };
  });
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) if ((await count()) > 0) return;
  throw new Error('no prepared catalogue entry was saved within ' + ms + ' ms');
}`;
