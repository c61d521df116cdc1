/**
 * A catalogue's index, made once by the shop (`npm run vectors -- --catalog F`) and shipped next
 * to its vectors: what {@link indexCatalog} makes of the file in each browser on a first visit
 * (the ids and their hash table, where each item lies in the file, the skipped items' problems,
 * the categories, the items' text keys), with the digest of the file it was made from. A first
 * visit whose file has that digest takes the index instead of parsing the whole file: its worker
 * only downloads and digests the file (see `catalog-worker.ts`).
 *
 * The digest ties the index to the very bytes it was made from, and the browser checks its shape
 * as it checks a saved entry's ({@link checkShippedIndex}), so an index made for another version
 * of the file, or damaged, is never used: the file is then parsed as before.
 *
 * Layout: "CWI1" (little-endian u32), the header's length (u32), the header (UTF-8 JSON), then
 * the arrays, from the first multiple of 8 after the header, each at an offset the header gives
 * (from there, a multiple of 8).
 */
import type { CatalogIndex } from './catalog-index.js';
import { checkBounds, checkCategories } from './catalog.js';
import { IdTable } from './id-table.js';
import { idTextBytes } from './id-text.js';
import type { Fetcher } from './model-io.js';
import { ChecksumError } from './errors.js';
import { fetchJson, joinLocation, sha256Hex } from './model-io.js';
import type { Slicer } from './slice.js';
import type { VectorsManifest } from './vectors.js';
import type { Kind, Numbers } from './typed-arrays.js';
import { KINDS, kindOf } from './typed-arrays.js';

const MAGIC = 0x31495743; // "CWI1", little-endian
const PREFIX = 8;

/** What the file's header says. */
interface IndexHeader {
  format: 'clickwise-catalog-index';
  formatVersion: 1;
  /** `digestBytes` of the catalogue file the index was made from. */
  digest: string;
  /** Items kept. */
  count: number;
  skipped: string[];
  /** The categories' names (null: the file's categories were not numbered). */
  names: string[] | null;
  parts: Record<string, { kind: Kind; length: number; at: number }>;
}

/** A catalogue index read from its file, with the digest of the catalogue file it was made from. */
export interface ShippedIndex {
  digest: string;
  index: CatalogIndex;
}

/** `values` in the narrowest unsigned array that holds the largest. */
function narrowest(values: Uint32Array): Uint8Array | Uint16Array | Uint32Array {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  return max < 256 ? Uint8Array.from(values) : max < 65536 ? Uint16Array.from(values) : values;
}

/**
 * The file of `index`, made from a catalogue file whose digest is `digest`; null where its ids
 * cannot be kept (a lone surrogate: UTF-8 cannot carry it). What a browser makes again cheaply is
 * left out, so that a first visit downloads less: the id table's marks and hash table (made from
 * the ids), and the bounds, which go as each item's length and the gap before it (mostly one
 * comma: a few bits gzipped).
 */
export function packCatalogIndex(index: CatalogIndex, digest: string): Uint8Array | null {
  const text = idTextBytes(index.ids.text);
  if (!text) return null;
  const n = index.bounds.length / 2;
  const sizes = new Uint32Array(n);
  const gaps = new Uint32Array(n);
  for (let i = 0, end = 0; i < n; i++) {
    gaps[i] = index.bounds[2 * i]! - end;
    sizes[i] = index.bounds[2 * i + 1]! - index.bounds[2 * i]!;
    end = index.bounds[2 * i + 1]!;
  }
  const arrays: [string, Numbers][] = [
    ['text', new Uint8Array(text)],
    ['lengths', index.ids.lengths],
    ['sizes', narrowest(sizes)],
    ['gaps', narrowest(gaps)],
    ['keys', index.keys],
    ...(index.categories ? [['categories', index.categories.codes] as [string, Numbers]] : []),
  ];
  // Offsets count from the data's start, the first multiple of 8 after the header.
  const parts: IndexHeader['parts'] = {};
  let at = 0;
  for (const [name, a] of arrays) {
    at = Math.ceil(at / 8) * 8;
    parts[name] = { kind: kindOf(a), length: a.length, at };
    at += a.byteLength;
  }
  const h: IndexHeader = {
    format: 'clickwise-catalog-index',
    formatVersion: 1,
    digest,
    count: n,
    skipped: index.skipped,
    names: index.categories ? index.categories.names : null,
    parts,
  };
  const json = new TextEncoder().encode(JSON.stringify(h));
  const data = dataStart(json.length);
  const out = new Uint8Array(data + at);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, json.length, true);
  out.set(json, PREFIX);
  for (const [name, a] of arrays) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), data + parts[name]!.at);
  return out;
}

