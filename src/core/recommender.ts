/**
 * The recommender: catalogue + frozen encoder + incremental head + a delta store, behind the
 * public API of ARCHITECTURE.md. Learning is event-sourced: `click()` appends an event to the
 * store (that is the acknowledgement), then events are learned strictly in `seq` order, so every
 * tab that shares a store reaches the same φ, and a reload rebuilds it from snapshot + events.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendChoice } from './backend.js';
import { initBackend } from './backend.js';
import type { Catalog, CatalogHeld, CategoryTable, CompactText, SwappableCatalog } from './catalog.js';
import {
  buildCategories,
  compactText,
  compactParsedText,
  catalogOverText,
  describeProblems,
  lazyCatalogFrom,
  catalogAhead,
  readyInflate,
  swappable,
  validateCatalogSliced,
} from './catalog.js';
import { IdTable } from './id-table.js';
import type { CatalogIndex, CatalogIndexer, EarlyCatalog, EarlyResult } from './catalog-index.js';
import type { BlockDeflater } from './deflate-blocks.js';
import { catalogUnreachable, parseCatalog } from './catalog-index.js';
import { Emitter } from './emitter.js';
import type { Encoder, EncoderManifest } from './encoder.js';
import { loadEncoder } from './encoder.js';
import { ArgumentError, CatalogError, DisposedError, ModelLoadError, UnknownItemError } from './errors.js';
import type { Explanation, HeadOptions, HeadState, Transitions } from './head.js';
import { IncrementalHead, validateHeadOptions } from './head.js';
import { ItemMatrix } from './item-matrix.js';
import { candidatesFor, clicksToShare, shareAmongInterests, type Likeness } from './interests.js';
import { withNewSlots } from './new-slots.js';
import type { Fetcher, TensorRows } from './model-io.js';
import { defaultFetcher, fetchJson, joinLocation, refuseLaterFormat } from './model-io.js';
import type { AlignedBase, HeadManifest, HeadModel, ModelManifest } from './model.js';
import {
  alignBaseSteps,
  alignedFromSaved,
  alignTransitionsSteps,
  itemListSha,
  loadHeadManifest,
  loadHeadModel,
  loadModelManifest,
  recentFiguresOf,
  savedBaseOf,
} from './model.js';
import type { DeltaStore, StoredEvent, StoredState } from './store.js';
import { MemoryDeltaStore } from './store.js';
import type { BackendRequest, Item, ProgressCallback } from './types.js';
import { nextBackgroundTask, nextTask, runStepsSliced, Slicer } from './slice.js';
import type { ShopDeltaInfo } from './shop-delta-client.js';
import { ShopDeltaClient } from './shop-delta-client.js';
import type { MatrixShape, PreparedCache, PreparedCatalog, PreparedEntry, PreparedMatrix, SavedEntry } from './prepared.js';
import { checkSavedCatalog, digestBytes } from './prepared.js';
import type { ShippedVectors, VectorsManifest } from './vectors.js';
import { catalogHashSliced, decodeRow, itemKeys, loadVectors, loadVectorsManifest, longKey } from './vectors.js';

/** Options of {@link createRecommenderCore}. */
export interface CoreRecommenderOptions {
  /** The items, or the URL (or Node path) of a JSON array of items. */
  catalog: readonly Item[] | string;
  /** Folder holding `manifest.json` (URL, or a path in Node). Default `'/models/'`. */
  modelUrl?: string;
  /** Default `'auto'`. */
  backend?: BackendRequest;
  /** Where the shopper's learning is kept. Default: in memory. */
  store?: DeltaStore;
  onProgress?: ProgressCallback;
  /**
   * Called with every warning, from the first moment of loading on (storage set aside, fallbacks,
   * rebase). The same warnings are emitted as 'warning' events once the recommender is returned.
   */
  onWarning?: (w: { code: string; message: string }) => void;
  /** Seed for every random choice (negative sampling). Default 1. */
  seed?: number;
  /** Overrides of the head's learning settings. */
  head?: Partial<HeadOptions>;
  /** Take a snapshot of φ every this many events (compaction). Default 50. */
  snapshotEvery?: number;
  /**
   * How long (ms, from ready) a list after a click, or a click, waits for the base's transitions
   * where they are read after the first list (a first visit of the base), before going on
   * without them; once they are in, what was learned without them is learned again and an
   * 'update' asks the page to rank again. `Infinity` waits as long as they take. Default 1000.
   * Not waited for at all where their download, at the rate the base's other files came, would
   * take longer than this.
   */
  transitionsWaitMs?: number;
  /**
   * Keeps catalogue vectors by (encoder version, a 64-bit hash of the item's text), so a reload encodes
   * only items that are new or changed. Default: none (the package entry passes IndexedDB's).
   */
  embeddingCache?: EmbeddingCache;
  /**
   * Keeps what a load of a catalogue URL made (its ids, where each item lies in the file, the item
   * matrix), so that a later load of the same bytes and model skips parsing the whole catalogue
   * and rebuilding the matrix. Default: none (the package entry passes IndexedDB's).
   */
  preparedCache?: PreparedCache;
  /**
   * Called once what a load writes for the next visit after it is ready (its index and matrix to
   * `preparedCache`, then the vectors it encoded to `embeddingCache`) is written or given up; at
   * once when there is nothing to write. The caller may close those caches then.
   */
  afterSaved?: () => void;
  /**
   * Parses and indexes a catalogue file read from a URL somewhere else than the page's main
   * thread, on a load that cannot take the saved index (a first visit, or a changed file). The
   * package entry passes a Web Worker's where the page can start one. Default: none (the load
   * parses the file itself, in slices).
   */
  catalogIndexer?: CatalogIndexer;
  /**
   * Where a large catalogue's compaction (`compactCatalogAbove`) deflates its blocks, off the
   * page's main thread: called once per compaction, and closed when it is done. The package entry
   * passes a Web Worker's where the page can start one. Default: none (the page deflates them
   * itself, in slices). One that fails leaves the work to the page, with a warning.
   */
  catalogCompactor?: () => BlockDeflater;
  /**
   * The catalogue file, already being indexed as it downloaded before this load began: the
   * storefront tag starts its worker on a first visit while the runtime's code loads. Used where
   * its location is the catalogue's and it was taken; otherwise the load reads the file.
   */
  earlyCatalog?: EarlyCatalog;
  /** Where the tfjs WASM binaries are served from (a folder URL ending in `/`). */
  wasmPaths?: string;
  /**
   * Default of `recommend({ includeViewed })`: show recently clicked items again. Default: what the
   * model says of the shop (`recommendViewed` in its head manifest, where the maintenance job found
   * that this shop's shoppers re-buy what they viewed), else false.
   */
  recommendViewed?: boolean;
  /**
   * Whether a list shared among interests (`recommend({ diversify })`) keeps two places for each of
   * the shopper's last three departments where the head's ranking would leave one of them out, so
   * that a shopper who wanders from department to department is not shown the last one alone.
   * Default: what the model says of the shop (`keepLatestDepartments` in its head manifest, false
   * where its maintenance job found that the places cost the shop's lists), else true.
   */
  keepLatestDepartments?: boolean;
  /**
   * Whether the places of a department holding a quarter of the shopper's recent clicks are shared
   * among its last three distinct clicks, each with an entry of its own (a tent, a water bottle,
   * then a head torch are not shown as head torches alone). Default: what the model says of the
   * shop (`shareInterestClicks` in its head manifest, false where its maintenance job found that
   * this costs the shop's lists), else true.
   */
  shareInterestClicks?: boolean;
  /**
   * A catalogue read from a URL whose file is at least this many bytes is kept deflated in blocks
   * once the page is ready (about 4× smaller; an item is parsed after inflating its block when
   * first shown), instead of as parsed items or the file's bytes. The compression runs after
   * ready, in slices. Default 32 MiB (about 230,000 items of 140 bytes); `Infinity` never.
   */
  compactCatalogAbove?: number;
  /**
   * The folder of the shop delta published by the shop's stream job (`npm run stream`), fused as
   * base + shop delta + the shopper's φ. Default `'auto'`: the folder the model's manifest names
   * (the stream job names it when it first publishes); none when it names none. A folder that has
   * no delta warns once. `false`: never fetch one.
   */
  shopDelta?: string | false;
  /** How often to look for a newer shop delta while the page is visible. Default 5 minutes. */
  shopDeltaRefreshMs?: number;
  /**
   * Whether the page is visible, and a way to hear when that changes: the delta is looked for
   * again when the page comes back, and not at all while it is hidden. The package entry passes
   * the document's; without one (Node) the delta is fetched once, at start, unless
   * `shopDeltaRefreshMs` is given.
   */
  visibility?: { isVisible(): boolean; onChange(fn: () => void): () => void };
  /** Reads model and catalogue files. Default: `fetch`, or `fs` for paths in Node. */
  fetcher?: Fetcher;
}

/** One recommendation. `because` lists the clicked items that contributed most to it. */
export interface Recommendation {
  id: string;
  score: number;
  item: Item;
  because: { id: string; weight: number }[];
  /**
   * Present where the item holds one of the places a list keeps for products the base does not
   * know, rather than a place its score won: `'launch'` for a launch among the shop's best sellers
   * now, `'new'` for the shopper's best new products. The clicks did not put it there, so a page
   * says why in other words than `because`.
   */
  place?: 'new' | 'launch';
  /**
   * Present (true) where the shopper clicked this item before: shown back (`includeViewed`, a shop
   * of re-buys), or clicked longer ago than the recent clicks a list leaves out. A page says "you
   * viewed this before" of it rather than `because`, which names the other clicks that led to it.
   */
  viewed?: true;
  /**
   * Present (true) where what the whole shop sells now added more to the item's score than the
   * shopper's clicks did: one of the shop's best sellers lately, at the weight the shop's
   * maintenance job chose for it (mostly at a visit's start). A page says "popular right now"
   * of it rather than `because`, whose clicks did less to put it there.
   */
  selling?: true;
}

/** Options of `recommend`. */
export interface RecommendOptions {
  /** How many items, a positive integer. Default 10. */
  k?: number;
  /** Ids never to return (e.g. the product on screen). Unknown ids are ignored. */
  exclude?: Iterable<string>;
  /** Keep only items for which this returns true. */
  filter?: (item: Item) => boolean;
  /**
   * Also recommend items the shopper clicked recently (the last 20 distinct). Default: the
   * recommender's `recommendViewed` option, which is the model's choice for the shop where its
   * maintenance job made one, else false: a shopper who just looked at an item does not need it
   * shown back. Turn it on for shops where shoppers re-buy (groceries, supplies).
   */
  includeViewed?: boolean;
  /**
   * Keep places for each of the shopper's interests: each department holding a quarter or more of
   * their recent clicks is sure of three places of the list (fewer where more share a short list),
   * so the latest one does not fill it; otherwise the list is the head's ranking, as it is for a
   * catalogue without departments (`shareAmongInterests`). Default true.
   */
  diversify?: boolean;
}

/** What `stats()` reports. */
export interface RecommenderStats {
  backend: BackendChoice['name'];
  /** Why that backend, e.g. "WASM: no WebGPU adapter". */
  backendReason: string;
  clicks: number;
  /** Milliseconds the last click took to learn (the head's update), or null before any. */
  lastUpdateMs: number | null;
  modelVersion: string;
  storage: DeltaStore['kind'];
  items: number;
  /**
   * How the catalogue is held: 'parsed' item objects (a catalogue given as an array, or a first
   * visit that parsed the file on the page), the file's bytes ('file', a later visit or a first
   * visit indexed in a worker; items are parsed as shown) or its text
   * deflated in blocks ('compressed', a large catalogue once compacted: `compactCatalogAbove`),
   * and the bytes held for the text.
   */
  catalog: CatalogHeld;
  /**
   * Where the load parsed and indexed the catalogue file: 'worker' (a Web Worker, off the page's
   * main thread), 'page' (the main thread, in slices: no worker, or it could not run), 'saved'
   * (taken from the index an earlier visit saved), 'shipped' (the index the shop ships with its
   * model, `npm run vectors -- --catalog F`, made from these very bytes: the worker only
   * downloaded and digested the file), or 'given' (a catalogue passed as an array).
   */
  catalogIndexed: ReadCatalog['indexedIn'] | 'given';
  /**
   * Where the catalogue was compacted (`catalog.form` 'compressed'): 'worker' (its blocks deflated
   * in a Web Worker, off the page's main thread), 'page' (the main thread, in slices) or 'saved'
   * (the compacted text an earlier visit kept, taken as it is); null while it is not.
   */
  catalogCompacted: 'worker' | 'page' | 'saved' | null;
  /**
   * The base's transitions (what the shop's shoppers bought next): 'reading' while they are read
   * after the first list (a first visit of the base) or what was learned without them is learned
   * again (lists meanwhile rank without their votes once `transitionsWaitMs` has passed), 'in'
   * once the head ranks and learns with them, 'none' where the base has none or they could not
   * be read.
   */
  transitions: 'reading' | 'in' | 'none';
  /**
   * Bytes held in tensors on the backend (every tfjs tensor of the page): the head's parameters
   * and its per-item biases and AdaGrad sums (3 × N float32).
   */
  tensorBytes: number;
  /**
   * The size of the backend's own memory where it has one (the WASM backend's heap, which holds
   * the tensors and grows to the load's peak: it is never given back), else null.
   */
  backendHeapBytes: number | null;
  /**
   * Bytes of the item matrix the scoring pass reads, outside tfjs: int8 vectors, a scale and the
   * fused bias per item (N × (d + 8)).
   */
  itemBytes: number;
  /** What scores the catalogue: 'wasm-simd' (the WebAssembly kernel) or 'js' (a page whose CSP forbids it). */
  scoring: 'wasm-simd' | 'js';
  /** ‖φ‖: how far this shopper has moved from the base. */
  deltaNorm: number;
  /** Stored records set aside as unreadable. */
  quarantined: number;
  /** Where the catalogue's vectors came from at load: the shop's file, the cache, or the encoder. */
  embeddings: EmbeddingStats;
  /** The shop delta in force (what the whole shop's recent orders add to the base), or null. */
  shopDelta: ShopDeltaInfo | null;
  warnings: string[];
}

/** Events emitted by the recommender. */
export interface RecommenderEvents extends Record<string, unknown> {
  /**
   * What the lists rank with changed: a click was learned here or in another tab, the shopper was
   * reset (`'reset'`), a shop delta came (`'shop'`), or φ was restored at load or the base's
   * transitions came in after lists were ranked without them (`'load'`).
   */
  update: { clicks: number; lastUpdateMs: number | null; source: 'local' | 'remote' | 'reset' | 'load' | 'shop' };
  /** Something went wrong that the page should know about but that did not stop Clickwise. */
  warning: { code: string; message: string };
}

