/** The IndexedDB store's migrations, validation and compaction, on an in-memory IndexedDB. */
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { StoredSnapshot } from '../src/core/store.js';
import type { ClickwiseDB } from '../src/storage/idb-store.js';
import { checksum, DB_VERSION, IndexedDbDeltaStore, migrate, RECORD_VERSION, validateEnvelope } from '../src/storage/idb-store.js';
import { openDeltaStore } from '../src/storage/index.js';
import type { PreparedEntry, SavedEntry } from '../src/core/prepared.js';
import { IndexedDbPreparedCache, READ_AHEAD } from '../src/storage/prepared-cache.js';
import { mayHavePrepared, PREPARED_DB } from '../src/storage/prepared-probe.js';

let n = 0;
const fresh = (): string => `unit-${process.pid}-${n++}`;

function snapshot(seq: number): StoredSnapshot {
  return {
    seq,
    modelVersion: 'm1',
    savedAt: 0,
    state: {
      dims: 1,
      dW: [0],
      du: [0],
      dAlpha: 0,
      dBias: {},
      gW: [0],
      gu: [0],
      gAlpha: 0,
      gBias: {},
      history: [],
      recent: [],
      clicks: seq,
    },
  };
}

describe('migrations', () => {
  it('creates every object store from version 0, and is a no-op when already current', async () => {
    const name = `clickwise:${fresh()}`;
    const db = await openDB<ClickwiseDB>(name, DB_VERSION, { upgrade: (d, old) => migrate(d, old) });
    expect([...db.objectStoreNames].sort()).toEqual(['events', 'meta', 'quarantine', 'snapshots']);
    db.close();
    // Re-opening at the same version runs no upgrade and keeps the stores.
    const again = await openDB<ClickwiseDB>(name, DB_VERSION, { upgrade: () => expect.unreachable('no upgrade expected') });
    expect(again.objectStoreNames.length).toBe(4);
    again.close();
  });
});

describe('record validation', () => {
  const body = { seq: 1, type: 'click', itemId: 'a', t: 1, impressions: [] };
  it.each([
    [{ v: RECORD_VERSION, crc: checksum(body), body }, null],
    [{ v: RECORD_VERSION, crc: checksum(body) + 1, body }, 'checksum mismatch'],
    [{ v: RECORD_VERSION }, 'truncated'],
    [{ v: RECORD_VERSION + 1, crc: 0, body }, 'written by a newer version (schema 2 > 1)'],
    [{ v: 0, crc: 0, body }, 'unknown schema version 0'],
    ['garbage', 'not an object'],
    [{ v: RECORD_VERSION, crc: checksum({ seq: 1 }), body: { seq: 1 } }, 'malformed event'],
    [{ v: RECORD_VERSION, crc: checksum({ ...body, ranked: ['b', 'c'] }), body: { ...body, ranked: ['b', 'c'] } }, null],
    [{ v: RECORD_VERSION, crc: checksum({ ...body, ranked: 'b' }), body: { ...body, ranked: 'b' } }, 'malformed event'],
    [{ v: RECORD_VERSION, crc: checksum({ ...body, ranked: [1] }), body: { ...body, ranked: [1] } }, 'malformed event'],
  ])('%j → %s', (rec, why) => {
    expect(validateEnvelope(rec, 'event')).toBe(why);
  });
});

