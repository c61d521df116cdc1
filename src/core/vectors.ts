/**
 * Catalogue vectors computed once by the shop (`npm run vectors`) and shipped next to the model,
 * so that a browser downloads them instead of encoding the whole catalogue itself.
 *
 * They are product-quantised: each 64-d vector is cut into M sub-vectors, and each sub-vector is
 * stored as the index (one byte) of the nearest of 256 centroids learned for that subspace by
 * k-means. At M = 16 an item weighs 16 bytes instead of 256.
 *
 * Each item is found by a 32-bit key of its text (title, category, description), not by its id
 * or position: a browser whose catalogue has changed since the file was made takes the vectors of
 * the items whose text is unchanged and encodes only the others. When the file's catalogue hash
 * equals the page's, rows are taken by position without a lookup.
 *
 * Two files, little-endian: `vectors.bin` = float32 codebook [M × 256 × d/M] | uint8 codes [N × M],
 * and `keys.bin` = uint32 keys [N]. The keys (random bits: they do not compress) are downloaded
 * only by a browser whose catalogue differs from the file's; one whose catalogue hash matches
 * takes the rows by position and never fetches them.
 */
import { ModelLoadError } from './errors.js';
import type { Fetcher, ManifestFile } from './model-io.js';
import { fetchJson, fetchVerified, joinLocation } from './model-io.js';
import { mulberry32 } from './rng.js';
import type { Slicer } from './slice.js';
import type { Item } from './types.js';

/** `models/vectors/manifest.json`. */
export interface VectorsManifest {
  format: 'clickwise-vectors';
  formatVersion: 2;
  /** The encoder version the vectors were computed with; another encoder's vectors are ignored. */
  encoderVersion: string;
  dims: number;
  count: number;
  /** {@link catalogHash} of the catalogue the file was made from. */
  catalogHash: string;
  quantisation: { kind: 'pq'; subspaces: number; centroids: number };
  files: ManifestFile[];
  /**
   * The catalogue's index (`catalog-index-file.ts`), where the vectors were made from the JSON
   * file the pages serve: `digest` is that file's (`digestBytes`). A first visit whose file has
   * this digest takes the index instead of parsing the file.
   */
  catalogIndex?: ManifestFile & {
    digest: string;
    /** The catalogue file's length in bytes: a browser that gets a file of another length does not download the index. */
    fileBytes: number;
  };
  createdAt: string;
}

/** Decoded-on-demand shipped vectors. */
export interface ShippedVectors {
  manifest: VectorsManifest;
  /** The per-row text keys, downloaded (and checked) on the first call only. */
  keys: () => Promise<Uint32Array>;
  codebook: Float32Array;
  codes: Uint8Array;
}

const CENTROIDS = 256;

/** The text an item's vector depends on (what the tools hash; the browser hashes the fields in place). */
export function itemText(item: Pick<Item, 'title' | 'category' | 'description'>): string {
  return `${item.title}\u0000${item.category ?? ''}\u0000${item.description ?? ''}\u0000`;
}

/** A multiply-xorshift over the UTF-16 units of `s`, then a 0 unit. */
function mulInto(h: number, s: string): number {
  for (let i = 0; i <= s.length; i++) {
    h = Math.imul(h ^ (i < s.length ? s.charCodeAt(i) : 0), 0x85ebca6b);
    h ^= h >>> 13;
  }
  return h;
}

const fieldsOf = (item: Pick<Item, 'title' | 'category' | 'description'>): string[] => [
  item.title,
  item.category ?? '',
  item.description ?? '',
];

/**
 * Two independent 32-bit hashes (FNV-1a and a multiply-xorshift, over UTF-16 units) of an item's
 * title, category and description, each followed by a 0 unit: the same as hashing {@link itemText}.
 */
