/**
 * `npm run bench:load [-- --sizes 10000,100000 --out load.json]`: what a shopper's page pays for
 * Clickwise at a catalogue size, measured the way a shop ships it: the built storefront tag
 * (`dist/clickwise.js`, `npm run build` first) on a page of its own, in headless Chromium, WASM.
 *
 * For each size a synthetic catalogue is written to a folder with a copy of the shipped model,
 * plus the catalogue vectors that `npm run vectors` makes for it (kept in the system's temporary
 * folder for the next run, as the visit tools do; with `--no-vectors` a temporary folder without
 * them), all served locally. Two visits: a first one (fresh browser profile: empty IndexedDB and HTTP
 * cache) and a later one (the same profile, the page loaded again). Each reports the time to the
 * first recommendation, the longest main-thread task (Long Tasks API) from navigation until a
 * second after it, and click→top-10 after it; then, once a large catalogue has been compacted
 * (`compactCatalogAbove`), the memory held and the longest task since. `--at-ready` also reads
 * the memory within the second after ready (see `Visit.atReady`). `--trained-base` serves a base
 * that knows every item (residuals, what sold lately, transitions: `trainedBase`), as a shop of n
 * products that runs `npm run maintain` ships; the shipped base knows none. Not a test: timings on a
 * shared machine are noisy.
 */
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { ownTempFolder, outputFile, parseArgs } from '../cli/common.js';
import { serveStatic } from '../vite/serve.js';
import { syntheticCatalog } from './synthetic-catalog.js';
import type { VectorsReport } from '../cli/vectors/vectors.js';
import { DEFAULT_COMPACT_ABOVE } from '../core/recommender.js';
import { SAVED_ENTRY, SAVED_TEXT, trainedBase, vectorsReport, VISIT_ROOT, visitFolder } from './visit-folder.js';
import { longTaskObserver } from './long-tasks.js';

/** The Chromium the benchmarks drive, and its flags (as the end-to-end tests launch it). */
export const CHROMIUM = process.env['CLICKWISE_CHROMIUM'] ?? '/usr/bin/chromium';
export const ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * The measuring page: a long-task observer first, then the tag as a shop adds it. It also holds
 * the bench's click timing, `__clickMedian(rec, first, step)`: five clicks on items s<first>,
 * s<first + step>, …, each learned and followed by a new top 10, and the median of their times.
 */
function pageHtml(prefix: string, n: number, model = `${prefix}/models/`): string {
  return `<!doctype html><meta charset="utf-8"><title>load ${n}</title><link rel="icon" href="data:,">
${longTaskObserver('{ start, ms }')}
<script>
window.__frames = [];
try {
  new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.duration >= 50) window.__frames.push({ start: e.startTime, end: e.startTime + e.duration, scripts: e.scripts.map((s) => ({ by: s.invoker, ms: s.duration })) }); })
    .observe({ type: 'long-animation-frame', buffered: true });
} catch {}
window.__clickMedian = async (rec, first, step) => {
  const took = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await rec.click('s' + (first + i * step));
    await rec.recommend({ k: 10 });
    took.push(performance.now() - t0);
  }
  took.sort((a, b) => a - b);
  return Math.round(took[2] * 10) / 10;
};
</script>
<a href="#" data-clickwise-item="s1">item s1</a> <a href="#" data-clickwise-item="s2">item s2</a>
<div data-clickwise-slot data-k="10"></div>
<script src="/clickwise.js" data-catalog="${prefix}/catalog.json" data-model="${model}" data-backend="wasm" data-namespace="load"></script>`;
}