describe('IndexedDbDeltaStore', () => {
  it('keeps the ranking a click was stored with, as its own copy', async () => {
    const store = await IndexedDbDeltaStore.open({ namespace: fresh() });
    const ranked = ['b', 'c'];
    await store.append({ type: 'click', itemId: 'a', t: 0, impressions: [], ranked });
    await store.append({ type: 'click', itemId: 'b', t: 1, impressions: [] });
    ranked.push('d');
    const { events } = await store.load();
    expect(events.map((e) => e.ranked)).toEqual([['b', 'c'], undefined]);
    store.close();
  });

  it('assigns gap-free sequence numbers and reads them back in order', async () => {
    const store = await IndexedDbDeltaStore.open({ namespace: fresh() });
    const seqs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.append({ type: 'click', itemId: `i${i}`, t: i, impressions: [] })),
    );
    expect(seqs.map((s) => s.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const { events } = await store.eventsAfter(15);
    expect(events.map((e) => e.seq)).toEqual([16, 17, 18, 19, 20]);
    store.close();
  });

  it('compacts: a snapshot drops the events it covers beyond the replay window, and never goes back', async () => {
    const store = await IndexedDbDeltaStore.open({ namespace: fresh(), keepEvents: 10 });
    for (let i = 0; i < 100; i++) await store.append({ type: 'click', itemId: `i${i}`, t: i, impressions: [] });
    await store.saveSnapshot(snapshot(80));
    let state = await store.load();
    expect(state.snapshot?.seq).toBe(80);
    expect(state.events.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 71));
    await store.saveSnapshot(snapshot(60)); // an older snapshot from a slower tab is ignored
    state = await store.load();
    expect(state.snapshot?.seq).toBe(80);
    // Storage stays bounded: after 1,000 more events and snapshots every 50, at most keepEvents + 50 remain.
    for (let i = 100; i < 1100; i++) {
      const e = await store.append({ type: 'click', itemId: `i${i}`, t: i, impressions: [] });
      if (e.seq % 50 === 0) await store.saveSnapshot(snapshot(e.seq));
    }
    state = await store.load();
    expect(state.events.length).toBeLessThanOrEqual(10 + 50);
    expect(state.snapshot?.seq).toBe(1100);
    store.close();
  });

  it('clear() forgets everything and restarts the sequence', async () => {
    const store = await IndexedDbDeltaStore.open({ namespace: fresh() });
    await store.append({ type: 'click', itemId: 'a', t: 0, impressions: [] });
    await store.saveSnapshot(snapshot(1));
    await store.clear();
    expect(await store.load()).toEqual({ snapshot: null, events: [] });
    expect((await store.append({ type: 'click', itemId: 'b', t: 0, impressions: [] })).seq).toBe(1);
    store.close();
  });

  it('openDeltaStore falls back to memory, once, where IndexedDB is missing', async () => {
    const saved = globalThis.indexedDB;
    Object.defineProperty(globalThis, 'indexedDB', { value: undefined, configurable: true });
    const warn = console.warn;
    const seen: unknown[] = [];
    console.warn = (...a: unknown[]) => seen.push(a);
    try {
      const { store, warning } = await openDeltaStore('indexeddb', fresh());
      expect(store.kind).toBe('memory');
      expect(warning).toMatch(/IndexedDB is unavailable/);
      expect(store.health().warnings).toEqual([warning]);
      expect(seen).toHaveLength(1);
    } finally {
      console.warn = warn;
      Object.defineProperty(globalThis, 'indexedDB', { value: saved, configurable: true });
    }
  });
});