export function textHashes(item: Pick<Item, 'title' | 'category' | 'description'>): [number, number] {
  const fields = fieldsOf(item);
  const b = fields.reduce(mulInto, 0x9e3779b9);
  const f = Math.imul(b ^ (b >>> 16), 0xc2b2ae35);
  return [fields.reduce(fnvInto, 0x811c9dc5) >>> 0, (f ^ (f >>> 16)) >>> 0];
}

/**
 * Keys of every item's text: `keys` (the first hash, as stored in vectors files) and `long(i)`
 * (both hashes as 16 hex digits, for the browser's embedding cache, which outlives many
 * catalogues; computed on demand). Sliced.
 */
export async function itemKeys(items: readonly Item[], slicer?: Slicer): Promise<{ keys: Uint32Array; long: (i: number) => string }> {
  const keys = new Uint32Array(items.length);
  for (let from = 0; from < items.length; from += 2048) {
    firstHashes(items, keys, from, Math.min(items.length, from + 2048));
    if (slicer?.due()) await slicer.yield();
  }
  return { keys, long: (i) => longKey(items[i]!) };
}

/** An item's 64-bit text key as 16 hex digits (the embedding cache's key). */
export function longKey(item: Pick<Item, 'title' | 'category' | 'description'>): string {
  const [a, b] = textHashes(item);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** FNV-1a over the UTF-16 units of `s`, then a 0 unit (the field separator of {@link itemText}). */
function fnvInto(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h, 0x01000193);
}

/** The first of {@link textHashes} for items [from, to). */
function firstHashes(items: readonly Item[], keys: Uint32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const it = items[i]!;
    keys[i] = fnvInto(fnvInto(fnvInto(0x811c9dc5, it.title), it.category ?? ''), it.description ?? '') >>> 0; // no array per item
  }
}

/** A hash of the whole catalogue's texts, in order. */
export function catalogHash(keys: Uint32Array): string {
  const h = hashStart(keys.length);
  hashKeys(h, keys, 0, keys.length);
  return hashHex(h);
}

/**
 * {@link catalogHash} in slices, for a page: as first-run code, in one go, it made a long task at
 * 100,000 items.
 */
export async function catalogHashSliced(keys: Uint32Array, slicer: Slicer): Promise<string> {
  const h = hashStart(keys.length);
  for (let from = 0; from < keys.length; from += 4096) {
    hashKeys(h, keys, from, Math.min(keys.length, from + 4096));
    await slicer.maybeYield();
  }
  return hashHex(h);
}

const hashStart = (n: number): { a: number; b: number } => ({ a: 0x811c9dc5 ^ n, b: 0x9e3779b9 });

function hashKeys(h: { a: number; b: number }, keys: Uint32Array, from: number, to: number): void {
  let { a, b } = h;
  for (let i = from; i < to; i++) {
    a = Math.imul(a ^ keys[i]!, 0x01000193);
    b = Math.imul(b ^ keys[i]!, 0x85ebca6b);
    b ^= b >>> 15;
  }
  h.a = a;
  h.b = b;
}

const hashHex = (h: { a: number; b: number }): string =>
  (h.a >>> 0).toString(16).padStart(8, '0') + (h.b >>> 0).toString(16).padStart(8, '0');

