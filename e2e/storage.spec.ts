/**
 * Persistence in real Chromium IndexedDB, one fresh browser context (so a fresh database) per test:
 * reload, tabs, crash, bad stored data, no IndexedDB, a new model version, reset across tabs.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { defaultHead, writeHeadModel, writeModelManifest } from '../src/cli/train/head-io.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { cachedVectors, collectErrors, preparedEntries, tagPage } from './helpers.js';

type Top = { id: string; score: number }[];

async function open(page: Page, namespace: string): Promise<void> {
  await tagPage(page, { 'data-catalog': 'catalog.json', 'data-namespace': namespace, 'data-backend': 'wasm' });
  await page.evaluate(async () => {
    const w = window as unknown as { Clickwise: { ready: Promise<unknown> }; rec: unknown };
    w.rec = await w.Clickwise.ready;
  });
}

/** Runs `fn(rec)` in the page. */
function inPage<T, A = undefined>(page: Page, fn: (rec: RecApi, arg: A) => Promise<T> | T, arg?: A): Promise<T> {
  return page.evaluate(
    async ([src, a]) => {
      const rec = (window as unknown as { rec: RecApi }).rec;
      return (new Function('rec', 'arg', `return (${src})(rec, arg);`) as (r: RecApi, x: unknown) => unknown)(rec, a);
    },
    [fn.toString(), arg] as const,
  ) as Promise<T>;
}

interface RecApi {
  click(id: string): Promise<void>;
  recommend(o?: { k?: number }): Promise<Top>;
  stats(): {
    clicks: number;
    storage: string;
    quarantined: number;
    warnings: string[];
    deltaNorm: number;
    modelVersion: string;
    transitions: string;
  };
  reset(): Promise<void>;
  items: { id: string; category?: string }[];
  on(name: string, fn: (p: unknown) => void): () => void;
}

const top = (page: Page): Promise<Top> => inPage(page, (rec) => rec.recommend({ k: 10 }));