export interface Visit {
  /** Navigation start → `Clickwise.ready` resolved and a first top 10 computed. */
  firstRecommendationMs: number;
  longestTaskMs: number;
  /** Tasks of 50 ms or more. */
  longTasks: number;
  /** One click, learned, then a new top 10 (median of 5). */
  clickToTop10Ms: number;
  embeddings: { cached: number; encoded: number; shipped?: number };
  /** The page's JS heap after a garbage collection (catalogue objects, typed arrays' headers). */
  jsHeapMB: number;
  /**
   * The contents of the page's array buffers (outside the JS heap), after the same garbage
   * collection: on a later visit mostly the catalogue file's bytes, kept to parse items from.
   */
  arrayBuffersMB: number;
  /** What tfjs holds on the backend (on WASM, in its heap): the head's parameters and per-item terms. */
  tensorMB: number;
  /** The WASM backend's heap: the tensors and what the load's peak left free in it (never given back). */
  backendHeapMB: number | null;
  /** The item matrix the scoring pass reads (int8 rows, scales, fused bias), outside tfjs. */
  itemMB: number;
  /** What scored: 'wasm-simd' or 'js'. */
  scoring: string;
  /** How the catalogue was held when memory was measured ('parsed', 'file', 'compressed') and its bytes. */
  catalog: { form: string; bytes: number };
  /** Ready → the catalogue compacted (null: not compacted, the file being under the threshold). */
  compactedAfterMs: number | null;
  /** The longest main-thread task from a second after ready to the memory's measurement (clicks, compaction). */
  longestTaskAfterMs: number;
  /**
   * Tasks of 50 ms or more in that time: ms after ready, length, and what ran in it (the invoker
   * of the longest script of the long animation frame that holds it, such as
   * `IDBRequest.onsuccess` or `Worker.onmessage`; '(no script)' where none ran: the garbage
   * collector, the browser's own work; null where the browser reports no frames).
   */
  longTasksAfter: { atMs: number; ms: number; by: string | null }[];
  /** Click→top 10 again once the catalogue is compacted (median of 5; null when it is not). */
  clickToTop10CompactedMs: number | null;
  /**
   * With `--at-ready`: JS heap and array buffers within the second after ready, after a garbage
   * collection, before any click (a large catalogue's compaction may be under way): what the
   * page holds before it settles. The collection is left out of the long tasks, but it changes
   * what the page's own collector does later (a first visit at 1,000,000 items then often shows
   * slower clicks, and sometimes a long task, once the parsed items are let go), so it is off by
   * default.
   */
  atReady: { jsHeapMB: number; arrayBuffersMB: number } | null;
  /**
   * Ready → what the visit keeps for the next one saved (the entry, and the compacted text where
   * the catalogue compacts), ms, counted once the clicks above are done; null where it was not
   * saved within two minutes. Memory is measured after it: what the page holds once settled (the
   * writes hold some of what they write meanwhile).
   */
  savedAfterMs: number | null;
  /** Click→top 10 once those saves are done (median of 5; null where they were not): the page settled. */
  clickToTop10SavedMs: number | null;
}