/** Options of {@link trainPq}. */
export interface PqOptions {
  subspaces: number;
  /** k-means iterations per subspace. */
  iterations?: number;
  /** Items sampled to fit the centroids. */
  sample?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Fits the PQ codebook [M × 256 × d/M] to `data` ([n × d], row-major) by k-means per subspace. */
export function trainPq(data: Float32Array, n: number, d: number, options: PqOptions): Float32Array {
  const M = options.subspaces;
  if (!Number.isInteger(M) || M < 1 || d % M !== 0) throw new RangeError(`subspaces must divide the ${d} dims, got ${M}.`);
  const ds = d / M;
  const rand = mulberry32(options.seed ?? 1);
  const sampleSize = Math.min(n, options.sample ?? 20_000);
  // A seeded sample without replacement (partial Fisher–Yates over indices).
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < sampleSize; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const rows = idx.subarray(0, sampleSize);
  const codebook = new Float32Array(M * CENTROIDS * ds);
  const iterations = options.iterations ?? 12;
  const assign = new Int32Array(sampleSize);
  for (let m = 0; m < M; m++) {
    const cb = codebook.subarray(m * CENTROIDS * ds, (m + 1) * CENTROIDS * ds);
    // Initial centroids: distinct sampled sub-vectors (fewer items than centroids: repeat them).
    for (let c = 0; c < CENTROIDS; c++) {
      const r = rows[c % sampleSize]!;
      for (let k = 0; k < ds; k++) cb[c * ds + k] = data[r * d + m * ds + k]!;
    }
    const sums = new Float64Array(CENTROIDS * ds);
    const counts = new Int32Array(CENTROIDS);
    for (let it = 0; it < iterations; it++) {
      sums.fill(0);
      counts.fill(0);
      for (let s = 0; s < sampleSize; s++) {
        const off = rows[s]! * d + m * ds;
        const c = nearest(cb, ds, data, off);
        assign[s] = c;
        counts[c]!++;
        for (let k = 0; k < ds; k++) sums[c * ds + k]! += data[off + k]!;
      }
      for (let c = 0; c < CENTROIDS; c++) {
        if (counts[c] === 0) {
          // An empty centroid restarts on a random sampled point.
          const r = rows[Math.floor(rand() * sampleSize)]!;
          for (let k = 0; k < ds; k++) cb[c * ds + k] = data[r * d + m * ds + k]!;
        } else for (let k = 0; k < ds; k++) cb[c * ds + k] = sums[c * ds + k]! / counts[c]!;
      }
    }
    options.onProgress?.(m + 1, M);
  }
  return codebook;
}

function nearest(cb: Float32Array, ds: number, data: Float32Array, off: number): number {
  let best = 0;
  let bestD = Infinity;
  for (let c = 0; c < CENTROIDS; c++) {
    let dist = 0;
    for (let k = 0; k < ds; k++) {
      const t = data[off + k]! - cb[c * ds + k]!;
      dist += t * t;
    }
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  return best;
}

/** The PQ codes [n × M] of `data` ([n × d]). */
export function encodePq(data: Float32Array, n: number, d: number, codebook: Float32Array, M: number): Uint8Array {
  const ds = d / M;
  const codes = new Uint8Array(n * M);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < M; m++)
      codes[i * M + m] = nearest(codebook.subarray(m * CENTROIDS * ds, (m + 1) * CENTROIDS * ds), ds, data, i * d + m * ds);
  }
  return codes;
}

/** Writes the decoded vector of shipped row `row` into `out` at `offset`. */
export function decodeRow(
  v: Pick<ShippedVectors, 'codebook' | 'codes'>,
  M: number,
  d: number,
  row: number,
  out: Float32Array,
  offset: number,
): void {
  const ds = d / M;
  const { codebook, codes } = v;
  for (let m = 0; m < M; m++) {
    const src = (m * CENTROIDS + codes[row * M + m]!) * ds;
    const dst = offset + m * ds;
    for (let k = 0; k < ds; k++) out[dst + k] = codebook[src + k]!;
  }
}

/** Lays out `vectors.bin`: the codebook, then the codes. */
export function packVectors(codebook: Float32Array, codes: Uint8Array): Uint8Array {
  const out = new Uint8Array(codebook.byteLength + codes.byteLength);
  const view = new DataView(out.buffer);
  codebook.forEach((x, i) => view.setFloat32(i * 4, x, true));
  out.set(codes, codebook.byteLength);
  return out;
}

/** Lays out `keys.bin`. */
export function packKeys(keys: Uint32Array): Uint8Array {
  const out = new Uint8Array(keys.byteLength);
  const view = new DataView(out.buffer);
  keys.forEach((x, i) => view.setUint32(i * 4, x, true));
  return out;
}

