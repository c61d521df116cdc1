/**
 * A shop with 30,000 products, through the storefront tag: no task of Clickwise's holds the
 * page's main thread for long, on a first visit and a later one, whether the shop ships the
 * catalogue's vectors (`npm run vectors`) or the browser must encode them itself, and whether its
 * base knows no item (the shipped one) or every one. The page counts every task of 50 ms or more
 * (`longTaskObserver`: the Long Tasks API and the Long Animation Frames API's scripts, for the
 * work after `scheduler.yield()` that the first does not report); the bound asserted is 200 ms,
 * a margin for a loaded CI machine (`npm run bench:visit-plain` reports the real figures). The
 * page runs in Chromium with no DevTools protocol attached (e2e/plain.ts): the protocol's own work
 * on the page's main thread is not the shop's.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { syntheticCatalog } from '../src/bench/synthetic-catalog.js';
import { writeVectors } from '../src/cli/vectors/vectors.js';
import { plainVisits, WAIT_PREPARED } from './plain.js';
import { SAVED_TEXT, trainedBase } from '../src/bench/visit-folder.js';

const N = 30_000;
const BOUND_MS = 200;
const catalog = syntheticCatalog(N);
const catalogJson = JSON.stringify(catalog);
let dir = '';

test.describe.configure({ mode: 'serial' });
test.setTimeout(240_000);

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clickwise-large-'));
  cpSync('models', join(dir, 'models'), { recursive: true });
  writeFileSync(join(dir, 'catalog.json'), catalogJson);
  // With the catalogue's index, as `npm run vectors -- --catalog F` ships it.
  await writeVectors({ modelDir: join(dir, 'models'), items: catalog, catalogFile: new TextEncoder().encode(catalogJson) });
});
test.afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs a first visit and, once its prepared entry is saved, a later one of a page holding only
 * the tag (served with the catalogue and, under /big/models/, the model with its vectors).
 * `measure` is the body of the page's async measuring function; its result is the visit's report.
 */
function visits<T>(
  model: string,
  measure: string,
  attrs = '',
  beforeNext = `(${WAIT_PREPARED})(30000)`,
  gzip = false,
): Promise<Record<'first' | 'later', T>> {
  return plainVisits<T, 'first' | 'later'>({
    gzip,
    mounts: { '/big/': dir, '/': 'dist' },
    path: '/big/page.html',
    body: `<div data-clickwise-slot data-k="10"></div>
<script src="/clickwise.js" data-catalog="/big/catalog.json" data-model="${model}" data-backend="wasm" data-namespace="big"${attrs}></script>
<script>
window.__measure = async () => { ${measure} };
window.__beforeNext = () => ${beforeNext};
</script>`,
    visits: ['first', 'later'],
    timeoutMs: 220_000,
  });
}

interface Visit {
  tasks: number[];
  indexed: string;
  embeddings: { shipped: number; cached: number; encoded: number; prepared: number };
  shown: number;
  /** Requests of the page itself for the catalogue (the tag's worker makes its own). */
  pageAsked: number;
}

/** Waits until ready and the slot is filled, clicks twice, and reports the page's long tasks. */
const CLICK_AND_REPORT = `
const rec = await window.Clickwise.ready;
await rec.click('s1');
await rec.click('s2');
await rec.recommend({ k: 10 });
await new Promise((r) => setTimeout(r, 500));
return {
  tasks: window.__tasks,
  indexed: rec.stats().catalogIndexed,
  embeddings: rec.stats().embeddings,
  shown: document.querySelectorAll('[data-clickwise-slot] > *').length,
  pageAsked: performance.getEntriesByType('resource').filter((r) => r.name.endsWith('/big/catalog.json')).length,
};`;