/** Where the arrays start after a header of `length` bytes. */
const dataStart = (length: number): number => Math.ceil((PREFIX + length) / 8) * 8;

/**
 * Reads an index file ({@link packCatalogIndex}), making its id table and bounds again in slices
 * of `slicer`; throws a RangeError where it is not one, is cut short, or does not hang together.
 */
export async function readCatalogIndex(file: Uint8Array, slicer: Slicer): Promise<ShippedIndex> {
  if (file.length < PREFIX) throw new RangeError('a catalogue index file is shorter than its prefix');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const length = view.getUint32(4, true);
  if (view.getUint32(0, true) !== MAGIC || PREFIX + length > file.length) throw new RangeError('not a catalogue index file');
  let h: IndexHeader;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(PREFIX, PREFIX + length))) as IndexHeader;
  } catch {
    throw new RangeError("a catalogue index file's header is not JSON");
  }
  if (h?.format !== 'clickwise-catalog-index' || h.formatVersion !== 1 || typeof h.digest !== 'string' || !Array.isArray(h.skipped)) {
    throw new RangeError(`a catalogue index file of an unknown format (${JSON.stringify(h?.format)} ${String(h?.formatVersion)})`);
  }
  const data = dataStart(length);
  const part = (name: string): Numbers => {
    const ref = h.parts?.[name];
    if (!ref) throw new RangeError(`a catalogue index file has no ${name}`);
    const Ctor = Object.hasOwn(KINDS, ref.kind) ? KINDS[ref.kind] : null;
    if (!Ctor || !Number.isInteger(ref.length) || ref.length < 0 || !Number.isInteger(ref.at) || ref.at < 0) {
      throw new RangeError(`a catalogue index file's ${name} is not where it can be`);
    }
    const from = data + ref.at;
    const bytes = ref.length * Ctor.BYTES_PER_ELEMENT;
    if (from + bytes > file.length) throw new RangeError(`a catalogue index file is cut short in its ${name}`);
    // A copy: aligned, and owned by no one else.
    const out = new Ctor(ref.length);
    new Uint8Array(out.buffer).set(file.subarray(from, from + bytes));
    return out;
  };
  const lengths = part('lengths');
  const sizes = part('sizes');
  const gaps = part('gaps');
  const n = lengths.length;
  if (
    !(lengths instanceof Uint8Array || lengths instanceof Uint16Array || lengths instanceof Uint32Array) ||
    n === 0 ||
    sizes.length !== n ||
    gaps.length !== n ||
    sizes instanceof Float32Array ||
    gaps instanceof Float32Array
  ) {
    throw new RangeError(`a catalogue index file's ids, lengths and gaps do not agree`);
  }
  let text: string;
  try {
    // A first id that begins with U+FEFF keeps it (not a byte order mark here).
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(part('text'));
  } catch {
    throw new RangeError("a catalogue index file's ids are not UTF-8");
  }
  const ids = await IdTable.fromText(text, lengths, slicer);
  const bounds = new Uint32Array(2 * n);
  for (let i = 0, end = 0; i < n; i++) {
    const from = end + gaps[i]!;
    end = from + sizes[i]!;
    if (end > 0xffffffff) throw new RangeError("a catalogue index file's bounds do not fit a file");
    bounds[2 * i] = from;
    bounds[2 * i + 1] = end;
  }
  const index: CatalogIndex = {
    ids: ids.saved,
    bounds,
    skipped: h.skipped,
    categories: h.names ? { names: h.names, codes: part('categories') as Uint8Array | Uint16Array } : null,
    keys: part('keys') as Uint32Array,
  };
  return { digest: h.digest, index };
}