describe('IndexedDbPreparedCache', () => {
  /** An entry as it was put: the matrix awaited. */
  const whole = async (got: Promise<SavedEntry | undefined>): Promise<PreparedEntry | undefined> => {
    const e = await got;
    return e && { catalog: e.catalog, matrix: await e.matrix };
  };
  const entry = (tag: number): PreparedEntry => ({
    catalog: {
      digest: `d${tag}`,
      ids: { text: 'ab', lengths: Uint8Array.from([1, 1]), marks: Uint32Array.from([0]), slots: Int32Array.from([0, 2, 1, 0]) },
      bounds: Uint32Array.from([1, 5, 6, 9]),
      skipped: ['item 2 is not an object'],
      spread: Int32Array.from([1, 0]),
      categories: tag % 2 ? { names: ['Garden'], codes: Uint16Array.from([0, 0xffff]) } : null,
    },
    matrix: {
      modelKey: `m${tag}`,
      dims: 2,
      codes: Int8Array.from([1, -2, 3, -4]),
      scales: Float32Array.from([0.5, 0.25]),
      embeddings: { shipped: 2, cached: 0, encoded: 0 },
    },
  });

  it("keeps typed arrays as they were, and the most recently used locations only; gives a saved matrix's shape from its header", async () => {
    let t = 1000;
    const cache = await IndexedDbPreparedCache.open(() => t);
    await cache.put('/a.json', entry(1));
    const back = await whole(cache.get('/a.json'));
    expect(back).toEqual(entry(1));
    expect(back!.matrix!.codes).toBeInstanceOf(Int8Array);
    expect(back!.catalog.bounds).toBeInstanceOf(Uint32Array);
    expect(back!.catalog.categories!.codes).toBeInstanceOf(Uint16Array);
    // The saved matrix's shape, from the header alone; none where no matrix is saved.
    expect(await cache.shapeOf('/a.json')).toEqual({ n: 2, dims: 2, modelKey: 'm1', base: false });
    expect(await cache.shapeOf('/none.json')).toBeUndefined();
    await cache.put('/a.json', { ...entry(2), matrix: null });
    expect(await cache.shapeOf('/a.json')).toBeUndefined();
    await cache.put('/a.json', entry(2));
    expect(await whole(cache.get('/a.json'))).toEqual(entry(2));
    await cache.put('/a.json', entry(1));
    expect(await cache.get('/none.json')).toBeUndefined();
    for (const loc of ['/b.json', '/c.json']) {
      t += 10;
      await cache.put(loc, entry(2));
    }
    // Reading /a.json marks it used: a fourth location drops /b.json, the least recently used.
    t += 10;
    await cache.get('/a.json');
    await new Promise((r) => setTimeout(r, 20));
    t += 10;
    await cache.put('/d.json', entry(3));
    expect(await cache.get('/b.json')).toBeUndefined();
    for (const loc of ['/a.json', '/c.json', '/d.json']) expect(await cache.get(loc)).toBeDefined();
    cache.close();
  });

  it('keeps an entry in small pieces, and drops the part whose piece is missing', async () => {
    const t = 5e12;
    const cache = await IndexedDbPreparedCache.open(() => t, 8);
    const big: PreparedEntry = {
      catalog: {
        digest: 'big',
        ids: {
          text: Array.from({ length: 7 }, (_, i) => `id-${i}`).join(''),
          lengths: new Uint8Array(7).fill(4),
          marks: Uint32Array.from([0]),
          slots: Int32Array.from({ length: 16 }, (_, i) => (i < 7 ? 7 - i : 0)),
        },
        bounds: Uint32Array.from({ length: 50 }, (_, i) => i * 3),
        skipped: [],
        spread: Int32Array.from({ length: 25 }, (_, i) => 24 - i),
        categories: { names: ['A', 'B', 'C'], codes: Uint16Array.from({ length: 25 }, (_, i) => (i % 4 === 3 ? 0xffff : i % 3)) },
      },
      matrix: {
        modelKey: 'm',
        dims: 2,
        codes: Int8Array.from({ length: 50 }, (_, i) => i - 25),
        scales: Float32Array.from({ length: 25 }, (_, i) => i / 7),
        embeddings: { shipped: 0, cached: 3, encoded: 22 },
      },
    };
    await cache.put('/big.json', big);
    expect(await whole(cache.get('/big.json'))).toEqual(big);
    const db = await openDB('clickwise-prepared');
    const mine = async (): Promise<[string, string, string, number][]> =>
      ((await db.getAllKeys('pieces')) as [string, string, string, number][]).filter((k) => k[0] === '/big.json');
    const keys = await mine();
    // 8-byte pieces: 7 of codes (50 bytes), 25 of bounds (200 bytes), 7 of the ids' text (28 code units).
    expect(keys.filter((k) => k[2] === 'codes')).toHaveLength(7);
    expect(keys.filter((k) => k[2] === 'bounds')).toHaveLength(25);
    expect(keys.filter((k) => k[2] === 'text')).toHaveLength(7);
    expect(keys.filter((k) => k[2] === 'categories')).toHaveLength(7);
    // Written again: the old generation's pieces go.
    await cache.put('/big.json', big);
    expect(await mine()).toHaveLength(keys.length);
    expect((await mine())[0]![1]).not.toBe(keys[0]![1]);
    // A piece lost: that part is made again by the recommender, rather than a wrong one used.
    const now = await mine();
    await db.delete(
      'pieces',
      now.find((k) => k[2] === 'codes' && k[3] === 3)!,
    );
    const half = await cache.get('/big.json');
    expect(half?.catalog).toEqual(big.catalog);
    expect(await half?.matrix).toBeNull();
    await db.delete(
      'pieces',
      now.find((k) => k[2] === 'categories' && k[3] === 6)!,
    );
    expect(await cache.get('/big.json')).toBeUndefined();
    await db.delete(
      'pieces',
      now.find((k) => k[2] === 'text' && k[3] === 0)!,
    );
    expect(await cache.get('/big.json')).toBeUndefined();
    db.close();
    cache.close();
  });

  it('keeps the base aligned with the matrix in pieces of its own, and drops only the base where one of them is missing', async () => {
    // A database of its own: the other tests' locations stay among the most recently used.
    vi.stubGlobal('indexedDB', new IDBFactory());
    onTestFinished(() => void vi.unstubAllGlobals());
    const cache = await IndexedDbPreparedCache.open(() => 6e12, 8);
    const base = {
      W: Float32Array.of(1, 0, 0, 1),
      rowIndex: Int32Array.from({ length: 25 }, (_, i) => 2 * i - 1),
      rowBias: Float32Array.from({ length: 25 }, (_, i) => i / 3),
      transPtr: Int32Array.of(0, 3, 5),
      transTo: Int32Array.of(1, 2, 3, 4, 5),
      transP: Float32Array.of(0.5, 0.25, 0.25, 0.5, 0.5),
      transRows: Int32Array.of(1, 3),
    };
    const kept: PreparedEntry = { ...entry(7), matrix: { ...entry(7).matrix!, base } };
    await cache.put('/base.json', kept);
    expect(await cache.shapeOf('/base.json')).toEqual({ n: 2, dims: 2, modelKey: 'm7', base: true });
    const back = await whole(cache.get('/base.json'));
    expect(back).toEqual(kept);
    expect(back!.matrix!.base!.rowIndex).toBeInstanceOf(Int32Array);
    const db = await openDB('clickwise-prepared');
    const keys = ((await db.getAllKeys('pieces')) as [string, string, string, number][]).filter((k) => k[0] === '/base.json');
    // 8-byte pieces: 13 of the biases (100 bytes).
    expect(keys.filter((k) => k[2] === 'base.rowBias')).toHaveLength(13);
    await db.delete(
      'pieces',
      keys.find((k) => k[2] === 'base.transTo' && k[3] === 1)!,
    );
    const got = await whole(cache.get('/base.json'));
    expect(got!.matrix).toEqual(entry(7).matrix);
    expect(got!.matrix!.base).toBeUndefined();
    db.close();
    cache.close();
  });

  it("copies a typed array's whole pieces through one buffer, each stored as just its own bytes", async () => {
    // A database of its own: the other tests' locations stay as they are.
    vi.stubGlobal('indexedDB', new IDBFactory());
    const cache = await IndexedDbPreparedCache.open(() => 6e12, 8);
    const e = entry(1);
    const codes = Int8Array.from({ length: 50 }, (_, i) => i - 25);
    const scales = Float32Array.from({ length: 9 }, (_, i) => i / 7);
    const big: PreparedEntry = { ...e, matrix: { ...e.matrix!, codes, scales } };
    const sliced = vi.spyOn(codes, 'slice');
    const slicedScales = vi.spyOn(scales, 'slice');
    await cache.put('/scratch.json', big);
    // 8-byte pieces: six whole ones of the codes go through the buffer; the short last one is its own copy.
    expect(sliced).toHaveBeenCalledTimes(1);
    expect(slicedScales).toHaveBeenCalledTimes(1);
    expect(await whole(cache.get('/scratch.json'))).toEqual(big);
    const db = await openDB('clickwise-prepared');
    const keys = ((await db.getAllKeys('pieces')) as [string, string, string, number][]).filter((k) => k[0] === '/scratch.json');
    for (const k of keys.filter((x) => x[2] === 'codes' || x[2] === 'scales')) {
      const stored = (await db.get('pieces', k)) as Int8Array | Float32Array;
      expect(stored.byteOffset, String(k)).toBe(0);
      expect(stored.buffer.byteLength, String(k)).toBe(stored.byteLength);
    }
    db.close();
    cache.close();
    vi.unstubAllGlobals();
  });

  it('reads an entry with few requests in flight, so that no task of the page deserialises many pieces', async () => {
    // IndexedDB hands back a transaction's results in order, and every result that is ready by
    // then in the same task: with all of an entry's pieces asked for at once, a later visit's page
    // deserialised several megabytes in one task.
    const cache = await IndexedDbPreparedCache.open(() => 7e12, 8);
    const big: PreparedEntry = {
      ...entry(1),
      matrix: { ...entry(1).matrix!, codes: Int8Array.from({ length: 200 }, (_, i) => (i % 200) - 100), dims: 2 },
    };
    big.matrix!.scales = new Float32Array(100).fill(0.5);
    await cache.put('/many.json', big);
    const proto = IDBObjectStore.prototype;
    const plain = proto.get;
    let inFlight = 0;
    let most = 0;
    proto.get = function (this: IDBObjectStore, key: IDBValidKey | IDBKeyRange) {
      const req = plain.call(this, key);
      most = Math.max(most, ++inFlight);
      const done = (): void => void inFlight--;
      req.addEventListener('success', done);
      req.addEventListener('error', done);
      return req;
    };
    try {
      expect(await whole(cache.get('/many.json'))).toEqual(big);
    } finally {
      proto.get = plain;
    }
    // 25 pieces of codes, 50 of scales and the catalogue's: read two at a time at most.
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(READ_AHEAD);
    cache.close();
  });

  it('writes an entry piece by piece, waiting for the page between pieces, and clears what an unfinished write left', async () => {
    // One transaction for the whole entry (72 MB at 1,000,000 items) held a first visit's clicks
    // behind it: their strict appends waited for it.
    // 8-byte pieces, two to a transaction.
    const cache = await IndexedDbPreparedCache.open(() => 1500, 8, 16);
    const many = (tag: number): PreparedEntry => ({
      ...entry(tag),
      matrix: { ...entry(tag).matrix!, codes: Int8Array.from({ length: 64 }, (_, i) => i - tag), scales: new Float32Array(32).fill(tag) },
    });
    await cache.put('/paced.json', many(1));
    const db = await openDB('clickwise-prepared');
    const keysOf = async (): Promise<[string, string, string, number][]> =>
      ((await db.getAllKeys('pieces')) as [string, string, string, number][]).filter((k) => k[0] === '/paced.json');
    const first = await keysOf();
    // A write that waits before each piece, and is stopped (its page closed) half way.
    let waits = 0;
    const stopped = cache.put('/paced.json', many(2), async () => {
      if (++waits === 10) throw new Error('page closed');
    });
    await expect(stopped).rejects.toThrow(/page closed/);
    expect(waits).toBe(10);
    // The reader still sees the whole old entry; the half-written pieces are there, unused.
    expect(await whole(cache.get('/paced.json'))).toEqual(many(1));
    expect((await keysOf()).length).toBeGreaterThan(first.length);
    // The next write clears them, waits before each of its pieces, and replaces the entry.
    waits = 0;
    await cache.put('/paced.json', many(3), async () => void waits++);
    expect(await whole(cache.get('/paced.json'))).toEqual(many(3));
    const now = await keysOf();
    expect(now).toHaveLength(first.length);
    expect(waits).toBeGreaterThanOrEqual(Math.ceil(now.length / 2));
    expect(new Set(now.map((k) => k[1])).size).toBe(1);
    db.close();
    cache.close();
  });

  it('keeps the newer of two writes of one location made at once (two tabs), whole, whichever ends first', async () => {
    const many = (tag: number): PreparedEntry => ({
      ...entry(tag),
      matrix: { ...entry(tag).matrix!, codes: Int8Array.from({ length: 64 }, (_, i) => i + tag) },
    });
    const db = await openDB('clickwise-prepared');
    const generations = async (): Promise<Set<string>> =>
      new Set(
        ((await db.getAllKeys('pieces')) as [string, string, string, number][]).filter((k) => k[0] === '/tabs.json').map((k) => k[1]),
      );
    for (const olderEndsFirst of [false, true]) {
      // Two tabs' caches: the first started its write earlier (an older generation).
      const older = await IndexedDbPreparedCache.open(() => 1600, 8, 16);
      const newer = await IndexedDbPreparedCache.open(() => 1700, 8, 16);
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      const slow = olderEndsFirst ? newer : older;
      const fast = olderEndsFirst ? older : newer;
      let waits = 0;
      // The slow tab writes a few batches, then waits while the fast tab writes its whole entry.
      const slowWrite = slow.put('/tabs.json', many(slow === older ? 1 : 2), async () => {
        if (++waits === 3) await held;
      });
      while (waits < 3) await new Promise((r) => setTimeout(r, 1));
      await fast.put('/tabs.json', many(fast === older ? 1 : 2));
      release();
      await slowWrite;
      expect(await whole(newer.get('/tabs.json'))).toEqual(many(2));
      expect((await generations()).size).toBe(1);
      older.close();
      newer.close();
    }
    db.close();
  });

  it('finishes a write begun before close(), and refuses one after', async () => {
    const cache = await IndexedDbPreparedCache.open();
    const written = cache.put('/late.json', entry(4));
    cache.close();
    await written;
    await expect(cache.put('/later.json', entry(5))).rejects.toThrow(/closed/);
    const again = await IndexedDbPreparedCache.open();
    expect((await again.get('/late.json'))?.catalog.digest).toBe('d4');
    again.close();
  });
});

