/**
 * What a load of the catalogue makes, kept for the next load of the same bytes: the ids, where
 * each item lies in the file, the skipped items' problems, the cold-start order, and the item
 * matrix (int8 rows and scales, the base's residuals already added). A later visit that finds
 * the same catalogue digest (and the same model, for the matrix) reads this instead of parsing
 * the whole catalogue, decoding the shipped vectors and quantising them again.
 *
 * The recommender only reads and writes `PreparedEntry` values through a {@link PreparedCache};
 * the package entry passes one backed by IndexedDB.
 */
import { checkBounds, checkCategories } from './catalog.js';
import type { CategoryTable, CompactText } from './catalog.js';
import { KernelDigester, kernelDigest } from './digest.js';
import { IdTable } from './id-table.js';
import type { IdTableData } from './id-table.js';
import { sha256Hex } from './model-io.js';
import { inRanges } from './slice.js';
import type { Slicer } from './slice.js';
import type { Numbers } from './typed-arrays.js';

/** The part of a load that depends on the catalogue's bytes alone. */
export interface PreparedCatalog {
  /** {@link digestBytes} of the catalogue file. */
  digest: string;
  /** The kept items' ids, and a hash table of them (see `id-table.ts`): cheap to store and to take back. */
  ids: IdTableData;
  /** Two per kept item: the byte offsets of its element's start and end in the file. */
  bounds: Uint32Array;
  skipped: string[];
  /** The catalogue in turns across departments (the list shown before any click). */
  spread: Int32Array;
  /** Every item's category as a number (null: too many distinct categories to number). */
  categories: CategoryTable | null;
}

/**
 * A saved catalogue part's ids taken back as a table, once every part is found to fit them: the
 * table's shape (`IdTable.check`), two bounds per id in order, a category per id, and a cold-start
 * order that lists each item by an index within the catalogue. Throws a RangeError on anything
 * else (a damaged entry: the file is then read as on a first visit, and saved again). The
 * catalogue's worker runs it on an entry before it hands it back (its answer then says
 * `checked`), so that the page, whose main thread is busiest while it loads, takes the table as
 * it is (`IdTable.adopt`). `textLength`: where the ids' text is not in the part but goes on as
 * UTF-8 bytes (see `IdTable.check`).
 */
export async function checkSavedCatalog(catalog: PreparedCatalog, slicer: Slicer, textLength?: number): Promise<IdTable> {
  const ids = await IdTable.check(catalog.ids, slicer, textLength);
  await checkBounds(catalog.bounds, ids.size, slicer);
  if (catalog.categories) await checkCategories(catalog.categories, ids.size, slicer);
  const { spread } = catalog;
  const n = ids.size;
  if (!(spread instanceof Int32Array) || spread.length !== n) throw new RangeError(`a saved cold-start order does not list ${n} items`);
  await inRanges(n, slicer, (from, to) => {
    for (let i = from; i < to; i++) {
      if (!(spread[i]! >= 0 && spread[i]! < n)) throw new RangeError(`a saved cold-start order's item ${i} is out of range`);
    }
  });
  return ids;
}

/** The part that also depends on the model: the item matrix the head scores. */
export interface PreparedMatrix {
  /** Encoder version, head files, shipped vectors file: see `loadHead`. */
  modelKey: string;
  dims: number;
  codes: Int8Array;
  scales: Float32Array;
  /** Where the vectors came from when the matrix was made. */
  embeddings: { shipped: number; cached: number; encoded: number };
  /**
   * The base aligned with this catalogue when the matrix was made (same model key), by part name
   * (see `savedBaseOf` in `model.ts`, which also checks one taken back): a later visit that takes
   * the matrix takes this too, and does not download the base's files (`head.bin`: tens of MB for
   * a base that knows 100,000 items) to read, check and align them again. Absent: an entry saved
   * by an earlier version, or a cache that keeps none.
   */
  base?: SavedBase | null;
}

/** The arrays of a saved aligned base, by name: which are there and their types are checked as it is taken back. */
export type SavedBase = Partial<Record<SavedBasePart, Numbers>>;

/** The names of a saved base's arrays (see `savedBaseOf` in `model.ts`). */
export type SavedBasePart = 'W' | 'rowIndex' | 'rowBias' | 'transPtr' | 'transTo' | 'transP' | 'transRows' | 'recentItems' | 'recentValues';

export interface PreparedEntry {
  catalog: PreparedCatalog;
  matrix: PreparedMatrix | null;
}

/**
 * An entry as a cache hands it back: the catalogue's part at once, the item matrix (most of the
 * bytes) when it has been read, so that a load checks and indexes the first while the second is
 * still coming. A matrix that cannot be read is null or a rejection: it is made again.
 */
export interface SavedEntry {
  catalog: PreparedCatalog;
  matrix: Promise<PreparedMatrix | null>;
}

/** The size of a saved item matrix: `n` rows of `dims`; its model key, and whether the aligned base is kept with it. */
export interface MatrixShape {
  n: number;
  dims: number;
  modelKey?: string;
  base?: boolean;
}

/**
 * Keeps one {@link PreparedEntry} per catalogue location. Failures cost time, never
 * correctness: the recommender loads everything again. The arrays of an entry that is put are
 * the recommender's own (its item matrix among them): they do not change, and a cache that
 * stores elsewhere copies them as it writes.
 */