for (const shipped of [true, false]) {
  test(`${N} items, ${shipped ? 'vectors shipped by the shop' : 'encoded in the browser'}: no long task on a first or a later visit`, async () => {
    const { first, later } = await visits<Visit>(shipped ? '/big/models/' : '/models/', CLICK_AND_REPORT);
    expect(first.embeddings).toEqual(
      shipped ? { shipped: N, cached: 0, encoded: 0, prepared: 0 } : { shipped: 0, cached: 0, encoded: N, prepared: 0 },
    );
    expect(first.shown).toBeGreaterThan(0);
    // Downloaded by the tag's Web Worker, from the tag's start, off the page's main thread, and
    // there either indexed by the index the shop shipped with the vectors (made from these very
    // bytes) or parsed; on the later visit the worker downloads it again, checks it against the
    // saved entry and hands that back: the page itself never asks for the file.
    expect(first.indexed).toBe(shipped ? 'shipped' : 'worker');
    expect(first.pageAsked).toBe(0);
    expect(later.pageAsked).toBe(0);
    expect(Math.max(0, ...first.tasks), `long tasks ${first.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
    // The later visit (after the first one's entry was saved, in the background while the
    // shopper is quiet) takes the item matrix the first one made (the counts are that load's).
    expect(later.embeddings).toEqual(
      shipped ? { shipped: N, cached: 0, encoded: 0, prepared: N } : { shipped: 0, cached: 0, encoded: N, prepared: N },
    );
    expect(later.shown).toBeGreaterThan(0);
    expect(later.indexed).toBe('saved');
    expect(Math.max(0, ...later.tasks), `long tasks ${later.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
  });
}

test(`${N} items sent gzipped, as a shop's host sends the catalogue: the saved entry is taken on a later visit, no long task`, async () => {
  // A gzipped response does not say the file's length (its Content-Length is the gzipped one),
  // so the worker reads it without knowing its size, and on the later visit checks the file it
  // downloaded again against the saved entry from its bytes alone.
  const { first, later } = await visits<Visit & { gzipped: boolean }>(
    '/big/models/',
    CLICK_AND_REPORT.replace(
      'tasks: window.__tasks,',
      "tasks: window.__tasks, gzipped: (() => { const r = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/clickwise.js')); return r !== undefined && r.encodedBodySize > 0 && r.encodedBodySize < r.decodedBodySize; })(),",
    ),
    '',
    undefined,
    true,
  );
  // The tag's script came gzipped (the catalogue's own request is the worker's, not in the page's timing entries).
  expect(first.gzipped).toBe(true);
  expect(first.embeddings).toEqual({ shipped: N, cached: 0, encoded: 0, prepared: 0 });
  expect(first.indexed).toBe('shipped');
  expect(first.shown).toBeGreaterThan(0);
  expect(Math.max(0, ...first.tasks), `long tasks ${first.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
  expect(later.embeddings).toEqual({ shipped: N, cached: 0, encoded: 0, prepared: N });
  expect(later.indexed).toBe('saved');
  expect(later.shown).toBeGreaterThan(0);
  expect(Math.max(0, ...later.tasks), `long tasks ${later.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
});

test(`${N} items with a base that knows every item (residuals, transitions): no long task on a first or a later visit`, async () => {
  // As a shop of this size ships after `npm run maintain`: some 17 MB of base, read and aligned on every visit.
  const folder = trainedBase(N, dir).replace(`/p/${N}/`, '/big/');
  const { first, later } = await visits<Visit & { model: string; baseAsked: number; transAsked: number; transAfterHead: boolean }>(
    folder,
    CLICK_AND_REPORT.replace(
      'tasks: window.__tasks,',
      "tasks: window.__tasks, model: rec.stats().modelVersion, ...(() => { const files = performance.getEntriesByType('resource'); const head = files.filter((r) => r.name.endsWith('/head/head.bin')); const trans = files.filter((r) => r.name.endsWith('/head/transitions.bin')); return { baseAsked: head.length, transAsked: trans.length, transAfterHead: head.length === 1 && trans.length === 1 && trans[0].startTime >= head[0].responseEnd }; })(),",
    ),
  );
  expect(first.model).toContain(`bench-trained-${N}`);
  // The first visit downloads the base's transitions (transitions.bin) only once the rest of it
  // (head.bin) is in: its first list needs none of them.
  expect(first.baseAsked).toBe(1);
  expect(first.transAsked).toBe(1);
  expect(first.transAfterHead).toBe(true);
  // The later visit takes the base aligned with the catalogue from the first one's entry, with
  // the item matrix: it does not download the base's files again.
  expect(later.baseAsked).toBe(0);
  expect(later.transAsked).toBe(0);
  expect(first.shown).toBeGreaterThan(0);
  expect(Math.max(0, ...first.tasks), `long tasks ${first.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
  expect(later.embeddings.prepared).toBe(N);
  expect(Math.max(0, ...later.tasks), `long tasks ${later.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
});

interface Compacted {
  form: string;
  bytes: number;
  where: string | null;
  shown: unknown[];
  looked: unknown[];
  tasks: number[];
}

test(`${N} items kept deflated once ready (data-compact-above="0"): the items as the catalogue gives them, no long task`, async () => {
  const sample = ['s0', 's5', 's9', 's1234', `s${N - 1}`];
  // What the page shows and holds, before and after the catalogue is compacted.
  const read = `
const rec = await window.Clickwise.ready;
const before = rec.stats().catalog.form;
for (let t = 0; t < 600 && rec.stats().catalog.form !== 'compressed'; t++) await new Promise((r) => setTimeout(r, 100));
await rec.click('s5');
await rec.click('s9');
const shown = (await rec.recommend({ k: 10 })).map((r) => r.item);
return {
  form: before + '->' + rec.stats().catalog.form,
  bytes: rec.stats().catalog.bytes,
  where: rec.stats().catalogCompacted,
  shown,
  looked: ${JSON.stringify(sample)}.map((id) => rec.item(id)),
  tasks: window.__tasks,
};`;
  // The next visit comes once the entry and the compacted text are kept.
  const kept = `(${WAIT_PREPARED})(30000).then(async () => {
    for (const end = Date.now() + 30000; !(await (${SAVED_TEXT})()); await new Promise((r) => setTimeout(r, 250))) {
      if (Date.now() > end) throw new Error('no compacted text was kept within 30000 ms');
    }
  })`;
  const { first, later } = await visits<Compacted>('/big/models/', read, ' data-compact-above="0"', kept);
  // Every item shown or looked up is the catalogue's, read back from the compressed text.
  const check = (v: Compacted): void => {
    expect(v.shown).toHaveLength(10);
    for (const item of v.shown) expect(item).toEqual(catalog.find((x) => x.id === (item as { id: string }).id));
    expect(v.looked).toEqual(sample.map((id) => catalog.find((x) => x.id === id)));
  };
  // The first visit's worker leaves the page the file's bytes, as a later visit has.
  expect(first.form).toBe('file->compressed');
  // Its blocks deflated in the compaction's worker, off the page's main thread.
  expect(first.where).toBe('worker');
  expect(first.bytes).toBeLessThan(catalogJson.length / 2.5);
  expect(Math.max(0, ...first.tasks), `long tasks ${first.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
  check(first);
  // The later visit's worker sends the page the compacted text the first one kept, not the
  // file's bytes: the catalogue is compressed from the start, and nothing is compacted again.
  expect(later.form).toBe('compressed->compressed');
  expect(later.where).toBe('saved');
  expect(later.bytes).toBe(first.bytes);
  expect(Math.max(0, ...later.tasks), `long tasks ${later.tasks.join(', ')} ms`).toBeLessThan(BOUND_MS);
  check(later);
});

test(`${N} items: a later visit takes the compacted text the visit before kept, and one whose tag turns compaction off (data-compact-above="never") holds the file`, async () => {
  // The tag's attribute by visit: compacted from the first visit on, then never.
  const above = `{ first: '0', later: '0', never: 'never' }[window.__visit]`;
  const read = `
const rec = await window.Clickwise.ready;
const before = rec.stats().catalog.form;
if (window.__visit === 'first') for (let t = 0; t < 600 && rec.stats().catalog.form !== 'compressed'; t++) await new Promise((r) => setTimeout(r, 100));
return { form: before + '->' + rec.stats().catalog.form, where: rec.stats().catalogCompacted, item: rec.item('s9') };`;
  const kept = `(${WAIT_PREPARED})(30000).then(async () => {
    for (const end = Date.now() + 30000; !(await (${SAVED_TEXT})()); await new Promise((r) => setTimeout(r, 250))) {
      if (Date.now() > end) throw new Error('no compacted text was kept within 30000 ms');
    }
  })`;
  const got = await plainVisits<{ form: string; where: string | null; item: unknown }, 'first' | 'later' | 'never'>({
    mounts: { '/big/': dir, '/': 'dist' },
    path: '/big/never.html',
    body: `<div data-clickwise-slot data-k="10"></div>
<script>document.write('<script src="/clickwise.js" data-catalog="/big/catalog.json" data-model="/big/models/" data-backend="wasm" data-namespace="never" data-compact-above="' + ${above} + '"><' + '/script>');</script>
<script>
window.__measure = async () => { ${read} };
window.__beforeNext = () => ${kept};
</script>`,
    visits: ['first', 'later', 'never'],
    timeoutMs: 220_000,
  });
  const s9 = catalog.find((x) => x.id === 's9');
  expect(got.first).toMatchObject({ form: 'file->compressed', where: 'worker', item: s9 });
  expect(got.later).toMatchObject({ form: 'compressed->compressed', where: 'saved', item: s9 });
  // The worker was told the page compacts nothing: it sent the file's copy, not the text.
  expect(got.never).toMatchObject({ form: 'file->file', where: null, item: s9 });
});