describe('mayHavePrepared (the storefront tag asks before its runtime loads)', () => {
  afterEach(() => vi.unstubAllGlobals());
  const entry: PreparedEntry = {
    catalog: {
      digest: 'd',
      ids: { text: 'a', lengths: Uint8Array.from([1]), marks: Uint32Array.from([0]), slots: Int32Array.from([0, 1]) },
      bounds: Uint32Array.from([1, 5]),
      skipped: [],
      spread: Int32Array.from([0]),
      categories: null,
    },
    matrix: null,
  };

  it('says no where nothing is saved, without making the database the cache then opens', async () => {
    const idb = new IDBFactory();
    vi.stubGlobal('indexedDB', idb);
    expect(await mayHavePrepared('/catalog.json')).toBe(false);
    expect((await idb.databases()).map((d) => d.name)).not.toContain(PREPARED_DB);
    // The cache still makes its stores, and a saved entry is seen for its location alone.
    const cache = await IndexedDbPreparedCache.open();
    expect(await mayHavePrepared('/catalog.json')).toBe(false);
    await cache.put('/catalog.json', entry);
    expect(await mayHavePrepared('/catalog.json')).toBe(true);
    expect(await mayHavePrepared('/other.json')).toBe(false);
    cache.close();
  });

  it('says no where there is no IndexedDB the page could use', async () => {
    vi.stubGlobal('indexedDB', undefined);
    expect(await mayHavePrepared('/catalog.json')).toBe(false);
    vi.stubGlobal('indexedDB', {
      open: () => {
        throw new DOMException('denied', 'SecurityError');
      },
    });
    expect(await mayHavePrepared('/catalog.json')).toBe(false);
  });
});