/** A ready recommender. */
export interface Recommender {
  /** Learns a click on `itemId`. Resolves once the click is stored and learned. */
  click(itemId: string): Promise<void>;
  /** Records items that were shown; those not clicked before the next click count as negatives. */
  impression(itemIds: Iterable<string>): void;
  recommend(options?: RecommendOptions): Promise<Recommendation[]>;
  on<K extends keyof RecommenderEvents>(name: K, fn: (payload: RecommenderEvents[K]) => void): () => void;
  off<K extends keyof RecommenderEvents>(name: K, fn: (payload: RecommenderEvents[K]) => void): void;
  stats(): RecommenderStats;
  /**
   * The validated catalogue. On a later visit the items are parsed from the file only as they
   * are needed, and the first use of `items` parses the rest in one go: to look one item up,
   * use `item(id)`.
   */
  readonly items: readonly Item[];
  /** The catalogue's item with this id, or undefined. */
  item(id: string): Item | undefined;
  /** Forgets this shopper, here and in every tab sharing the store. */
  reset(): Promise<void>;
  /** Frees every tensor and closes the store. */
  dispose(): void;
}

const DEFAULT_MODEL_URL = '/models/';
/**
 * How long a list or a click waits for a base's transitions read after the first list (see
 * `transitionsWaitMs`): on a fast link they come within it, and the page acts as if it had them
 * from the start; on a slow one a shopper's list waits no longer.
 */
export const DEFAULT_TRANSITIONS_WAIT_MS = 1000;

/**
 * A store of item vectors keyed by `<encoder version>:<key of the item's text>` (see
 * {@link itemKeys}). Implementations should read and write in slices: a catalogue of 100,000
 * vectors read in one transaction holds the page for over a second.
 */
export interface EmbeddingCache {
  get(keys: readonly string[]): Promise<(Float32Array | undefined)[]>;
  /**
   * Stores each vector under its key. A vector may be a view into a larger buffer: a cache that
   * keeps it beyond the call keeps (or stores) a copy of the view alone, not its whole buffer.
   */
  put(entries: readonly [string, Float32Array][]): Promise<void>;
}

/** Where the catalogue's vectors came from at load. */
export interface EmbeddingStats {
  /** Taken from the shop's shipped vectors file. */
  shipped: number;
  /** Taken from this browser's embedding cache. */
  cached: number;
  /** Computed by the encoder in this browser. */
  encoded: number;
  /**
   * Taken ready to score from what this browser's previous load of the same catalogue and model
   * made (then the other counts are those of that load).
   */
  prepared: number;
}

/**
 * The catalogue's raw vectors [N × d], row-major: from the shop's shipped vectors where an item's
 * text matches, then from the cache, and only the rest encoded here (the encoder's weights are not
 * even downloaded when nothing is left). Every loop is time-sliced. A failing cache costs time,
 * never correctness.
 */
async function embedCatalog(o: {
  encoderManifest: EncoderManifest;
  loadEncoder: () => Promise<Encoder>;
  /** Item i (on a lazy catalogue, parsed as asked for: only the items to encode are). */
  item: (i: number) => Item;
  n: number;
  /** Every item's text key ({@link itemKeys}), made where the catalogue was indexed. */
  keys: Uint32Array;
  cache: EmbeddingCache | undefined;
  shipped: ShippedVectors | null;
  /** Whether the catalogue is the shipped file's, item i its row i ({@link shippedInOrder}). */
  aligned: boolean;
  progress: ProgressCallback | undefined;
  warn: (m: string) => void;
  slicer: Slicer;
}): Promise<{
  vectors: Float32Array;
  stats: EmbeddingStats;
  /** Writes the vectors encoded here to the cache (null: none to write); the caller runs it. */
  write: (() => Promise<void>) | null;
}> {
  const { item, n, keys, cache, shipped, progress, warn, slicer } = o;
  const d = o.encoderManifest.dims;
  const version = o.encoderManifest.version;
  const out = new Float32Array(n * d);
  const have = new Uint8Array(n);
  const long = (i: number): string => longKey(item(i));
  let fromShipped = 0;
  if (shipped) {
    const m = shipped.manifest;
    const M = m.quantisation.subspaces;
    const aligned = o.aligned;
    let rowOf: Map<number, number> | null = null;
    let fileKeys: Uint32Array | null = null;
    if (!aligned) {
      // The catalogue has changed since the file was made: its keys say which rows still fit.
      try {
        fileKeys = await shipped.keys();
      } catch (err) {
        warn(
          `The catalogue vectors' keys cannot be used (${err instanceof Error ? err.message : String(err)}); encoding the catalogue here instead.`,
        );
      }
    }
    if (fileKeys) {
      // Keys seen twice in the file are ambiguous: those items are encoded here instead.
      rowOf = new Map();
      for (let r = 0; r < m.count; r++) {
        const k = fileKeys[r]!;
        rowOf.set(k, rowOf.has(k) ? -1 : r);
        if ((r & 4095) === 4095) await slicer.maybeYield();
      }
    }
    for (let from = 0; from < n && (aligned || rowOf); from += BLOCK) {
      const to = Math.min(n, from + BLOCK);
      for (let i = from; i < to; i++) {
        const r = aligned ? i : (rowOf!.get(keys[i]!) ?? -1);
        if (r >= 0) {
          decodeRow(shipped, M, d, r, out, i * d);
          have[i] = 1;
          fromShipped++;
        }
      }
      await slicer.maybeYield();
    }
  }
  let fromCache = 0;
  let missing = [] as number[];
  for (let i = 0; i < n; i++) if (!have[i]) missing.push(i);
  let cacheKeys: string[] = [];
  if (cache && missing.length > 0) {
    for (let j = 0; j < missing.length; j++) {
      cacheKeys.push(`${version}:${long(missing[j]!)}`);
      if ((j & 63) === 63) await slicer.maybeYield();
    }
    try {
      const found = await cache.get(cacheKeys);
      // A cached vector that is the wrong size or holds a NaN or ±Infinity is encoded again (and
      // overwritten): one bad vector would otherwise make every score NaN.
      for (let from = 0; from < missing.length; from += BLOCK) {
        fromCache += takeCached(found, missing, from, Math.min(missing.length, from + BLOCK), d, out, have);
        await slicer.maybeYield();
      }
      const still: number[] = [];
      const stillKeys: string[] = [];
      missing.forEach((i, j) => {
        if (!have[i]) {
          still.push(i);
          stillKeys.push(cacheKeys[j]!);
        }
      });
      missing = still;
      cacheKeys = stillKeys;
    } catch (err) {
      warn(`The embedding cache could not be read (${String(err)}); encoding what is missing.`);
    }
  }
  const done0 = n - missing.length;
  progress?.({ phase: 'encode', done: done0, total: n });
  let write: (() => Promise<void>) | null = null;
  if (missing.length > 0) {
    const encoder = await o.loadEncoder();
    try {
      // In parts of ENCODE_PART items, each read back as it is done: the items are parsed (on a
      // lazy catalogue) a part at a time, and no one step copies or joins the whole catalogue's
      // vectors, so every task stays short at any catalogue size.
      const entries: [string, Float32Array][] = [];
      for (let from = 0; from < missing.length; from += ENCODE_PART) {
        const to = Math.min(missing.length, from + ENCODE_PART);
        const inputs: Item[] = [];
        for (let j = from; j < to; j++) {
          inputs.push(item(missing[j]!));
          if ((j & 63) === 63) await slicer.maybeYield();
        }
        const fresh = await encoder.encode(
          inputs,
          progress ? { onProgress: (p) => progress({ phase: 'encode', done: done0 + from + p.done, total: n }) } : {},
        );
        let data: Float32Array;
        try {
          data = (await fresh.data()) as Float32Array;
        } finally {
          fresh.dispose();
        }
        await slicer.maybeYield();
        for (let j = from; j < to; j++) {
          const i = missing[j]!;
          // A view, not a copy: 100,000 small buffers made at once kept the collector busy for
          // long tasks. The cache copies each one when it writes it.
          const v = data.subarray((j - from) * d, (j - from + 1) * d);
          out.set(v, i * d);
          if (cache) entries.push([cacheKeys[j] ?? `${version}:${long(i)}`, v]);
          if ((j & 63) === 63) await slicer.maybeYield();
        }
      }
      if (cache && entries.length > 0) {
        write = async () => {
          try {
            await cache.put(entries);
          } catch (err) {
            warn(`The embedding cache could not be written (${String(err)}).`);
          }
        };
      }
    } finally {
      encoder.dispose();
    }
  }
  return { vectors: out, stats: { shipped: fromShipped, cached: fromCache, encoded: missing.length, prepared: 0 }, write };
}

/**
 * Centres the rows (and re-normalises them), in place and in slices: a direction shared by every
 * item would otherwise let random negatives push the shopper's vector away from the catalogue as
 * a whole, lifting whatever items are least typical instead of those like the ones clicked.
 */
async function centreRows(v: Float32Array, n: number, d: number, slicer: Slicer, step = BLOCK): Promise<void> {
  const mean = new Float64Array(d);
  for (let from = 0; from < n; from += step) {
    sumRows(v, from, Math.min(n, from + step), d, mean);
    await slicer.maybeYield();
  }
  for (let k = 0; k < d; k++) mean[k]! /= Math.max(1, n);
  for (let from = 0; from < n; from += step) {
    centreBlock(v, from, Math.min(n, from + step), d, mean);
    await slicer.maybeYield();
  }
}

/** Rows per slice of the loops over the catalogue's vectors (a few ms each). */
const BLOCK = 4096;

/** Items the encoder embeds and hands back at a time ({@link embedCatalog}). */
const ENCODE_PART = 2048;

// The hot loops are plain synchronous functions over one block, which the JIT optimises well.
function sumRows(v: Float32Array, from: number, to: number, d: number, acc: Float64Array): void {
  for (let i = from; i < to; i++) for (let k = 0; k < d; k++) acc[k]! += v[i * d + k]!;
}

function centreBlock(v: Float32Array, from: number, to: number, d: number, mean: Float64Array): void {
  for (let i = from; i < to; i++) {
    const o = i * d;
    let sq = 0;
    for (let k = 0; k < d; k++) {
      const x = v[o + k]! - mean[k]!;
      v[o + k] = x;
      sq += x * x;
    }
    const inv = 1 / Math.max(Math.sqrt(sq), 1e-8);
    for (let k = 0; k < d; k++) v[o + k]! *= inv;
  }
}

/** Copies the usable cached vectors of missing[from, to) into `out`; returns how many. */
function takeCached(
  found: readonly (Float32Array | undefined)[],
  missing: readonly number[],
  from: number,
  to: number,
  d: number,
  out: Float32Array,
  have: Uint8Array,
): number {
  let taken = 0;
  for (let j = from; j < to; j++) {
    const v = found[j];
    if (!(v instanceof Float32Array) || v.length !== d) continue;
    let finite = true;
    for (let k = 0; k < d && finite; k++) finite = Number.isFinite(v[k]!);
    if (!finite) continue;
    const i = missing[j]!;
    out.set(v, i * d);
    have[i] = 1;
    taken++;
  }
  return taken;
}

/**
 * For each row of a base that names a catalogue item (`rowIndex`), its residual read into `row`,
 * then `visit(item)`, in slices of `slicer`; nothing where the base has no residuals.
 */
async function forKnownRows(
  rowIndex: Int32Array,
  residual: TensorRows | null,
  row: Float32Array,
  slicer: Slicer,
  visit: (item: number) => void,
): Promise<void> {
  if (!residual) return;
  for (let j = 0; j < rowIndex.length; j++) {
    const i = rowIndex[j]!;
    if (i >= 0) {
      residual.row(j, row, 0);
      visit(i);
    }
    if ((j & 4095) === 4095) await slicer.maybeYield();
  }
}

/** A base's residuals a row at a time, where it has any (read in place, or as decoded). */
function residualRowsOf(model: HeadModel): TensorRows | null {
  if (model.residualRows) return model.residualRows;
  const r = model.residual;
  if (!r) return null;
  const d = model.manifest.dims;
  return { rows: r.length / d, cols: d, row: (j, out, at) => out.set(r.subarray(j * d, (j + 1) * d), at) };
}

/** The catalogue file's bytes. */
async function fetchCatalog(location: string, fetcher: Fetcher): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fetcher(location));
  } catch (cause) {
    throw catalogUnreachable(cause);
  }
}

/**
 * The catalogue at a location: restored from the prepared cache when the file's bytes are those
 * an earlier load saw (`entry`), else parsed (`fresh`: what a later load will need): by `indexer`
 * (a worker) where given and able, else here in slices. `onMiss` is called once the file is here
 * and is to be parsed (so no saved item matrix will be taken). Exported for the tests.
 */