/** The seq and model version of the snapshot stored in a namespace's database, or null where there is none. */
const storedSnapshot = (page: Page, namespace: string): Promise<{ seq: number; modelVersion: string } | null> =>
  page.evaluate(async (name) => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    try {
      const tx = db.transaction('snapshots', 'readonly');
      const got = await new Promise<unknown>((res, rej) => {
        const r = tx.objectStore('snapshots').get('current');
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      const body = (got as { body?: { seq: number; modelVersion: string } } | undefined)?.body;
      return body ? { seq: body.seq, modelVersion: body.modelVersion } : null;
    } finally {
      db.close();
    }
  }, `clickwise:${namespace}`);

test('reload restores the same φ after acknowledged clicks', async ({ page }) => {
  await open(page, 'reload');
  await inPage(page, async (rec) => {
    for (const id of ['kit-01a', 'kit-02b', 'gar-03c', 'kit-04d', 'toy-01a']) await rec.click(id);
  });
  const before = await top(page);
  await page.reload();
  await open(page, 'reload');
  expect((await inPage(page, (rec) => rec.stats())).clicks).toBe(5);
  const after = await top(page);
  expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
  after.forEach((r, i) => expect(r.score).toBeCloseTo(before[i]!.score, 5));
});

test('two tabs clicking 50 times each, interleaved, both learn all 100 clicks and hold equal state', async ({ context }) => {
  const [a, b] = [await context.newPage(), await context.newPage()];
  await open(a, 'tabs');
  await open(b, 'tabs');
  const ids = (await inPage(a, (rec) => rec.items.map((i) => i.id))).slice(0, 100);
  const burst = (page: Page, offset: number): Promise<void> =>
    inPage(
      page,
      async (rec, arg) => {
        for (let i = 0; i < 50; i++) await rec.click(arg.ids[(i * 2 + arg.offset) % arg.ids.length]!);
      },
      { ids, offset },
    );
  await Promise.all([burst(a, 0), burst(b, 1)]);
  await expect.poll(() => inPage(a, (rec) => rec.stats().clicks), { timeout: 5000 }).toBe(100);
  await expect.poll(() => inPage(b, (rec) => rec.stats().clicks), { timeout: 5000 }).toBe(100);
  const [ta, tb] = [await top(a), await top(b)];
  expect(tb.map((r) => r.id)).toEqual(ta.map((r) => r.id));
  tb.forEach((r, i) => expect(r.score).toBeCloseTo(ta[i]!.score, 4));
});

test("each tab's recommendations reflect the other's clicks within one second", async ({ context }) => {
  const [a, b] = [await context.newPage(), await context.newPage()];
  await open(a, 'sync');
  await open(b, 'sync');
  const before = await top(b);
  const t0 = Date.now();
  await inPage(a, async (rec) => {
    for (const id of ['pet-01a', 'pet-02a', 'pet-03a']) await rec.click(id);
  });
  await expect.poll(() => inPage(b, (rec) => rec.stats().clicks), { timeout: 1000, intervals: [20] }).toBe(3);
  expect(Date.now() - t0).toBeLessThan(5000);
  const after = await top(b);
  expect(after.map((r) => r.id)).not.toEqual(before.map((r) => r.id));
  expect(after.map((r) => r.id)).toEqual((await top(a)).map((r) => r.id));
});

test('a page closed in the middle of a burst leaves a consistent store with every acknowledged click', async ({ context }) => {
  const page = await context.newPage();
  await open(page, 'crash');
  const acked: string[] = [];
  await page.exposeFunction('ack', (id: string) => acked.push(id));
  void page
    .evaluate(async () => {
      const w = window as unknown as { rec: RecApi; ack(id: string): Promise<void> };
      for (let i = 0; i < 10_000; i++) {
        const id = w.rec.items[i % w.rec.items.length]!.id;
        await w.rec.click(id);
        void w.ack(id);
      }
    })
    .catch(() => undefined);
  await expect.poll(() => acked.length, { timeout: 30_000 }).toBeGreaterThan(20);
  await page.close({ runBeforeUnload: false });
  const ackedAtClose = acked.length;
  const next = await context.newPage();
  await open(next, 'crash');
  const st = await inPage(next, (rec) => rec.stats());
  expect(st.clicks).toBeGreaterThanOrEqual(ackedAtClose);
  expect(st.quarantined).toBe(0);
  expect(st.storage).toBe('indexeddb');
});

test('corrupt, truncated, unknown-schema and newer-version records are set aside and reported', async ({ page }) => {
  await open(page, 'corrupt');
  await inPage(page, async (rec) => {
    for (const id of ['kit-01a', 'kit-02a', 'kit-03a']) await rec.click(id);
  });
  // Write bad records straight into the database, as a bug or a disk error would.
  await page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((res, rej) => {
      const r = indexedDB.open('clickwise:corrupt');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const tx = db.transaction(['events', 'snapshots'], 'readwrite');
    const ev = tx.objectStore('events');
    ev.put({ v: 1, crc: 12345, seq: 4, body: { seq: 4, type: 'click', itemId: 'kit-04a', t: 1, impressions: [] } }, 4); // corrupt
    ev.put({ v: 1, seq: 5 }, 5); // truncated
    ev.put({ v: 0, crc: 1, seq: 6, body: {} }, 6); // unknown schema
    ev.put({ v: 99, crc: 1, seq: 7, body: {} }, 7); // newer version
    tx.objectStore('snapshots').put({ v: 1, crc: 1, body: { seq: 2, modelVersion: 'x', state: {} } }, 'current');
    await new Promise((r) => (tx.oncomplete = r));
    db.close();
  });
  const errors = collectErrors(page);
  await page.reload();
  await open(page, 'corrupt');
  const st = await inPage(page, (rec) => rec.stats());
  expect(st.quarantined).toBe(5);
  expect(st.warnings.join('\n')).toMatch(/checksum mismatch/);
  expect(st.warnings.join('\n')).toMatch(/truncated/);
  expect(st.warnings.join('\n')).toMatch(/unknown schema version 0/);
  expect(st.warnings.join('\n')).toMatch(/newer version/);
  // The three good clicks survive, and the page keeps working.
  expect(st.clicks).toBe(3);
  await inPage(page, (rec) => rec.click('kit-05a'));
  expect((await inPage(page, (rec) => rec.stats())).clicks).toBe(4);
  expect(errors).toEqual([]);
});

test('without IndexedDB it runs in memory, with a single warning', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
  });
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' && m.text().includes('Clickwise')) warnings.push(m.text());
  });
  await open(page, 'noidb');
  await inPage(page, (rec) => rec.click('kit-01a'));
  const st = await inPage(page, (rec) => rec.stats());
  expect(st.storage).toBe('memory');
  expect(st.clicks).toBe(1);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/IndexedDB is unavailable.*memory/);
});

