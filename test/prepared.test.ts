/**
 * The prepared-catalogue cache: a later load of the same catalogue file and model takes the ids,
 * the items' places in the file and the item matrix from what the first load made, parses only
 * the items it shows, and gives the same recommendations; anything changed or damaged falls back
 * to a full load.
 */
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { JsonBounds, parseJsonArraySliced } from '../src/core/json-array.js';
import type { PreparedCache, PreparedEntry } from '../src/core/prepared.js';
import { checkSavedCatalog, digestBytes, fastDigest, MemoryPreparedCache, sha256Digest } from '../src/core/prepared.js';
import type { PreparedCatalog } from '../src/core/prepared.js';
import { indexCatalog } from '../src/core/catalog-index.js';
import type { Fetcher } from '../src/core/model-io.js';
import { defaultFetcher } from '../src/core/model-io.js';
import type { CoreRecommenderOptions, Recommender } from '../src/core/recommender.js';
import type { BlockDeflater, DeflatedBlocks } from '../src/core/deflate-blocks.js';
import { deflateBlocks, joinBlocks } from '../src/core/deflate-blocks.js';
import { createRecommenderCore, readCatalog } from '../src/core/recommender.js';
import { Slicer } from '../src/core/slice.js';
import { writeVectors } from '../src/cli/vectors/vectors.js';
import type { Item } from '../src/core/types.js';
import { clickSession, countingFetcher, demoCatalog, MODELS, shopWithVectors, useBackend, whenSaved } from './helpers.js';
import type * as Fflate from 'fflate';

// The compression library, counted: a compaction that should have stopped must not deflate.
const deflated = vi.hoisted(() => ({ blocks: 0 }));
vi.mock('fflate', async (original) => {
  const real = await original<typeof Fflate>();
  return {
    ...real,
    deflateSync: (...args: Parameters<typeof real.deflateSync>) => {
      deflated.blocks++;
      return real.deflateSync(...args);
    },
  };
});

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('catalogue digests', () => {
  for (const [name, digest, form] of [
    ['digestBytes (the WebAssembly kernel where it runs)', digestBytes, /^k64:[0-9a-f]{16}:\d+$/],
    ['sha256Digest (pages without WebAssembly)', sha256Digest, /^sha256:[0-9a-f]{64}:\d+$/],
    ['fastDigest (pages without WebAssembly or WebCrypto)', fastDigest, /^[0-9a-f]{16}$/],
  ] as const) {
    it(`${name} tells files apart by any byte, by length and by order, and reads unaligned views the same`, async () => {
      const s = new Slicer();
      const text = JSON.stringify(demoCatalog());
      const a = enc(text);
      const d = await digest(a, s);
      expect(d).toMatch(form);
      expect(await digest(enc(text), s)).toBe(d);
      const seen = new Set([d]);
      for (const at of [0, 1, 2, 3, 1000, a.length - 1]) {
        const b = a.slice();
        b[at] = b[at]! ^ 1;
        seen.add(await digest(b, s));
      }
      const padded = new Uint8Array(a.length + 1);
      padded.set(a);
      seen.add(await digest(padded, s));
      const swapped = a.slice();
      swapped.set(a.subarray(0, 4), 4);
      swapped.set(a.subarray(4, 8), 0);
      seen.add(await digest(swapped, s));
      expect(seen.size).toBe(9);
      const shifted = new Uint8Array(a.length + 3);
      shifted.set(a, 3);
      expect(await digest(shifted.subarray(3), s)).toBe(d);
    });
  }
});

for (const [name, digest] of [
  ['digestBytes', digestBytes],
  ['sha256Digest', sha256Digest],
] as const) {
  it(`${name} reads a file of several pieces whole`, async () => {
    const s = new Slicer();
    const big = new Uint8Array(9 << 20).map((_, i) => (i * 31) & 255);
    const d = await digest(big, s);
    expect(await digest(big.slice(), s)).toBe(d);
    for (const at of [5 << 20, (9 << 20) - 1]) {
      const b = big.slice();
      b[at] = b[at]! ^ 1;
      expect(await digest(b, s)).not.toBe(d);
    }
    expect(await digest(big.subarray(0, (8 << 20) + 1), s)).not.toBe(await digest(big.subarray(0, 8 << 20), s));
  });
}