export async function readCatalog(
  location: string,
  fetcher: Fetcher,
  cache: PreparedCache | undefined,
  slicer: Slicer,
  warn: (code: string, message: string) => void,
  onMiss: () => void = () => undefined,
  indexer?: CatalogIndexer,
  early?: EarlyCatalog,
): Promise<ReadCatalog> {
  let missed = false;
  const miss = (): void => {
    if (!missed) onMiss();
    missed = true;
  };
  const digestOf = (bytes: Uint8Array): Promise<string | null> => (cache ? digestBytes(bytes, slicer) : Promise.resolve(null));
  /** The early catalogue's answer as the load takes it; undefined where the file is read here after all. */
  async function fromEarly(off: EarlyResult): Promise<ReadCatalog | undefined> {
    if ('saved' in off) {
      // The worker read the saved entry and found it to be for these bytes; checked there (then
      // taken as it is) or as below, while the worker reads the bytes where it sent the entry
      // ahead of them.
      const got = await checkedEntry(off.saved, slicer, off.checked === true);
      if (off.later && got) {
        // Loaded while the text comes, where it is to come.
        if (off.textFollows) readyInflate().catch(() => undefined);
        const ahead = entryAhead(got.entry, got.ids);
        const later = off.later;
        const digest = off.digest;
        // The read once the bytes are here: this one, with them, where they are the entry's;
        // else the file parsed as a changed one.
        const rest = (async (): Promise<ReadCatalog> => {
          const file = await later.catch(() => null);
          // The compacted text an earlier visit kept for these bytes: taken as it is, nothing
          // left to compact. One that does not fit the entry: the file is read here, as below.
          if (file && 'text' in file && file.digest === digest && (await ahead.fillText(file.text))) {
            return {
              catalog: ahead.catalog,
              entry: got.entry,
              fresh: null,
              text: ahead.text,
              indexedIn: 'saved',
              compacted: true,
            };
          }
          // The worker stopped before it sent the bytes: they are read here.
          const bytes = file && 'bytes' in file ? file.bytes : await fetchCatalog(location, fetcher);
          const made = file && 'bytes' in file ? file.digest : await digestOf(bytes);
          if (made === digest && ahead.fill(bytes)) {
            return { catalog: ahead.catalog, entry: got.entry, fresh: null, text: { ...ahead.text, bytes }, indexedIn: 'saved' };
          }
          ahead.fail(new Error("the catalogue's file is not the one its saved entry was made from"));
          return readFresh(location, bytes, made, fetcher, slicer, warn, miss, indexer);
        })();
        return { catalog: ahead.catalog, entry: got.entry, fresh: null, text: ahead.text, indexedIn: 'saved', rest };
      }
      const later = off.later ? await off.later.catch(() => null) : off;
      const file = later && 'bytes' in later ? later : null;
      if (file) {
        const held = file.digest === off.digest && got && heldEntry(file.bytes, got.entry, got.ids);
        if (held) return held;
        return readFresh(location, file.bytes, file.digest, fetcher, slicer, warn, miss, indexer);
      }
      // The worker stopped before it sent the bytes: they are read here, as below.
    }
    if ('index' in off) {
      miss();
      return fromIndex(off.bytes, off.index, off.digest ?? (await digestOf(off.bytes)), off.shipped ? 'shipped' : 'worker');
    }
    return undefined;
  }
  if (early?.location === location && (await early.taken)) {
    // A file the worker indexes will not take a saved matrix: the matrix's work starts now.
    if (!(await early.checksSaved)) miss();
    let off: EarlyResult | undefined;
    try {
      off = await early.result;
    } catch (err) {
      if (err instanceof CatalogError) throw err;
      // The worker could not download or read the file: it is read here, as below.
    }
    try {
      const got = off && (await fromEarly(off));
      if (got) return got;
    } finally {
      // The early catalogue's answer, which the load's options hold for the page's life, lets go
      // of the file's bytes (145 MB at a million items) once they are taken: the catalogue holds
      // them from here, and lets go of them when it is compacted.
      if (off) letGo(off);
    }
  }
  // What the last load saved is read, and its ids indexed, while the file downloads: whether it
  // holds is known only once the file's digest is, and then it is ready to use.
  const saved = cache?.get(location).then(
    (entry) => (entry ? checkedEntry(entry, slicer) : undefined),
    (err: unknown) => {
      warn('prepared/read', `The saved catalogue index could not be read (${String(err)}); reading the whole catalogue.`);
      return undefined;
    },
  );
  const bytes = await fetchCatalog(location, fetcher);
  const digest = await digestOf(bytes);
  if (digest !== null) {
    const got = await saved;
    const held = got && got.entry.catalog.digest === digest && heldEntry(bytes, got.entry, got.ids);
    if (held) return held;
  }
  return readFresh(location, bytes, digest, fetcher, slicer, warn, miss, indexer);
}

/**
 * A saved entry whose catalogue part checks out (`checkSavedCatalog`), with its ids indexed;
 * undefined where it is damaged. One the catalogue's worker `checked` before it handed it back is
 * taken as it is.
 */
async function checkedEntry(entry: SavedEntry, slicer: Slicer, checked = false): Promise<{ entry: SavedEntry; ids: IdTable } | undefined> {
  // Awaited only if the entry holds; its failure is reported there.
  entry.matrix.catch(() => undefined);
  try {
    const ids = checked ? IdTable.adopt(entry.catalog.ids) : await checkSavedCatalog(entry.catalog, slicer);
    return { entry, ids };
  } catch {
    return undefined; // a damaged entry: read the file as on a first visit, and save it again
  }
}

/** The catalogue a checked saved entry says, before the file's bytes are here (see {@link catalogAhead}). */
function entryAhead(entry: SavedEntry, ids: IdTable): ReturnType<typeof catalogAhead> & { text: CatalogText } {
  const prior = entry.catalog;
  const ahead = catalogAhead(ids, prior.bounds, prior.skipped, prior.categories);
  return { ...ahead, text: { bytes: null, bounds: prior.bounds, ids, categories: prior.categories } };
}

/** The catalogue a checked saved entry says, held for these bytes; null where the entry does not fit them. */
function heldEntry(bytes: Uint8Array, entry: SavedEntry, ids: IdTable): ReadCatalog | null {
  try {
    const prior = entry.catalog;
    const catalog = lazyCatalogFrom(bytes, ids, prior.bounds, prior.skipped, prior.categories);
    return { catalog, entry, fresh: null, text: { bytes, bounds: prior.bounds, ids, categories: prior.categories }, indexedIn: 'saved' };
  } catch {
    return null; // a damaged entry: read the file as on a first visit, and save it again
  }
}

/** The file parsed and indexed afresh: by `indexer` (a worker) where given and able, else here in slices. */
async function readFresh(
  location: string,
  bytes: Uint8Array,
  digest: string | null,
  fetcher: Fetcher,
  slicer: Slicer,
  warn: (code: string, message: string) => void,
  miss: () => void,
  indexer?: CatalogIndexer,
): Promise<ReadCatalog> {
  miss();
  if (indexer) {
    // Off the page's main thread: the page then holds the file as a later visit does.
    try {
      const off = await indexer(location, bytes);
      return fromIndex(off.bytes, off.index, digest);
    } catch (err) {
      if (err instanceof CatalogError) throw err;
      workerFailed(warn, err);
    }
    // A buffer handed to the worker and lost with it reads as empty: the file is read again.
    if (bytes.byteLength === 0) bytes = await fetchCatalog(location, fetcher);
  }
  return parsedHere(location, bytes, digest, slicer);
}

/**
 * Lets a taken early answer go of the file's bytes, of what was sent after them, and of the index
 * or the saved entry it gave: whoever still holds the answer (the load's options do, for the
 * page's life) no longer keeps them alive. The load holds what it still needs itself; the rest
 * goes: the items' bounds (8 MB at a million items) once the catalogue is the compacted text, and
 * a first visit's item keys once the vectors are matched.
 */
function letGo(off: EarlyResult): void {
  const o = off as { bytes: Uint8Array; later?: unknown; saved?: unknown; index?: unknown };
  o.bytes = new Uint8Array(0);
  delete o.later;
  delete o.saved;
  delete o.index;
}

/**
 * A file indexed elsewhere (a worker), or whose index the shop shipped (`shipped`), held as a
 * later visit holds it.
 */
function fromIndex(bytes: Uint8Array, index: CatalogIndex, digest: string | null, by: 'worker' | 'shipped' = 'worker'): ReadCatalog {
  const { ids: saved, bounds, skipped, categories } = index;
  const ids = IdTable.adopt(saved);
  const catalog = lazyCatalogFrom(bytes, ids, bounds, skipped, categories);
  const fresh = digest === null ? null : { digest, ids: saved, bounds, skipped, spread: new Int32Array(0), categories };
  return { catalog, entry: undefined, fresh, text: { bytes, bounds, ids, categories }, indexedIn: by, keys: index.keys };
}

/** A file parsed and indexed on the page, in slices. */
async function parsedHere(location: string, bytes: Uint8Array, digest: string | null, slicer: Slicer): Promise<ReadCatalog> {
  const { catalog, bounds } = await parseCatalog(location, bytes, slicer);
  if (digest === null) {
    return { catalog, entry: undefined, fresh: null, text: { bytes, bounds, ids: null, categories: null }, indexedIn: 'page' };
  }
  const ids = await IdTable.build(catalog.id, catalog.size, slicer);
  const categories = await buildCategories(catalog, slicer);
  const fresh: PreparedCatalog = {
    digest,
    ids: ids.saved,
    bounds,
    skipped: [...catalog.skipped],
    spread: new Int32Array(0),
    categories,
  };
  return { catalog, entry: undefined, fresh, text: { bytes, bounds, ids, categories }, indexedIn: 'page' };
}

/** The warning when the catalogue's worker could not run. */
function workerFailed(warn: (code: string, message: string) => void, err: unknown): void {
  warn(
    'catalog/worker',
    `The catalogue was parsed on the page's main thread, in slices, because its Web Worker could not run (${String(err)}). ` +
      'Where the page has a Content-Security-Policy, let worker-src allow the origin Clickwise is served from.',
  );
}

/** What {@link readCatalog} gives. */
export interface ReadCatalog {
  catalog: Catalog;
  entry: SavedEntry | undefined;
  fresh: PreparedCatalog | null;
  text: CatalogText;
  /** Where the file was parsed and indexed (see `RecommenderStats.catalogIndexed`). */
  indexedIn: 'worker' | 'page' | 'saved' | 'shipped';
  /** The items' text keys, where the index made them. */
  keys?: Uint32Array;
  /** Where the catalogue holds the compacted text an earlier visit kept (nothing left to compact). */
  compacted?: true;
  /**
   * Where the catalogue was restored from a saved entry ahead of the file's bytes (its items not
   * readable yet): the read once they are here. That is this read, with the bytes, where they
   * are those the entry was made from; else the file read afresh, with another catalogue.
   */
  rest?: Promise<ReadCatalog>;
}

/** A catalogue file's bytes and where its kept items lie in it: what compaction needs. */
interface CatalogText {
  /** Null once let go (a catalogue parsed in full is compacted from its items). */
  bytes: Uint8Array | null;
  bounds: Uint32Array;
  /** The ids indexed, where the load made the table (null: made by the compaction). */
  ids: IdTable | null;
  /** The categories numbered, where the load did (null: by the compaction, from parsed items). */
  categories: CategoryTable | null;
}

/** The WASM backend's heap size, or null on a backend without one. */
function backendHeapBytes(): number | null {
  const heap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8;
  return heap ? heap.byteLength : null;
}

/** How long background work waits after the shopper's last click or recommendation, ms. */
const QUIET_MS = 250;

/** Default of `compactCatalogAbove`: 32 MiB. */
export const DEFAULT_COMPACT_ABOVE = 32 * 1024 * 1024;

/**
 * Swaps the catalogue for its compacted form (see {@link compactCatalog}) in slices shorter than
 * a load's, after the page is ready. Resolves when done or given up (a warning; the catalogue
 * stays as it was).
 */
async function compactInBackground(
  target: SwappableCatalog,
  text: CatalogText | null,
  rec: RecommenderImpl,
  compactor?: () => BlockDeflater,
  keep?: (text: CompactText) => Promise<unknown>,
): Promise<void> {
  try {
    // Work that can wait: it gives way to the page's own tasks, and pauses while the shopper's
    // clicks and recommendations run (and shortly after).
    // A recommender disposed meanwhile stops it at the next slice.
    const slicer = new Slicer(6, async () => {
      await rec.untilQuiet();
      if (!rec.alive) throw new DisposedError();
    });
    await slicer.yield();
    if (!text) return;
    const ids = text.ids ?? (await IdTable.build(target.id, target.size, slicer));
    // Numbered from parsed items only: on a catalogue read lazily that would parse every item.
    const categories = text.categories ?? (target.held.form === 'parsed' ? await buildCategories(target, slicer) : null);
    let compacted: CompactText | null = null;
    // The file's blocks deflated off the page's main thread (a Web Worker), where there is one.
    if (text.bytes && compactor) {
      try {
        compacted = await compactText(text.bytes, text.bounds, ids.size, slicer, compactor());
        rec.catalogCompacted = 'worker';
      } catch (err) {
        if (!rec.alive || err instanceof DisposedError) throw err;
        rec.report(
          'catalog/compact-worker',
          `The catalogue is compacted on the page's main thread, in slices, because its Web Worker could not do it (${String(err)}).`,
        );
      }
    }
    // Parsed items (a first visit that parsed the file here: its bytes went with the load) are written back.
    if (!compacted) {
      compacted = text.bytes ? await compactText(text.bytes, text.bounds, ids.size, slicer) : await compactParsedText(target, slicer);
      rec.catalogCompacted = 'page';
    }
    const catalog = await catalogOverText(compacted, ids, target.skipped, categories);
    if (!rec.alive) return;
    target.swap(catalog);
    // Kept for the next visit, which then takes it as it is rather than the file's bytes. The
    // file's bytes (145 MB at a million items) are let go of first: the write can take long (it
    // waits for the shopper to be quiet), and this wait kept them alive.
    text = null;
    await keep?.(compacted);
  } catch (err) {
    if (rec.alive) rec.report('catalog/compact', `The catalogue could not be compacted (${String(err)}); it is kept as it was.`);
  }
}

/** Items in turns across departments: the first of each, then the second of each, and so on. */
async function roundRobinByCategory(catalog: Catalog, slicer: Slicer): Promise<Int32Array> {
  const queues = new Map<string, number[]>();
  const n = catalog.size;
  for (let i = 0; i < n; i++) {
    const key = catalog.category(i) ?? '';
    let q = queues.get(key);
    if (!q) queues.set(key, (q = []));
    q.push(i);
    if ((i & 4095) === 4095) await slicer.maybeYield();
  }
  const out = new Int32Array(n);
  const lists = [...queues.values()];
  let at = 0;
  for (let round = 0; at < n; round++) {
    for (const q of lists) if (round < q.length) out[at++] = q[round]!;
  }
  return out;
}

/**
 * A User Timing mark (`clickwise:<phase>`), where there is a performance timeline: the
 * catalogue read, the backend ready, the head built, the recommender ready. A shop sees them in
 * its browser's performance panel; `npm run bench:profile-visit` prints them.
 */
function mark(phase: string): void {
  const perf = (globalThis as { performance?: { mark?: (name: string) => unknown } }).performance;
  try {
    perf?.mark?.(`clickwise:${phase}`);
  } catch {
    /* a timeline that refuses marks: nothing to record */
  }
}

/** Calls a page's callback; a callback that throws is reported, never allowed to break Clickwise. */
function callSafely<T>(fn: ((x: T) => void) | undefined, x: T, name = 'onWarning'): void {
  if (!fn) return;
  try {
    fn(x);
  } catch (err) {
    console.error(`Clickwise: an ${name} callback threw`, err);
  }
}