test('a new model version keeps φ when declared compatible, and replays the log when not', async ({ page }) => {
  await open(page, 'rebase');
  await inPage(page, async (rec) => {
    for (const id of ['clo-01a', 'clo-02a', 'hom-01a', 'clo-03b']) await rec.click(id);
  });
  const original = await top(page);
  const v1 = (await inPage(page, (rec) => rec.stats())).modelVersion;
  const bump = async (version: string, compatible: string[]): Promise<void> => {
    await page.unroute('**/models/manifest.json');
    await page.unroute('**/models/head/manifest.json');
    await page.route('**/models/manifest.json', async (route) => {
      const m = (await (await route.fetch()).json()) as { version: string };
      await route.fulfill({ json: { ...m, version } });
    });
    await page.route('**/models/head/manifest.json', async (route) => {
      const m = (await (await route.fetch()).json()) as Record<string, unknown>;
      await route.fulfill({ json: { ...m, deltaCompatibleWith: compatible } });
    });
    await page.reload();
    await open(page, 'rebase');
  };
  // Compatible: φ is kept as it is.
  await bump('v2', [v1]);
  let st = await inPage(page, (rec) => rec.stats());
  expect(st.modelVersion).toBe('v2');
  expect(st.clicks).toBe(4);
  expect(st.warnings.join()).not.toMatch(/Rebuilding/);
  // Force a snapshot under v2 (snapshots are taken every 50 events), then bump incompatibly.
  await inPage(page, async (rec) => {
    for (let i = 0; i < 46; i++) await rec.click(rec.items[i % 3]!.id);
  });
  const after50 = await top(page);
  // The snapshot is written after the 50th click resolves: a reload before it is written loses no
  // click (the log is replayed) but leaves no state of v2 to rebuild.
  await expect.poll(() => storedSnapshot(page, 'rebase')).toEqual({ seq: 50, modelVersion: 'v2' });
  await bump('v3', []);
  st = await inPage(page, (rec) => rec.stats());
  expect(st.modelVersion).toBe('v3');
  expect(st.warnings.join()).toMatch(/learned on model v2.*Rebuilding it from the 50 retained events/);
  expect(st.clicks).toBe(50);
  // Replaying the same events onto the same base rebuilds the same φ.
  const replayed = await top(page);
  expect(replayed.map((r) => r.id)).toEqual(after50.map((r) => r.id));
  expect(original.length).toBe(10);
});

test('reset forgets the shopper in every tab; namespaces are separate', async ({ context }) => {
  const [a, b, other] = [await context.newPage(), await context.newPage(), await context.newPage()];
  await open(a, 'reset');
  await open(b, 'reset');
  await open(other, 'another-shop');
  await inPage(a, async (rec) => {
    for (const id of ['kit-01a', 'kit-02a']) await rec.click(id);
  });
  await inPage(other, (rec) => rec.click('toy-01a'));
  await expect.poll(() => inPage(b, (rec) => rec.stats().clicks)).toBe(2);
  await inPage(b, (rec) => rec.reset());
  await expect.poll(() => inPage(a, (rec) => rec.stats().clicks), { timeout: 1000 }).toBe(0);
  expect((await inPage(a, (rec) => rec.stats())).deltaNorm).toBe(0);
  expect((await inPage(other, (rec) => rec.stats())).clicks).toBe(1);
  await a.reload();
  await open(a, 'reset');
  expect((await inPage(a, (rec) => rec.stats())).clicks).toBe(0);
});