async function visit(page: Page, url: string, reload: boolean, compacts: boolean, atReady: boolean): Promise<Visit> {
  if (reload) await page.reload();
  else await page.goto(url);
  const running = page.evaluate(async (compacts) => {
    const w = window as unknown as {
      Clickwise: {
        ready: Promise<{ recommend(o: object): Promise<unknown[]>; click(id: string): Promise<void>; stats(): Record<string, unknown> }>;
      };
      __tasks: { start: number; ms: number }[];
      __frames: { start: number; end: number; scripts: { by: string; ms: number }[] }[];
      __clickMedian(rec: unknown, first: number, step: number): Promise<number>;
    };
    const rec = await w.Clickwise.ready;
    await rec.recommend({ k: 10 });
    const ready = performance.now();
    (window as unknown as { __readyAt: number }).__readyAt = ready;
    // The bench measures the page's memory now, from outside (see below).
    (window as unknown as { __ready: boolean }).__ready = true;
    await new Promise((res) => setTimeout(res, 1000));
    const clickToTop10Ms = await w.__clickMedian(rec, 10, 7);
    let compactedAfterMs: number | null = null;
    for (let t = 0; compacts && t < 600; t++) {
      if ((rec.stats()['catalog'] as { form: string }).form === 'compressed') {
        compactedAfterMs = Math.round(performance.now() - ready);
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    const clickToTop10CompactedMs = compactedAfterMs === null ? null : await w.__clickMedian(rec, 20, 11);
    // The bench's own reading of `atReady` (between ready and `__measuredAt`) is not the page's work.
    const measuredAt = (window as unknown as { __measuredAt?: number }).__measuredAt ?? ready;
    // (No named functions in here: the page runs this code as it is, without the bundler's helpers.)
    const before = w.__tasks.filter((t) => t.start < ready + 1000 && !(t.start >= ready && t.start <= measuredAt));
    const after = w.__tasks.filter((t) => t.start >= ready + 1000 && !(t.start >= ready && t.start <= measuredAt));
    return {
      firstRecommendationMs: Math.round(ready),
      longestTaskMs: Math.round(Math.max(0, ...before.map((t) => t.ms))),
      longTasks: before.length,
      clickToTop10Ms,
      embeddings: rec.stats()['embeddings'] as Visit['embeddings'],
      tensorMB: Math.round((rec.stats()['tensorBytes'] as number) / 1e5) / 10,
      backendHeapMB: rec.stats()['backendHeapBytes'] === null ? null : Math.round((rec.stats()['backendHeapBytes'] as number) / 1e5) / 10,
      itemMB: Math.round((rec.stats()['itemBytes'] as number) / 1e5) / 10,
      scoring: String(rec.stats()['scoring']),
      catalog: rec.stats()['catalog'] as Visit['catalog'],
      compactedAfterMs,
      longestTaskAfterMs: Math.round(Math.max(0, ...after.map((t) => t.ms))),
      longTasksAfter: after.map((t) => {
        // What ran in it: the longest script of the long animation frame that holds the task.
        const frame = w.__frames.find((f) => f.start <= t.start + 1 && t.start < f.end);
        const top = frame?.scripts.reduce<{ by: string; ms: number } | null>((a, x) => (a && a.ms >= x.ms ? a : x), null);
        return { atMs: Math.round(t.start - ready), ms: Math.round(t.ms), by: top ? top.by : frame ? '(no script)' : null };
      }),
      clickToTop10CompactedMs,
    };
  }, compacts);
  let live: Visit['atReady'] = null;
  if (atReady) {
    await page.waitForFunction(() => (window as unknown as { __ready?: boolean }).__ready === true, undefined, { timeout: 120_000 });
    live = await memoryOf(page);
    await page.evaluate(() => ((window as unknown as { __measuredAt: number }).__measuredAt = performance.now()));
  }
  const r = await running;
  const savedAfterMs = await savedAfter(page, compacts);
  const clickToTop10SavedMs = savedAfterMs === null ? null : await clicksNow(page);
  return { ...r, atReady: live, savedAfterMs, clickToTop10SavedMs, ...(await memoryOf(page)) };
}

/** Click→top 10 now, the median of 5 clicks (on items the visit's other clicks did not take). */
function clicksNow(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const w = window as unknown as {
      Clickwise: { ready: Promise<unknown> };
      __clickMedian(rec: unknown, first: number, step: number): Promise<number>;
    };
    return w.__clickMedian(await w.Clickwise.ready, 30, 13);
  });
}