describe('checkSavedCatalog', () => {
  /** The catalogue part a load saves for the demo catalogue. */
  const part = async (): Promise<PreparedCatalog> => {
    const bytes = enc(JSON.stringify(demoCatalog()));
    const index = await indexCatalog('demo.json', bytes, new Slicer(Infinity));
    const n = index.bounds.length / 2;
    return {
      digest: await digestBytes(bytes, new Slicer(Infinity)),
      ids: index.ids,
      bounds: index.bounds,
      skipped: index.skipped,
      spread: Int32Array.from({ length: n }, (_, i) => n - 1 - i),
      categories: index.categories,
    };
  };

  it('takes back the ids of a part that fits them', async () => {
    const c = await part();
    const ids = await checkSavedCatalog(c, new Slicer(1));
    expect(ids.size).toBe(c.bounds.length / 2);
    const first = demoCatalog()[0]!.id;
    expect(ids.indexOf(first)).toBe(0);
  });

  it('refuses a part whose bounds, categories or cold-start order do not fit its ids', async () => {
    const damages: [string, (c: PreparedCatalog) => void][] = [
      ['bounds out of order', (c) => c.bounds.set([c.bounds[3]!, c.bounds[2]!], 2)],
      ['one bound short', (c) => (c.bounds = c.bounds.slice(1))],
      ['a category past the names', (c) => (c.categories!.codes[1] = c.categories!.names.length + 1)],
      ['an order one item short', (c) => (c.spread = c.spread.slice(1))],
      ['an order past the end', (c) => (c.spread[2] = c.spread.length)],
      ['an order below 0', (c) => (c.spread[0] = -1)],
      ['a slot of the id table out of range', (c) => (c.ids.slots[c.ids.slots.findIndex((x) => x !== 0)] = c.ids.lengths.length + 1)],
    ];
    for (const [what, damage] of damages) {
      const c = await part();
      damage(c);
      await expect(checkSavedCatalog(c, new Slicer(Infinity)), what).rejects.toThrow(RangeError);
    }
  });
});

describe('JsonBounds', () => {
  it("records each element's place, so that the element alone parses to the same value", async () => {
    const items: unknown[] = demoCatalog();
    items.push({ id: 'tricky', title: 'a "quoted" title, with }, { and ], [ inside', d: [1, [2, ',']] }, 'x,y', 7, null);
    const text = ` ${JSON.stringify(items, null, 1)} `;
    const bytes = enc(text);
    const b = new JsonBounds();
    const all = (await parseJsonArraySliced(bytes, new Slicer(), b)) as unknown[];
    const v = b.view();
    expect(v.length).toBe(items.length + 1);
    const dec = new TextDecoder();
    items.forEach((x, i) => expect(JSON.parse(dec.decode(bytes.subarray(v[i]! + 1, v[i + 1]!)))).toEqual(x));
    expect(all).toEqual(items);
  });
});