/** Reads `vectors.bin` as laid out by {@link packVectors}. Throws when its size does not fit the manifest. */
export function unpackVectors(buf: ArrayBuffer, manifest: VectorsManifest, where: string): Pick<ShippedVectors, 'codebook' | 'codes'> {
  const M = manifest.quantisation.subspaces;
  const d = manifest.dims;
  const n = manifest.count;
  const cbLen = M * CENTROIDS * (d / M);
  const expected = cbLen * 4 + n * M;
  if (buf.byteLength !== expected) {
    throw new ModelLoadError(where, `${where} holds ${buf.byteLength} bytes; its manifest implies ${expected}. Run npm run vectors again.`);
  }
  const view = new DataView(buf);
  const codebook = new Float32Array(cbLen);
  for (let i = 0; i < cbLen; i++) codebook[i] = view.getFloat32(i * 4, true);
  return { codebook, codes: new Uint8Array(buf, cbLen * 4, n * M) };
}

/** Reads `keys.bin` as laid out by {@link packKeys}. */
export function unpackKeys(buf: ArrayBuffer, n: number, where: string): Uint32Array {
  if (buf.byteLength !== n * 4) {
    throw new ModelLoadError(where, `${where} holds ${buf.byteLength} bytes; its manifest implies ${n * 4}. Run npm run vectors again.`);
  }
  // The file is little-endian, as every platform a browser runs on: its bytes are the array. A
  // copy through a mapping function (4 MB at 1,000,000 items) took 47 to 68 ms in Node, in one task.
  if (LITTLE_ENDIAN) return new Uint32Array(buf, 0, n);
  const view = new DataView(buf);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/** Whether this platform stores numbers little-endian (typed arrays use its order). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Loads and checks a vectors folder's manifest. */
export async function loadVectorsManifest(fetcher: Fetcher, base: string): Promise<VectorsManifest> {
  const manifestUrl = joinLocation(base, 'manifest.json');
  const manifest = await fetchJson<VectorsManifest>(fetcher, manifestUrl);
  const q = manifest.quantisation;
  if (
    manifest.format !== 'clickwise-vectors' ||
    manifest.formatVersion !== 2 ||
    q?.kind !== 'pq' ||
    q.centroids !== CENTROIDS ||
    !Number.isInteger(manifest.count) ||
    !Number.isInteger(manifest.dims) ||
    !Number.isInteger(q.subspaces) ||
    q.subspaces < 1 ||
    manifest.dims % q.subspaces !== 0
  ) {
    throw new ModelLoadError(
      manifestUrl,
      `${manifestUrl} is not a Clickwise vectors manifest of format version 2. Run npm run vectors again.`,
    );
  }
  const file = manifest.files.find((f) => f.path === 'vectors.bin');
  const keysFile = manifest.files.find((f) => f.path === 'keys.bin');
  if (!file || !keysFile)
    throw new ModelLoadError(manifestUrl, `${manifestUrl} does not list vectors.bin and keys.bin. Run npm run vectors again.`);
  return manifest;
}

/** Loads and verifies a vectors folder (its manifest, unless given, and file checksum). */
export async function loadVectors(fetcher: Fetcher, base: string, given?: VectorsManifest): Promise<ShippedVectors> {
  const manifest = given ?? (await loadVectorsManifest(fetcher, base));
  const file = manifest.files.find((f) => f.path === 'vectors.bin')!;
  const keysFile = manifest.files.find((f) => f.path === 'keys.bin')!;
  const buf = await fetchVerified(fetcher, base, file);
  let keys: Promise<Uint32Array> | null = null;
  return {
    manifest,
    ...unpackVectors(buf, manifest, joinLocation(base, file.path)),
    keys: () =>
      (keys ??= fetchVerified(fetcher, base, keysFile).then((b) => unpackKeys(b, manifest.count, joinLocation(base, keysFile.path)))),
  };
}
