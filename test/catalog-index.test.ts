/**
 * A first visit's catalogue parsed and indexed elsewhere (the browser entry's Web Worker): the
 * page then holds the file's bytes and the index, as on a later visit, and parses only the items
 * it shows. The result is the one a parse on the page gives: the same recommendations, warnings,
 * errors and saved entry. An indexer that cannot run costs a warning, never the load.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CatalogIndexer } from '../src/core/catalog-index.js';
import type { CatalogIndex, EarlyCatalog, EarlyResult, LaterText } from '../src/core/catalog-index.js';
import { indexCatalog, indexCatalogStream, parseCatalog } from '../src/core/catalog-index.js';
import { buildCategories, catalogOverText, compactText, validateCatalog } from '../src/core/catalog.js';
import type { CompactText } from '../src/core/catalog.js';
import { IdTable } from '../src/core/id-table.js';
import { itemKeys } from '../src/core/vectors.js';
import { syntheticCatalog } from '../src/bench/synthetic-catalog.js';
import { CatalogError } from '../src/core/errors.js';
import { MemoryPreparedCache } from '../src/core/prepared.js';
import type { PreparedCache, PreparedEntry, PreparedMatrix, SavedEntry } from '../src/core/prepared.js';
import { digestBytes } from '../src/core/prepared.js';
import { IndexedDbPreparedCache } from '../src/storage/prepared-cache.js';
import type { Recommender } from '../src/core/recommender.js';
import { createRecommenderCore, readCatalog } from '../src/core/recommender.js';
import { Slicer } from '../src/core/slice.js';
import type { Item } from '../src/core/types.js';
import { earlyResult, indexResult, withIdText, workerCatalogIndexer } from '../src/catalog-indexer.js';
import { packCatalogIndex } from '../src/core/catalog-index-file.js';
import { sha256Hex } from '../src/core/model-io.js';
import type { FileReply, IndexAnswer, IndexReply, IndexRequest, MatrixReply } from '../src/catalog-indexer.js';
import { clickSession, countingFetcher, fakeFileSystem, loadShop, shopWithVectors, useBackend } from './helpers.js';
import { copyName, HEAD_BYTES, keepTextCopy, TEXT_SUFFIX } from '../src/storage/file-copy.js';

/** A full garbage collection, on demand (V8's own, which Node exposes only behind a flag). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Moves a buffer as postMessage's transfer does: the sender's copy is left empty (detached). */
function moved(buffer: ArrayBuffer): ArrayBuffer {
  return structuredClone(buffer, { transfer: [buffer] });
}

/** An indexer in this thread that takes the bytes as a worker does, counting its calls. */
function inThread(): { indexer: CatalogIndexer; calls: number } {
  const state = {
    calls: 0,
    indexer: (async (location, bytes) => {
      state.calls++;
      const there = new Uint8Array(moved(bytes.buffer as ArrayBuffer));
      const index = await indexCatalog(location, there, new Slicer(Infinity));
      return { bytes: there, index };
    }) as CatalogIndexer,
  };
  return state;
}

describe('a first visit whose catalogue is indexed off the page', () => {
  let dir = '';
  let models = '';
  let file = '';
  let catalog: Item[] = [];

  beforeAll(async () => {
    // One unusable row in the file: its warning must come back from the indexer too.
    ({ dir, models, file, catalog } = await shopWithVectors('clickwise-index-'));
    await useBackend('cpu');
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(
    cache: PreparedCache | undefined,
    catalogIndexer?: CatalogIndexer,
    catalogFile = file,
    earlyCatalog?: EarlyCatalog,
  ): Promise<{ rec: Recommender; asked: string[]; warnings: { code: string; message: string }[] }> {
    return loadShop(catalogFile, models, {
      ...(cache ? { preparedCache: cache } : {}),
      ...(catalogIndexer ? { catalogIndexer } : {}),
      ...(earlyCatalog ? { earlyCatalog } : {}),
    });
  }

  const session = clickSession;

  it('holds the file as a later visit does, parses only what it shows, and gives what a parse on the page gives', async () => {
    const onPage = new MemoryPreparedCache();
    const here = await load(onPage);
    expect(here.rec.stats().catalogIndexed).toBe('page');
    expect(here.rec.stats().catalog.form).toBe('parsed');
    const reference = await session(here.rec);
    const items = here.rec.items;
    here.rec.dispose();

    const off = new MemoryPreparedCache();
    const worker = inThread();
    const there = await load(off, worker.indexer);
    expect(worker.calls).toBe(1);
    const stats = there.rec.stats();
    expect(stats.catalogIndexed).toBe('worker');
    // The shop's vectors matched every item through the keys the indexer made.
    expect(stats.embeddings).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: 0 });
    expect(there.warnings.filter((w) => w.code === 'catalog/skipped').map((w) => w.message)).toEqual(
      here.warnings.filter((w) => w.code === 'catalog/skipped').map((w) => w.message),
    );
    expect(await session(there.rec)).toEqual(reference);
    // Only the items shown were parsed: the page still holds the file.
    expect(there.rec.stats().catalog.form).toBe('file');
    expect(there.rec.item('gar-01a')).toEqual(items.find((i) => i.id === 'gar-01a'));
    expect(there.rec.item('broken')).toBeUndefined();
    expect(there.rec.items).toEqual(items);
    there.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    // What is saved for the next visit is the same.
    const a = onPage.entries.get(file)!;
    const b = off.entries.get(file)!;
    expect(b.catalog).toEqual(a.catalog);
    expect(b.matrix!.codes).toEqual(a.matrix!.codes);

    // The next visit takes the saved index and does not ask the indexer.
    const later = await load(off, worker.indexer);
    expect(worker.calls).toBe(1);
    expect(later.rec.stats().catalogIndexed).toBe('saved');
    expect(later.rec.stats().embeddings.prepared).toBe(catalog.length);
    expect(await session(later.rec)).toEqual(reference);
    later.rec.dispose();
  });

  it('fails on a catalogue with no usable item with the error a parse on the page gives', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ id: 'a', title: '' }, { title: 'no id' }]));
    const onPage = await load(undefined, undefined, bad).catch((e: unknown) => e);
    const off = await load(undefined, inThread().indexer, bad).catch((e: unknown) => e);
    expect(onPage).toBeInstanceOf(CatalogError);
    expect(off).toBeInstanceOf(CatalogError);
    expect({ code: (off as CatalogError).code, message: (off as CatalogError).message }).toEqual({
      code: (onPage as CatalogError).code,
      message: (onPage as CatalogError).message,
    });
  });

  it('loads on the page, with a warning, when the indexer cannot run, even after it took the bytes', async () => {
    const reference = await session((await load(undefined)).rec);
    for (const took of [false, true]) {
      const failing: CatalogIndexer = (_, bytes) => {
        if (took) moved(bytes.buffer as ArrayBuffer);
        return Promise.reject(new Error('no worker here'));
      };
      const r = await load(new MemoryPreparedCache(), failing);
      expect(r.rec.stats().catalogIndexed).toBe('page');
      const warning = r.warnings.find((w) => w.code === 'catalog/worker');
      expect(warning?.message).toContain('no worker here');
      // Bytes that went with the indexer are read again.
      expect(r.asked.filter((x) => x === file)).toHaveLength(took ? 2 : 1);
      expect(await session(r.rec)).toEqual(reference);
      r.rec.dispose();
    }
  });
});