test('catalogue vectors are cached by text: a reload encodes nothing, a new item only itself', async ({ page }) => {
  type Counts = { shipped: number; cached: number; encoded: number; prepared: number };
  const embeddings = (): Promise<Counts> =>
    page.evaluate(() => (window as unknown as { rec: { stats(): { embeddings: Counts } } }).rec.stats().embeddings);
  await open(page, 'emb');
  const n = (await inPage(page, (rec) => rec.items.length)) as number;
  expect(await embeddings()).toEqual({ shipped: 0, cached: 0, encoded: n, prepared: 0 });
  const first = await top(page);
  // The first load saves what it made for the next one after its first list, in the background:
  // the reload waits until that entry is written (the database exists: this load opened it).
  await expect.poll(() => preparedEntries(page)).toBeGreaterThan(0);
  // Then the vectors it encoded, each under its text's key.
  await expect.poll(() => cachedVectors(page)).toBe(n);
  await page.reload();
  await open(page, 'emb');
  // The same catalogue file and model: the matrix the first load made is taken as it is.
  expect(await embeddings()).toEqual({ shipped: 0, cached: 0, encoded: n, prepared: n });
  expect((await top(page)).map((r) => r.id)).toEqual(first.map((r) => r.id));
  // The shop adds one product: only that one is encoded.
  await page.route('**/catalog.json', async (route) => {
    const items = (await (await route.fetch()).json()) as object[];
    await route.fulfill({ json: [...items, { id: 'new-1', title: 'Walnut Chopping Board', category: 'Kitchen' }] });
  });
  await page.reload();
  await open(page, 'emb');
  expect(await embeddings()).toEqual({ shipped: 0, cached: n, encoded: 1, prepared: 0 });
});