/** Ready → the entry (and, where `compacts`, the compacted text) saved for the next visit, ms; null after two minutes. */
async function savedAfter(page: Page, compacts: boolean): Promise<number | null> {
  const kept = `async () => (await (${SAVED_ENTRY})()) && (${compacts ? `await (${SAVED_TEXT})()` : 'true'})`;
  for (let t = 0; t < 1200; t++) {
    if (await page.evaluate<boolean>(`(${kept})()`)) {
      return page.evaluate(() => Math.round(performance.now() - (window as unknown as { __readyAt: number }).__readyAt));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

/** The page's JS heap and array buffers after a garbage collection, MB. */
async function memoryOf(page: Page): Promise<{ jsHeapMB: number; arrayBuffersMB: number }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  await cdp.send('HeapProfiler.collectGarbage');
  const metrics = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
  // Array buffers' contents lie outside the JS heap: the catalogue file's bytes that a page keeps
  // to parse items from when shown are there (the WebAssembly memories are not counted in it).
  const usage = (await cdp.send('Runtime.getHeapUsage')) as { backingStorageSize?: number };
  await cdp.detach();
  const heap = metrics.metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
  return { jsHeapMB: Math.round(heap / 1e5) / 10, arrayBuffersMB: Math.round((usage.backingStorageSize ?? 0) / 1e5) / 10 };
}

/** One catalogue size: the files written, then a first and a later visit. */
export interface LoadRow {
  n: number;
  /** Present (true) where the page was served a base that knows every item (`--trained-base`). */
  trainedBase?: true;
  vectors: VectorsReport | null;
  first: Visit;
  later: Visit;
}

/**
 * Measures each size in `sizes` (a fresh browser profile per size). `log` gets one line per size.
 * Needs `dist/` (`npm run build`).
 */
export async function runLoadBench(
  sizes: readonly number[],
  withVectors: boolean,
  log: (line: string) => void = console.log,
  atReady = false,
  trained = false,
): Promise<LoadRow[]> {
  if (!existsSync('dist/clickwise.js')) throw new Error('dist/clickwise.js is missing: run npm run build first.');
  const folder = ownTempFolder('clickwise-load-');
  const root = folder.path;
  const server = createServer(serveStatic({ '/load/': root, '/p/': VISIT_ROOT, '/': 'dist' }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  const rows: LoadRow[] = [];
  try {
    for (const n of sizes) {
      let dir: string;
      let vectors: VectorsReport | null = null;
      if (withVectors) {
        dir = await visitFolder(n);
        vectors = vectorsReport(dir);
      } else {
        dir = join(root, String(n));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'catalog.json'), JSON.stringify(syntheticCatalog(n)));
        cpSync('models', join(dir, 'models'), { recursive: true });
      }
      const prefix = withVectors ? `/p/${n}` : `/load/${n}`;
      if (trained && !withVectors) throw new Error("--trained-base needs the shop's vectors (it cannot go with --no-vectors).");
      writeFileSync(join(dir, 'page.html'), pageHtml(prefix, n, trained ? trainedBase(n, dir) : undefined));
      const compacts = statSync(join(dir, 'catalog.json')).size >= DEFAULT_COMPACT_ABOVE;
      const context = await browser.newContext();
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') log(`  [page ${m.type()}] ${m.text()}`);
      });
      const url = `${origin}${prefix}/page.html`;
      const first = await visit(page, url, false, compacts, atReady);
      const later = await visit(page, url, true, compacts, atReady);
      await context.close();
      const row: LoadRow = { n, ...(trained ? { trainedBase: true as const } : {}), vectors, first, later };
      log(JSON.stringify(row));
      rows.push(row);
      if (!withVectors) rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await browser.close();
    server.close();
    folder.remove();
  }
  return rows;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    sizes: 'string',
    out: 'string',
    'no-vectors': 'boolean',
    'at-ready': 'boolean',
    'trained-base': 'boolean',
  });
  // The folder of --out is made now, not found missing after the run.
  const out = args['out'] ? outputFile(args['out']) : null;
  const sizes = String(args['sizes'] ?? '10000,100000')
    .split(',')
    .map((s) => Number(s));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--sizes takes item counts such as 10000,100000, got ${String(args['sizes'])}.`);
  const t0 = Date.now();
  const rows = await runLoadBench(
    sizes,
    args['no-vectors'] !== true,
    console.log,
    args['at-ready'] === true,
    args['trained-base'] === true,
  );
  const result = {
    command: `npm run bench:load -- ${process.argv.slice(2).join(' ')}`.trim(),
    backend: 'wasm',
    rows,
    wallSeconds: Math.round((Date.now() - t0) / 1000),
  };
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