export interface PreparedCache {
  get(location: string): Promise<SavedEntry | undefined>;
  /**
   * The shape of the item matrix saved for `location`, read from the entry's header alone
   * (undefined where none is saved): a load readies that much memory while the entry comes.
   */
  shapeOf?(location: string): Promise<MatrixShape | undefined>;
  /**
   * `pause`, where given, is awaited before each piece of work that can wait: the recommender's
   * resolves once the shopper has been quiet a while. If it throws, the write stops.
   */
  put(location: string, entry: PreparedEntry, pause?: () => Promise<void>): Promise<void>;
  /**
   * Keeps the catalogue's compacted text beside the entry saved for `location`, made from the
   * file whose digest is `digest`, for a later visit that reads the entry's copies (the
   * storefront's catalogue worker): it then takes the text as it is rather than the file's
   * bytes. Optional: a cache without it keeps none. `pause` as for `put`.
   */
  keepText?(location: string, digest: string, text: CompactText, pause?: () => Promise<void>): Promise<void>;
}

/** A {@link PreparedCache} in memory (tests, and pages without IndexedDB). */
export class MemoryPreparedCache implements PreparedCache {
  readonly entries = new Map<string, PreparedEntry>();
  get(location: string): Promise<SavedEntry | undefined> {
    const e = this.entries.get(location);
    return Promise.resolve(e && { catalog: e.catalog, matrix: Promise.resolve(e.matrix) });
  }
  shapeOf(location: string): Promise<MatrixShape | undefined> {
    const m = this.entries.get(location)?.matrix;
    return Promise.resolve(m ? { n: m.scales.length, dims: m.dims, modelKey: m.modelKey, base: !!m.base } : undefined);
  }
  put(location: string, entry: PreparedEntry): Promise<void> {
    this.entries.set(location, entry);
    return Promise.resolve();
  }
}

/**
 * A digest of a file's bytes: the WebAssembly kernel's (`k64:`, see `digest.ts`) where it can
 * run, else SHA-256 where the page has WebCrypto ({@link sha256Digest}), else {@link fastDigest}.
 * None matches another, so an entry saved under one is simply made again under the next.
 */
export async function digestBytes(bytes: Uint8Array, slicer: Slicer): Promise<string> {
  const k = await kernelDigest(bytes, slicer);
  if (k) return `k64:${k}:${bytes.length}`;
  return (await sha256Digest(bytes, slicer)) ?? `fast64:${await fastDigest(bytes, slicer)}`;
}

/** A digest made chunk by chunk: {@link streamDigest}. `digest()` may be called once, after the last chunk. */
export interface StreamDigest {
  update(chunk: Uint8Array): void;
  digest(): string;
}

/**
 * {@link digestBytes} made as the file arrives: `update` with each chunk, then `digest()`, which
 * equals `digestBytes` of the whole file. Null where only the kernel's digest could be made this
 * way and it cannot run (the caller then digests the whole file).
 */
export function streamDigest(): StreamDigest | null {
  const k = KernelDigester.create();
  return k && { update: (chunk) => k.update(chunk), digest: () => `k64:${k.hex()}:${k.length}` };
}

/** SHA-256 of a file's bytes by pieces (`sha256:…`), or null without WebCrypto. */
export async function sha256Digest(bytes: Uint8Array, slicer: Slicer): Promise<string | null> {
  // By pieces, each a call of its own (a browser may hash on the calling thread: 150 MB at once
  // would hold the page), then the pieces' digests.
  const parts = new Uint8Array(32 * Math.ceil(bytes.length / DIGEST_PIECE));
  for (let from = 0, j = 0; from < bytes.length; from += DIGEST_PIECE, j++) {
    const hex = await sha256Hex(bytes.subarray(from, from + DIGEST_PIECE)).catch(() => null);
    if (!hex) return null;
    for (let k = 0; k < 32; k++) parts[32 * j + k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
    await slicer.maybeYield();
  }
  return `sha256:${(await sha256Hex(parts))!}:${bytes.length}`;
}

/** Bytes per hashed piece. */
const DIGEST_PIECE = 4 << 20;

/**
 * A 64-bit digest of a file's bytes (two 32-bit multiply-xor lanes over its 4-byte words, then
 * the tail and the length), 16 hex digits, in slices. Not cryptographic: it tells one version of
 * a shop's catalogue from the next, at a few ms per MB on the main thread.
 */
export async function fastDigest(bytes: Uint8Array, slicer: Slicer): Promise<string> {
  const words = Math.floor(bytes.length / 4);
  const aligned = bytes.byteOffset % 4 === 0;
  const w = aligned ? new Uint32Array(bytes.buffer, bytes.byteOffset, words) : null;
  const dv = aligned ? null : new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  const STEP = 1 << 18;
  for (let from = 0; from < words; from += STEP) {
    const to = Math.min(words, from + STEP);
    for (let i = from; i < to; i++) {
      const x = w !== null ? w[i]! : dv!.getUint32(i * 4, true);
      h1 = Math.imul(h1 ^ x, 0x01000193);
      h1 ^= h1 >>> 15;
      h2 = Math.imul(h2 ^ x, 0x85ebca6b);
      h2 ^= h2 >>> 13;
    }
    await slicer.maybeYield();
  }
  for (let i = words * 4; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i]!, 0x01000193);
    h2 = Math.imul(h2 ^ bytes[i]!, 0x85ebca6b);
  }
  h1 = Math.imul(h1 ^ bytes.length, 0xc2b2ae35);
  h2 = Math.imul(h2 ^ ((bytes.length / 0x100000000) >>> 0), 0x27d4eb2f);
  h1 ^= h2 >>> 16;
  h2 ^= h1 >>> 16;
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}