/** The ids of an `exclude` or `impression` argument: an iterable of ids, never a bare string. */
function idList(value: unknown, what: string): string[] {
  if (typeof value === 'string' || typeof (value as Iterable<unknown> | null)?.[Symbol.iterator] !== 'function') {
    throw new ArgumentError(
      `${what}/not-a-list`,
      `${what} needs a list of item ids, e.g. ['sku-1', 'sku-2'], got ${typeof value === 'string' ? `the string ${JSON.stringify(value)}` : String(value)}.`,
    );
  }
  return Array.from(value as Iterable<unknown>, (x) => String(x));
}

class RecommenderImpl implements Recommender {
  private readonly emitter = new Emitter<RecommenderEvents>();
  private pendingImpressions: number[] = [];
  /** The top of the last ranking (`recommend`), best first: a click's ranked negatives. */
  private lastRanked: number[] = [];
  private lastSeq = 0;
  private lastUpdateMs: number | null = null;
  /** ‖φ‖ after the last learning pass (read asynchronously, never by a synchronous GPU read). */
  private deltaNorm = 0;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  /**
   * Bumped by every reset. Work begun before a reset (a learning pass, a snapshot, a click being
   * stored) checks it and drops what it was doing, so nothing from before a reset survives it.
   */
  private epoch = 0;
  /** Set while `reset()` runs; clicks made meanwhile wait for it, then count as new. */
  private resetting: Promise<void> | null = null;
  private waiters: { seq: number; resolve: () => void }[] = [];
  private disposed = false;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly warnings: string[] = [];
  /** The catalogue in turns across departments, for the list shown before any click. */
  private spreadOrder: Int32Array = new Int32Array(0);
  /** Set by the factory after loading. */
  embeddingStats: EmbeddingStats = { shipped: 0, cached: 0, encoded: 0, prepared: 0 };
  catalogIndexed: RecommenderStats['catalogIndexed'] = 'given';
  catalogCompacted: RecommenderStats['catalogCompacted'] = null;
  private shopDeltaInfo: ShopDeltaInfo | null = null;
  /** The catalogue's compaction after ready (see `compactCatalogAbove`), or null when there is none. */
  compacting: Promise<void> | null = null;

  /** False once disposed. */
  get alive(): boolean {
    return !this.disposed;
  }

  /**
   * Fuses a new shop delta: the next recommendations rank by base + ψ + φ, and the shopper's own
   * items by what the delta says sold lately where it says so (else by the base's).
   */
  applyShopDelta(psi: Float32Array, info: ShopDeltaInfo, recent: Float32Array | null = null): void {
    if (this.disposed) return;
    this.head.setShopBias(psi);
    this.head.setRecentSales(recent);
    this.shopDeltaInfo = info;
    this.emitter.emit('update', { clicks: this.head.clicks, lastUpdateMs: this.lastUpdateMs, source: 'shop' });
  }

  /** A warning raised after loading by a part the recommender drives (the shop delta). */
  report(code: string, message: string): void {
    if (!this.disposed) this.warn(code, message);
  }

  /** Runs `fn` when disposed. */
  onDispose(fn: () => void): void {
    this.unsubscribe.push(fn);
  }

  /** Keeps the warnings raised while loading (already reported) for `stats()`. */
  loadWarnings(messages: readonly string[]): void {
    this.warnings.push(...messages.slice(-20));
  }

  constructor(
    private readonly catalog: Catalog,
    private readonly head: IncrementalHead,
    private readonly store: DeltaStore,
    private readonly backend: BackendChoice,
    private readonly modelVersion: string,
    private readonly deltaCompatibleWith: readonly string[],
    private readonly snapshotEvery: number,
    private readonly onWarning?: (w: { code: string; message: string }) => void,
    private readonly recommendViewed = false,
    private readonly keepLatest = true,
    private readonly shareClicks = true,
  ) {
    this.unsubscribe.push(
      store.subscribe((change) => {
        if (this.disposed) return;
        if (change.type === 'reset') this.applyReset('reset');
        else void this.sync('remote');
      }),
      store.onWarning((w) => this.warn(w.code, w.message, true)),
    );
  }

  get items(): readonly Item[] {
    return this.catalog.items;
  }

  item(id: string): Item | undefined {
    const i = this.catalog.indexOf(String(id));
    return i === undefined ? undefined : this.catalog.item(i);
  }

  /** The cold-start order, when a previous load of this catalogue computed it; else restore() does. */
  presetSpread(order: Int32Array): void {
    this.spreadOrder = order;
  }

  get coldOrder(): Int32Array {
    return this.spreadOrder;
  }

  private warn(code: string, message: string, fromStore = false): void {
    // Store warnings are kept by the store itself (health()); others are kept here.
    if (!fromStore) {
      this.warnings.push(message);
      if (this.warnings.length > 20) this.warnings.shift();
    }
    callSafely(this.onWarning, { code, message });
    this.emitter.emit('warning', { code, message });
  }

  /** Ends once {@link restore} has (or failed): what learns again with the transitions waits for it. */
  private restored: Promise<void> = Promise.resolve();

  /** Restores φ from the store at start-up, applying the rebase policy for a new model version. */
  async restore(): Promise<void> {
    if (this.spreadOrder.length !== this.catalog.size) this.spreadOrder = await roundRobinByCategory(this.catalog, new Slicer());
    const applied = this.store.load().then((state) => this.applyState(state, 'load'));
    this.restored = applied.catch(() => undefined);
    await applied;
    // The first scoring pass on a backend is the slowest (kernels set up, memory grown): done
    // here, in a task of its own, rather than in the page's first recommend().
    await nextTask();
    if (!this.disposed) await this.head.topScores(1);
  }

  /**
   * @param again learning the store's clicks again ({@link relearn}): the rebase policy applies as
   *   at load, without telling of it again.
   */
  private async applyState(state: StoredState, source: 'load' | 'remote' | 'local', again = false): Promise<void> {
    const epoch = this.epoch;
    const stale = (): boolean => this.disposed || epoch !== this.epoch;
    const snap = state.snapshot;
    let events = state.events.filter((e) => e.seq > this.lastSeq);
    // At load, start from the snapshot (the rebase policy applies there); later, only when the
    // events this tab has not learned yet were compacted away by another tab.
    const gap = events.length === 0 || events[0]!.seq !== this.lastSeq + 1;
    if (snap && snap.seq > this.lastSeq && (source === 'load' || gap)) {
      if (snap.modelVersion === this.modelVersion || this.deltaCompatibleWith.includes(snap.modelVersion)) {
        try {
          // Entries for items this page's catalogue lacks are kept for the pages that show them.
          this.head.load(snap.state as HeadState);
          this.lastSeq = snap.seq;
        } catch (err) {
          if (!again) this.warn('rebase/shape', `The stored state cannot be used (${String(err)}); rebuilding it from the event log.`);
          this.head.reset();
        }
      } else {
        // φ learned on another base cannot be kept: rebuild it by replaying the retained event log.
        if (!again)
          this.warn(
            'rebase/replay',
            `The stored state was learned on model ${snap.modelVersion}; this page runs ${this.modelVersion}. Rebuilding it from the ${state.events.length} retained events.`,
          );
        this.head.reset();
      }
      events = state.events.filter((e) => e.seq > this.lastSeq);
    }
    let n = 0;
    // Learning a click takes up to a few ms (more on a backend's first call): yield whenever a slice is used.
    const slicer = new Slicer();
    for (const e of events) {
      if (e.seq <= this.lastSeq) continue;
      // What a click teaches depends on the transitions' votes of the clicks before it: where they
      // are still read after the wait, it is learned without them, and again once they are in.
      if (this.transitionsOut && this.head.votesOnTransitions) {
        const without = await this.withoutTransitions();
        if (stale()) return;
        if (e.seq <= this.lastSeq) continue;
        if (without) this.provisional = true;
      }
      this.learnEvent(e);
      this.lastSeq = e.seq;
      // Every 32 events at least, so that a flood of clicks never starves the page's own tasks.
      if (++n % 32 === 0 || slicer.due()) await slicer.yield();
      if (stale()) return;
    }
    if (n > 0 || source === 'load') {
      const norm = await this.head.deltaNorm();
      if (stale()) return;
      this.deltaNorm = norm;
      // Learned again with the transitions: the lists the update asks for rank with them.
      if (again) this.relearning = null;
      this.emitter.emit('update', { clicks: this.head.clicks, lastUpdateMs: this.lastUpdateMs, source });
    }
    // A click resolves once it is learned and its 'update' has been emitted.
    this.resolveWaiters();
    if (
      n > 0 &&
      source === 'local' &&
      Math.floor(this.lastSeq / this.snapshotEvery) > Math.floor((this.lastSeq - n) / this.snapshotEvery)
    ) {
      await this.snapshot();
    }
  }

  private learnEvent(e: StoredEvent): void {
    const item = this.catalog.indexOf(e.itemId);
    if (item === undefined) {
      // Another page's item (or one that left the catalogue): kept in the history by id.
      this.head.learnForeign(e.itemId, e.t);
      return;
    }
    const indices = (ids: readonly string[]): number[] =>
      ids.flatMap((id) => {
        const i = this.catalog.indexOf(id);
        return i === undefined ? [] : [i];
      });
    const t0 = performance.now();
    this.head.learnOne({ item, impressions: indices(e.impressions), ranked: indices(e.ranked ?? []), time: e.t });
    this.lastUpdateMs = performance.now() - t0;
  }

  private async snapshot(): Promise<void> {
    // φ learned without the transitions' votes is learned again once they are in: never kept
    // (the snapshot is taken then).
    if (this.provisional) {
      this.snapshotOwed = true;
      return;
    }
    try {
      const seq = this.lastSeq;
      const epoch = this.epoch;
      const state = await this.head.save();
      // A reset while φ was read: this snapshot would bring back what the shopper asked to forget.
      if (epoch !== this.epoch || this.disposed) return;
      if (this.provisional) {
        this.snapshotOwed = true;
        return;
      }
      await this.store.saveSnapshot({ seq, modelVersion: this.modelVersion, state, savedAt: Date.now() });
    } catch (err) {
      this.warn('store/snapshot', `Could not save a snapshot (${String(err)}); learning continues from the event log.`);
    }
  }

  private resolveWaiters(): void {
    const ready = this.waiters.filter((w) => w.seq <= this.lastSeq);
    this.waiters = this.waiters.filter((w) => w.seq > this.lastSeq);
    ready.forEach((w) => w.resolve());
  }