describe('a recommender with a prepared cache', () => {
  let dir = '';
  let models = '';
  let otherModels = '';
  let file = '';
  let catalog: Item[] = [];
  let rows: unknown[] = [];

  beforeAll(async () => {
    // One unusable row in the file, so that the warning about it is checked on every load.
    ({ dir, models, file, catalog, rows } = await shopWithVectors('clickwise-prepared-'));
    // The same model with vectors made from another catalogue order: another vectors file.
    otherModels = join(dir, 'models-2');
    cpSync(MODELS, otherModels, { recursive: true });
    await writeVectors({ modelDir: otherModels, items: [...catalog].reverse() });
    await useBackend('cpu');
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(
    cache: PreparedCache | undefined,
    modelUrl = models,
    counting = countingFetcher(),
    compactCatalogAbove?: number,
    more: Partial<CoreRecommenderOptions> = {},
  ): Promise<{ rec: Recommender; asked: string[]; warnings: string[]; saved: Promise<void> }> {
    const { fetcher, asked } = counting;
    const warnings: string[] = [];
    const { saved, afterSaved } = whenSaved(more);
    const rec = await createRecommenderCore({
      catalog: file,
      modelUrl,
      backend: 'cpu',
      fetcher,
      ...(cache ? { preparedCache: cache } : {}),
      ...(compactCatalogAbove !== undefined ? { compactCatalogAbove } : {}),
      onWarning: (w) => warnings.push(w.message),
      ...more,
      afterSaved,
    });
    return { rec, asked, warnings, saved };
  }

  const session = clickSession;

  /** A cache holding what a first load saved (the save runs after the load is ready). */
  async function primed(): Promise<MemoryPreparedCache> {
    const cache = new MemoryPreparedCache();
    const { rec, saved } = await load(cache);
    rec.dispose();
    await saved;
    return cache;
  }

  it('takes the second load from what the first made, with the same recommendations', async () => {
    const cache = new MemoryPreparedCache();
    const first = await load(cache);
    expect(first.rec.stats().embeddings).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: 0 });
    const a = await session(first.rec);
    const items = first.rec.items;
    first.rec.dispose();
    await first.saved;
    expect(cache.entries.size).toBe(1);
    // Every item's category numbered, so that a later visit groups items without parsing them.
    const saved = cache.entries.get(file)!.catalog.categories!;
    expect(saved.codes).toHaveLength(catalog.length);
    expect(catalog.map((_, i) => saved.names[saved.codes[i]!])).toEqual(catalog.map((x) => x.category));
    // The matrix is handed to the cache as it is (it does not change once made), not copied first:
    // copying 68 MB was one long task on a first visit at 1,000,000 items.
    const matrix = cache.entries.get(file)!.matrix!;
    expect(matrix.codes.buffer).toBe(matrix.scales.buffer);

    const second = await load(cache);
    expect(second.rec.stats().embeddings).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: catalog.length });
    // Neither the shipped vectors nor their keys are downloaded again.
    expect(second.asked.some((x) => x.endsWith('vectors.bin') || x.endsWith('keys.bin'))).toBe(false);
    expect(second.warnings.some((w) => w.includes('invalid item'))).toBe(true);
    const b = await session(second.rec);
    expect(b).toEqual(a);
    expect(second.rec.item('gar-01a')).toEqual(items.find((i) => i.id === 'gar-01a'));
    expect(second.rec.item('broken')).toBeUndefined();
    expect(second.rec.items).toEqual(items);
    second.rec.dispose();

    // Without a cache, the same again: the cache changes nothing but the time.
    const plain = await load(undefined);
    expect(await session(plain.rec)).toEqual(a);
    plain.rec.dispose();
  });

  it('loads in full when the file changes, and rebuilds only the matrix when the model does', async () => {
    const cache = await primed();
    const digest = cache.entries.get(file)!.catalog.digest;

    // Another vectors file: the catalogue index is kept, the matrix made again.
    const other = await load(cache, otherModels);
    expect(other.rec.stats().embeddings.prepared).toBe(0);
    expect(other.asked.some((x) => x.endsWith('vectors.bin'))).toBe(true);
    const fresh = await load(undefined, otherModels);
    expect(await session(other.rec)).toEqual(await session(fresh.rec));
    other.rec.dispose();
    fresh.rec.dispose();
    await other.saved;
    expect(cache.entries.get(file)!.catalog.digest).toBe(digest);

    // One title edited: the file is read again.
    writeFileSync(
      file,
      JSON.stringify(
        rows.map((r, i) => (i === 0 ? { ...(r as object), title: 'Renamed Trowel' } : r)),
        null,
        1,
      ),
    );
    try {
      const edited = await load(cache, otherModels);
      expect(edited.rec.stats().embeddings.prepared).toBe(0);
      expect(edited.rec.item(catalog[0]!.id)!.title).toBe('Renamed Trowel');
      edited.rec.dispose();
      await edited.saved;
      expect(cache.entries.get(file)!.catalog.digest).not.toBe(digest);
    } finally {
      writeFileSync(file, JSON.stringify(rows, null, 1));
    }
  });

  it('reads the saved ids while the catalogue downloads, and drops them when the file has changed', async () => {
    const cache = await primed();
    const good = cache.entries.get(file)!;
    // An entry that tells when its ids are read; the catalogue arrives only after they are
    // (or after a second, and then the test fails).
    let idsRead = false;
    const watched = (digest: string): PreparedEntry => ({
      ...good,
      catalog: {
        ...good.catalog,
        digest,
        get ids() {
          idsRead = true;
          return good.catalog.ids;
        },
      },
    });
    const slow = (): { fetcher: Fetcher; asked: string[]; readFirst: boolean[] } => {
      const { fetcher, asked } = countingFetcher();
      const readFirst: boolean[] = [];
      return {
        asked,
        readFirst,
        fetcher: async (loc) => {
          if (loc === file) {
            for (let t = 0; t < 100 && !idsRead; t++) await new Promise((r) => setTimeout(r, 10));
            readFirst.push(idsRead);
          }
          return fetcher(loc);
        },
      };
    };
    const reference = await session((await load(undefined)).rec);
    for (const [digest, prepared] of [
      [good.catalog.digest, catalog.length],
      ['sha256:another-file', 0],
    ] as const) {
      idsRead = false;
      cache.entries.set(file, watched(digest));
      const fetching = slow();
      const r = await load(cache, models, fetching);
      expect(fetching.readFirst).toEqual([true]);
      expect(r.rec.stats().embeddings.prepared).toBe(prepared);
      expect(await session(r.rec)).toEqual(reference);
      r.rec.dispose();
    }
  });

  it('asks for the shop’s vectors once the catalogue is here and is to be parsed, never when the saved entry holds', async () => {
    // When the catalogue read says it will parse the file (no saved entry, another file, or no
    // cache), the load starts downloading the vectors while it parses, not after.
    const calls = async (cache: PreparedCache | undefined): Promise<{ misses: number; fetchedFirst: boolean[] }> => {
      let fetched = false;
      const fetchedFirst: boolean[] = [];
      const fetcher: Fetcher = async (loc) => {
        const got = await defaultFetcher(loc);
        fetched = true;
        return got;
      };
      await readCatalog(
        file,
        fetcher,
        cache,
        new Slicer(),
        () => undefined,
        () => fetchedFirst.push(fetched),
      );
      return { misses: fetchedFirst.length, fetchedFirst };
    };
    expect(await calls(undefined)).toEqual({ misses: 1, fetchedFirst: [true] });
    expect(await calls(new MemoryPreparedCache())).toEqual({ misses: 1, fetchedFirst: [true] });
    const cache = await primed();
    expect(await calls(cache)).toEqual({ misses: 0, fetchedFirst: [] });
    cache.entries.set(file, {
      ...cache.entries.get(file)!,
      catalog: { ...cache.entries.get(file)!.catalog, digest: 'sha256:another-file' },
    });
    expect(await calls(cache)).toEqual({ misses: 1, fetchedFirst: [true] });
    // A whole load asks for the file once: the early request serves the matrix.
    const counting = countingFetcher();
    const r = await load(new MemoryPreparedCache(), models, counting);
    expect(counting.asked.filter((x) => x.endsWith('vectors.bin'))).toHaveLength(1);
    expect(r.rec.stats().embeddings.shipped).toBe(catalog.length);
    r.rec.dispose();
  });

  it('takes a matrix that arrives after the catalogue is read, and makes again one that cannot be read', async () => {
    const memory = await primed();
    const reference = await session((await load(undefined)).rec);
    for (const failing of [false, true]) {
      // The matrix comes only once the catalogue file has been handed over.
      let delivered!: () => void;
      const fileDelivered = new Promise<void>((r) => (delivered = r));
      const late: PreparedCache = {
        get: async (loc) => {
          const e = await memory.get(loc);
          if (!e) return undefined;
          const matrix = fileDelivered.then(async () => {
            await new Promise((r) => setTimeout(r, 20));
            if (failing) throw new Error('piece unreadable');
            return e.matrix;
          });
          return { catalog: e.catalog, matrix };
        },
        put: (loc, entry) => memory.put(loc, entry),
      };
      const counting = countingFetcher();
      const r = await load(late, models, {
        asked: counting.asked,
        fetcher: async (loc) => {
          const got = await counting.fetcher(loc);
          if (loc === file) delivered();
          return got;
        },
      });
      expect(r.rec.stats().embeddings.prepared).toBe(failing ? 0 : catalog.length);
      expect(r.warnings.some((w) => w.includes('piece unreadable'))).toBe(failing);
      expect(await session(r.rec)).toEqual(reference);
      r.rec.dispose();
      await new Promise((res) => setTimeout(res, 10));
    }
  });

  it('falls back to a full load on a damaged entry or a cache that fails, and says so', async () => {
    const cache = await primed();
    const good = cache.entries.get(file)!;
    const reference = await session((await load(undefined)).rec);
    const damaged: PreparedEntry[] = [
      { ...good, catalog: { ...good.catalog, bounds: good.catalog.bounds.subarray(2) } },
      { ...good, catalog: { ...good.catalog, ids: { ...good.catalog.ids, slots: new Int32Array(good.catalog.ids.slots.length) } } },
      {
        ...good,
        catalog: { ...good.catalog, ids: { ...good.catalog.ids, lengths: good.catalog.ids.lengths.map((x, i) => (i === 3 ? x + 1 : x)) } },
      },
      { ...good, catalog: { ...good.catalog, ids: { ...good.catalog.ids, text: `${good.catalog.ids.text}x` } } },
      { ...good, catalog: { ...good.catalog, spread: new Int32Array(3) } },
      { ...good, catalog: { ...good.catalog, spread: good.catalog.spread.map((x, i) => (i === 2 ? 1e6 : x)) } },
      { ...good, catalog: { ...good.catalog, bounds: good.catalog.bounds.map((x, i) => (i === 7 ? 3 : x)) } },
      {
        ...good,
        catalog: { ...good.catalog, categories: { ...good.catalog.categories!, codes: good.catalog.categories!.codes.subarray(1) } },
      },
      {
        ...good,
        catalog: { ...good.catalog, categories: { ...good.catalog.categories!, names: good.catalog.categories!.names.slice(1) } },
      },
      { ...good, matrix: { ...good.matrix!, scales: good.matrix!.scales.map((x, i) => (i === 4 ? Number.NaN : x)) } },
      { ...good, matrix: { ...good.matrix!, codes: good.matrix!.codes.subarray(64) } },
    ];
    for (const bad of damaged) {
      cache.entries.set(file, bad);
      const r = await load(cache);
      expect(r.rec.stats().embeddings.prepared).toBe(0);
      expect(await session(r.rec)).toEqual(reference);
      r.rec.dispose();
    }
    const failing: PreparedCache = {
      get: () => Promise.reject(new Error('disk gone')),
      put: () => Promise.reject(new Error('quota')),
    };
    const r = await load(failing);
    expect(await session(r.rec)).toEqual(reference);
    await new Promise((res) => setTimeout(res, 10));
    expect(r.warnings.some((w) => w.includes('disk gone'))).toBe(true);
    expect(r.rec.stats().warnings.some((w) => w.includes('quota'))).toBe(true);
    r.rec.dispose();
  });

  it('keeps a large catalogue deflated once ready, on a first and a later visit, with the same recommendations', async () => {
    const reference = await session((await load(undefined)).rec);
    const size = JSON.stringify(rows, null, 1).length;
    const cache = new MemoryPreparedCache();
    for (const [visit, before] of [
      ['first', 'parsed'],
      ['later', 'file'],
    ] as const) {
      // Compacted at any size (0); the demo file is far below the default threshold.
      const r = await load(cache, models, countingFetcher(), 0);
      const compacting = (r.rec as unknown as { compacting: Promise<void> | null }).compacting;
      expect(compacting, visit).not.toBeNull();
      expect(r.rec.stats().catalog.form, visit).toBe(before);
      await compacting;
      const held = r.rec.stats().catalog;
      expect(held.form, visit).toBe('compressed');
      expect(held.bytes, visit).toBeGreaterThan(0);
      expect(held.bytes, visit).toBeLessThan(size / 2);
      expect(await session(r.rec), visit).toEqual(reference);
      expect(r.rec.item('broken')).toBeUndefined();
      expect(r.rec.item('gar-01a')!.title).toBe(catalog.find((x) => x.id === 'gar-01a')!.title);
      expect(r.rec.stats().warnings.filter((w) => w.includes('compact'))).toEqual([]);
      r.rec.dispose();
      await new Promise((res) => setTimeout(res, 10));
    }
    // By default a small file stays as it was read.
    const plain = await load(cache);
    expect((plain.rec as unknown as { compacting: Promise<void> | null }).compacting).toBeNull();
    expect(plain.rec.stats().catalog.form).toBe('file');
    plain.rec.dispose();
  });

  it('waits for the shopper: the compaction starts only once clicks and recommendations have been quiet a while', async () => {
    const r = await load(undefined, models, countingFetcher(), 0);
    // At once, before the compaction's first slice: a click and a recommendation.
    await r.rec.click('gar-01a');
    await r.rec.recommend({ k: 5 });
    const quietFrom = Date.now();
    expect(r.rec.stats().catalog.form).toBe('parsed');
    await (r.rec as unknown as { compacting: Promise<void> }).compacting;
    expect(r.rec.stats().catalog.form).toBe('compressed');
    // It waits for 250 ms of quiet after the recommendation (200 here: the test itself may resume
    // a little after the recommendation ended); without the wait it takes a few milliseconds.
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(200);
    r.rec.dispose();
  });

  it('stops compacting when the recommender is disposed', async () => {
    const r = await load(undefined, models, countingFetcher(), 0);
    const compacting = (r.rec as unknown as { compacting: Promise<void> }).compacting;
    deflated.blocks = 0;
    r.rec.dispose();
    await compacting;
    expect(deflated.blocks).toBe(0);
    // And one left alone deflates its blocks.
    const s = await load(undefined, models, countingFetcher(), 0);
    await (s.rec as unknown as { compacting: Promise<void> }).compacting;
    expect(deflated.blocks).toBeGreaterThan(0);
    expect(s.warnings).toEqual([expect.stringContaining('invalid item')]);
    s.rec.dispose();
  });

  it("leaves the blocks' deflate to a compactor where given, and to the page where that compactor fails", async () => {
    const cache = await primed();
    const reference = await session((await load(cache)).rec);
    const { deflateSync } = await vi.importActual<typeof Fflate>('fflate');
    // A compactor that deflates each batch as a worker would, and one whose worker dies.
    const batches: number[] = [];
    let closed = 0;
    const working = (): BlockDeflater => {
      const kept: DeflatedBlocks[] = [];
      return {
        add: (b) => {
          batches.push(b.text.length);
          kept.push(deflateBlocks(b, deflateSync));
          return Promise.resolve(b);
        },
        finish: () => Promise.resolve(joinBlocks(kept)),
        close: () => void closed++,
      };
    };
    const dying = (): BlockDeflater => ({
      add: () => Promise.reject(new Error('the worker died')),
      finish: () => Promise.reject(new Error('the worker died')),
      close: () => void closed++,
    });
    for (const [compactor, where, page] of [
      [working, 'worker', false],
      [dying, 'page', true],
    ] as const) {
      // A later visit: the page holds the file's bytes, which the batches are copied from.
      const r = await load(cache, models, countingFetcher(), 0, { catalogCompactor: compactor });
      expect(r.rec.stats().catalog.form, where).toBe('file');
      expect(r.rec.stats().catalogCompacted, where).toBeNull();
      deflated.blocks = 0;
      closed = 0;
      await (r.rec as unknown as { compacting: Promise<void> }).compacting;
      expect(r.rec.stats().catalog.form, where).toBe('compressed');
      expect(r.rec.stats().catalogCompacted, where).toBe(where);
      // No block deflated on the page's thread where the compactor did the work.
      if (page) expect(deflated.blocks, where).toBeGreaterThan(0);
      else expect(deflated.blocks, where).toBe(0);
      expect(closed, where).toBe(1);
      expect(await session(r.rec), where).toEqual(reference);
      const said = r.rec.stats().warnings.filter((w) => w.includes('compact'));
      expect(said, where).toEqual(page ? [expect.stringMatching(/compacted on the page's main thread.*the worker died/)] : []);
      r.rec.dispose();
      await new Promise((res) => setTimeout(res, 10));
    }
    expect(batches.length).toBeGreaterThan(0);
  });

  it('refuses a compaction threshold that is not a number of bytes', async () => {
    for (const bad of [-1, Number.NaN, '1' as unknown as number]) {
      await expect(load(undefined, models, countingFetcher(), bad)).rejects.toMatchObject({ code: 'options/compactCatalogAbove' });
    }
  });
});