test("a later visit reads the catalogue and its saved entry from the worker's copies while the server's strong ETag is unchanged, and the file once it changes", async ({
  page,
}) => {
  let etag = '"v1"';
  let rename: string | null = null;
  await page.route('**/catalog.json', async (route) => {
    const items = (await (await route.fetch()).json()) as { id: string; title: string }[];
    const served = rename ? items.map((x, i) => (i === 0 ? { ...x, title: rename! } : x)) : items;
    await route.fulfill({ json: served, headers: { etag } });
  });
  /** The catalogue worker's steps on this load (User Timing marks), and the first item's title. */
  const load = async (): Promise<{ steps: string[]; title: string; prepared: number }> => {
    await open(page, 'copy');
    return page.evaluate(() => {
      const rec = (window as unknown as { rec: { items: { title: string }[]; stats(): { embeddings: { prepared: number } } } }).rec;
      return {
        steps: performance
          .getEntriesByType('mark')
          .map((m) => m.name)
          .filter((n) => n.startsWith('clickwise:worker-'))
          .map((n) => n.slice('clickwise:worker-'.length)),
        title: rec.items[0]!.title,
        prepared: rec.stats().embeddings.prepared,
      };
    });
  };
  const first = await load();
  // A first visit downloads and indexes the file (keeping a copy on the way).
  expect(first.steps).toEqual(['request', 'response', 'file', 'index']);
  await expect.poll(() => preparedEntries(page)).toBeGreaterThan(0);
  // Once the entry is saved, the page keeps a copy of it in the private file system too.
  const copies = (): Promise<string[]> =>
    page.evaluate(async () => {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle('clickwise-catalogs', { create: true });
      const names: string[] = [];
      for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
      return names.map((n) => n.replace(/^catalog-[0-9a-f]+/, '')).sort();
    });
  await expect.poll(copies).toEqual(['.bin', '.entry']);
  // And until a worker can open the entry's copy, as the next visit's does: the page's writer
  // lets go of the file a little after its last write, and a visit that comes sooner reads
  // IndexedDB's pieces instead (correct, only slower), which is not what this test checks.
  const entryCopyBytes = (): Promise<number> =>
    page.evaluate(async () => {
      const probe = `onmessage = async () => {
        try {
          const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('clickwise-catalogs');
          for await (const [name, file] of dir.entries()) {
            if (!name.endsWith('.entry')) continue;
            const handle = await file.createSyncAccessHandle();
            const size = handle.getSize();
            handle.close();
            postMessage(size);
            return;
          }
          postMessage(-1);
        } catch {
          postMessage(-2);
        }
      };`;
      const worker = new Worker(URL.createObjectURL(new Blob([probe], { type: 'text/javascript' })));
      const size = await new Promise<number>((resolve) => {
        worker.onmessage = (e: MessageEvent<number>) => resolve(e.data);
        worker.postMessage(null);
      });
      worker.terminate();
      return size;
    });
  await expect.poll(entryCopyBytes).toBeGreaterThan(0);
  await page.reload();
  // Same ETag: the worker reads the file's copy, not the body (its digest, made as the first
  // visit downloaded it, is noted in it), and the entry's copy, not IndexedDB's pieces.
  const later = await load();
  // (The entry's steps end whenever it is read, before or after the file's.)
  const fileSteps = (steps: string[]): string[] => steps.filter((x) => !['entry', 'matrix', 'entry-copy'].includes(x));
  expect(fileSteps(later.steps)).toEqual(['request', 'response', 'copy']);
  expect(later.steps).toContain('entry-copy');
  expect(later.title).toBe(first.title);
  expect(later.prepared).toBeGreaterThan(0);
  await page.reload();
  const third = await load();
  expect(fileSteps(third.steps)).toEqual(['request', 'response', 'copy']);
  expect(third.steps).toContain('entry-copy');
  expect(third.title).toBe(first.title);
  expect(third.prepared).toBe(later.prepared);
  // The shop renames a product and its server sends a new ETag: the file is read again.
  rename = 'Walnut Chopping Board';
  etag = '"v2"';
  await page.reload();
  const changed = await load();
  expect(fileSteps(changed.steps)).toEqual(['request', 'response', 'file', 'digest', 'index']);
  expect(changed.title).toBe('Walnut Chopping Board');
  expect(changed.prepared).toBe(0);
});