  /** Learns every stored event not yet learned. Serialised: one pass at a time. */
  private sync(source: 'local' | 'remote'): Promise<void> {
    if (this.syncing) {
      this.syncAgain = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      try {
        do {
          this.syncAgain = false;
          const epoch = this.epoch;
          if (this.relearnNext) {
            this.relearnNext = false;
            await this.relearn();
            continue;
          }
          const state = await this.store.eventsAfter(this.lastSeq);
          if (this.disposed) return;
          // Read before a reset: dropped. Clicks after the reset asked for another pass (syncAgain).
          if (epoch === this.epoch) await this.applyState(state, source);
        } while (this.syncAgain && !this.disposed);
      } catch (err) {
        this.warn('store/read', `Could not read learning events (${String(err)}).`);
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  private applyReset(source: 'reset'): void {
    this.epoch++;
    this.head.reset();
    // Nothing is left to learn again with the transitions.
    this.provisional = false;
    this.relearnNext = false;
    this.snapshotOwed = false;
    this.deltaNorm = 0;
    this.lastSeq = 0;
    this.pendingImpressions = [];
    this.lastRanked = [];
    this.lastUpdateMs = null;
    // Clicks stored before the reset were acknowledged, then forgotten with everything else.
    this.waiters.splice(0).forEach((w) => w.resolve());
    this.emitter.emit('update', { clicks: 0, lastUpdateMs: null, source });
  }

  private assertAlive(): void {
    if (this.disposed) throw new DisposedError();
  }

  /** True while the base's transitions are read after the head was made ({@link awaitTransitions}). */
  private transitionsOut = false;
  /** Ends when they are in (or could not be read), or when the page has waited long enough for them. */
  private transitionsWait: Promise<void> | null = null;
  /** φ holds a click learned without the votes of the transitions being read: learned again once they are in. */
  private provisional = false;
  /** A list was ranked without the votes of the clicks in memory: the page is told to rank again once they are in. */
  private rankedWithout = false;
  /** The next learning pass learns the store's clicks again ({@link relearn}). */
  private relearnNext = false;
  /** Set while {@link relearn} runs: a list waits for it rather than rank a φ half learned. */
  private relearning: Promise<void> | null = null;
  /** A snapshot was due while φ was learned without the transitions: taken once it is learned again. */
  private snapshotOwed = false;

  /**
   * The base's transitions, read after the head was made (`loadHead`'s `deferTransitions`): a
   * first list needs none of them, so the page is ready without them. What needs their votes (a
   * list after a click, a click whose lesson reads the votes of the clicks before it, a returning
   * shopper's stored clicks replayed at load) waits for them until `waitMs` after this call at
   * most (not at all where `etaMs`, how long their download can be expected to take, is over
   * that), then goes on without them: a slow link never holds a shopper's list for long. What was
   * learned so is learned again once they are in (and never saved in a snapshot meanwhile), and
   * an 'update' tells the page to rank again: the lists are then what a load that had them from
   * the start gives. Where they cannot be read, the head goes on without them, with a warning,
   * and what it learned without them stands.
   */
  awaitTransitions(read: Promise<void>, waitMs: number, etaMs: number | null = null): void {
    this.transitionsOut = true;
    // A download that, at the rate the base's other files came, would take longer than the wait
    // is not waited for: the wait would end without it, having held a returning shopper's first
    // list (their clicks replayed on a new base) for the whole of it. Where the rate is too low
    // (a first visit's files share the link with the catalogue), the lists are ranked without
    // them a little more often, and again once they are in: a list a moment early, not a wrong one.
    if (etaMs !== null && etaMs > waitMs) waitMs = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settled = read.then(
      () => true,
      (err: unknown) => {
        if (!this.disposed)
          this.warn('model/transitions', `The base's transitions could not be read (${String(err)}); recommendations go on without them.`);
        return false;
      },
    );
    const done = settled.then(() => {
      clearTimeout(timer);
      this.transitionsOut = false;
      this.transitionsWait = null;
    });
    this.transitionsWait =
      waitMs === Infinity ? done : Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    void settled.then(async (ok) => {
      if (!ok) {
        // What was learned without them is what the head would learn: it stands.
        this.provisional = false;
        return;
      }
      // The clicks a restore replays are learned again after it, not beside it.
      await this.restored;
      if (this.disposed) return;
      if (this.provisional) {
        this.relearnNext = true;
        await this.sync('remote');
      } else if (this.rankedWithout) {
        this.emitter.emit('update', { clicks: this.head.clicks, lastUpdateMs: this.lastUpdateMs, source: 'load' });
      }
      this.rankedWithout = false;
    });
  }

  /**
   * Waits, where the head's memory holds clicks, for the transitions or until the page has waited
   * long enough ({@link awaitTransitions}); true where they are still out (go on without them).
   */
  private async withoutTransitions(): Promise<boolean> {
    if (!this.transitionsOut || !this.head.votesOnTransitions) return false;
    await this.transitionsWait;
    return this.transitionsOut && this.head.votesOnTransitions;
  }

  /**
   * Learns the store's clicks again, now with the transitions' votes: from the snapshot (which
   * never holds what was learned without them) or, across a rebase, from the retained events, as
   * a load would; then tells the page ('update', from the learning pass). Runs in a learning pass
   * ({@link sync}), so no other pass learns beside it.
   */
  private async relearn(): Promise<void> {
    const epoch = this.epoch;
    const run = (async () => {
      const state = await this.store.load();
      if (this.disposed || epoch !== this.epoch) return;
      this.provisional = false;
      this.head.reset();
      this.lastSeq = 0;
      await this.applyState(state, 'load', true);
      if (this.snapshotOwed && !this.disposed && epoch === this.epoch) {
        this.snapshotOwed = false;
        await this.snapshot();
      }
    })();
    this.relearning = run;
    try {
      await run;
    } finally {
      this.relearning = null;
    }
  }

  /** Clicks and recommendations in flight, and when the last one ended (see {@link quiet}). */
  private busy = 0;
  private lastBusyEnd = 0;

  private async track<T>(work: () => Promise<T>): Promise<T> {
    this.busy++;
    try {
      return await work();
    } finally {
      this.busy--;
      this.lastBusyEnd = Date.now();
    }
  }

  /** No click or recommendation in flight, nor in the last {@link QUIET_MS}: background work may run. */
  quiet(): boolean {
    return this.busy === 0 && Date.now() - this.lastBusyEnd >= QUIET_MS;
  }

  /**
   * Resolves in a background task once the recommender is {@link quiet} (or disposed): where work
   * that can wait goes on.
   */
  async untilQuiet(): Promise<void> {
    await nextBackgroundTask();
    while (this.alive && !this.quiet()) await new Promise((r) => setTimeout(r, QUIET_MS));
  }

  click(itemId: string): Promise<void> {
    return this.track(() => this.clickNow(itemId));
  }

  private async clickNow(itemId: string): Promise<void> {
    this.assertAlive();
    const id = String(itemId);
    if (this.catalog.indexOf(id) === undefined) throw new UnknownItemError(id);
    // A click made while a reset runs belongs to the shopper after it.
    while (this.resetting) await this.resetting;
    if (this.disposed) throw new DisposedError();
    const epoch = this.epoch;
    const impressions = this.pendingImpressions.map((i) => this.catalog.id(i)).filter((x) => x !== id);
    this.pendingImpressions = [];
    const ranked = this.lastRanked.map((i) => this.catalog.id(i)).filter((x) => x !== id);
    const stored = await this.store.append({
      type: 'click',
      itemId: id,
      t: Date.now(),
      impressions,
      ...(ranked.length > 0 ? { ranked } : {}),
    });
    // Stored, hence acknowledged: after dispose() it is learned by the next page; after a reset
    // that began while it was stored, it was forgotten with the rest.
    if (this.disposed || epoch !== this.epoch) return;
    const learned = new Promise<void>((resolve) => this.waiters.push({ seq: stored.seq, resolve }));
    void this.sync('local');
    await learned;
  }

  /** Keeps the ranking's top (all of the head's best, before any is left out) for the next click. */
  private keepRanking(vals: Float32Array, idxs: Int32Array): void {
    const want = this.head.options.rankedNegatives;
    const top: number[] = [];
    for (let j = 0; j < idxs.length && top.length < want; j++) if (Number.isFinite(vals[j]!)) top.push(idxs[j]!);
    this.lastRanked = top;
  }

  impression(itemIds: Iterable<string>): void {
    this.assertAlive();
    const idx: number[] = [];
    for (const raw of idList(itemIds, 'impression')) {
      const i = this.catalog.indexOf(raw);
      if (i === undefined) throw new UnknownItemError(raw);
      idx.push(i);
    }
    this.pendingImpressions.push(...idx);
    if (this.pendingImpressions.length > 64) this.pendingImpressions.splice(0, this.pendingImpressions.length - 64);
  }

  recommend(options: RecommendOptions = {}): Promise<Recommendation[]> {
    return this.track(() => this.recommendNow(options));
  }

  private async recommendNow(options: RecommendOptions): Promise<Recommendation[]> {
    this.assertAlive();
    const k = options.k ?? 10;
    if (typeof k !== 'number' || !Number.isInteger(k) || k <= 0) {
      throw new ArgumentError('recommend/k', `recommend({ k }) needs k to be a positive integer (1, 2, 3, ...), got ${String(k)}.`);
    }
    if (options.filter !== undefined && typeof options.filter !== 'function') {
      throw new ArgumentError('recommend/filter', 'recommend({ filter }) must be a function (item) => boolean.');
    }
    if (await this.withoutTransitions()) this.rankedWithout = true;
    // φ half learned again (a few ms a click) is not ranked.
    if (this.relearning) await this.relearning;
    if (this.disposed) return [];
    const n = this.catalog.size;
    const excl = new Set<number>();
    for (const id of options.exclude === undefined ? [] : idList(options.exclude, 'recommend/exclude')) {
      const i = this.catalog.indexOf(id);
      if (i !== undefined) excl.add(i);
    }
    // Recently clicked items are not shown back unless asked for.
    const viewed = this.head.historyWeights().map((h) => h.i);
    if (!(options.includeViewed ?? this.recommendViewed)) for (const i of viewed) excl.add(i);
    const diversify = options.diversify !== false && viewed.length > 1;
    // Candidates: the best-scored items, more of them when the list is shared among interests.
    const target = candidatesFor(k, diversify);
    // At least the ranking's top that the next click learns from (`rankedNegatives`).
    let want = Math.min(n, Math.max(target + excl.size + (options.filter ? 3 * k : 0), this.head.options.rankedNegatives));
    let picked: { i: number; s: number; group?: string }[] = [];
    for (;;) {
      // Scored block by block, a task each: a catalogue of any size never holds the page for long.
      const { values: vals, indices: idxs } = await this.head.topScores(want);
      if (this.disposed) return [];
      this.keepRanking(vals, idxs);
      picked = [];
      for (let j = 0; j < idxs.length && picked.length < target; j++) {
        const i = idxs[j]!;
        // A score that is not a number (a corrupt vector) never ranks, and never hides the rest.
        if (excl.has(i) || !Number.isFinite(vals[j]!)) continue;
        if (options.filter && !options.filter(this.catalog.item(i))) continue;
        picked.push({ i, s: vals[j]! });
      }
      if (picked.length >= target || want >= n) break;
      want = Math.min(n, want * 4);
    }
    // Nothing to go on yet (no clicks, no per-item base terms): every score ties, and top-k would
    // return the first items of the catalogue. Show a spread across departments instead.
    if (picked.length > 1 && picked.every((p) => p.s === picked[0]!.s) && this.head.clicks === 0) {
      picked = this.spread(k, excl, options.filter).map((i) => ({ i, s: picked[0]!.s }));
    }
    // The last places for the shop's best new products for this shopper, where the base keeps some.
    const fresh = await this.freshCandidates(k, excl, options.filter);
    if (this.disposed) return [];
    /** The candidates' explanation where the sharing read one, while the history is still the one it explains. */
    let explained: { ex: Explanation; column: Map<number, number> } | null = null;
    if (diversify && picked.length > k) {
      const history = this.head.historyWeights().map((h) => h.i);
      const category = (i: number): string | undefined => this.catalog.category(i);
      // Which click each candidate is for, where an interest's places are shared among its clicks.
      if (this.shareClicks && clicksToShare(history, category).size > 0) {
        const ex = await this.head.explain(picked.map((p) => p.i));
        explained = { ex, column: new Map(picked.map((p, c) => [p.i, c])) };
      }
      if (this.disposed) return [];
      // A click learned meanwhile changed the history: the sharing reads it as the `because` below will.
      const now = this.head.historyWeights().map((h) => h.i);
      if (now.length !== history.length || now.some((h, j) => h !== history[j])) explained = null;
      picked = shareAmongInterests(
        picked,
        now,
        k,
        category,
        this.keepLatest,
        explained ? likenessOf(explained.ex, explained.column) : undefined,
      );
    } else picked = picked.slice(0, k);
    /** The items a kept place put in the list, and why. */
    const placed = new Map<number, 'new' | 'launch'>();
    if (fresh.length > 0) {
      const byItem = new Map([...fresh, ...picked].map((p) => [p.i, p]));
      const won = new Set(picked.map((p) => p.i));
      const launches = new Set(this.head.launchesNow(k));
      for (const f of fresh) if (!won.has(f.i)) placed.set(f.i, launches.has(f.i) ? 'launch' : 'new');
      picked = withNewSlots(
        picked.map((p) => p.i),
        fresh.map((f) => f.i),
        k,
        fresh.length,
      ).map((i) => byItem.get(i)!);
    }
    // The `because` of the items shown (the history is the one the sharing read: no await between),
    // from the sharing's explanation where it covers them all (a new product's place may add one).
    if (explained && !picked.every((p) => explained!.column.has(p.i))) explained = null;
    const { history, weights, contributions, votes, voteWeights, sellsNow } =
      explained?.ex ?? (await this.head.explain(picked.map((p) => p.i)));
    const columns = explained ? explained.column.size : picked.length;
    const columnOf = (p: { i: number }, at: number): number => (explained ? explained.column.get(p.i)! : at);
    return picked.map((p, at) => {
      const col = columnOf(p, at);
      const parts: { id: string; weight: number }[] = [];
      let total = 0;
      // What the clicks added, each at its own weight, against what selling now added.
      let byClicks = 0;
      history.forEach((h, row) => {
        const [like, vote] = [contributions[row * columns + col]!, votes[row * columns + col]!];
        if (like + vote > 0 && h !== p.i) byClicks += like + vote;
        // An item shown for one interest is explained by that interest's clicks, however long ago
        // (each part at its click's full weight).
        if (p.group !== undefined && this.catalog.category(h) !== p.group) return;
        const c =
          p.group !== undefined
            ? (weights[row]! > 0 ? like / Math.max(weights[row]!, 1e-6) : 0) + (voteWeights[row]! > 0 ? vote / voteWeights[row]! : 0)
            : like + vote;
        if (c > 0 && h !== p.i) {
          parts.push({ id: this.catalog.id(h), weight: c });
          total += c;
        }
      });
      parts.sort((a, b) => b.weight - a.weight);
      const place = placed.get(p.i);
      const id = this.catalog.id(p.i);
      return {
        id,
        score: p.s,
        item: this.catalog.item(p.i),
        because: parts.slice(0, 3).map((x) => ({ id: x.id, weight: x.weight / total })),
        ...(place ? { place } : {}),
        ...(this.head.clickedBefore(id) ? { viewed: true as const } : {}),
        ...(sellsNow[col]! > 0 && sellsNow[col]! > byClicks ? { selling: true as const } : {}),
      };
    });
  }

  /**
   * The new products (those the base does not know) for the places a list of `k` keeps for them
   * (`IncrementalHead.freshPlaces`: fixed places, or launches among the shop's best sellers now),
   * launches first, then best first by the head's score, leaving out what the list would leave
   * out; none while the base keeps none or no shop delta is in force.
   */
  private async freshCandidates(
    k: number,
    excl: ReadonlySet<number>,
    filter: RecommendOptions['filter'],
  ): Promise<{ i: number; s: number }[]> {
    const m = this.head.freshPlaces(k);
    if (m === 0) return [];
    const { values, indices } = await this.head.topFresh(m + excl.size + (filter ? 3 * k : 0), k);
    const out: { i: number; s: number }[] = [];
    for (let j = 0; j < indices.length && out.length < m; j++) {
      const i = indices[j]!;
      if (excl.has(i) || !Number.isFinite(values[j]!)) continue;
      if (filter && !filter(this.catalog.item(i))) continue;
      out.push({ i, s: values[j]! });
    }
    return out;
  }

  /** Up to k items taken in turn from each category, in catalogue order. */
  private spread(k: number, excl: ReadonlySet<number>, filter: ((item: Item) => boolean) | undefined): number[] {
    // The round-robin order of the whole catalogue is built once (a pass over every item);
    // a call takes its first k usable entries.
    const out: number[] = [];
    for (const i of this.spreadOrder) {
      if (out.length >= k) break;
      if (!excl.has(i) && (!filter || filter(this.catalog.item(i)))) out.push(i);
    }
    return out;
  }

  on<K extends keyof RecommenderEvents>(name: K, fn: (payload: RecommenderEvents[K]) => void): () => void {
    return this.emitter.on(name, fn);
  }

  off<K extends keyof RecommenderEvents>(name: K, fn: (payload: RecommenderEvents[K]) => void): void {
    this.emitter.off(name, fn);
  }

  stats(): RecommenderStats {
    this.assertAlive();
    const h = this.store.health();
    return {
      backend: this.backend.name,
      backendReason: this.backend.reason,
      clicks: this.head.clicks,
      lastUpdateMs: this.lastUpdateMs,
      modelVersion: this.modelVersion,
      storage: this.store.kind,
      items: this.catalog.size,
      catalog: { ...this.catalog.held },
      catalogIndexed: this.catalogIndexed,
      catalogCompacted: this.catalogCompacted,
      transitions:
        this.transitionsOut || this.provisional || this.relearnNext || this.relearning
          ? 'reading'
          : this.head.hasTransitions
            ? 'in'
            : 'none',
      tensorBytes: tf.memory().numBytes,
      backendHeapBytes: backendHeapBytes(),
      itemBytes: this.head.itemBytes,
      scoring: this.head.scoringKernel,
      deltaNorm: this.deltaNorm,
      quarantined: h.quarantined,
      embeddings: { ...this.embeddingStats },
      shopDelta: this.shopDeltaInfo ? { ...this.shopDeltaInfo } : null,
      warnings: [...h.warnings, ...this.warnings],
    };
  }

  async reset(): Promise<void> {
    this.assertAlive();
    while (this.resetting) await this.resetting;
    const run = (async () => {
      // From here on, work begun earlier is stale (applyReset bumps the epoch again at the end).
      this.epoch++;
      this.waiters.splice(0).forEach((w) => w.resolve());
      await this.syncing;
      try {
        await this.store.clear();
      } finally {
        if (!this.disposed) this.applyReset('reset');
      }
    })();
    this.resetting = run;
    try {
      await run;
    } finally {
      this.resetting = null;
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.epoch++;
    this.unsubscribe.forEach((u) => u());
    this.head.dispose();
    this.store.close();
    this.emitter.clear();
    this.waiters.forEach((w) => w.resolve());
    this.waiters = [];
  }
}

/** What {@link loadHead} needs: a validated catalogue's items and where the model is. */
export interface LoadHeadOptions {
  /** The items, or a catalogue (parsed in full only when its vectors must be made). */
  catalog: readonly Item[] | Catalog;
  /**
   * The tfjs backend being readied, where the caller starts it: awaited only before the first
   * step that needs it (encoding, the head itself), so that a saved matrix is copied meanwhile.
   */
  backendReady?: Promise<unknown>;
  /**
   * An item matrix whose memory is readied ahead (see {@link readiedMatrix}): used for the head's
   * matrix where it has the catalogue's size and the encoder's dims, else let go.
   */
  matrixAhead?: Promise<ItemMatrix | null> | null;
  modelUrl?: string;
  fetcher?: Fetcher;
  /** `models/manifest.json`, when the caller has already read it. */
  modelManifest?: ModelManifest;
  embeddingCache?: EmbeddingCache;
  onProgress?: ProgressCallback;
  warn?: (message: string) => void;
  seed?: number;
  head?: Partial<HeadOptions>;
  /** Ignore the base's per-item residuals (offline training starts from content alone). */
  contentOnly?: boolean;
  /** The catalogue's id → position map, when the caller has one (saves building another). */
  indexOf?: (id: string) => number | undefined;
  /**
   * Every item's text key ({@link itemKeys}), where the catalogue's index holds them: a lazy
   * catalogue then parses only the items it must encode, not every one.
   */
  keys?: Uint32Array;
  /** A matrix an earlier load made: used when its model key is this model's. */
  prepared?: PreparedMatrix | null;
  /** Return the matrix made (views of the head's, which do not change) when it was not taken from `prepared`. */
  keepMatrix?: boolean;
  /** The model's files, when the caller has read them already (see {@link loadModelParts}). */
  parts?: ModelParts;
  /**
   * Leave the vectors encoded here unwritten to the embedding cache, and return the write
   * (`cacheWrite`) for the caller to run once the page is ready: writing many thousands of
   * vectors takes seconds that a first recommendation need not wait for.
   */
  deferCacheWrite?: boolean;
  /**
   * Make the head without the base's transitions where they are read from its files, and read,
   * align and give them to it afterwards (`transitions`, which the caller awaits before the head
   * scores or learns with any click in its memory): a first list needs none of them, and they
   * are most of a large base's bytes (`transitions.bin`) and of its reading.
   */
  deferTransitions?: boolean;
}

/** The model files a head is built from, read before the catalogue is needed. */
export interface ModelParts {
  /** The model manifest these parts are of (the base in force before, where the one named could not be read). */
  modelManifest: ModelManifest;
  encoderUrl: string;
  encoderManifest: EncoderManifest;
  /** The base's manifest (checked). */
  headManifest: HeadManifest;
  /**
   * The base's files, read and checked: downloaded on the first call (later calls share them), or
   * at once where no saved base of this model was found (see {@link loadModelParts}).
   */
  headModel: () => Promise<HeadModel>;
  /** What an item matrix made from these files is saved under (see {@link modelKeyOf}). */
  modelKey: (contentOnly?: boolean) => string;
  /** The shop's vectors manifest, or null (already warned about) when there is none to use. */
  vectorsManifest: VectorsManifest | null;
  /**
   * The shop's vectors file, downloaded and checked on the first call (later calls share it), or
   * null (with one warning) when there is none to use. A load that will need it starts it early.
   */
  shipped: () => Promise<ShippedVectors | null>;
  /**
   * The shop's vectors made ready by row (decoded, centred, quantised), as a catalogue in the
   * file's order needs them: started by the first call, so that a first visit does this while its
   * catalogue is still parsed elsewhere; null where there is no file to use.
   */
  ahead: () => Promise<VectorsAhead | null>;
  /** Stops the work `ahead` started and lets it go: the catalogue is not in the file's order. */
  dropAhead: () => void;
}

/** Whether a catalogue (its items' text keys) is the shipped vectors file's, in the file's order. */
async function shippedInOrder(shipped: ShippedVectors, keys: Uint32Array, slicer: Slicer): Promise<boolean> {
  const m = shipped.manifest;
  return m.count === keys.length && m.catalogHash === (await catalogHashSliced(keys, slicer));
}

/**
 * The shop's vectors in file order: centred, and as item matrix rows (without the base's
 * residuals). One head takes them ({@link takeAhead}); they are then let go here.
 */
export interface VectorsAhead {
  vectors: Float32Array | null;
  matrix: ItemMatrix | null;
}

/** What {@link VectorsAhead} holds, for the one load that takes it (null for any other). */
function takeAhead(a: VectorsAhead | null): { vectors: Float32Array; matrix: ItemMatrix } | null {
  if (!a?.vectors || !a.matrix) return null;
  const taken = { vectors: a.vectors, matrix: a.matrix };
  a.vectors = null;
  a.matrix = null;
  return taken;
}

/**
 * {@link VectorsAhead} from the shop's vectors, in slices: the work a load would do on them once
 * it has the catalogue. Null once `dropped` says so (checked between slices).
 */
async function vectorsAhead(shipped: ShippedVectors, d: number, slicer: Slicer, dropped: () => boolean): Promise<VectorsAhead | null> {
  const n = shipped.manifest.count;
  const M = shipped.manifest.quantisation.subspaces;
  const vectors = new Float32Array(n * d);
  // In small steps: this runs while the page still loads, and its code's first runs are slow.
  const step = BLOCK / 8;
  for (let from = 0; from < n; from += step) {
    for (let i = from, to = Math.min(n, from + step); i < to; i++) decodeRow(shipped, M, d, i, vectors, i * d);
    await slicer.maybeYield();
    if (dropped()) return null;
  }
  await centreRows(vectors, n, d, slicer, step);
  if (dropped()) return null;
  const matrix = new ItemMatrix(n, d);
  for (let from = 0; from < n; from += step) {
    const to = Math.min(n, from + step);
    matrix.setRows(from, vectors.subarray(from * d, to * d));
    await slicer.maybeYield();
    if (dropped()) return null;
  }
  return { vectors, matrix };
}

/**
 * Reads the encoder's manifest, the base head and the vectors manifest, all at once. `savedKey`:
 * the model key of an item matrix saved with its aligned base for the catalogue about to load
 * (undefined where none is): where it is this model's, the base's files are not downloaded unless
 * a load asks for them (`headModel`), as one does when the saved entry does not hold after all.
 */
export async function loadModelParts(
  fetcher: Fetcher,
  modelUrl: string,
  modelManifest: ModelManifest,
  warn: (message: string) => void,
  savedKey?: Promise<string | undefined>,
): Promise<ModelParts> {
  const encoderUrl = joinLocation(modelUrl, modelManifest.encoder);
  const headUrl = joinLocation(modelUrl, modelManifest.head);
  const vectorsUrl = modelManifest.vectors ? joinLocation(modelUrl, modelManifest.vectors) : null;
  const encoderP = fetchJson<EncoderManifest>(fetcher, joinLocation(encoderUrl, 'manifest.json'));
  const headManifestP = loadHeadManifest(fetcher, headUrl);
  const vectorsP = vectorsUrl ? loadVectorsManifest(fetcher, vectorsUrl) : Promise.resolve(null);
  vectorsP.catch(() => undefined);
  headManifestP.catch(() => undefined);
  // The residuals are read where they lie, as the alignment needs them (a load that takes its
  // item matrix saved needs none).
  let headP: Promise<HeadModel> | null = null;
  const headModel = (): Promise<HeadModel> =>
    (headP ??= headManifestP.then((manifest) =>
      loadHeadModel(fetcher, headUrl, { slicer: new Slicer(), withResidual: 'rows', manifest, transitions: 'later', halves: true }),
    ));
  const startHead = (): void => void headModel().catch(() => undefined);
  // No saved base: the files download while the other manifests come.
  const saved = savedKey ? await savedKey.catch(() => undefined) : undefined;
  if (saved === undefined) startHead();
  const encoderManifest = await encoderP;
  refuseLaterFormat(encoderManifest, 'clickwise-encoder', joinLocation(encoderUrl, 'manifest.json'), 'an encoder');
  const headManifest = await headManifestP;
  if (headManifest.dims !== encoderManifest.dims) {
    throw new ArgumentError(
      'model/dims',
      `The head has ${headManifest.dims} dims but the encoder has ${encoderManifest.dims}: the model folder mixes versions. Redeploy models/ as one piece.`,
    );
  }
  const vectorsManifest = vectorsUrl ? await usableVectorsManifest(vectorsP, vectorsUrl, encoderManifest, warn) : null;
  let shipped: Promise<ShippedVectors | null> | null = null;
  const loadShipped = (): Promise<ShippedVectors | null> =>
    (shipped ??= vectorsManifest && vectorsUrl ? loadShippedVectors(fetcher, vectorsUrl, vectorsManifest, warn) : Promise.resolve(null));
  let ahead: Promise<VectorsAhead | null> | null = null;
  let dropped = false;
  const loadAhead = (): Promise<VectorsAhead | null> =>
    (ahead ??= loadShipped().then((v) => (v && !dropped ? vectorsAhead(v, encoderManifest.dims, new Slicer(), () => dropped) : null)));
  const dropAhead = (): void => {
    dropped = true;
    ahead = null;
  };
  const modelKey = (contentOnly = false): string => modelKeyOf(encoderManifest, headManifest, vectorsManifest, contentOnly);
  // A saved base of another model: these files are needed, and download now.
  if (saved !== undefined && saved !== modelKey()) startHead();
  return {
    modelManifest,
    encoderUrl,
    encoderManifest,
    headManifest,
    headModel,
    modelKey,
    vectorsManifest,
    shipped: loadShipped,
    ahead: loadAhead,
    dropAhead,
  };
}

/**
 * What an item matrix depends on besides the catalogue: the encoder, the base's files (residuals),
 * the shipped vectors file, and whether residuals are used. A matrix, and the base aligned with
 * it, saved under another key are made again.
 */
function modelKeyOf(encoder: EncoderManifest, head: HeadManifest, vectors: VectorsManifest | null, contentOnly: boolean): string {
  return [
    encoder.version,
    encoder.dims,
    head.files.map((f) => f.sha256).join(','),
    vectors?.files.find((f) => f.path === 'vectors.bin')?.sha256 ?? 'none',
    contentOnly ? 'content' : 'full',
  ].join('|');
}

/**
 * Loads the encoder and the base head, embeds the catalogue (through the cache), centres the
 * vectors and builds the incremental head: everything a recommender does before it reads the
 * shopper's state. The recommender uses it, and so does the offline evaluation, so both run the
 * same code. Uses the active tfjs backend; the caller owns the returned head.
 */
export async function loadHead(options: LoadHeadOptions): Promise<{
  head: IncrementalHead;
  /** The base θ aligned with the catalogue (the head holds its own copy); `known`: 1 for the items it knows. */
  base: AlignedBase;
  deltaCompatibleWith: string[];
  embeddingStats: EmbeddingStats;
  /** The matrix made here, to save for the next load (with `keepMatrix`; null when it was taken from `prepared`). */
  made: PreparedMatrix | null;
  /** With `deferCacheWrite`: writes the vectors encoded here to the embedding cache (null: none to write). */
  cacheWrite: (() => Promise<void>) | null;
  /**
   * With `deferTransitions`: the base's transitions, aligned, once they are read and given to
   * the head and to `base` (null where none were left to read).
   */
  transitions: Promise<Transitions | null> | null;
  /** With `transitions`: how long their download can be expected to take (see `HeadModel.transitionsEtaMs`), or null. */
  transitionsEtaMs: number | null;
}> {
  const fetcher = options.fetcher ?? defaultFetcher;
  const modelUrl = options.modelUrl ?? DEFAULT_MODEL_URL;
  const warn = options.warn ?? ((m: string): void => console.warn(`Clickwise: ${m}`));
  const progress = options.onProgress;
  const catalog = options.catalog;
  const lazy = !Array.isArray(catalog) ? (catalog as Catalog) : null;
  const n = lazy ? lazy.size : (catalog as readonly Item[]).length;
  const slicer = new Slicer();
  const {
    encoderUrl,
    encoderManifest,
    headManifest,
    headModel,
    modelKey: keyOf,
    shipped: loadShipped,
    ahead: loadAhead,
    dropAhead,
  } = options.parts ??
  (await loadModelParts(fetcher, modelUrl, options.modelManifest ?? (await loadModelManifest(fetcher, modelUrl)), warn));
  const d = encoderManifest.dims;
  const modelKey = keyOf(options.contentOnly === true);
  // A catalogue with its own id lookup is used as it is: an array of every id was most of loadHead's own time on a later
  // visit's main thread at 100,000 items.
  const idLookup = lazy && options.indexOf ? lazy : null;
  const ids: string[] = [];
  for (let i = 0; i < n && !idLookup; i++) {
    ids.push(lazy ? lazy.id(i) : (catalog as readonly Item[])[i]!.id);
    if ((i & 2047) === 2047) await slicer.maybeYield();
  }
  const p = options.prepared;
  const hit = p !== null && p !== undefined && p.modelKey === modelKey && usableMatrix(p, n, d);
  // Each of the next steps allocates and fills arrays of n (alignBase: about 50 ms at 1,000,000
  // items; the item matrix: n × d bytes): each starts a task of its own, not the one before's.
  await slicer.yield();
  // The base aligned with this catalogue, where it was saved with the matrix taken (its files are
  // then not read at all); a saved base that does not fit is made again, and saved again.
  let base: AlignedBase | null = null;
  if (hit && p.base) {
    base = await alignedFromSaved(headManifest, p.base, n, slicer).catch((err: unknown) => {
      warn(`The saved base could not be used (${String(err)}); reading the model's base again.`);
      return null;
    });
  }
  // Else read and aligned here. Residuals go into the matrix as it is made; a matrix taken ready
  // holds them already. In slices: a base that knows 100,000 items (its residuals, its
  // transitions) took 300 to 400 ms.
  const aligned = base === null;
  // The base's transitions where its files are read: aligned apart from the rest, now or, with
  // `deferTransitions`, once the head is made.
  let laterTransitions: (() => Promise<Transitions | null>) | null = null;
  let transitionsEtaMs: number | null = null;
  // The base's residuals by its own rows, added to the rows of the items it knows as the item
  // matrix is made (a matrix taken ready holds them already): no array of every catalogue item's
  // residual (n × d floats: 256 MB at 1,000,000 items, whatever share the base knows).
  let residualRows: TensorRows | null = null;
  if (base === null) {
    const model = await headModel();
    if (!hit && !options.contentOnly) residualRows = residualRowsOf(model);
    const fresh = await runStepsSliced(
      alignBaseSteps(
        model,
        idLookup ?? ids,
        {
          ...(options.indexOf ? { indexOf: options.indexOf } : {}),
          withResidual: false,
          withTransitions: !model.transitionsLater,
        },
        ALIGN_STEP,
      ),
      slicer,
    );
    base = fresh;
    const later = model.transitionsLater;
    if (later) {
      transitionsEtaMs = model.transitionsEtaMs ?? null;
      laterTransitions = async () => {
        const T = await later();
        return T ? await runStepsSliced(alignTransitionsSteps(T, fresh.rowIndex, n, ALIGN_STEP), new Slicer()) : null;
      };
      if (!options.deferTransitions) {
        fresh.transitions = await laterTransitions();
        laterTransitions = null;
      }
    }
  }
  await slicer.yield();
  let matrix: ItemMatrix;
  let embeddingStats: EmbeddingStats;
  let made: PreparedMatrix | null = null;
  let cacheWrite: (() => Promise<void>) | null = null;
  // The matrix readied ahead, where it fits; else one made now.
  const newMatrix = async (): Promise<ItemMatrix> => {
    const ready = await options.matrixAhead?.catch(() => null);
    return ready && ready.n === n && ready.dims === d ? ready : new ItemMatrix(n, d);
  };
  if (hit) {
    matrix = await newMatrix();
    await slicer.yield();
    // Copied a slice at a time: 64 MB at 1,000,000 items in one go, with what follows, makes a long task.
    for (let from = 0; from < n; from += 8 * BLOCK) {
      const to = Math.min(n, from + 8 * BLOCK);
      matrix.codes.set(p.codes.subarray(from * d, to * d), from * d);
      await slicer.maybeYield();
    }
    matrix.scales.set(p.scales);
    embeddingStats = { ...p.embeddings, prepared: n };
    // A matrix saved without its base (by an earlier version, or with one that did not fit) is saved again with it.
    if (options.keepMatrix && aligned) made = preparedMatrix(modelKey, matrix, { ...p.embeddings, prepared: 0 });
  } else {
    await options.backendReady;
    // The items' text keys: from the catalogue's index where it made them (a first visit's
    // worker), else from the items (a lazy catalogue then parses every one).
    let keys = options.keys && options.keys.length === n ? options.keys : null;
    if (!keys) {
      if (lazy) await lazy.materialise(slicer);
      keys = (await itemKeys(lazy ? lazy.items : (catalog as readonly Item[]), slicer)).keys;
    }
    const list = lazy ? null : (catalog as readonly Item[]);
    const shipped = await loadShipped();
    // A catalogue in the shop's vectors file's order takes their rows by position, made ready
    // ahead (on a first visit, while the catalogue was parsed elsewhere): only the rows of the
    // items with a residual are made again here.
    const aligned = shipped !== null && (await shippedInOrder(shipped, keys, slicer));
    // Made ahead for a catalogue that is not in the file's order: stopped and let go.
    if (!aligned) dropAhead();
    const ahead = aligned ? takeAhead(await loadAhead()) : null;
    if (ahead) {
      matrix = ahead.matrix;
      // The rows of the items the base knows made again with their residuals.
      const row = new Float32Array(d);
      await forKnownRows(base.rowIndex, residualRows, row, slicer, (i) => {
        for (let k = 0; k < d; k++) row[k] = ahead.vectors[i * d + k]! + row[k]!;
        matrix.setRows(i, row);
      });
      embeddingStats = { shipped: n, cached: 0, encoded: 0, prepared: 0 };
      if (options.keepMatrix) made = preparedMatrix(modelKey, matrix, embeddingStats);
    } else {
      matrix = await newMatrix();
      const loaded = await embedCatalog({
        encoderManifest,
        loadEncoder: () =>
          loadEncoder({
            modelUrl: encoderUrl,
            fetcher,
            manifest: encoderManifest,
            onWarning: warn,
            ...(progress ? { onProgress: progress } : {}),
          }),
        item: list ? (i) => list[i]! : (i) => lazy!.item(i),
        n,
        keys,
        cache: options.embeddingCache,
        shipped,
        aligned,
        progress,
        warn,
        slicer,
      });
      await centreRows(loaded.vectors, n, d, slicer);
      await slicer.maybeYield();
      // vᵢ = eᵢ + rᵢ (only the items the base knows have a residual), then the item matrix: int8
      // rows, both a slice at a time (quantising 1,000,000 rows is seconds of work); the float
      // vectors are dropped once it is made.
      const vectors = loaded.vectors;
      const row = new Float32Array(d);
      await forKnownRows(base.rowIndex, residualRows, row, slicer, (i) => {
        for (let k = 0; k < d; k++) vectors[i * d + k]! += row[k]!;
      });
      for (let from = 0; from < n; from += BLOCK) {
        const to = Math.min(n, from + BLOCK);
        matrix.setRows(from, vectors.subarray(from * d, to * d));
        await slicer.maybeYield();
      }
      embeddingStats = loaded.stats;
      if (options.deferCacheWrite) cacheWrite = loaded.write;
      else await loaded.write?.();
      if (options.keepMatrix) made = preparedMatrix(modelKey, matrix, embeddingStats);
    }
  }
  // The matrix's biases are written here a slice at a time (the head writes them again, fast
  // once their pages have been written once), and the head is made in a task of its own.
  for (let from = 0; from < n; from += 64 * BLOCK) {
    matrix.bias.set(base.bias.subarray(from, Math.min(n, from + 64 * BLOCK)), from);
    await slicer.maybeYield();
  }
  await options.backendReady;
  await slicer.yield();
  const head = new IncrementalHead(
    matrix,
    // The catalogue's own lookup where there is one: the head keeps no array of every id.
    idLookup ? idsOf(idLookup) : ids,
    { ...base, residual: null },
    {
      ...headManifest.headOptions,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...options.head,
    },
    options.indexOf ? { indexOf: options.indexOf } : {},
  );
  const deferred = laterTransitions;
  const settled = base;
  const transitions = deferred
    ? deferred().then((T) => {
        settled.transitions = T;
        head.setTransitions(T);
        return T;
      })
    : null;
  // A load whose head is let go (an early catalogue that was not the file's) leaves its promise
  // unread: its failure is the next load's to report.
  transitions?.catch(() => undefined);
  return {
    head,
    base,
    deltaCompatibleWith: headManifest.deltaCompatibleWith,
    embeddingStats,
    made,
    cacheWrite,
    transitions,
    transitionsEtaMs: transitions ? transitionsEtaMs : null,
  };
}

/** A base's items (or its transitions' rows and entries) aligned between two looks at the slice's time. */
const ALIGN_STEP = 1024;

/**
 * `lookup`'s ids as a function, made outside `loadHead`: a closure made there would keep the
 * load's whole scope (its options: a saved matrix, the early catalogue) for the head's life.
 */
const idsOf =
  (lookup: { id(i: number): string }) =>
  (i: number): string =>
    lookup.id(i);

/**
 * An item matrix of `shape` whose memory has been written once (with the zeros it holds), in
 * slices of `slicer`; null where the shape cannot be made. The first write to each page of fresh
 * memory is most of what copying a saved matrix into it costs (about 20 ms for 6.4 MB on a 2-core
 * machine, and ten times that at 1,000,000 items): a load does it while it waits for the entry,
 * 1 MiB a task.
 */
export async function readiedMatrix(shape: MatrixShape, slicer: Slicer): Promise<ItemMatrix | null> {
  let m: ItemMatrix;
  try {
    m = new ItemMatrix(shape.n, shape.dims);
  } catch {
    return null; // a damaged header, or more memory than the page can have: made when needed, if it can be
  }
  const step = 1 << 20;
  for (const view of [m.scales, m.bias, m.codes]) {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let from = 0; from < bytes.length; from += step) {
      bytes.fill(0, from, Math.min(bytes.length, from + step));
      // A task of its own for each step (a few ms): the load's other slices run between them, so
      // that this work never lengthens one of theirs.
      await slicer.yield();
    }
  }
  return m;
}

/** What a load saves of the matrix it made: the head's own arrays, which do not change once made. */
function preparedMatrix(modelKey: string, m: ItemMatrix, stats: EmbeddingStats): PreparedMatrix {
  return {
    modelKey,
    dims: m.dims,
    // A cache copies what it keeps (copying 68 MB here was one long task at 1,000,000 items).
    codes: m.codes,
    scales: m.scales,
    embeddings: { shipped: stats.shipped, cached: stats.cached, encoded: stats.encoded },
  };
}

/** Whether a saved matrix fits this catalogue and holds only finite scales. */
function usableMatrix(p: PreparedMatrix, n: number, d: number): boolean {
  if (!(p.codes instanceof Int8Array) || !(p.scales instanceof Float32Array)) return false;
  if (p.dims !== d || p.codes.length !== n * d || p.scales.length !== n) return false;
  for (let i = 0; i < n; i++) if (!Number.isFinite(p.scales[i]!)) return false;
  return true;
}

/** The warning when the shop's vectors cannot be used. */
const unusableVectors = (base: string, err: unknown): string =>
  `The catalogue vectors at ${base} cannot be used (${err instanceof Error ? err.message : String(err)}); encoding the catalogue here instead.`;

/**
 * The shop's vectors manifest, or null (with one warning) when it cannot be used: another
 * encoder version, a missing or malformed file. The browser then encodes what it must.
 */
async function usableVectorsManifest(
  pending: Promise<VectorsManifest | null>,
  base: string,
  encoderManifest: EncoderManifest,
  warn: (m: string) => void,
): Promise<VectorsManifest | null> {
  try {
    const m = await pending;
    if (!m) return null;
    if (m.encoderVersion !== encoderManifest.version || m.dims !== encoderManifest.dims) {
      warn(
        `The catalogue vectors at ${base} were made with encoder ${m.encoderVersion}, not ${encoderManifest.version}; encoding the catalogue here instead. Run npm run vectors again.`,
      );
      return null;
    }
    return m;
  } catch (err) {
    warn(unusableVectors(base, err));
    return null;
  }
}

/** The shop's shipped vectors, or null (with one warning) when the file cannot be used. */
async function loadShippedVectors(
  fetcher: Fetcher,
  base: string,
  manifest: VectorsManifest,
  warn: (m: string) => void,
): Promise<ShippedVectors | null> {
  try {
    return await loadVectors(fetcher, base, manifest);
  } catch (err) {
    warn(unusableVectors(base, err));
    return null;
  }
}

/**
 * The shop delta's client, and its first download started at once (it overlaps the embedding).
 * Until the recommender exists, what arrives is kept in `early`; after, it is fused directly.
 */
function startShopDelta(
  options: CoreRecommenderOptions,
  modelUrl: string,
  modelManifest: ModelManifest,
  catalog: Catalog,
  base: Pick<HeadModel, 'manifest'>,
  rowIndex: Promise<Int32Array | null>,
  loadWarn: (code: string, message: string) => void,
): {
  client: ShopDeltaClient;
  target: RecommenderImpl | null;
  early: Promise<{ psi: Float32Array; info: ShopDeltaInfo; recent: Float32Array | null } | null> | null;
} | null {
  const choice = options.shopDelta ?? 'auto';
  if (choice === false) return null;
  if (typeof choice !== 'string' || choice === '') {
    throw new ArgumentError('options/shopDelta', `shopDelta must be 'auto', a folder URL or false, got ${JSON.stringify(choice)}.`);
  }
  // 'auto': the folder the model's manifest names, where the shop runs a stream job; none else.
  const named = modelManifest.delta;
  if (choice === 'auto' && !named) return null;
  const folder = choice === 'auto' ? joinLocation(modelUrl, named!) : choice;
  type Got = { psi: Float32Array; info: ShopDeltaInfo; recent: Float32Array | null } | null;
  const held: { got: Got } = { got: null };
  // A delta names the items the base knows by their row in it: each row's catalogue index, as the
  // head's alignment gave it (not the base's ids, which the page then lets go).
  const rows: { index: Int32Array | null } = { index: null };
  const ready = rowIndex.then((r) => {
    rows.index = r;
  });
  const state: { client: ShopDeltaClient; target: RecommenderImpl | null; early: Promise<Got> | null } = {
    client: new ShopDeltaClient(
      folder,
      modelManifest.version,
      {
        size: catalog.size,
        indexOf: catalog.indexOf,
        baseIndex: (row) => {
          const i = rows.index?.[row];
          return i !== undefined && i >= 0 ? i : undefined;
        },
        ready,
        ...itemListSha(base),
      },
      (psi, info, recent) => {
        if (state.target) state.target.applyShopDelta(psi, info, recent);
        else held.got = { psi, info, recent };
      },
      (code, message) => (state.target ? state.target.report(code, message) : loadWarn(code, message)),
      true,
    ),
    target: null,
    early: null,
  };
  state.early = state.client.refresh().then(() => held.got);
  return state;
}

/**
 * Loads catalogue and model, initialises the backend, embeds the catalogue and restores the
 * shopper's state from the store. Resolves to a ready recommender.
 */
/**
 * How much each clicked item of the history adds to each explained item through the content model,
 * at the click's full weight (see {@link Likeness}): `ex` explains the items of `column`'s keys.
 */
function likenessOf(ex: Explanation, column: ReadonlyMap<number, number>): Likeness {
  const { history, weights, contributions } = ex;
  const cols = column.size;
  const row = new Map(history.map((h, r) => [h, r]));
  return (click, i) => {
    const r = row.get(click);
    const c = column.get(i);
    return r === undefined || c === undefined || !(weights[r]! > 0) ? -Infinity : contributions[r * cols + c]! / weights[r]!;
  };
}

export async function createRecommenderCore(options: CoreRecommenderOptions): Promise<Recommender> {
  if (typeof options !== 'object' || options === null) {
    throw new ArgumentError('options/missing', 'createRecommender needs an options object: { catalog, modelUrl?, backend?, storage? }.');
  }
  if (options.catalog === undefined) {
    throw new ArgumentError(
      'options/catalog',
      'createRecommender needs a catalog: an array of items { id, title, ... } or the URL of one.',
    );
  }
  const snapshotEvery = options.snapshotEvery ?? 50;
  if (!Number.isInteger(snapshotEvery) || snapshotEvery < 1) {
    throw new ArgumentError('options/snapshotEvery', `snapshotEvery must be a positive integer, got ${String(snapshotEvery)}.`);
  }
  const transitionsWaitMs = options.transitionsWaitMs ?? DEFAULT_TRANSITIONS_WAIT_MS;
  if (typeof transitionsWaitMs !== 'number' || !(transitionsWaitMs >= 0)) {
    throw new ArgumentError(
      'options/transitionsWaitMs',
      `transitionsWaitMs must be a number of milliseconds ≥ 0 (or Infinity), got ${String(transitionsWaitMs)}.`,
    );
  }
  const compactAbove = options.compactCatalogAbove ?? DEFAULT_COMPACT_ABOVE;
  if (typeof compactAbove !== 'number' || Number.isNaN(compactAbove) || compactAbove < 0) {
    throw new ArgumentError(
      'options/compactCatalogAbove',
      `compactCatalogAbove must be a number of bytes ≥ 0 (Infinity: never), got ${String(options.compactCatalogAbove)}.`,
    );
  }
  const fetcher = options.fetcher ?? defaultFetcher;
  const progress = options.onProgress;
  const head = validateHeadOptions(options.head);
  // Warnings while loading go to onWarning (or the console) and are kept for stats().
  const loadWarnings: string[] = [];
  const warn = (code: string, message: string): void => {
    loadWarnings.push(message);
    if (options.onWarning) callSafely(options.onWarning, { code, message });
    else console.warn(`Clickwise: ${message}`);
  };
  progress?.({ phase: 'catalog', done: 0, total: 1 });
  // The backend starts (WASM compiles off the main thread) and the model manifest downloads while
  // the catalogue is parsed. A failure of either is reported after the catalogue's own errors.
  const modelUrl = options.modelUrl ?? DEFAULT_MODEL_URL;
  const backendP = initBackend(options.backend ?? 'auto', options.wasmPaths ? { wasmPaths: options.wasmPaths } : {});
  const manifestP = loadModelManifest(fetcher, modelUrl);
  // The model's files download while the catalogue is read. Held through `model`, which lets them
  // go once the head is made: the closures here outlive the load (the shop delta's warnings), and
  // one that named the files' promise kept the base as read (about 57 MB for a base that knows
  // 100,000 items) for the page's life.
  const cache = options.preparedCache;
  const location = typeof options.catalog === 'string' ? options.catalog : null;
  // The shape of the item matrix saved for this catalogue, from the entry's header: its memory is
  // readied while the entry is read, and where the base aligned with it is kept too, the base's
  // files are downloaded only if the entry does not hold.
  const savedShape = location && cache?.shapeOf ? cache.shapeOf(location).catch(() => undefined) : Promise.resolve(undefined);
  const partsOf = (m: ModelManifest): Promise<ModelParts> =>
    loadModelParts(
      fetcher,
      modelUrl,
      m,
      (msg) => warn('load', msg),
      savedShape.then((shape) => (shape?.base ? shape.modelKey : undefined)),
    );
  const model: { parts: Promise<ModelParts> | null } = {
    parts: manifestP.then((m) =>
      partsOf(m).catch((err: unknown) => {
        // A base of a later version (a form this page does not read): the base in force before
        // it, which the maintenance job keeps and names, meanwhile. Its delta was the stream
        // job's for that base, now gone; the shop's vectors are the same folder.
        const before = m.previous;
        if (!(err instanceof ModelLoadError && err.code === 'model/later-version') || !before) throw err;
        warn('model/later', `${err.message} This page recommends from the base in force before it (${before.version}) meanwhile.`);
        return partsOf({
          format: m.format,
          formatVersion: m.formatVersion,
          version: before.version,
          encoder: before.encoder,
          head: before.head,
          ...(m.vectors ? { vectors: m.vectors } : {}),
        });
      }),
    ),
  };
  // The backend's mark is when it is ready, wherever the load then is.
  const backendReady = backendP.then(async (b) => {
    mark('backend');
    // The backend's start ends in a task with its own work in it (the WASM module's last steps, the
    // runtime's set-up, 45 to 55 ms on a first visit here): what waits for it goes on in a new one.
    await nextTask();
    return b;
  });
  backendReady.catch(() => undefined);
  manifestP.catch(() => undefined);
  model.parts!.catch(() => undefined);
  const slicer = new Slicer();
  // A load that will make the item matrix (no saved one to take) downloads the shop's vectors,
  // and makes their rows ready, while the catalogue is parsed, rather than after; not while the
  // catalogue downloads on the page, whose bytes would then share the network with them.
  const prefetchVectors = (): void => void model.parts?.then((p) => p.ahead()).catch(() => undefined);
  if (location === null) prefetchVectors();
  // The memory of the item matrix saved for this catalogue, readied while the entry is read.
  let spare: Promise<ItemMatrix | null> | null =
    location && cache?.shapeOf ? savedShape.then((shape) => (shape ? readiedMatrix(shape, new Slicer()) : null)).catch(() => null) : null;
  const first: Omit<ReadCatalog, 'text' | 'indexedIn'> & { text: CatalogText | null; indexedIn: RecommenderStats['catalogIndexed'] } =
    location
      ? await readCatalog(location, fetcher, cache, slicer, warn, prefetchVectors, options.catalogIndexer, options.earlyCatalog)
      : {
          catalog: await validateCatalogSliced(options.catalog, slicer),
          entry: undefined,
          fresh: null,
          text: null,
          indexedIn: 'given' as const,
        };
  /** The head for a catalogue as read, with what it was made from. */
  const headFor = async (c: Catalog, r: typeof first) => {
    // Taken by one head only (a head made for an entry that did not hold is let go).
    const ahead = spare;
    spare = null;
    const parts = await model.parts!;
    const modelManifest = parts.modelManifest;
    const savedMatrix = r.entry
      ? await r.entry.matrix.catch((err: unknown) => {
          warn('prepared/read', `The saved item matrix could not be read (${String(err)}); making it again.`);
          return null;
        })
      : null;
    const loaded = await loadHead({
      ...options,
      head,
      catalog: c,
      indexOf: c.indexOf,
      modelUrl,
      fetcher,
      modelManifest,
      warn: (m) => warn('load', m),
      parts,
      prepared: savedMatrix,
      ...(r.keys ? { keys: r.keys } : {}),
      keepMatrix: cache !== undefined && location !== null,
      deferCacheWrite: true,
      deferTransitions: true,
      backendReady,
      matrixAhead: ahead,
    });
    mark('head');
    // The saved matrix is in the head's own memory now: the entry, which the early catalogue's
    // answer and the load's options also hold, lets it go (68 MB at a million items).
    if (r.entry) r.entry.matrix = Promise.resolve(null);
    return { backend: await backendReady, savedMatrix, loaded };
  };
  let read = first;
  // A catalogue restored ahead of its file's bytes: the head is built while they come, on a
  // catalogue that can later be swapped for its compacted form (the head keeps what it was given).
  let early: { catalog: SwappableCatalog; made: ReturnType<typeof headFor> } | null = null;
  if (first.rest) {
    const c = swappable(first.catalog);
    early = { catalog: c, made: headFor(c, first) };
    early.made.catch(() => undefined);
    read = await first.rest;
    if (read.catalog !== first.catalog) {
      // Not the file the entry was made from: that head is let go, and one made for this file.
      await early.made.then(
        (h) => h.loaded.head.dispose(),
        () => undefined,
      );
      early = null;
    }
  }
  // A large file is compacted once the page is ready; the page meanwhile uses the catalogue as read.
  let text = read.text && read.text.bytes && read.text.bytes.length >= compactAbove ? read.text : null;
  // A catalogue parsed in full needs its file no more: it is compacted from its items.
  if (text && read.catalog.held.form === 'parsed') text = { ...text, bytes: null };
  read.text = null;
  const catalog = early ? early.catalog : text ? swappable(read.catalog) : read.catalog;
  if (catalog.skipped.length > 0) {
    warn(
      'catalog/skipped',
      `The catalogue has ${describeProblems(catalog.skipped)}. These items were skipped; the other ${catalog.size} are used.`,
    );
  }
  progress?.({ phase: 'catalog', done: 1, total: 1 });
  mark('catalog');
  const made = early ? early.made : headFor(catalog, read);
  made.catch(() => undefined);
  // As headFor awaits them: their failures are reported in this order.
  await backendReady;
  await manifestP;
  const parts = await model.parts!;
  const modelManifest = parts.modelManifest;
  // A base that gives the shop delta no weight (its maintenance job found that the stream does
  // not help this shop) costs the page no request for it, unless the delta also brings what sells
  // now for the base's own popularity (a base that ships what sold lately, and when).
  const headManifest = parts.headManifest;
  const trusted =
    (headManifest.shopDeltaWeight ?? 1) > 0 ||
    (headManifest.shopDeltaWeightNew ?? 0) > 0 ||
    recentFiguresOf({ manifest: headManifest }) !== null;
  const rowIndex = made.then(
    (h) => h.loaded.base.rowIndex,
    () => null,
  );
  const shop = trusted
    ? startShopDelta(options, modelUrl, modelManifest, catalog, { manifest: headManifest }, rowIndex, (code, m) => warn(code, m))
    : null;
  const store = options.store ?? new MemoryDeltaStore();
  const { backend, savedMatrix, loaded } = await made;
  model.parts = null;
  const rec = new RecommenderImpl(
    catalog,
    loaded.head,
    store,
    backend,
    modelManifest.version,
    loaded.deltaCompatibleWith,
    snapshotEvery,
    options.onWarning,
    // The page's own choice, else the shop's as its maintenance job shipped it.
    (options.recommendViewed ?? headManifest.recommendViewed) === true,
    (options.keepLatestDepartments ?? headManifest.keepLatestDepartments) !== false,
    (options.shareInterestClicks ?? headManifest.shareInterestClicks) !== false,
  );
  const transitions = loaded.transitions;
  if (transitions)
    rec.awaitTransitions(
      transitions.then(() => undefined),
      transitionsWaitMs,
      loaded.transitionsEtaMs,
    );
  rec.embeddingStats = loaded.embeddingStats;
  rec.catalogIndexed = read.indexedIn;
  if (read.compacted) rec.catalogCompacted = 'saved';
  rec.loadWarnings(loadWarnings);
  if (read.entry) rec.presetSpread(read.entry.catalog.spread);
  if (shop) {
    shop.target = rec;
    if (shop.early) {
      const first = await shop.early;
      if (first) rec.applyShopDelta(first.psi, first.info, first.recent);
    }
    const every = options.shopDeltaRefreshMs ?? 5 * 60_000;
    const vis = options.visibility;
    if (vis || options.shopDeltaRefreshMs !== undefined) {
      const client = shop.client;
      const timer = setInterval(() => {
        if (!vis || vis.isVisible()) void client.refresh();
      }, every);
      (timer as { unref?: () => void }).unref?.();
      rec.onDispose(() => clearInterval(timer));
      if (vis) rec.onDispose(vis.onChange(() => vis.isVisible() && void client.refresh()));
    }
  }
  // The head's construction (N-long arrays) and the shopper's state are tasks apart.
  await nextTask();
  await rec.restore();
  // Saved for the next load, after this one is ready, while the shopper is quiet; a failure only
  // costs the next load time. The catalogue's entry first (the next visit of the same file takes
  // it whole), then the vectors encoded here (a visit after the file changed takes them by text).
  const vectorsWrite = loaded.cacheWrite;
  // What the entry is made of, taken out here, and let go once written: the closures of this
  // function share its variables for the page's life (a warning callback outlives the load), so
  // none of them names one that holds the file's bytes or the saved matrix (`read`, `loaded`,
  // `savedMatrix`): at a million items those are 145 and 68 MB the page no longer needs.
  // A matrix made here is saved with the base aligned for it (its arrays the head's own, which do
  // not change; the aligned residuals, which the head does not hold, left out).
  let save =
    cache && location && (read.fresh || loaded.made)
      ? {
          fresh: read.fresh,
          saved: read.entry?.catalog ?? null,
          matrix: loaded.made ?? savedMatrix,
          base: loaded.made ? { ...loaded.base, residual: null } : null,
          transitions,
        }
      : null;
  const preparedWrite =
    cache && location && save
      ? async (): Promise<void> => {
          const { fresh, saved, matrix, base: made, transitions: later } = save!;
          save = null;
          // A base whose transitions were read after the page was ready is saved with them, once
          // they are in; where they could not be read, the matrix is saved without its base (the
          // next visit reads the base's files again).
          const base = made && later ? await later.then((T) => ({ ...made, transitions: T })).catch(() => null) : made;
          const kept = matrix && base ? { ...matrix, base: await savedBaseOf(base, new Slicer()) } : matrix;
          const entry: PreparedEntry = { catalog: fresh ? { ...fresh, spread: rec.coldOrder } : saved!, matrix: kept };
          // Piece by piece while the shopper is quiet: a click never waits behind the whole entry.
          return cache
            .put(location, entry, () => rec.untilQuiet())
            .catch((err: unknown) => {
              rec.report('prepared/write', `The catalogue index could not be saved for the next visit (${String(err)}).`);
            });
        }
      : null;
  void (async () => {
    try {
      await preparedWrite?.();
      if (vectorsWrite) {
        await rec.untilQuiet();
        await vectorsWrite();
      }
    } finally {
      callSafely(options.afterSaved, undefined, 'afterSaved');
    }
  })();
  mark('ready');
  progress?.({ phase: 'ready', done: 1, total: 1 });
  if (text) {
    // The compacted text is kept beside the entry, for the file whose digest the entry has.
    const digest = read.fresh?.digest ?? read.entry?.catalog.digest;
    const keep =
      cache?.keepText && location && digest
        ? (t: CompactText) => cache.keepText!(location, digest, t, () => rec.untilQuiet()).catch(() => undefined)
        : undefined;
    rec.compacting = compactInBackground(catalog as SwappableCatalog, text, rec, options.catalogCompactor, keep);
    text = null;
  }
  return rec;
}
