/**
 * The promises of README "Persistence" and "Reliability" against the faults found by probing the
 * API and the store: memory fallback, reset races, NaN, corrupt counters, several catalogues on
 * one store, dispose with a click in flight, and careless arguments. Node, cpu backend, with an
 * in-memory IndexedDB for the store.
 */
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CoreRecommenderOptions, EmbeddingCache } from '../src/core/recommender.js';
import { createRecommenderCore } from '../src/core/recommender.js';
import type { DeltaStore } from '../src/core/store.js';
import { MemoryDeltaStore } from '../src/core/store.js';
import type { Item, Recommender } from '../src/index.js';
import { ArgumentError, CatalogError } from '../src/index.js';
import { IndexedDbDeltaStore } from '../src/storage/idb-store.js';
import { IndexedDbEmbeddingCache, VERSION_TTL_MS } from '../src/storage/embedding-cache.js';
import { demoCatalog, MODELS, useBackend } from './helpers.js';

const catalog = demoCatalog();
const open: Recommender[] = [];
let nsCount = 0;
const ns = (): string => `rel-${process.pid}-${nsCount++}`;

async function make(extra: Partial<CoreRecommenderOptions> = {}): Promise<Recommender> {
  const rec = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', ...extra });
  open.push(rec);
  return rec;
}
beforeAll(async () => {
  await useBackend('cpu');
});
afterEach(() => {
  open.splice(0).forEach((r) => r.dispose());
});