test("a returning shopper on a new base is served before the base's transitions come, and learns with them once they are in", async ({
  page,
}) => {
  // A base that knows every item of the demo's catalogue, with transitions, served for models/.
  const dir = mkdtempSync(join(tmpdir(), 'clickwise-late-transitions-'));
  try {
    // Two bases (a shop's base, then the one its maintenance job published next), each knowing
    // every item of the demo's catalogue, with transitions.
    const items = JSON.parse(readFileSync('dist/catalog.json', 'utf8')) as { id: string }[];
    const ids = items.map((i) => i.id);
    const n = ids.length;
    const base = (name: string, shift: number): string => {
      const models = join(dir, name);
      cpSync('dist/models', models, { recursive: true });
      const encoder = JSON.parse(readFileSync(join(models, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
      writeHeadModel(
        join(models, 'head'),
        {
          ...defaultHead(encoder),
          version: name,
          ids,
          bias: Float32Array.from(ids, (_, i) => Math.sin(i + shift) / 2),
          residual: null,
          transitions: {
            ptr: Int32Array.from({ length: n + 1 }, (_, i) => i * 3),
            to: Int32Array.from({ length: n * 3 }, (_, k) => (Math.floor(k / 3) * 7 + 5 + (k % 3)) % n),
            p: Float32Array.from({ length: n * 3 }, () => 1 / 3),
          },
          mix: [4, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        },
        { versionFromContent: true },
      );
      writeModelManifest(models);
      return models;
    };
    const bases = [base('base-1', 0), base('base-2', 1)];
    // The base served for models/, and transitions.bin held while `held` is set.
    let models = bases[0]!;
    let release: () => void = () => undefined;
    let held: Promise<void> | null = null;
    let served = 0;
    await page.route('**/models/**', async (route) => {
      const path = new URL(route.request().url()).pathname.replace(/^.*\/models\//, '');
      if (path === 'head/transitions.bin' && held) await held;
      if (path === 'head/transitions.bin') served++;
      return route.fulfill({ path: join(models, path) });
    });
    await open(page, 'late');
    await inPage(page, async (rec) => {
      for (const id of ['kit-01a', 'gar-02b', 'toy-03a']) await rec.click(id);
    });
    const first = (await inPage(page, (rec) => rec.stats())).modelVersion;
    // A new base: the clicks are replayed onto it, and its transitions come late.
    models = bases[1]!;
    held = new Promise((r) => (release = r));
    served = 0;
    await page.reload();
    await open(page, 'late');
    const before = await top(page);
    expect(before).toHaveLength(10);
    expect(served).toBe(0);
    let st = await inPage(page, (rec) => rec.stats());
    expect(st.modelVersion).not.toBe(first);
    expect(st.clicks).toBe(3);
    expect(st.transitions).toBe('reading');
    await inPage(page, (rec) => {
      (window as unknown as { updates: unknown[] }).updates = [];
      rec.on('update', (u) => (window as unknown as { updates: unknown[] }).updates.push(u));
    });
    release();
    await expect.poll(() => page.evaluate(() => (window as unknown as { updates: unknown[] }).updates.length)).toBeGreaterThan(0);
    const after = await top(page);
    expect(served).toBe(1);
    st = await inPage(page, (rec) => rec.stats());
    expect(st.clicks).toBe(3);
    expect(st.transitions).toBe('in');
    expect(st.warnings.filter((w) => /transitions/.test(w))).toEqual([]);
    // The same as a visit that has the transitions from the start (the saved entry's, now).
    held = null;
    await page.reload();
    await open(page, 'late');
    await expect.poll(() => inPage(page, (rec) => rec.stats().transitions)).toBe('in');
    const again = await top(page);
    expect(after.map((r) => r.id)).toEqual(again.map((r) => r.id));
    after.forEach((r, i) => expect(r.score).toBeCloseTo(again[i]!.score, 4));
    // And the list without them was another: the transitions' votes count in this base.
    expect(before.map((r) => r.id)).not.toEqual(after.map((r) => r.id));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a base of a later version is passed over for the base in force before it, which the manifest names', async ({ page }) => {
  const dir = mkdtempSync(join(tmpdir(), 'clickwise-later-base-'));
  try {
    // The shop's model folder after a maintenance run of a later version: its new head is of a
    // format this page does not read, and the manifest names the base in force before.
    const models = join(dir, 'models');
    cpSync('dist/models', models, { recursive: true });
    const before = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')) as { version: string; encoder: string; head: string };
    cpSync(join(models, before.head), join(models, 'head-later'), { recursive: true });
    const headPath = join(models, 'head-later', 'manifest.json');
    writeFileSync(headPath, JSON.stringify({ ...JSON.parse(readFileSync(headPath, 'utf8')), formatVersion: 2, version: 'later' }));
    writeFileSync(
      join(models, 'manifest.json'),
      JSON.stringify({
        ...before,
        version: 'enc+later',
        head: 'head-later/',
        previous: { version: before.version, encoder: before.encoder, head: before.head },
      }),
    );
    await page.route('**/models/**', (route) =>
      route.fulfill({ path: join(models, new URL(route.request().url()).pathname.replace(/^.*\/models\//, '')) }),
    );
    await open(page, 'later');
    const st = await inPage(page, (rec) => rec.stats());
    expect(st.modelVersion).toBe(before.version);
    expect(st.warnings.filter((w) => /written by a later version/.test(w))).toHaveLength(1);
    expect(await top(page)).toHaveLength(10);
    await inPage(page, (rec) => rec.click('kit-01a'));
    expect((await inPage(page, (rec) => rec.stats())).clicks).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