describe('a first visit whose catalogue was indexed as it downloaded, before the load began', () => {
  let dir = '';
  let models = '';
  let file = '';

  beforeAll(async () => {
    ({ dir, models, file } = await shopWithVectors('clickwise-early-'));
    await useBackend('cpu');
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(
    cache: PreparedCache,
    earlyCatalog?: EarlyCatalog,
  ): Promise<{ rec: Recommender; asked: string[]; warnings: string[] }> {
    const { fetcher, asked } = countingFetcher();
    const warnings: string[] = [];
    const rec = await createRecommenderCore({
      catalog: file,
      modelUrl: models,
      backend: 'cpu',
      fetcher,
      preparedCache: cache,
      ...(earlyCatalog ? { earlyCatalog } : {}),
      onWarning: (w) => warnings.push(w.code),
    });
    return { rec, asked, warnings };
  }

  /** The file's body in parts of 97 bytes, as a download gives it. */
  const body = (): ReadableStream<Uint8Array> => {
    const bytes = new Uint8Array(readFileSync(file));
    let at = 0;
    return new ReadableStream({
      pull(c) {
        if (at >= bytes.length) c.close();
        else c.enqueue(bytes.slice(at, (at += 97)));
      },
    });
  };
  const early = (result: Promise<{ bytes: Uint8Array; index: CatalogIndex }>, taken = true, location = file): EarlyCatalog => {
    result.catch(() => undefined);
    return { location, taken: Promise.resolve(taken), result };
  };

  it('uses it without downloading the file again, and gives and saves what a parse on the page gives', async () => {
    const onPage = new MemoryPreparedCache();
    const here = await load(onPage);
    const reference = await clickSession(here.rec);
    here.rec.dispose();

    const cache = new MemoryPreparedCache();
    const there = await load(cache, early(indexCatalogStream(file, body(), 0, new Slicer(Infinity))));
    expect(there.asked).not.toContain(file);
    expect(there.rec.stats().catalogIndexed).toBe('worker');
    expect(there.rec.stats().catalog.form).toBe('file');
    expect(await clickSession(there.rec)).toEqual(reference);
    there.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    expect(cache.entries.get(file)!.catalog).toEqual(onPage.entries.get(file)!.catalog);

    // The next visit takes what was saved.
    const later = await load(cache);
    expect(later.rec.stats().catalogIndexed).toBe('saved');
    later.rec.dispose();

    // An index the shop shipped for the file is taken as the worker's is, and says so.
    const shippedCache = new MemoryPreparedCache();
    const bytes = new Uint8Array(readFileSync(file));
    const shipped = early(
      indexCatalog(file, bytes, new Slicer(Infinity)).then((index) => ({ bytes: bytes.slice(), index, shipped: true as const })),
    );
    const fromShop = await load(shippedCache, shipped);
    expect(fromShop.asked).not.toContain(file);
    expect(fromShop.rec.stats().catalogIndexed).toBe('shipped');
    expect(await clickSession(fromShop.rec)).toEqual(reference);
    fromShop.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    expect(shippedCache.entries.get(file)!.catalog).toEqual(onPage.entries.get(file)!.catalog);
  });

  it('reads the file itself where it was not taken, is for another file, or could not be indexed', async () => {
    const never = new Promise<{ bytes: Uint8Array; index: CatalogIndex }>(() => undefined);
    for (const e of [early(never, false), early(never, true, '/another/catalog.json'), early(Promise.reject(new Error('HTTP 503')))]) {
      const r = await load(new MemoryPreparedCache(), e);
      expect(r.asked.filter((x) => x === file)).toHaveLength(1);
      expect(r.rec.stats().catalogIndexed).toBe('page');
      expect(r.warnings).not.toContain('catalog/worker');
      r.rec.dispose();
    }
  });

  /** A cache that counts the reads of its entries. */
  const counting = (inner: MemoryPreparedCache): { cache: PreparedCache; gets: number } => {
    const state: { cache: PreparedCache; gets: number } = {
      gets: 0,
      cache: {
        get: (location: string) => (state.gets++, inner.get(location)),
        put: (location: string, entry: PreparedEntry) => inner.put(location, entry),
      },
    };
    return state;
  };
  /** The worker's answer with a saved entry for the file, `checked` where the worker says it checked it. */
  const saved = (entry: PreparedEntry, catalog = entry.catalog, checked = false): EarlyCatalog => ({
    location: file,
    taken: Promise.resolve(true),
    result: Promise.resolve({
      bytes: new Uint8Array(readFileSync(file)),
      digest: entry.catalog.digest,
      saved: { catalog, matrix: Promise.resolve(entry.matrix) },
      ...(checked ? { checked: true as const } : {}),
    }),
  });

  /** A first visit on the page: the entry it saved, and the session it gave. */
  const firstVisit = async (): Promise<{ entry: PreparedEntry; reference: Awaited<ReturnType<typeof clickSession>> }> => {
    const first = new MemoryPreparedCache();
    const here = await load(first);
    const reference = await clickSession(here.rec);
    here.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    return { entry: first.entries.get(file)!, reference };
  };

  it("takes a later visit's saved entry that the worker read for these bytes: the page neither downloads the file nor reads the cache", async () => {
    const { entry, reference } = await firstVisit();
    expect(entry.matrix).not.toBeNull();

    const counted = counting(new MemoryPreparedCache());
    const later = await load(counted.cache, saved(entry));
    expect(later.asked).not.toContain(file);
    expect(counted.gets).toBe(0);
    expect(later.rec.stats().catalogIndexed).toBe('saved');
    // The item matrix the worker read is taken, not made again.
    expect(later.rec.stats().embeddings.prepared).toBe(entry.matrix!.codes.length / entry.matrix!.dims);
    expect(await clickSession(later.rec)).toEqual(reference);
    later.rec.dispose();
  });

  it('takes the ids of an entry the worker checked as they are, and checks those of one it did not', async () => {
    const { entry, reference } = await firstVisit();
    const check = vi.spyOn(IdTable, 'check');
    try {
      const trusted = await load(new MemoryPreparedCache(), saved(entry, entry.catalog, true));
      expect(check).not.toHaveBeenCalled();
      expect(trusted.rec.stats().catalogIndexed).toBe('saved');
      expect(await clickSession(trusted.rec)).toEqual(reference);
      trusted.rec.dispose();

      const unchecked = await load(new MemoryPreparedCache(), saved(entry));
      expect(check).toHaveBeenCalledTimes(1);
      expect(unchecked.rec.stats().catalogIndexed).toBe('saved');
      unchecked.rec.dispose();
    } finally {
      check.mockRestore();
    }
  });

  it('parses the bytes the worker gave, without downloading them again, where the entry it read is damaged, and saves a good one', async () => {
    const { entry, reference } = await firstVisit();

    const cache = new MemoryPreparedCache();
    const later = await load(cache, saved(entry, { ...entry.catalog, bounds: entry.catalog.bounds.slice(0, 4) }));
    expect(later.asked).not.toContain(file);
    expect(later.rec.stats().catalogIndexed).toBe('page');
    expect(later.rec.stats().embeddings.prepared).toBe(0);
    expect(await clickSession(later.rec)).toEqual(reference);
    later.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    expect(cache.entries.get(file)!.catalog).toEqual(entry.catalog);
  });

  it('takes an entry the worker sent ahead of the bytes once they come with its digest; parses bytes with another digest, and reads the file itself where none come', async () => {
    const { entry, reference } = await firstVisit();
    const bytes = new Uint8Array(readFileSync(file));
    /** The entry sent ahead, the bytes `later` (the worker's message with the matrix). */
    const ahead = (later: Promise<{ bytes: Uint8Array; digest: string }>): EarlyCatalog => {
      later.catch(() => undefined);
      return {
        location: file,
        taken: Promise.resolve(true),
        result: Promise.resolve({
          bytes: new Uint8Array(0),
          digest: entry.catalog.digest,
          saved: { catalog: entry.catalog, matrix: Promise.resolve(entry.matrix) },
          later,
        }),
      };
    };
    // The bytes come after the entry has been checked, and the head is built meanwhile (its
    // mark made before they are sent; they are sent anyway after 20 s, a margin for a loaded
    // machine, so that a load that waits for them fails here rather than hangs): taken as the
    // entry says.
    const built = (): number => performance.getEntriesByName('clickwise:head').length;
    const headsBefore = built();
    let sent = false;
    let headBeforeBytes = false;
    const afterHead = new Promise<{ bytes: Uint8Array; digest: string }>((resolve) => {
      const since = Date.now();
      const poll = setInterval(() => {
        headBeforeBytes = built() > headsBefore;
        if (!headBeforeBytes && Date.now() - since < 20_000) return;
        clearInterval(poll);
        sent = true;
        resolve({ bytes: bytes.slice(), digest: entry.catalog.digest });
      }, 5);
    });
    const counted = counting(new MemoryPreparedCache());
    const later = await load(counted.cache, ahead(afterHead));
    expect(sent).toBe(true);
    expect(headBeforeBytes).toBe(true);
    expect(later.asked).not.toContain(file);
    expect(counted.gets).toBe(0);
    expect(later.rec.stats().catalogIndexed).toBe('saved');
    expect(await clickSession(later.rec)).toEqual(reference);
    later.rec.dispose();

    // Bytes with another digest (the worker's copy gone, and the body not the entry's): parsed,
    // and the head built for the entry meanwhile let go with its tensors.
    const tensors = tf.memory().numTensors;
    const slow = new Promise<{ bytes: Uint8Array; digest: string }>((resolve) =>
      setTimeout(() => resolve({ bytes: bytes.slice(), digest: 'k64:0000000000000000:1' }), 100),
    );
    const other = await load(new MemoryPreparedCache(), ahead(slow));
    expect(other.asked).not.toContain(file);
    expect(other.rec.stats().catalogIndexed).toBe('page');
    expect(other.rec.stats().embeddings.prepared).toBe(0);
    expect(await clickSession(other.rec)).toEqual(reference);
    other.rec.dispose();
    expect(tf.memory().numTensors).toBe(tensors);

    // No bytes (the worker stopped): the page downloads the file, and still takes the saved entry.
    const cache = new MemoryPreparedCache();
    await cache.put(file, entry);
    const none = await load(cache, ahead(Promise.reject(new Error("the catalogue's worker did not send the file"))));
    expect(none.asked.filter((x) => x === file)).toHaveLength(1);
    expect(none.rec.stats().catalogIndexed).toBe('saved');
    none.rec.dispose();
  });

  /** The load's compaction after ready, or null where there is none. */
  const compacting = (rec: Recommender): Promise<void> | null => (rec as unknown as { compacting: Promise<void> | null }).compacting;

  /** The worker's answer with a saved entry sent ahead of what `later` gives (the file's bytes or its compacted text). */
  const savedAhead = (saved: SavedEntry, digest: string, later: Promise<LaterText>, textFollows = false): EarlyCatalog => ({
    location: file,
    taken: Promise.resolve(true),
    result: Promise.resolve({
      bytes: new Uint8Array(0),
      digest,
      saved,
      later,
      ...(textFollows ? { textFollows: true as const } : {}),
    }),
  });

  /** A load on the CPU backend that takes `earlyCatalog`, compacting its catalogue once ready where `compactAbove` is 0. */
  const loadEarly = (earlyCatalog: EarlyCatalog, preparedCache: PreparedCache = new MemoryPreparedCache(), compactAbove?: number) =>
    createRecommenderCore({
      catalog: file,
      modelUrl: models,
      backend: 'cpu',
      fetcher: countingFetcher().fetcher,
      preparedCache,
      earlyCatalog,
      ...(compactAbove !== undefined ? { compactCatalogAbove: compactAbove } : {}),
    });

  it("takes the compacted text the worker sent after the entry as the catalogue's own (nothing left to compact), and reads the file itself where the text does not fit", async () => {
    const { entry, reference } = await firstVisit();
    const bytes = new Uint8Array(readFileSync(file));
    const n = entry.catalog.bounds.length / 2;
    const text = await compactText(bytes, entry.catalog.bounds, n, new Slicer(Infinity));
    const ahead = (later: Promise<LaterText>): EarlyCatalog =>
      savedAhead({ catalog: entry.catalog, matrix: Promise.resolve(entry.matrix) }, entry.catalog.digest, later, true);
    const kept: string[] = [];
    const cache: PreparedCache = { ...new MemoryPreparedCache(), get: () => Promise.resolve(undefined), put: () => Promise.resolve() };
    cache.keepText = (location, digest) => Promise.resolve(void kept.push(`${location} ${digest}`));
    const { fetcher, asked } = countingFetcher();
    const opts = { catalog: file, modelUrl: models, backend: 'cpu' as const, fetcher, preparedCache: cache, compactCatalogAbove: 0 };
    const rec = await createRecommenderCore({ ...opts, earlyCatalog: ahead(Promise.resolve({ text, digest: entry.catalog.digest })) });
    expect(asked).not.toContain(file);
    expect(rec.stats().catalogIndexed).toBe('saved');
    expect(rec.stats().catalogCompacted).toBe('saved');
    expect(rec.stats().catalog.form).toBe('compressed');
    expect(await clickSession(rec)).toEqual(reference);
    // Nothing compacted again, so nothing kept again.
    expect(compacting(rec)).toBeNull();
    expect(kept).toEqual([]);
    rec.dispose();

    // Text whose blocks do not hold the catalogue's items: the page downloads the file and holds
    // it; compacted once ready (compactCatalogAbove 0), it keeps that text for the file's digest.
    const wrong = { ...text, blocks: { ...text.blocks, counts: Uint32Array.from(text.blocks.counts, (x, b) => (b === 0 ? x + 1 : x)) } };
    const other = await createRecommenderCore({
      ...opts,
      earlyCatalog: ahead(Promise.resolve({ text: wrong, digest: entry.catalog.digest })),
    });
    expect(asked.filter((x) => x === file)).toHaveLength(1);
    expect(other.stats().catalogIndexed).toBe('saved');
    expect(other.stats().catalogCompacted).toBeNull();
    expect(await clickSession(other)).toEqual(reference);
    await compacting(other);
    expect(other.stats().catalogCompacted).toBe('page');
    expect(kept).toEqual([`${file} ${entry.catalog.digest}`]);
    other.dispose();
  });

  it("lets go of the file's bytes once compacted and of the saved matrix once in the head, though the load's options still hold the early catalogue", async () => {
    const gc = collector();
    const { entry } = await firstVisit();
    // The worker's bytes and matrix, which only the early catalogue holds (as the tag's options do).
    let bytes: Uint8Array | null = new Uint8Array(readFileSync(file));
    let matrix: PreparedMatrix | null = { ...entry.matrix!, codes: entry.matrix!.codes.slice(), scales: entry.matrix!.scales.slice() };
    const fileBytes = new WeakRef(bytes.buffer);
    const savedCodes = new WeakRef(matrix.codes.buffer);
    const earlyCatalog = savedAhead(
      { catalog: entry.catalog, matrix: Promise.resolve(matrix) },
      entry.catalog.digest,
      Promise.resolve({ bytes, digest: entry.catalog.digest }),
    );
    bytes = null;
    matrix = null;
    const rec = await loadEarly(earlyCatalog, new MemoryPreparedCache(), 0);
    expect(rec.stats().catalogIndexed).toBe('saved');
    await vi.waitFor(() => expect(rec.stats().catalog.form).toBe('compressed'), { timeout: 20_000, interval: 20 });
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(fileBytes.deref()).toBeUndefined();
    expect(savedCodes.deref()).toBeUndefined();
    // The recommender still works, and the early catalogue is still held here.
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    expect(earlyCatalog.location).toBe(file);
    rec.dispose();

    // A first visit's file, indexed as it downloaded: the same once compacted.
    const indexed = early(indexCatalogStream(file, body(), 0, new Slicer(Infinity)));
    const firstBytes = new WeakRef((await indexed.result).bytes.buffer);
    const first = await loadEarly(indexed, new MemoryPreparedCache(), 0);
    expect(first.stats().catalogIndexed).toBe('worker');
    await vi.waitFor(() => expect(first.stats().catalog.form).toBe('compressed'), { timeout: 20_000, interval: 20 });
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(firstBytes.deref()).toBeUndefined();
    expect((await first.recommend({ k: 3 })).length).toBe(3);
    first.dispose();
  });

  it("lets go of the file's bytes once compacted while the compacted text is still being kept for the next visit", async () => {
    const gc = collector();
    const { entry } = await firstVisit();
    let bytes: Uint8Array | null = new Uint8Array(readFileSync(file));
    const fileBytes = new WeakRef(bytes.buffer);
    // A cache whose keeping of the text takes long (a large text, written while the shopper is quiet).
    let release: () => void = () => undefined;
    const keeping = new Promise<void>((r) => (release = r));
    const kept: string[] = [];
    const cache = new MemoryPreparedCache();
    const slow: PreparedCache = {
      get: (l) => cache.get(l),
      put: (l, e) => cache.put(l, e),
      keepText: (location, digest) => {
        kept.push(`${location} ${digest}`);
        return keeping;
      },
    };
    const earlyCatalog = savedAhead(
      { catalog: entry.catalog, matrix: Promise.resolve(entry.matrix) },
      entry.catalog.digest,
      Promise.resolve({ bytes, digest: entry.catalog.digest }),
    );
    bytes = null;
    const rec = await loadEarly(earlyCatalog, slow, 0);
    await vi.waitFor(() => expect(kept).toEqual([`${file} ${entry.catalog.digest}`]), { timeout: 20_000, interval: 20 });
    expect(rec.stats().catalog.form).toBe('compressed');
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(fileBytes.deref()).toBeUndefined();
    release();
    await compacting(rec);
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    rec.dispose();
  });

  it("lets go of the saved entry's item bounds once the catalogue is the compacted text the worker sent, though the load's options still hold the early catalogue", async () => {
    const gc = collector();
    const { entry } = await firstVisit();
    const bytes = new Uint8Array(readFileSync(file));
    const n = entry.catalog.bounds.length / 2;
    const text = await compactText(bytes, entry.catalog.bounds, n, new Slicer(Infinity));
    // The entry's bounds (8 bytes an item: 8 MB at a million), which only the early catalogue holds.
    let bounds: Uint32Array | null = entry.catalog.bounds.slice();
    const held = new WeakRef(bounds.buffer);
    const earlyCatalog = savedAhead(
      { catalog: { ...entry.catalog, bounds }, matrix: Promise.resolve(entry.matrix) },
      entry.catalog.digest,
      Promise.resolve({ text, digest: entry.catalog.digest }),
      true,
    );
    bounds = null;
    const rec = await loadEarly(earlyCatalog, new MemoryPreparedCache(), 0);
    expect(rec.stats().catalogCompacted).toBe('saved');
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(held.deref()).toBeUndefined();
    // The recommender still works, and the early catalogue is still held here.
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    expect(earlyCatalog.location).toBe(file);
    rec.dispose();
  });

  it("lets go of a first visit's index (the items' bounds and keys) that the early catalogue gave, though the load's options still hold it", async () => {
    const gc = collector();
    const indexed = early(indexCatalogStream(file, body(), 0, new Slicer(Infinity)));
    const keys = new WeakRef(((await indexed.result) as { index: CatalogIndex }).index.keys.buffer);
    const rec = await loadEarly(indexed);
    expect(rec.stats().catalogIndexed).toBe('worker');
    expect((await rec.recommend({ k: 3 })).length).toBe(3);
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(keys.deref()).toBeUndefined();
    expect(indexed.location).toBe(file);
    rec.dispose();
  });

  it("saves the file's index under the digest the worker made of it", async () => {
    const cache = new MemoryPreparedCache();
    const bytes = new Uint8Array(readFileSync(file));
    const index = await indexCatalog(file, bytes, new Slicer(Infinity));
    const r = await load(cache, {
      location: file,
      taken: Promise.resolve(true),
      result: Promise.resolve({ bytes, index, digest: 'k64:made-there' }),
    });
    expect(r.asked).not.toContain(file);
    expect(r.rec.stats().catalogIndexed).toBe('worker');
    r.rec.dispose();
    await new Promise((r) => setTimeout(r, 10));
    expect(cache.entries.get(file)!.catalog.digest).toBe('k64:made-there');
  });

  it("starts the item matrix's work before a worker that indexes the file answers, and not before one that checks a saved entry", async () => {
    const bytes = new Uint8Array(readFileSync(file));
    const index = await indexCatalog(file, bytes, new Slicer(Infinity));
    const entry = {
      digest: 'k64:saved',
      ids: index.ids,
      bounds: index.bounds,
      skipped: index.skipped,
      spread: new Int32Array(0),
      categories: index.categories,
    };
    // Where the worker checks a saved entry, the entry may hold: the load waits for its answer.
    for (const [checksSaved, answer, missesBefore, missesAfter] of [
      [undefined, { bytes: bytes.slice(), index }, 1, 1],
      [false, { bytes: bytes.slice(), index }, 1, 1],
      [true, { bytes: bytes.slice(), index, digest: 'k64:changed' }, 0, 1],
      [true, { bytes: bytes.slice(), digest: 'k64:saved', saved: { catalog: entry, matrix: Promise.resolve(null) } }, 0, 1],
    ] as const) {
      let answered: (r: EarlyResult) => void = () => undefined;
      const result = new Promise<EarlyResult>((r) => (answered = r));
      let misses = 0;
      const e: EarlyCatalog = {
        location: file,
        taken: Promise.resolve(true),
        ...(checksSaved === undefined ? {} : { checksSaved: Promise.resolve(checksSaved) }),
        result,
      };
      const read = readCatalog(
        file,
        () => Promise.reject(new Error('not asked')),
        new MemoryPreparedCache(),
        new Slicer(Infinity),
        () => undefined,
        () => misses++,
        undefined,
        e,
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(misses).toBe(missesBefore);
      answered(answer as EarlyResult);
      // The saved entry's spread is empty: it does not fit, so the file is parsed (a miss).
      expect((await read).catalog.size).toBe(index.bounds.length / 2);
      expect(misses).toBe(missesAfter);
    }
  });

  it('fails with the CatalogError of a file that is not usable', async () => {
    const err = new CatalogError('catalog/not-json', 'The catalogue at x is not valid JSON.');
    await expect(load(new MemoryPreparedCache(), early(Promise.reject(err)))).rejects.toBe(err);
  });
});

describe('indexCatalog', () => {
  it('indexes the elements as they are (no copies) to what the checked, frozen copies give', async () => {
    const rows = [
      { id: 'a', title: 'Apple', category: null, description: null, price: null, extra: { x: 1 } },
      { id: 7, title: 'Seven', category: 'Numbers' },
      { id: 'b', title: 'Bean', category: 'Veg', description: 'green', image: 'b.png', price: 2 },
      { id: 'c', title: '   ' },
      { id: 'a', title: 'Again' },
      { id: 'd', title: 'Dill', category: 'Veg', description: null },
      { id: 'e', title: 'Egg', category: 3 },
      { id: 'f', title: 'Fig', price: -1 },
    ];
    const bytes = new TextEncoder().encode(JSON.stringify(rows));
    const index = await indexCatalog('/c.json', bytes, new Slicer(Infinity));
    // The same work on kept copies.
    const { catalog, bounds } = await parseCatalog('/c.json', bytes, new Slicer(Infinity));
    expect(catalog.items.every((i) => Object.isFrozen(i))).toBe(true);
    const ids = await IdTable.build(catalog.id, catalog.size, new Slicer(Infinity));
    expect(index).toEqual({
      ids: ids.saved,
      bounds,
      skipped: [...catalog.skipped],
      categories: await buildCategories(catalog, new Slicer(Infinity)),
      keys: (await itemKeys(catalog.items, new Slicer(Infinity))).keys,
    });
    expect(index.skipped).toHaveLength(4);
    // A null category is none: only Numbers and Veg are departments.
    expect(index.categories!.names).toEqual(['Numbers', 'Veg']);
  });
});

describe('validateCatalog', () => {
  it('names both elements of a repeated id by their places in the input, rows skipped before them or not', () => {
    const got = validateCatalog([{ title: 'no id' }, { id: 'A', title: 'first' }, { id: 'B', title: '' }, { id: 'A', title: 'again' }]);
    expect(got.size).toBe(1);
    // Before: "items 0 and 3", the first A's place among the items kept, not in the input.
    expect(got.skipped).toContain('id "A" is duplicated (items 1 and 3); ids must be unique');
  });
});

describe('parseCatalog', () => {
  it('checks the elements as they are parsed to what validateCatalog gives on the whole array, skipped rows and errors included', async () => {
    const rows: unknown[] = [
      ...syntheticCatalog(1500),
      { id: 'dup', title: 'First' },
      { id: 'dup', title: 'Second' },
      { id: 'no-title' },
      { title: 'no id' },
      { id: 'bad-price', title: 'Price', price: -1 },
      null,
      ...syntheticCatalog(1500, 9).map((x) => ({ ...x, id: `b-${x.id}` })),
    ];
    const text = JSON.stringify(rows);
    for (const keep of [true, false]) {
      const got = await parseCatalog('/c.json', new TextEncoder().encode(text), new Slicer(), keep);
      const want = validateCatalog(JSON.parse(text));
      expect(got.catalog.size).toBe(want.size);
      expect([...got.catalog.rawIndex]).toEqual([...want.rawIndex]);
      expect(got.catalog.skipped).toEqual(want.skipped);
      for (const i of [0, 1499, 1500, want.size - 1]) {
        expect(got.catalog.id(i)).toBe(want.id(i));
        expect(got.catalog.category(i)).toBe(want.category(i));
      }
    }
    // The whole input's errors, as before: not an array, empty, no usable item.
    for (const [bad, code] of [
      ['{"id":"a"}', 'catalog/not-array'],
      ['[]', 'catalog/empty'],
      ['[{"id":"a"},{"title":"b"}]', 'catalog/invalid'],
    ] as const) {
      const err = await parseCatalog('/c.json', new TextEncoder().encode(bad), new Slicer()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CatalogError);
      expect((err as CatalogError).code).toBe(code);
    }
  });
});

describe('indexCatalogStream', () => {
  const stream = (text: string, failAt = Infinity): ReadableStream<Uint8Array> => {
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    return new ReadableStream({
      pull(c) {
        if (at >= failAt) c.error(new TypeError('network error'));
        else if (at >= bytes.length) c.close();
        else c.enqueue(bytes.slice(at, (at += 1000)));
      },
    });
  };

  it('gives the whole file and the index a parse of the whole file gives', async () => {
    const text = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, { id: 'b', title: '' }, ...syntheticCatalog(500)]);
    const got = await indexCatalogStream('/c.json', stream(text), 10, new Slicer(Infinity));
    expect(new TextDecoder().decode(got.bytes)).toBe(text);
    expect(got.bytes.byteLength).toBe(got.bytes.buffer.byteLength);
    expect(got.index).toEqual(await indexCatalog('/c.json', new TextEncoder().encode(text), new Slicer(Infinity)));
  });

  it('rejects with the CatalogError of a file that is not JSON, and with the error of a failed download', async () => {
    const html = await indexCatalogStream('/c.json', stream('<!doctype html><p>gone'), 0, new Slicer(Infinity)).catch((e: unknown) => e);
    expect(html).toBeInstanceOf(CatalogError);
    expect((html as CatalogError).code).toBe('catalog/not-json');
    const text = JSON.stringify(syntheticCatalog(500));
    const cut = await indexCatalogStream('/c.json', stream(text, 5000), 0, new Slicer(Infinity)).catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(TypeError);
    expect(cut).not.toBeInstanceOf(CatalogError);
  });
});

describe('the catalogue worker and its client', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /**
   * A stand-in for `Worker` that runs the real worker module's handler, moving buffers as
   * postMessage does; `hash`, where given, is the worker script URL's (as the tag names its
   * catalogue there).
   */
  async function fakeWorkers(hash?: string): Promise<{ start: () => Worker; started: number }> {
    const scope = globalThis as unknown as { onmessage: ((ev: { data: IndexRequest }) => void) | null };
    if (hash !== undefined) vi.stubGlobal('location', { hash });
    let current: { onmessage: ((ev: { data: IndexReply }) => void) | null } | null = null;
    vi.stubGlobal('postMessage', (msg: IndexReply, transfer: Transferable[]) => {
      const data = structuredClone(msg, { transfer: transfer as ArrayBuffer[] });
      setTimeout(() => current?.onmessage?.({ data }));
    });
    vi.stubGlobal('onmessage', null);
    vi.resetModules();
    await import('../src/catalog-worker.js');
    const handler = scope.onmessage!;
    vi.stubGlobal('Worker', class {});
    const state = {
      started: 0,
      start: () => {
        state.started++;
        const w = {
          onmessage: null,
          onerror: null,
          terminated: false,
          postMessage(msg: IndexRequest, transfer: Transferable[]) {
            const data = structuredClone(msg, { transfer: transfer as ArrayBuffer[] });
            setTimeout(() => handler({ data }));
          },
          terminate() {
            this.terminated = true;
          },
        };
        current = w;
        return w as unknown as Worker;
      },
    };
    return state;
  }

  it('moves the bytes there and back, and gives the index made in this thread', async () => {
    const workers = await fakeWorkers();
    const indexer = workerCatalogIndexer(workers.start)!;
    const text = JSON.stringify([
      { id: 'a', title: 'Apple', category: 'Fruit' },
      { id: 'b', title: '' },
      { id: 'c', title: 'Cod' },
      { id: 'café-€-😀', title: 'Cake' },
    ]);
    const bytes = new TextEncoder().encode(text);
    const got = await indexer('/catalog.json', bytes);
    expect(bytes.byteLength).toBe(0);
    expect(new TextDecoder().decode(got.bytes)).toBe(text);
    expect(got.index).toEqual(await indexCatalog('/catalog.json', new TextEncoder().encode(text), new Slicer(Infinity)));
    expect(got.index.skipped).toHaveLength(1);
    expect(workers.started).toBe(1);

    // Ids with a lone surrogate (valid JSON, not valid UTF-8) go as a string, to the same index.
    const odd = JSON.stringify([
      { id: 'x\ud800y', title: 'Odd' },
      { id: 'z', title: 'Zed' },
    ]);
    const oddIndex = await indexer('/odd.json', new TextEncoder().encode(odd));
    expect(oddIndex.index).toEqual(await indexCatalog('/odd.json', new TextEncoder().encode(odd), new Slicer(Infinity)));
    expect(oddIndex.index.ids.text).toContain('\ud800');
  });

  it('takes ASCII ids as their bytes, with no string of them made unless asked for, and decodes others', async () => {
    for (const [other, ascii] of [
      ['b-2', true],
      ['café-€', false],
    ] as const) {
      const bytes = new TextEncoder().encode(JSON.stringify([{ id: 'a', title: 'A' }, { id: other, title: 'B' }, ...syntheticCatalog(50)]));
      const index = await indexCatalog('/x.json', bytes, new Slicer(Infinity));
      const idText = new TextEncoder().encode(index.ids.text).buffer;
      const answer: IndexAnswer = {
        buffer: bytes.slice().buffer,
        index: { ...index, ids: { ...index.ids, text: '' } },
        idText,
        ...(ascii ? { idTextAscii: true as const } : {}),
      };
      const decode = vi.spyOn(TextDecoder.prototype, 'decode');
      const got = await withIdText(answer);
      const ids = indexResult(got).index.ids;
      const table = IdTable.adopt(ids);
      expect([table.id(1), table.indexOf(other), table.indexOf('s7'), table.indexOf('s7x'), table.indexOf('')]).toEqual([
        other,
        1,
        9,
        undefined,
        undefined,
      ]);
      const made = decode.mock.results.filter((r) => r.value === index.ids.text).length;
      decode.mockRestore();
      expect([other, made]).toEqual([other, ascii ? 0 : 1]);
      expect('idText' in got || 'idTextAscii' in got).toBe(false);
      // Asked for, the text is the ids' (and a copy, as storage or a message makes, carries it).
      expect(ids.text).toBe(index.ids.text);
      expect(structuredClone(ids)).toEqual(index.ids);
    }
  });

  it("downloads a file given by its URL itself, indexing it as it arrives; a server's 404 is the load's CatalogError, a failed download an Error", async () => {
    const text = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, { id: 'b', title: '' }, ...syntheticCatalog(300)]);
    const asked: string[] = [];
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      if (url.endsWith('/gone.json')) return Promise.resolve(new Response('<!doctype html>', { status: 404, statusText: 'Not Found' }));
      if (url.endsWith('/offline.json')) return Promise.reject(new TypeError('Failed to fetch'));
      const bytes = new TextEncoder().encode(text);
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= bytes.length) c.close();
          else c.enqueue(bytes.slice(at, (at += 4096)));
        },
      });
      return Promise.resolve(new Response(body, { headers: { 'content-length': String(bytes.length) } }));
    });
    const { worker, replies: answers, until } = listening((await fakeWorkers()).start());
    /** The worker's answer for a URL, as an indexer gives it: the index, or what it throws. */
    const answerFor = async (url: string, n: number): Promise<unknown> => {
      worker.postMessage({ location: url, url } satisfies IndexRequest);
      await until(n);
      try {
        return indexResult(await withIdText(answers.at(-1) as IndexAnswer));
      } catch (err) {
        return err;
      }
    };
    const got = (await answerFor('https://shop.test/catalog.json', 1)) as { bytes: Uint8Array; index: CatalogIndex };
    expect(new TextDecoder().decode(got.bytes)).toBe(text);
    // The ids' text comes as bytes, moved, not as a string to copy.
    const raw = answers.at(-1) as IndexAnswer;
    expect(raw.idText).toBeInstanceOf(ArrayBuffer);
    expect('index' in raw && raw.index.ids.text).toBe('');
    // The answer carries the worker's steps, in the order they were taken.
    expect(stepsOf(answers.at(-1)!)).toEqual(['request', 'response', 'file', 'index']);
    expect(inOrder(answers.at(-1)!)).toBe(true);
    expect(got.index).toEqual(await indexCatalog('https://shop.test/catalog.json', new TextEncoder().encode(text), new Slicer(Infinity)));
    const failed = await answerFor('https://shop.test/gone.json', 2);
    // The message a download on the page gives: the page reports it and does not ask again.
    expect(failed).toBeInstanceOf(CatalogError);
    expect((failed as CatalogError).code).toBe('catalog/unreachable');
    expect((failed as CatalogError).message).toBe(
      'Could not load the catalogue: Could not fetch https://shop.test/gone.json: HTTP 404 Not Found. Check data-catalog / the catalog option: it must be the URL of a JSON array of items.',
    );
    const offline = await answerFor('https://shop.test/offline.json', 3);
    expect(offline).toBeInstanceOf(Error);
    expect(offline).not.toBeInstanceOf(CatalogError);
    expect(asked).toEqual(['https://shop.test/catalog.json', 'https://shop.test/gone.json', 'https://shop.test/offline.json']);
  });

  /** A started worker whose replies are collected; `until(n)` waits for n beyond `ready` and `taken`. */
  function listening(worker: Worker): { worker: Worker; replies: IndexReply[]; until: (n: number) => Promise<void> } {
    const replies: IndexReply[] = [];
    (worker as unknown as { onmessage: (ev: { data: IndexReply }) => void }).onmessage = (ev) => replies.push(ev.data);
    const until = async (n: number): Promise<void> => {
      while (replies.filter((a) => !('taken' in a) && !('ready' in a)).length < n) await new Promise((r) => setTimeout(r, 5));
    };
    return { worker, replies, until };
  }

  /**
   * Stubs `fetch` to answer with `file()`'s text in pieces of 4 KiB, pulled one at a time, with its
   * `ETag`; gives, per response, how often its body was pulled and whether it was cancelled.
   */
  function serving(file: () => { text: string; etag: string }): { pulled: number; cancelled: boolean }[] {
    const bodies: { pulled: number; cancelled: boolean }[] = [];
    vi.stubGlobal('fetch', () => {
      const { text, etag } = file();
      const bytes = new TextEncoder().encode(text);
      const seen = { pulled: 0, cancelled: false };
      bodies.push(seen);
      let at = 0;
      const body = new ReadableStream<Uint8Array>(
        {
          pull(c) {
            seen.pulled++;
            if (at >= bytes.length) c.close();
            else c.enqueue(bytes.slice(at, (at += 4096)));
          },
          cancel() {
            seen.cancelled = true;
          },
        },
        { highWaterMark: 0 },
      );
      return Promise.resolve(new Response(body, { headers: { etag } }));
    });
    return bodies;
  }

  /** The steps a reply of the worker stamped. */
  const stepsOf = (reply: IndexReply): string[] => ('marks' in reply && reply.marks ? reply.marks.map(([step]) => step) : []);
  /** Whether a reply's stamps are finite times in the order given. */
  const inOrder = (reply: IndexReply): boolean => {
    const at = 'marks' in reply && reply.marks ? reply.marks.map(([, t]) => t) : [];
    return at.every((t, i) => Number.isFinite(t) && (i === 0 || t >= at[i - 1]!));
  };

  /**
   * Saves in the prepared cache the entry a page would make of `text` (a made-up matrix), as the
   * recommender does; `alter` damages its catalogue part before it is saved.
   */
  async function saveEntryFor(
    location: string,
    text: string,
    alter: (c: PreparedEntry['catalog']) => void = () => undefined,
  ): Promise<PreparedEntry> {
    const bytes = new TextEncoder().encode(text);
    const index = await indexCatalog(location, bytes, new Slicer(Infinity));
    const entry: PreparedEntry = {
      catalog: {
        digest: await digestBytes(bytes, new Slicer(Infinity)),
        ids: index.ids,
        bounds: index.bounds,
        skipped: index.skipped,
        spread: Int32Array.from({ length: index.bounds.length / 2 }, (_, i) => i),
        categories: index.categories,
      },
      matrix: {
        modelKey: 'model',
        dims: 2,
        codes: Int8Array.from({ length: index.bounds.length }, (_, i) => i % 100),
        scales: new Float32Array(index.bounds.length / 2).fill(0.5),
        embeddings: { shipped: index.bounds.length / 2, cached: 0, encoded: 0 },
      },
    };
    alter(entry.catalog);
    const cache = await IndexedDbPreparedCache.open();
    await cache.put(location, entry);
    cache.close();
    return entry;
  }

  it("checks a later visit's file against the saved entry: hands back the entry made for these bytes, then its matrix, and indexes changed bytes", async () => {
    const location = 'https://shop.test/later.json';
    let text = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, ...syntheticCatalog(300)]);
    const asked: string[] = [];
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      return Promise.resolve(new Response(text));
    });
    const entry = await saveEntryFor(location, text);

    const { worker, replies, until } = listening((await fakeWorkers()).start());
    worker.postMessage({ location, url: location, saved: true } satisfies IndexRequest);
    await until(2);
    const [answer, matrix] = replies.filter((a) => !('taken' in a) && !('ready' in a));
    expect(answer).toMatchObject({ digest: entry.catalog.digest, checked: true });
    expect((answer as IndexAnswer).idText).toBeInstanceOf(ArrayBuffer);
    expect('saved' in answer! && answer.saved.ids.text).toBe('');
    // Each step stamped once, with the message after it: the file's and the entry's in the order they ended.
    const steps = [...stepsOf(answer!), ...stepsOf(matrix!)];
    expect([...steps].sort()).toEqual(['digest', 'entry', 'file', 'matrix', 'request', 'response']);
    expect(steps.filter((x) => ['request', 'response', 'file', 'digest'].includes(x))).toEqual(['request', 'response', 'file', 'digest']);
    expect(steps.indexOf('entry')).toBeLessThan(steps.indexOf('matrix'));
    expect(inOrder(answer!) && inOrder(matrix!)).toBe(true);
    expect('saved' in answer!).toBe(true);
    const got = earlyResult(await withIdText(answer as IndexAnswer), Promise.resolve(matrix as MatrixReply));
    expect('saved' in got && new TextDecoder().decode(got.bytes)).toBe(text);
    expect('saved' in got && got.saved.catalog).toEqual(entry.catalog);
    expect('saved' in got && (await got.saved.matrix)).toEqual(entry.matrix);
    expect('saved' in got && got.checked).toBe(true);

    // The shop changed its catalogue: the worker indexes the new bytes and gives their digest.
    text = JSON.stringify([{ id: 'b', title: 'Banana', category: 'Fruit' }, ...syntheticCatalog(300)]);
    worker.postMessage({ location, url: location, saved: true } satisfies IndexRequest);
    await until(3);
    const changed = earlyResult(await withIdText(replies.at(-1) as IndexAnswer), Promise.resolve({ matrix: null }));
    expect(stepsOf(replies.at(-1)!)).toContain('index');
    expect('index' in changed && changed.index).toEqual(await indexCatalog(location, new TextEncoder().encode(text), new Slicer(Infinity)));
    expect('index' in changed && changed.digest).toBe(await digestBytes(new TextEncoder().encode(text), new Slicer(Infinity)));
    expect(asked).toEqual([location, location]);
  });

  it('checks the saved entry before it hands it back: one that is damaged is not, and the file is indexed instead', async () => {
    const location = 'https://shop.test/damaged.json';
    const text = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, ...syntheticCatalog(300)]);
    vi.stubGlobal('fetch', () => Promise.resolve(new Response(text)));
    const bytes = new TextEncoder().encode(text);
    const index = await indexCatalog(location, bytes, new Slicer(Infinity));
    const digest = await digestBytes(bytes, new Slicer(Infinity));
    const damages: ((c: PreparedEntry['catalog']) => void)[] = [
      // a cold-start order that names an item past the catalogue's end
      (c) => void (c.spread[3] = c.spread.length + 5),
      // bounds out of order
      (c) => void c.bounds.set([c.bounds[3]!, c.bounds[2]!], 2),
      // a category code past the table's names
      (c) => void (c.categories!.codes[7] = c.categories!.names.length + 1),
    ];
    const { worker, replies, until } = listening((await fakeWorkers()).start());
    const answers = (): IndexReply[] => replies.filter((a) => !('taken' in a) && !('ready' in a));
    for (const damage of damages) {
      await saveEntryFor(location, text, damage);
      const before = answers().length;
      worker.postMessage({ location, url: location, saved: true } satisfies IndexRequest);
      await until(before + 1);
      const answer = answers()[before]!;
      expect('saved' in answer).toBe(false);
      const got = earlyResult(await withIdText(answer as IndexAnswer), Promise.resolve({ matrix: null }));
      expect('index' in got && got.index).toEqual(index);
      expect('index' in got && got.digest).toBe(digest);
    }
  });

  it("reads a later visit's file and entry from the worker's copies (the file's kept with the server's strong ETag, the body left unread; the entry's for its generation), and the body or IndexedDB where the ETag changed or is weak, a copy is damaged, or the entry is new", async () => {
    const files = fakeFileSystem(vi.stubGlobal);
    const location = 'https://shop.test/kept.json';
    let text = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, ...syntheticCatalog(300)]);
    let etag = '"v1"';
    const bodies = serving(() => ({ text, etag }));
    const { worker, replies, until } = listening((await fakeWorkers()).start());
    let answers = 0;
    /**
     * One visit of the worker: its answer as the page takes it, the steps it took with the file,
     * and where the saved entry came from (its copy, IndexedDB, or none was read).
     */
    const visit = async (
      saved: boolean,
    ): Promise<{ result: EarlyResult; steps: string[]; entry: 'copy' | 'db' | 'none'; ahead: boolean }> => {
      worker.postMessage(saved ? { location, url: location, saved } : { location, url: location });
      const nth = (n: number): IndexReply => replies.filter((a) => !('taken' in a) && !('ready' in a))[n - 1]!;
      await until(++answers);
      const answer = nth(answers) as IndexAnswer;
      let after: Promise<MatrixReply> = Promise.resolve({ matrix: null });
      let file: Promise<FileReply> | undefined;
      let all = stepsOf(answer);
      if ('saved' in answer) {
        await until(++answers);
        const matrix = nth(answers);
        // The matrix comes first, on its own, before the file's bytes where they follow.
        expect('matrix' in matrix && !('file' in matrix)).toBe(true);
        expect('follows' in matrix).toBe(answer.later === true);
        after = Promise.resolve(matrix as MatrixReply);
        all = [...all, ...stepsOf(matrix)];
        if (answer.later) {
          await until(++answers);
          expect('file' in nth(answers)).toBe(true);
          file = Promise.resolve(nth(answers) as FileReply);
          all = [...all, ...stepsOf(nth(answers))];
        }
      }
      // The entry's steps end whenever it is read; the file's are in order.
      const steps = all.filter((x) => !['entry', 'matrix', 'entry-copy'].includes(x));
      const entry = all.includes('entry-copy') ? 'copy' : all.includes('entry') ? 'db' : 'none';
      // Whether the entry went ahead of the file's bytes, which then came after its matrix.
      const ahead = 'saved' in answer && answer.later === true && answer.buffer.byteLength === 0;
      return { result: earlyResult(await withIdText(answer), after, file), steps, entry, ahead };
    };
    /** Whether `got` is `want` handed back whole. */
    const handedBack = async (got: EarlyResult, want: PreparedEntry): Promise<void> => {
      const file = 'saved' in got && got.later ? await got.later : got;
      expect(file.digest).toBe(want.catalog.digest);
      expect('saved' in got && 'bytes' in file && new TextDecoder().decode(file.bytes)).toBe(text);
      expect('saved' in got && got.saved.catalog).toEqual(want.catalog);
      expect('saved' in got && (await got.saved.matrix)).toEqual(want.matrix);
    };
    const kept = (suffix: string): number => [...files.keys()].filter((name) => name.endsWith(suffix)).length;

    // A first visit keeps a copy of the file as it downloads it.
    const first = await visit(false);
    expect('index' in first.result && new TextDecoder().decode(first.result.bytes)).toBe(text);
    // Digested as it came: the page need not digest it.
    expect('index' in first.result && first.result.digest).toBe(await digestBytes(new TextEncoder().encode(text), new Slicer(Infinity)));
    expect([kept('.bin'), kept('.entry')]).toEqual([1, 0]);

    // Nothing saved yet (or never: a page whose storage is in memory), the same ETag: the copy is
    // read and indexed instead of the body, and not written again.
    const copyBytes = files.get(copyName(location))!.data.slice();
    const again = await visit(false);
    expect(again.steps).toEqual(['request', 'response', 'copy', 'index']);
    expect(bodies.at(-1)).toEqual({ pulled: 0, cancelled: true });
    expect('index' in again.result && again.result.index).toEqual('index' in first.result && first.result.index);
    expect('index' in again.result && again.result.digest).toBe('index' in first.result && first.result.digest);
    expect(files.get(copyName(location))!.data).toEqual(copyBytes);
    const entry = await saveEntryFor(location, text);

    // The first visit noted the file's digest in its copy, made as the bytes came. A copy whose
    // digest is not the saved entry's (here: altered) is not used: the body is read, the copy
    // kept again. The entry comes from IndexedDB, and is copied on its way.
    const file = files.get(copyName(location))!;
    const head = new TextDecoder().decode(file.data.subarray(0, HEAD_BYTES));
    expect(head).toContain(entry.catalog.digest);
    const at = head.indexOf('k64:') + 4;
    file.data[at] = file.data[at] === 0x30 ? 0x31 : 0x30;
    const altered = await visit(true);
    // (The copy is read while IndexedDB reads the entry, before its digest is known.)
    expect(altered.steps).toEqual(['request', 'response', 'copy', 'file', 'digest']);
    expect(altered.entry).toBe('db');
    expect(bodies.at(-1)!.pulled).toBeGreaterThan(0);
    await handedBack(altered.result, entry);
    expect([kept('.bin'), kept('.entry')]).toEqual([1, 1]);

    // The server sends the same strong ETag: both copies are read, the file's digest compared as
    // noted; the body is not read. The ids' text goes on as the copy holds it, UTF-8 bytes the
    // page decodes: the worker neither decodes nor encodes it.
    const encode = vi.spyOn(TextEncoder.prototype, 'encode');
    const decode = vi.spyOn(TextDecoder.prototype, 'decode');
    const later = await visit(true);
    const idsText = entry.catalog.ids.text;
    expect(encode.mock.calls.filter(([t]) => t === idsText)).toEqual([]);
    // Nor does the page: these ids are ASCII, read as their bytes (`withAsciiText`); the string is
    // made only where something asks for it (the comparison below).
    expect(decode.mock.results.filter((r) => r.value === idsText)).toHaveLength(0);
    encode.mockRestore();
    decode.mockRestore();
    expect([later.steps, later.entry]).toEqual([['request', 'response', 'copy'], 'copy']);
    expect(bodies.at(-1)).toEqual({ pulled: 0, cancelled: true });
    // The entry, read from its copy, went ahead of the file's bytes, which came with the matrix.
    expect(later.ahead).toBe(true);
    await handedBack(later.result, entry);

    // The file's copy cannot be read once the entry has gone ahead: the body is read instead, and
    // its digest, the entry's, goes with it.
    files.get(copyName(location))!.failFrom = HEAD_BYTES;
    const unread = await visit(true);
    expect([unread.steps, unread.entry, unread.ahead]).toEqual([['request', 'response', 'file', 'digest'], 'copy', true]);
    expect(bodies.at(-1)!.pulled).toBeGreaterThan(0);
    await handedBack(unread.result, entry);
    delete files.get(copyName(location))!.failFrom;

    // A damaged copy of the entry is read as missing: the entry comes from IndexedDB again.
    const entryFile = files.get(copyName(location).replace(/\.bin$/, '.entry'))!;
    entryFile.data = entryFile.data.slice(0, entryFile.data.length - 1);
    const fromDb = await visit(true);
    expect([fromDb.steps, fromDb.entry, fromDb.ahead]).toEqual([['request', 'response', 'copy'], 'db', false]);
    await handedBack(fromDb.result, entry);
    expect((await visit(true)).entry).toBe('copy');

    const whole = entryFile.data.slice();
    const view = new DataView(entryFile.data.buffer, entryFile.data.byteOffset, entryFile.data.byteLength);
    const headAt = view.getFloat64(8, true);
    const header = JSON.parse(new TextDecoder().decode(entryFile.data.subarray(headAt, headAt + view.getUint32(16, true)))) as {
      parts: Record<string, { at: number }>;
    };
    // Ids' bytes that are not UTF-8 are refused as a decoder refuses them: the entry is read from
    // IndexedDB.
    entryFile.data[header.parts['text']!.at] = 0xff;
    const notText = await visit(true);
    expect([notText.steps, notText.entry, notText.ahead]).toEqual([['request', 'response', 'copy'], 'db', false]);
    await handedBack(notText.result, entry);
    entryFile.data = whole.slice();
    expect((await visit(true)).entry).toBe('copy');

    // A copy of the entry whose parts no longer fit together (its cold-start order names an item
    // past the end) is not handed back: the file's copy is indexed instead.
    new DataView(entryFile.data.buffer, entryFile.data.byteOffset, entryFile.data.byteLength).setInt32(
      header.parts['spread']!.at,
      entry.catalog.spread.length + 5,
      true,
    );
    const damaged = await visit(true);
    expect([damaged.steps, damaged.entry]).toEqual([['request', 'response', 'copy', 'index'], 'copy']);
    expect('index' in damaged.result && damaged.result.index).toEqual(
      await indexCatalog(location, new TextEncoder().encode(text), new Slicer(Infinity)),
    );
    expect('index' in damaged.result && damaged.result.digest).toBe(entry.catalog.digest);
    entryFile.data = whole;

    // The shop changed its file, and the server its ETag: the new bytes are read and indexed.
    text = JSON.stringify([{ id: 'b', title: 'Banana', category: 'Fruit' }, ...syntheticCatalog(300)]);
    etag = '"v2"';
    const changed = await visit(true);
    expect(changed.steps).toEqual(['request', 'response', 'file', 'digest', 'index']);
    expect('index' in changed.result && changed.result.index).toEqual(
      await indexCatalog(location, new TextEncoder().encode(text), new Slicer(Infinity)),
    );
    // Once the page has saved its entry for them (a new generation), the next visit reads the
    // file's copy and the new entry from IndexedDB (the entry's copy is of the old one), then both copies.
    const renewed = await saveEntryFor(location, text);
    expect(await visit(true)).toMatchObject({ steps: ['request', 'response', 'copy'], entry: 'db' });
    expect(bodies.at(-1)).toEqual({ pulled: 0, cancelled: true });
    const both = await visit(true);
    expect([both.steps, both.entry]).toEqual([['request', 'response', 'copy'], 'copy']);
    await handedBack(both.result, renewed);

    // A weak ETag does not promise the same bytes: the body is read, and nothing is kept for it.
    etag = 'W/"v2"';
    const weak = await visit(true);
    expect(weak.steps).toEqual(['request', 'response', 'file', 'digest']);
    await handedBack(weak.result, renewed);
    etag = '"v2"';
    expect((await visit(true)).steps).toEqual(['request', 'response', 'copy']);
  });

  it("sends a later visit's page the compacted text kept for the file instead of its bytes, and the bytes where the text is for other bytes or cannot be read", async () => {
    const files = fakeFileSystem(vi.stubGlobal, { writable: true });
    const location = 'https://shop.test/text.json';
    const text = JSON.stringify(syntheticCatalog(400));
    const bytes = new TextEncoder().encode(text);
    const bodies = serving(() => ({ text, etag: '"v1"' }));
    const { worker, replies, until } = listening((await fakeWorkers()).start());
    const answered = (): IndexReply[] => replies.filter((a) => !('taken' in a) && !('ready' in a));
    /** A later visit: the worker's answer, matrix and file messages, and the steps they stamped. */
    const visit = async (compactAbove?: string): Promise<{ answer: IndexAnswer; file: FileReply; steps: string[] }> => {
      const before = answered().length;
      worker.postMessage({ location, url: location, saved: true, ...(compactAbove !== undefined ? { compactAbove } : {}) });
      await until(before + 3);
      const [answer, matrix, file] = answered().slice(before) as [IndexAnswer, MatrixReply, FileReply];
      expect('saved' in answer && answer.later).toBe(true);
      expect('matrix' in matrix && matrix.follows).toBe(true);
      return { answer, file, steps: [answer, matrix, file].flatMap(stepsOf) };
    };
    // A first visit keeps the file's copy, with its digest; the page saves the entry (and its copy).
    worker.postMessage({ location, url: location });
    await until(1);
    const entry = await saveEntryFor(location, text);
    const compact = await compactText(bytes, entry.catalog.bounds, entry.catalog.bounds.length / 2, new Slicer(Infinity));
    // No text kept yet: the file's copy goes after the entry, as before.
    const plain = await visit();
    expect('textFollows' in plain.answer).toBe(false);
    expect(plain.file.text).toBeUndefined();
    expect(new TextDecoder().decode(new Uint8Array(plain.file.file!))).toBe(text);
    expect(plain.steps).toContain('copy');

    // The page keeps the compacted text for the file's digest: the next visit's worker sends it
    // instead of the file's bytes (neither its copy nor the body read), and says so with the entry.
    expect(await keepTextCopy(location, entry.catalog.digest, compact)).toBe(true);
    const later = await visit();
    expect('saved' in later.answer && later.answer.textFollows).toBe(true);
    expect(later.file.file).toBeNull();
    expect(later.file.digest).toBe(entry.catalog.digest);
    expect(later.file.text).toEqual(compact);
    expect(later.steps).toContain('text');
    expect(later.steps).not.toContain('copy');
    expect(bodies.at(-1)).toEqual({ pulled: 0, cancelled: true });
    // As the page takes it: the text, and the catalogue over it is the file's.
    const taken = earlyResult(await withIdText(later.answer), Promise.resolve({ matrix: null }), Promise.resolve(later.file));
    const got = 'saved' in taken ? await taken.later! : null;
    expect(got && 'text' in got && got.digest).toBe(entry.catalog.digest);
    const over = await catalogOverText((got as { text: CompactText }).text, IdTable.adopt(entry.catalog.ids), [], null);
    expect(over.items).toEqual(validateCatalog(JSON.parse(text)).items);
    // Only where the page would compact the file: its threshold at most the text's size.
    const textBytes = compact.blocks.raw.reduce((sum, r) => sum + r, 0);
    for (const [above, sent] of [
      [String(textBytes), true],
      ['0', true],
      [String(textBytes + 1), false],
      ['never', false],
      ['Infinity', false],
      ['', false],
      ['32MB', false],
    ] as const) {
      const got = await visit(above);
      expect([above, got.file.text !== undefined]).toEqual([above, sent]);
      expect([above, 'textFollows' in got.answer]).toEqual([above, sent]);
      if (!sent) expect(new TextDecoder().decode(new Uint8Array(got.file.file!))).toBe(text);
    }

    // A text kept for other bytes, or one cut short: the file's copy, as before.
    const name = copyName(location, TEXT_SUFFIX);
    const whole = files.get(name)!.data;
    for (const damage of ['other bytes', 'cut short']) {
      if (damage === 'other bytes') expect(await keepTextCopy(location, 'k64:0000000000000000:1', compact)).toBe(true);
      else files.get(name)!.data = whole.slice(0, whole.length - 3);
      const back = await visit();
      expect('textFollows' in back.answer, damage).toBe(false);
      expect(back.file.text, damage).toBeUndefined();
      expect(new TextDecoder().decode(new Uint8Array(back.file.file!)), damage).toBe(text);
    }
  });

  it("takes the index the shop ships with the model for a first visit's file made from these very bytes, without parsing it; parses a file it was not made from, or where it is damaged or missing", async () => {
    const location = 'https://shop.test/shipped.json';
    const model = 'https://shop.test/models/';
    const made = JSON.stringify([{ id: 'a', title: 'Apple', category: 'Fruit' }, { id: 'b', title: '' }, ...syntheticCatalog(300)]);
    const madeBytes = new TextEncoder().encode(made);
    const madeIndex = await indexCatalog(location, madeBytes, new Slicer(Infinity));
    const packed = packCatalogIndex(madeIndex, await digestBytes(madeBytes, new Slicer(Infinity)))!;
    let text = made;
    let indexFile = packed;
    let listed = true;
    let withLength = false;
    const asked: string[] = [];
    vi.stubGlobal('fetch', async (url: string) => {
      asked.push(url);
      if (url === `${model}manifest.json`) return new Response(JSON.stringify({ vectors: 'vectors/' }));
      if (url === `${model}vectors/manifest.json`) {
        const f = {
          path: 'catalog-index.bin',
          sha256: await sha256Hex(packed),
          bytes: packed.length,
          digest: await digestBytes(madeBytes, new Slicer(Infinity)),
          fileBytes: madeBytes.length,
        };
        return new Response(JSON.stringify({ format: 'clickwise-vectors', ...(listed ? { catalogIndex: f } : {}) }));
      }
      if (url === `${model}vectors/catalog-index.bin`) return new Response(indexFile.slice());
      if (url === location)
        return new Response(text, withLength ? { headers: { 'content-length': String(new TextEncoder().encode(text).length) } } : {});
      return new Response('', { status: 404 });
    });
    const { worker, replies, until } = listening((await fakeWorkers()).start());
    // JSON.parse calls on the file's elements (a parse of the file), as against the manifests'.
    const realParse = JSON.parse;
    let elementParses = 0;
    vi.spyOn(JSON, 'parse').mockImplementation(((t: string, r?: Parameters<typeof JSON.parse>[1]) => {
      if (t.startsWith('[')) elementParses++;
      return realParse(t, r);
    }) as typeof JSON.parse);
    let n = 0;
    const visit = async (): Promise<{ index: CatalogIndex; shipped: boolean; steps: string[]; parses: number }> => {
      elementParses = 0;
      worker.postMessage({ location, url: location, model } satisfies IndexRequest);
      await until(++n);
      const answer = replies.at(-1) as IndexAnswer;
      const got = earlyResult(await withIdText(answer), Promise.resolve({ matrix: null }));
      if (!('index' in got)) throw new Error('no index');
      return { index: got.index, shipped: got.shipped === true, steps: stepsOf(answer), parses: elementParses };
    };
    try {
      const shipped = await visit();
      expect(shipped).toMatchObject({ shipped: true, parses: 0 });
      expect(shipped.steps).toContain('shipped-index');
      expect(shipped.index).toEqual(madeIndex);
      expect(asked).toEqual([location, `${model}manifest.json`, `${model}vectors/manifest.json`, `${model}vectors/catalog-index.bin`]);

      // The file changed since the index was made, its length the same: the index is read, its
      // digest is not the file's, and the file is parsed, to its own index.
      text = made.replace('"Apple"', '"Apric"');
      asked.length = 0;
      const changed = await visit();
      expect(changed.shipped).toBe(false);
      expect(changed.parses).toBeGreaterThan(0);
      expect(changed.index).toEqual(await indexCatalog(location, new TextEncoder().encode(text), new Slicer(Infinity)));
      expect(asked).toContain(`${model}vectors/catalog-index.bin`);

      // A file of another length, as its response says: the index is not even downloaded.
      text = JSON.stringify([{ id: 'z', title: 'Zed' }, ...syntheticCatalog(300)]);
      withLength = true;
      asked.length = 0;
      const longer = await visit();
      expect(longer.shipped).toBe(false);
      expect(longer.index).toEqual(await indexCatalog(location, new TextEncoder().encode(text), new Slicer(Infinity)));
      expect(asked).toEqual([location, `${model}manifest.json`, `${model}vectors/manifest.json`]);
      // Its length the index's: taken.
      text = made;
      expect(await visit()).toMatchObject({ shipped: true, parses: 0 });
      withLength = false;

      // A damaged index file (its checksum fails), or none listed: the file is parsed.
      text = made;
      indexFile = packed.slice();
      indexFile[indexFile.length - 1]! ^= 1;
      const damaged = await visit();
      expect(damaged).toMatchObject({ shipped: false });
      expect(damaged.index).toEqual(madeIndex);
      indexFile = packed;
      listed = false;
      const none = await visit();
      expect(none).toMatchObject({ shipped: false });
      expect(none.index).toEqual(madeIndex);
      // Without the model's folder, nothing but the file is asked for.
      listed = true;
      asked.length = 0;
      worker.postMessage({ location, url: location } satisfies IndexRequest);
      await until(++n);
      expect(asked).toEqual([location]);
      expect('shipped' in (replies.at(-1) as IndexAnswer)).toBe(false);

      // A later visit whose saved entry is for a file of another length, as the response says:
      // the file changed, and the shop's index for the new one stands for the parse.
      withLength = true;
      await saveEntryFor(location, JSON.stringify([{ id: 'old', title: 'Old' }, ...syntheticCatalog(20)]));
      asked.length = 0;
      elementParses = 0;
      worker.postMessage({ location, url: location, saved: true, model } satisfies IndexRequest);
      await until(++n);
      const later = earlyResult(await withIdText(replies.at(-1) as IndexAnswer), Promise.resolve({ matrix: null }));
      expect('index' in later && later.shipped).toBe(true);
      expect('index' in later && later.index).toEqual(madeIndex);
      expect(elementParses).toBe(0);
      expect(asked).toContain(`${model}vectors/catalog-index.bin`);
      // One whose entry is for this very file takes the entry, and asks for nothing but the file.
      await saveEntryFor(location, made);
      asked.length = 0;
      worker.postMessage({ location, url: location, saved: true, model } satisfies IndexRequest);
      n += 2; // the entry, then its matrix
      await until(n);
      expect(replies.filter((a) => 'saved' in a).length).toBe(1);
      expect(asked).toEqual([location]);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it("asks for the catalogue the tag named in the script's URL as it starts, and gives it to the tag's request for it", async () => {
    const location = 'https://shop.test/named.json';
    const other = 'https://shop.test/other.json';
    const text = JSON.stringify([{ id: 'a', title: 'Apple' }, ...syntheticCatalog(50)]);
    const asked: string[] = [];
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(url);
      return Promise.resolve(new Response(text));
    });
    const workers = await fakeWorkers(`#${encodeURIComponent(location)}`);
    // Asked for as the worker started, before any request.
    expect(asked).toEqual([location]);
    const { worker, replies, until } = listening(workers.start());
    worker.postMessage({ location, url: location } satisfies IndexRequest);
    await until(1);
    const got = indexResult(await withIdText(replies.at(-1) as IndexAnswer));
    expect(new TextDecoder().decode(got.bytes)).toBe(text);
    expect(stepsOf(replies.at(-1)!)).toEqual(['request', 'response', 'file', 'index']);
    // The request took what was begun: the file was asked for once. Another is asked for as before.
    expect(asked).toEqual([location]);
    worker.postMessage({ location: other, url: other } satisfies IndexRequest);
    await until(2);
    expect(asked).toEqual([location, other]);
  });

  it('rejects with the CatalogError of a catalogue that is not usable, and with an Error when the worker cannot start', async () => {
    const workers = await fakeWorkers();
    const indexer = workerCatalogIndexer(workers.start)!;
    const err = await indexer('/catalog.json', new TextEncoder().encode('<!doctype html><p>not found')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).code).toBe('catalog/not-json');
    expect((err as CatalogError).message).toContain('HTML page');
    const refused = workerCatalogIndexer(() => {
      throw new Error('worker-src none');
    })!;
    const e2 = await refused('/catalog.json', new Uint8Array(4)).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(Error);
    expect(e2).not.toBeInstanceOf(CatalogError);
    // A worker whose script fails to load reports an error event.
    const failing = workerCatalogIndexer(() => {
      const w = {
        onmessage: null,
        onerror: null as ((ev: { message: string; preventDefault(): void }) => void) | null,
        postMessage() {
          setTimeout(() => w.onerror?.({ message: '', preventDefault: () => undefined }));
        },
        terminate: () => undefined,
      };
      return w as unknown as Worker;
    })!;
    await expect(failing('/catalog.json', new Uint8Array(4))).rejects.toThrow(/could not start/);
  });

  it('gives up on a worker that never says it has the request, not on one that is slow to finish', async () => {
    vi.stubGlobal('Worker', class {});
    const silent = workerCatalogIndexer(
      () => ({ onmessage: null, onerror: null, postMessage: () => undefined, terminate: () => undefined }) as unknown as Worker,
      50,
    )!;
    await expect(silent('/catalog.json', new Uint8Array(4))).rejects.toThrow(/did not start within 0.05 s/);
    // Taken at once, answered well after the start timeout.
    const text = JSON.stringify([{ id: 'a', title: 'Apple' }]);
    const slow = workerCatalogIndexer(() => {
      const w = {
        onmessage: null as ((ev: { data: IndexReply }) => void) | null,
        onerror: null,
        postMessage(msg: IndexRequest & { buffer: ArrayBuffer }) {
          setTimeout(() => w.onmessage?.({ data: { taken: true } }));
          setTimeout(() => {
            void indexCatalog(msg.location, new Uint8Array(msg.buffer), new Slicer(Infinity)).then((index) =>
              w.onmessage?.({ data: { buffer: msg.buffer, index } }),
            );
          }, 150);
        },
        terminate: () => undefined,
      };
      return w as unknown as Worker;
    }, 50)!;
    const got = await slow('/catalog.json', new TextEncoder().encode(text));
    expect(got.index.skipped).toEqual([]);
    expect(new TextDecoder().decode(got.bytes)).toBe(text);
  });

  it('is not offered where there are no workers (Node)', () => {
    expect(typeof (globalThis as { Worker?: unknown }).Worker).toBe('undefined');
    expect(workerCatalogIndexer()).toBeUndefined();
  });
});