/**
 * Throws a RangeError unless `index` is whole and fits `file` (the catalogue's bytes): its id
 * table (as `IdTable.check` checks a saved one), two bounds per id, in order and within the file,
 * a key per id, and categories that fit. The digest, which the caller compares, says the rest.
 */
export async function checkShippedIndex(index: CatalogIndex, file: Uint8Array, slicer: Slicer): Promise<void> {
  const ids = await IdTable.check(index.ids, slicer);
  const n = ids.size;
  await checkBounds(index.bounds, n, slicer);
  if (index.bounds[2 * n - 1]! > file.length)
    throw new RangeError(`a catalogue index's bounds pass the end of its file of ${file.length} bytes`);
  if (!(index.keys instanceof Uint32Array) || index.keys.length !== n)
    throw new RangeError(`a catalogue index holds no key for each of its ${n} items`);
  if (!Array.isArray(index.skipped) || index.skipped.some((s) => typeof s !== 'string'))
    throw new RangeError("a catalogue index's skipped items are not text");
  if (index.categories) await checkCategories(index.categories, n, slicer);
}

/** Where a model's catalogue index is, as its vectors' manifest names it: {@link findShippedIndex}. */
export interface ListedIndex {
  /** The vectors' folder. */
  base: string;
  file: NonNullable<VectorsManifest['catalogIndex']>;
}

/**
 * Where the model at `model` (a folder URL) ships its catalogue's index: named by the model
 * manifest's vectors folder's manifest (`catalogIndex`). Null where it ships none.
 */
export async function findShippedIndex(fetcher: Fetcher, model: string): Promise<ListedIndex | null> {
  // Both manifests may be replaced in place by a maintenance run: checked with the server.
  const manifest = await fetchJson<{ vectors?: unknown }>(fetcher, joinLocation(model, 'manifest.json'), { revalidate: true });
  if (typeof manifest?.vectors !== 'string') return null;
  const base = joinLocation(model, manifest.vectors);
  const vectors = await fetchJson<Partial<VectorsManifest>>(fetcher, joinLocation(base, 'manifest.json'), { revalidate: true });
  const f = vectors?.catalogIndex;
  if (!f || typeof f.path !== 'string' || typeof f.digest !== 'string' || !Number.isSafeInteger(f.fileBytes)) return null;
  return { base, file: f };
}

/**
 * The index {@link findShippedIndex} found, downloaded, its sha256 checked (a `ChecksumError`
 * where it is not the manifest's), and read. Meant for the catalogue's worker: the file is hashed
 * in one call to WebCrypto where there is one, which a page's thread would not do with a large
 * file (`sha256Hex` hashes those in script, a piece a task); 15 MB at 1,000,000 items.
 */
export async function readShippedIndex(fetcher: Fetcher, listed: ListedIndex, slicer: Slicer): Promise<ShippedIndex> {
  const location = joinLocation(listed.base, listed.file.path);
  const file = new Uint8Array(await fetcher(location));
  const actual = await sha256Hex(file, Infinity);
  if (actual !== listed.file.sha256) throw new ChecksumError(location, listed.file.sha256, actual);
  const shipped = await readCatalogIndex(file, slicer);
  if (shipped.digest !== listed.file.digest) throw new RangeError("a catalogue index file's digest is not the one its manifest names");
  return shipped;
}

/**
 * The catalogue index the shop ships with the model at `model` ({@link findShippedIndex}, then
 * {@link readShippedIndex}); null where it ships none, a rejection where it names one that cannot
 * be read whole.
 */
export async function fetchShippedIndex(fetcher: Fetcher, model: string, slicer: Slicer): Promise<ShippedIndex | null> {
  const listed = await findShippedIndex(fetcher, model);
  return listed && readShippedIndex(fetcher, listed, slicer);
}