const ids = catalog.map((i) => i.id);
/** Settles within `ms`, or fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms))]);
}

describe('an acknowledged click is never lost', () => {
  it('after the database is deleted under the page (memory fallback), every later click counts', async () => {
    const namespace = ns();
    const store = await IndexedDbDeltaStore.open({ namespace });
    const rec = await make({ store });
    for (let i = 0; i < 5; i++) await rec.click(ids[i]!);
    await new Promise<void>((resolve, reject) => {
      const req = indexedDB.deleteDatabase(`clickwise:${namespace}`);
      req.onsuccess = () => resolve();
      req.onerror = () => reject(req.error);
    });
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      await within(rec.click(ids[10 + i]!));
      counts.push(rec.stats().clicks);
    }
    expect(counts).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
    expect(rec.stats().storage).toBe('memory');
    expect(rec.stats().warnings.join(' ')).toMatch(/learning continues in memory/);
  });

  it('after the quota is exceeded (compaction, then memory), every later click counts', async () => {
    const store = await IndexedDbDeltaStore.open({ namespace: ns() });
    const rec = await make({ store, snapshotEvery: 4 });
    for (let i = 0; i < 6; i++) await rec.click(ids[i]!);
    // A test-only quota: every write to the events store fails as a full disk does.
    const { IDBObjectStore } = globalThis as unknown as {
      IDBObjectStore: { prototype: { put: (...a: unknown[]) => unknown; name: string } };
    };
    const put = IDBObjectStore.prototype.put;
    const spy = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: { name: string }, ...args: unknown[]) {
      if (this.name === 'events') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    });
    try {
      const counts: number[] = [];
      for (let i = 0; i < 8; i++) {
        await within(rec.click(ids[20 + i]!));
        counts.push(rec.stats().clicks);
      }
      expect(counts).toEqual([7, 8, 9, 10, 11, 12, 13, 14]);
      expect(rec.stats().storage).toBe('memory');
      expect(rec.stats().warnings.join(' ')).toMatch(/storage quota exceeded/);
    } finally {
      spy.mockRestore();
    }
  });

  it.each([
    ['a string', 'x'],
    ['a negative number', -10],
    ['2^53', 2 ** 53],
    ['a number behind the log', 1],
  ])('a corrupt click counter (%s) is repaired: no click is lost, hangs or overwrites another', async (_name, bad) => {
    const namespace = ns();
    const store = await IndexedDbDeltaStore.open({ namespace });
    const rec = await make({ store });
    for (let i = 0; i < 3; i++) await rec.click(ids[i]!);
    const db = await openDB(`clickwise:${namespace}`);
    await db.put('meta', bad, 'seq');
    db.close();
    for (let i = 0; i < 4; i++) await within(rec.click(ids[5 + i]!));
    expect(rec.stats().clicks).toBe(7);
    // A reload sees all seven, each under its own key.
    const again = await make({ store: await IndexedDbDeltaStore.open({ namespace }) });
    expect(again.stats().clicks).toBe(7);
    expect(again.stats().quarantined).toBe(0);
  });

  it('a store whose every record was corrupted still takes clicks after a reload', async () => {
    const namespace = ns();
    const rec = await make({ store: await IndexedDbDeltaStore.open({ namespace }), snapshotEvery: 2 });
    for (let i = 0; i < 5; i++) await rec.click(ids[i]!);
    rec.dispose();
    const db = await openDB(`clickwise:${namespace}`);
    for (const name of ['events', 'snapshots', 'meta'] as const) {
      for (const key of await db.getAllKeys(name)) await db.put(name, { garbage: true, v: 'x' }, key);
    }
    db.close();
    const again = await make({ store: await IndexedDbDeltaStore.open({ namespace }) });
    expect(again.stats().clicks).toBe(0);
    await within(again.click(ids[1]!));
    await within(again.click(ids[2]!));
    expect(again.stats().clicks).toBe(2);
    expect(again.stats().quarantined).toBeGreaterThan(0);
  });
});

describe('reset forgets, even while clicks are in flight', () => {
  for (const kind of ['memory', 'indexeddb'] as const) {
    it(`${kind}: a click just before reset() is forgotten; clicks just after it count`, async () => {
      const store: DeltaStore = kind === 'memory' ? new MemoryDeltaStore() : await IndexedDbDeltaStore.open({ namespace: ns() });
      const rec = await make({ store });
      await rec.click(ids[0]!);
      const before = rec.click(ids[40]!);
      const reset = rec.reset();
      const after = [rec.click(ids[1]!), rec.click(ids[2]!)];
      await within(Promise.all([before, reset, ...after]));
      expect(rec.stats().clicks).toBe(2);
      await within(rec.click(ids[3]!));
      expect(rec.stats().clicks).toBe(3);
      const top = await rec.recommend({ k: 20 });
      const cited = new Set(top.flatMap((r) => r.because.map((b) => b.id)));
      expect(cited.has(ids[40]!)).toBe(false);
      expect(cited.has(ids[0]!)).toBe(false);
      // What is stored agrees: a reload sees the three clicks made after the reset.
      const state = await store.load();
      expect(state.events.map((e) => e.itemId)).toEqual([ids[1], ids[2], ids[3]]);
    });
  }

  it('a reset message that no reset stands behind (a stray same-origin post) changes nothing', async () => {
    const namespace = ns();
    const rec = await make({ store: await IndexedDbDeltaStore.open({ namespace }) });
    await rec.click(ids[0]!);
    const norm = rec.stats().deltaNorm;
    const channel = new BroadcastChannel(`clickwise:${namespace}`);
    channel.postMessage({ type: 'reset' });
    channel.postMessage({ type: 'reset', generation: 'forged' });
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.stats()).toMatchObject({ clicks: 1, deltaNorm: norm });
    // Malformed messages are ignored, not thrown into the page.
    channel.postMessage(null);
    channel.postMessage({ type: 'append', seq: 'x' });
    await new Promise((r) => setTimeout(r, 200));
    channel.close();
    expect(rec.stats()).toMatchObject({ clicks: 1, deltaNorm: norm });
  });

  it('a real reset in one tab reaches the other', async () => {
    const namespace = ns();
    const a = await make({ store: await IndexedDbDeltaStore.open({ namespace }) });
    const b = await make({ store: await IndexedDbDeltaStore.open({ namespace }) });
    await a.click(ids[0]!);
    await vi.waitFor(() => expect(b.stats().clicks).toBe(1), { timeout: 10_000 });
    await b.reset();
    await vi.waitFor(() => expect(a.stats().clicks).toBe(0), { timeout: 10_000 });
  });
});

describe('the embedding cache', () => {
  it('is written after ready: the first recommendation never waits for the vectors to be saved', async () => {
    // A cache whose write does not finish until the test lets it.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const written: string[] = [];
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map(() => undefined),
      put: async (entries) => {
        await gate;
        for (const [k] of entries) written.push(k);
      },
    };
    let saved = false;
    const rec = await make({ embeddingCache: cache, afterSaved: () => (saved = true) });
    expect(rec.stats().embeddings).toEqual({ shipped: 0, cached: 0, encoded: catalog.length, prepared: 0 });
    expect((await rec.recommend({ k: 10 })).length).toBe(10);
    await rec.click(ids[0]!);
    expect(written).toEqual([]);
    expect(saved).toBe(false);
    release();
    await expect.poll(() => saved, { timeout: 10_000 }).toBe(true);
    expect(written).toHaveLength(catalog.length);
  });

  it('an afterSaved callback that throws is reported and ignored', async () => {
    const errors: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void errors.push(a.join(' ')));
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      let called = false;
      const rec = await make({
        embeddingCache: { get: async (keys) => keys.map(() => undefined), put: async () => undefined },
        afterSaved: () => {
          called = true;
          throw new Error('shop callback broke');
        },
      });
      await expect.poll(() => called, { timeout: 10_000 }).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(errors.some((e) => /afterSaved callback threw/.test(String(e)))).toBe(true);
      expect(unhandled).toEqual([]);
      expect((await rec.recommend({ k: 5 })).length).toBe(5);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      spy.mockRestore();
    }
  });

  it('a write that fails costs a warning, not the recommender', async () => {
    const warnings: string[] = [];
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map(() => undefined),
      put: async () => {
        throw new Error('quota exceeded');
      },
    };
    let saved: () => void = () => undefined;
    const done = new Promise<void>((r) => (saved = r));
    const rec = await make({ embeddingCache: cache, afterSaved: () => saved(), onWarning: (w) => warnings.push(w.message) });
    await done;
    expect(warnings.some((w) => /embedding cache could not be written.*quota exceeded/.test(w))).toBe(true);
    expect((await rec.recommend({ k: 5 })).length).toBe(5);
  });
});

describe('one NaN does not poison every score', () => {
  it('a non-finite vector in the embedding cache is encoded again', async () => {
    const vectors = new Map<string, Float32Array>();
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map((k) => vectors.get(k)),
      put: async (entries) => {
        for (const [k, v] of entries) vectors.set(k, v);
      },
    };
    let saved: () => void = () => undefined;
    const written = new Promise<void>((r) => (saved = r));
    (await make({ embeddingCache: cache, afterSaved: () => saved() })).dispose();
    await written;
    const first = [...vectors.keys()][0]!;
    vectors.set(first, new Float32Array(vectors.get(first)!.length).fill(Number.NaN));
    let resaved: () => void = () => undefined;
    const rewritten = new Promise<void>((r) => (resaved = r));
    const rec = await make({ embeddingCache: cache, afterSaved: () => resaved() });
    expect(rec.stats().embeddings).toEqual({ shipped: 0, cached: catalog.length - 1, encoded: 1, prepared: 0 });
    for (let i = 0; i < 60; i++) await rec.click(ids[i % 7]!);
    const top = await rec.recommend({ k: 10 });
    expect(top.every((r) => Number.isFinite(r.score))).toBe(true);
    expect(Number.isFinite(rec.stats().deltaNorm)).toBe(true);
    // The vector encoded again replaces the bad one, once the page is ready and quiet.
    await rewritten;
    expect(vectors.get(first)!.every(Number.isFinite)).toBe(true);
  });

  it('a snapshot holding NaN or null (a checksum recomputed over it) is rebuilt from the log', async () => {
    const store = new MemoryDeltaStore();
    const rec = await make({ store, snapshotEvery: 5 });
    for (let i = 0; i < 5; i++) await rec.click(ids[i]!);
    const expected = (await rec.recommend({ k: 10 })).map((r) => r.id);
    rec.dispose();
    const state = await store.load();
    const snap = state.snapshot!;
    snap.state.dW[3] = Number.NaN;
    (snap.state.du as (number | null)[])[0] = null;
    await store.saveSnapshot({ ...snap, seq: snap.seq + 1 });
    const warnings: string[] = [];
    const again = await make({ store, onWarning: (w) => warnings.push(w.message) });
    expect(warnings.join(' ')).toMatch(/cannot be used.*rebuilding it from the event log/);
    const top = await again.recommend({ k: 10 });
    expect(top.every((r) => Number.isFinite(r.score))).toBe(true);
    expect(top.map((r) => r.id)).toEqual(expected);
  });
});

describe('several catalogues on one store', () => {
  it('a page with another catalogue keeps the learning of items it does not show', async () => {
    const store = new MemoryDeltaStore();
    const home = catalog.filter((i) => i.category === 'Home' || i.category === 'Garden');
    const toys = catalog.filter((i) => i.category === 'Toys' || i.category === 'Garden');
    const warnings: string[] = [];
    const a = await make({ catalog: home, store, snapshotEvery: 1, onWarning: (w) => warnings.push(w.message) });
    const homeIds = home.filter((i) => i.category === 'Home').map((i) => i.id);
    for (let i = 0; i < 4; i++) await a.click(homeIds[i]!);
    await vi.waitFor(async () => expect((await store.load()).snapshot?.seq).toBe(4), { timeout: 10_000 });
    const aBefore = (await a.recommend({ k: 10 })).map((r) => [r.id, r.score.toFixed(4)]);
    a.dispose();
    const b = await make({ catalog: toys, store, snapshotEvery: 1, onWarning: (w) => warnings.push(w.message) });
    expect(b.stats().clicks).toBe(4);
    await b.click(toys.find((i) => i.category === 'Toys')!.id);
    await vi.waitFor(async () => expect((await store.load()).snapshot?.seq).toBe(5), { timeout: 10_000 });
    b.dispose();
    const snap = (await store.load()).snapshot!;
    for (const id of homeIds.slice(0, 4)) expect(Object.hasOwn(snap.state.dBias, id)).toBe(true);
    expect(snap.state.history.map((h) => h.id)).toEqual(expect.arrayContaining(homeIds.slice(0, 4)));
    // Page A again: its items' learning is all there (the toy click only adds history weight decay).
    const a2 = await make({ catalog: home, store });
    expect(a2.stats().clicks).toBe(5);
    const top = await a2.recommend({ k: 10 });
    expect(top.filter((r) => r.item.category === 'Home').length).toBeGreaterThanOrEqual(aBefore.length - 3);
    expect(warnings.join(' ')).not.toMatch(/no longer in the catalogue/);
  });

  it('an item id "__proto__" keeps its Δb through a snapshot', async () => {
    const cat: Item[] = [{ id: '__proto__', title: 'Wooden toy train' }, ...catalog.slice(0, 30)];
    const store = new MemoryDeltaStore();
    const rec = await make({ catalog: cat, store, snapshotEvery: 1 });
    await rec.click('__proto__');
    await vi.waitFor(async () => expect((await store.load()).snapshot).not.toBeNull(), { timeout: 10_000 });
    const snap = (await store.load()).snapshot!;
    expect(Object.hasOwn(snap.state.dBias, '__proto__')).toBe(true);
    expect(snap.state.dBias['__proto__']).not.toBe(0);
    const score = (await rec.recommend({ k: 31, includeViewed: true })).find((r) => r.id === '__proto__')!.score;
    rec.dispose();
    const again = await make({ catalog: cat, store });
    expect((await again.recommend({ k: 31, includeViewed: true })).find((r) => r.id === '__proto__')!.score).toBeCloseTo(score, 5);
  });
});

describe('the API under careless use', () => {
  it('dispose() with a click in flight settles that click', async () => {
    const rec = await make({ store: await IndexedDbDeltaStore.open({ namespace: ns() }) });
    const p = rec.click(ids[0]!);
    rec.dispose();
    await expect(within(p)).resolves.toBeUndefined();
  });

  it('exclude and impression take lists of ids, not a bare string', async () => {
    const rec = await make();
    await expect(rec.recommend({ exclude: 'kit-01a' as unknown as string[] })).rejects.toThrow(ArgumentError);
    await expect(rec.recommend({ exclude: 'kit-01a' as unknown as string[] })).rejects.toThrow(/list of item ids.*the string "kit-01a"/);
    expect(() => rec.impression('kit-01a')).toThrow(/list of item ids/);
    expect((await rec.recommend({ exclude: ['kit-01a'], k: 100 })).some((r) => r.id === 'kit-01a')).toBe(false);
  });

  it.each([
    [{ learningRate: Number.NaN }, /learningRate must be a finite number/],
    [{ negatives: 2.5 }, /negatives must be an integer/],
    [{ historyDecay: 3 }, /historyDecay must be a finite number in \[0, 1\]/],
    [{ learningrate: 0.1 }, /unknown option "learningrate"/],
  ])('head options %j are rejected with the valid range', async (head, message) => {
    await expect(make({ head: head as never })).rejects.toThrow(ArgumentError);
    await expect(make({ head: head as never })).rejects.toThrow(message);
  });

  it('an onWarning that throws does not abort loading', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const bad = [...catalog.slice(0, 10), { id: 'x', title: 'X', price: '12.50' }] as unknown as Item[];
      const rec = await make({
        catalog: bad,
        onWarning: () => {
          throw new Error('page bug');
        },
      });
      expect(rec.stats().items).toBe(10);
      expect(errors).toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });

  it('a feed with bad rows skips them with one warning naming each; a feed with none usable is an error', async () => {
    const bad = [
      ...catalog.slice(0, 50),
      { id: 'p1', title: 'Priced as text', price: '12.50' },
      { id: catalog[0]!.id, title: 'Duplicate' },
      { title: 'No id' },
    ] as unknown as Item[];
    const warnings: { code: string; message: string }[] = [];
    const rec = await make({ catalog: bad, onWarning: (w) => warnings.push(w) });
    expect(rec.stats().items).toBe(50);
    const skipped = warnings.filter((w) => w.code === 'catalog/skipped');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.message).toMatch(
      /3 invalid items: item "p1" has price 12\.50.*is duplicated.*has no id.*skipped; the other 50 are used/,
    );
    expect(rec.stats().warnings.join(' ')).toMatch(/3 invalid items/);
    await expect(make({ catalog: [{ id: 'a', title: '' }] as Item[] })).rejects.toThrow(CatalogError);
    await expect(make({ catalog: [{ id: 'a', title: '' }] as Item[] })).rejects.toThrow(/no usable item: 1 invalid item/);
  });
});

describe('the embedding cache with two model versions on one origin', () => {
  it('stores a vector given as a view into a larger buffer as that vector alone', async () => {
    const cache = await IndexedDbEmbeddingCache.open();
    const chunk = Float32Array.from({ length: 4 * 64 }, (_, i) => i / 7);
    await cache.put([
      ['enc-view:a', chunk.subarray(64, 128)],
      ['enc-view:b', chunk.subarray(192, 256)],
    ]);
    const [a, b] = await cache.get(['enc-view:a', 'enc-view:b']);
    expect(Array.from(a!)).toEqual(Array.from(chunk.subarray(64, 128)));
    expect(Array.from(b!)).toEqual(Array.from(chunk.subarray(192, 256)));
    // Not the 1 kB buffer the views belong to, each time.
    expect([a!.buffer.byteLength, b!.buffer.byteLength]).toEqual([256, 256]);
    cache.close();
  });

  it('keeps both versions while they are in use, and drops one unused for 30 days', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const v = (x: number): Float32Array => new Float32Array([x, x]);
    const c1 = await IndexedDbEmbeddingCache.open(clock);
    await c1.put([['enc-a:1', v(1)]]);
    c1.close();
    const c2 = await IndexedDbEmbeddingCache.open(clock);
    await c2.put([['enc-b:1', v(2)]]);
    expect((await c2.get(['enc-a:1', 'enc-b:1'])).map((x) => x?.[0])).toEqual([1, 2]);
    c2.close();
    now += VERSION_TTL_MS + 1;
    const c3 = await IndexedDbEmbeddingCache.open(clock);
    await c3.get(['enc-b:1']); // version b is in use; a is not
    await c3.put([['enc-b:2', v(3)]]);
    expect((await c3.get(['enc-a:1', 'enc-b:1'])).map((x) => x?.[0])).toEqual([undefined, 2]);
    c3.close();
  });
});
