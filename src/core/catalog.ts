/** Catalogue validation: every problem is reported before anything is built or changed. */
import { CatalogError } from './errors.js';
import { IdTable } from './id-table.js';
import { ShardedMap } from './sharded-map.js';
import { inRanges } from './slice.js';
import type { Slicer } from './slice.js';
import { blockEnd, COMPACT_BLOCK_BYTES, nextBlock } from './deflate-blocks.js';
import type { BlockBatch, BlockDeflater, DeflatedBlocks } from './deflate-blocks.js';
import type { Item } from './types.js';
import type * as Fflate from 'fflate';

/** A validated catalogue with an id → index map. Items are frozen copies of the input. */
export interface Catalog {
  /**
   * Every item. On a catalogue restored lazily (see {@link lazyCatalog}) the first use parses
   * the items not parsed yet, in one go: code on the page's path uses `item(i)`.
   */
  readonly items: readonly Item[];
  /** Item i (parsed on first use on a lazy catalogue). */
  item(i: number): Item;
  /** Item i's id, without parsing the item. */
  id(i: number): string;
  /** Item i's category (undefined: none), without parsing the item where the catalogue has a {@link CategoryTable}. */
  category(i: number): string | undefined;
  indexOf(id: string): number | undefined;
  readonly size: number;
  /** What was wrong with the items that were skipped (empty when every item was usable). */
  readonly skipped: readonly string[];
  /** Parses every item not parsed yet, in time slices (a no-op on an eager catalogue). */
  materialise(slicer: Slicer): Promise<void>;
  /**
   * What the catalogue holds to give its items: 'parsed' (item objects), 'file' (the file's
   * bytes, parsed as asked for) or 'compressed' (the file's text in deflated blocks), and the
   * bytes held for the text (0 when parsed).
   */
  readonly held: CatalogHeld;
}

export interface CatalogHeld {
  form: 'parsed' | 'file' | 'compressed';
  bytes: number;
}

/** A catalogue read from a file: also the position of each kept item in the file's array. */
export interface ValidatedCatalog extends Catalog {
  /** For each kept item, its index in the input array. */
  readonly rawIndex: Int32Array;
}

const MAX_LISTED = 5;

/**
 * Checks and copies a catalogue. An item with a problem (no id, a duplicated id, an empty or
 * non-string title, a price that is not a finite number ≥ 0, a non-string text field) is skipped
 * and described in `skipped`: one bad row in a feed of 50,000 must not switch recommendations off
 * for the whole shop. Throws a `CatalogError` only when no item is usable (or the input is not a
 * non-empty array), listing the first problems and how to fix them. The input is not mutated.
 */
export function validateCatalog(input: unknown): ValidatedCatalog {
  checkInput(input);
  const builder = new CatalogBuilder();
  const raw = input as unknown[];
  for (let i = 0; i < raw.length; i++) builder.add(raw[i], i);
  return builder.finish(input);
}

/**
 * {@link validateCatalog} in time slices (a catalogue of 100,000 items takes about 100 ms).
 * `keep: false` is for a catalogue that is only indexed, then let go (a worker's): its elements
 * stand for the items instead of frozen copies of them, which are most of the work; their
 * `category` and `id` read as the copies' would.
 */
export async function validateCatalogSliced(
  input: unknown,
  slicer: Slicer,
  keep = true,
  places: ItemPlaces = ELEMENT_PLACES,
): Promise<ValidatedCatalog> {
  checkInput(input);
  const builder = new CatalogBuilder(keep, places);
  const raw = input as unknown[];
  for (let i = 0; i < raw.length; i++) {
    builder.add(raw[i], i);
    if ((i & 511) === 511) await slicer.maybeYield();
  }
  return builder.finish(input);
}

/** Throws the `CatalogError` of an input that is not a non-empty array. */
function checkInput(input: unknown): void {
  if (!Array.isArray(input)) {
    throw new CatalogError(
      'catalog/not-array',
      `The catalogue must be a JSON array of items { id, title, description?, price?, category?, image? }, got ${input === null ? 'null' : typeof input}.`,
    );
  }
  if (input.length === 0) {
    throw new CatalogError('catalog/empty', 'The catalogue is empty: give at least one item { id, title }.');
  }
}

/**
 * {@link validateCatalog} one element at a time: `add` each element of the input array in order
 * (as a file is parsed, so that the checks run while it still arrives), then `finish` with the
 * whole input, which is checked as {@link validateCatalog} checks it before anything else is
 * reported. `keep` as for {@link validateCatalogSliced}.
 */
export class CatalogBuilder {
  private readonly problems: string[] = [];
  private readonly items: Item[] = [];
  private readonly index = new ShardedMap<number>();
  private readonly rawIndex: number[] = [];
  /** The ids taken so far, each with its element's place in the input (a duplicate names both). */
  private readonly seen = {
    has: (id: string): boolean => this.index.has(id),
    get: (id: string): number | undefined => {
      const k = this.index.get(id);
      return k === undefined ? undefined : this.rawIndex[k];
    },
  };

  constructor(
    private readonly keep = true,
    private readonly places: ItemPlaces = ELEMENT_PLACES,
  ) {}

  add(raw: unknown, i: number): void {
    const { problems, index, items } = this;
    const item = checkItem(raw, i, this.seen, this.keep, this.places);
    if (typeof item === 'string') {
      problems.push(item);
      return;
    }
    index.set(item.id, items.length);
    items.push(item);
    this.rawIndex.push(i);
  }

  finish(input: unknown): ValidatedCatalog {
    checkInput(input);
    const { problems, index, items } = this;
    if (items.length === 0) {
      throw new CatalogError(
        'catalog/invalid',
        `The catalogue has no usable item: ${describeProblems(problems)}. Fix these items; nothing was loaded.`,
      );
    }
    Object.freeze(items);
    return {
      items,
      item: (i) => items[i]!,
      id: (i) => items[i]!.id,
      // An element standing for its item may hold null where a copy has nothing.
      category: (i) => items[i]!.category ?? undefined,
      size: items.length,
      indexOf: (id: string) => index.get(String(id)),
      skipped: Object.freeze(problems),
      rawIndex: Int32Array.from(this.rawIndex),
      held: { form: 'parsed', bytes: 0 },
      materialise: () => Promise.resolve(),
    };
  }
}

/**
 * How a problem names an element by its place `i` in the input: as the element of an array
 * (`item 3`, the default), or where the input was read from a file, by its line there.
 */
export interface ItemPlaces {
  /** The element alone (`item 3`). */
  one(i: number): string;
  /** Two elements (`items 1 and 3`). */
  two(a: number, b: number): string;
  /** Added after an element named by its id (`""`, or ` (line 5)`). */
  after(i: number): string;
}

/** Elements named by their index in the input array. */
const ELEMENT_PLACES: ItemPlaces = { one: (i) => `item ${i}`, two: (a, b) => `items ${a} and ${b}`, after: () => '' };

/**
 * Checks one element of the input array (at `i`): a frozen copy of it, or what is wrong with it.
 * `seen` holds the ids taken so far, each with its element's place (a duplicate is a problem).
 */
function checkItem(
  raw: unknown,
  i: number,
  seen: Pick<ReadonlyMap<string, number>, 'has' | 'get'>,
  keep = true,
  places: ItemPlaces = ELEMENT_PLACES,
): Item | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return `${places.one(i)} is not an object`;
  const r = raw as Record<string, unknown>;
  const idRaw = r['id'];
  if (idRaw === undefined || idRaw === null || idRaw === '' || (typeof idRaw !== 'string' && typeof idRaw !== 'number')) {
    return `${places.one(i)} has no id (a non-empty string or number is required)`;
  }
  const id = String(idRaw);
  if (seen.has(id)) return `id ${JSON.stringify(id)} is duplicated (${places.two(seen.get(id)!, i)}); ids must be unique`;
  // Only where something is wrong: most items are fine, and a catalogue may hold a million.
  const named = (): string => `item ${JSON.stringify(id)}${places.after(i)}`;
  const title = r['title'];
  if (typeof title !== 'string' || title.trim() === '') {
    return `${named()} has ${typeof title === 'string' ? 'an empty' : 'a non-string'} title; give every item a non-empty text title`;
  }
  // Not kept: the element itself stands for the item, once checked (its id is already a string).
  const asIs = !keep && typeof idRaw === 'string';
  const item: Item = asIs ? (r as unknown as Item) : { id, title };
  for (const key of ['description', 'category', 'image'] as const) {
    const v = r[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return `${named()} has a non-string ${key}`;
    if (!asIs) item[key] = v;
  }
  const price = r['price'];
  if (price !== undefined && price !== null) {
    if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
      return `${named()} has price ${String(price)}; a price must be a finite number ≥ 0 or left out`;
    }
    if (!asIs) item.price = price;
  }
  return asIs ? item : Object.freeze(item);
}

/**
 * Checks, in slices, that a saved catalogue's `bounds` (the byte offsets of each item's element's
 * start and end in its file, two per item) fit `n` items in order. Needs only what was saved, so a
 * load runs it while the file itself still downloads. Throws a RangeError on anything else.
 */
export async function checkBounds(bounds: Uint32Array, n: number, slicer: Slicer): Promise<void> {
  if (n === 0 || bounds.length !== 2 * n)
    throw new RangeError(`a restored catalogue needs 2 bounds per id (${n} ids, ${bounds.length} bounds)`);
  await inRanges(n, slicer, (from, to) => {
    for (let i = from; i < to; i++) {
      // Each item's bytes lie after the previous item's.
      if (bounds[2 * i]! > bounds[2 * i + 1]! || (i > 0 && bounds[2 * i - 1]! > bounds[2 * i]!)) {
        throw new RangeError(`a restored catalogue's bounds are out of order at item ${i}`);
      }
    }
  });
}

/**
 * A catalogue restored from what an earlier load of the same file bytes found (see
 * `prepared.ts`): the ids, and where each kept item lies in the file. Ids are indexed at once,
 * in slices; an item is parsed from its bytes when first asked for, so a page needs to parse only
 * what it shows. The bytes are released once every item is parsed.
 */
export async function lazyCatalog(
  bytes: Uint8Array,
  bounds: Uint32Array,
  ids: readonly string[],
  skipped: readonly string[],
  slicer: Slicer,
): Promise<Catalog> {
  await checkBounds(bounds, ids.length, slicer);
  return lazyCatalogFrom(bytes, await IdTable.build((i) => ids[i]!, ids.length, slicer), bounds, skipped);
}

/**
 * {@link lazyCatalog} from ids already in a table and bounds already checked
 * ({@link checkBounds}); throws a RangeError when the bounds pass the file's end.
 */
export function lazyCatalogFrom(
  bytes: Uint8Array,
  ids: IdTable,
  bounds: Uint32Array,
  skipped: readonly string[],
  categories: CategoryTable | null = null,
): Catalog {
  checkFits(bytes, bounds, ids.size);
  return lazyOver(fileSource(bytes, bounds), ids, skipped, categories);
}

/** The items' text of {@link lazyCatalogFrom}: item i is `bytes[bounds[2i], bounds[2i + 1])`. */
const fileSource = (bytes: Uint8Array, bounds: Uint32Array): ItemText => ({
  form: 'file',
  bytes: bytes.length,
  of: (i) => bytes.subarray(bounds[2 * i], bounds[2 * i + 1]),
});

/**
 * The catalogue {@link lazyCatalogFrom} makes, before its file's bytes are here (a later visit
 * whose saved entry came ahead of them): ids, size, `indexOf` and categories answer at once, so
 * that the head can be built meanwhile; items only once `fill` has given the bytes, or `fillText`
 * the catalogue's compacted text (then it is the catalogue {@link catalogOverText} makes):
 * `item` throws before, `materialise` waits for them. Either is false, and changes nothing, where
 * what it is given does not fit the catalogue; `fail` ends the wait of a `materialise` for text
 * that will not come.
 */
export function catalogAhead(
  ids: IdTable,
  bounds: Uint32Array,
  skipped: readonly string[],
  categories: CategoryTable | null = null,
): { catalog: Catalog; fill(bytes: Uint8Array): boolean; fillText(text: CompactText): Promise<boolean>; fail(reason: unknown): void } {
  let held: ItemText | null = null;
  // The items' bounds, until the catalogue is filled: the compacted text needs none (8 MB at a
  // million items), and the file's source holds its own.
  let within: Uint32Array | null = bounds;
  let settle: { resolve: () => void; reject: (reason: unknown) => void } = { resolve: () => undefined, reject: () => undefined };
  const here = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  here.catch(() => undefined);
  const catalog = lazyOver(
    {
      get form() {
        return held ? held.form : 'file';
      },
      get bytes() {
        return held ? held.bytes : 0;
      },
      of: (i) => {
        if (!held) throw new Error(`item ${i} was asked for before the catalogue's file was read`);
        return held.of(i);
      },
    },
    ids,
    skipped,
    categories,
    here,
  );
  const take = (text: ItemText): true => {
    held = text;
    within = null;
    settle.resolve();
    return true;
  };
  return {
    catalog,
    fill(bytes) {
      if (!within) return false;
      try {
        checkFits(bytes, within, ids.size);
      } catch {
        return false;
      }
      return take(fileSource(bytes, within));
    },
    async fillText(text) {
      if (held) return false;
      try {
        return take(await blockSource(text, ids.size));
      } catch {
        return false;
      }
    },
    fail: (reason) => settle.reject(reason),
  };
}

/** Throws a RangeError unless `bounds` hold two offsets for each of `n` items within the file's `bytes`. */
function checkFits(bytes: Uint8Array, bounds: Uint32Array, n: number): void {
  if (bounds.length !== 2 * n || bounds[2 * n - 1]! > bytes.length) {
    throw new RangeError(`a catalogue's bounds do not fit its ${n} ids and its file of ${bytes.length} bytes`);
  }
}

/** Bytes of raw text per compressed block: see `deflate-blocks.ts`. */
export { COMPACT_BLOCK_BYTES };

/**
 * Bytes of the preset dictionary every block of a compacted catalogue is deflated with: items taken
 * evenly across the catalogue, so that a block finds the catalogue's keys, words and formats in it
 * from its first byte. With it, blocks of 32 KiB hold less than blocks of 64 KiB without one did
 * (33.0 MB against 33.7 MB for the bench's 1,000,000 items).
 */
export const COMPACT_DICTIONARY_BYTES = 4 * 1024;

/**
 * The preset dictionary of a compacted catalogue of `n` items: items spread evenly across it, each
 * ended by NUL, until `bytes` are filled (the last one cut short). `text(i)` is item i's text.
 */
export function compactDictionary(n: number, text: (i: number) => Uint8Array, bytes = COMPACT_DICTIONARY_BYTES): Uint8Array {
  const dict = new Uint8Array(bytes);
  let at = 0;
  // At most 512 items: a catalogue of small items fills the dictionary from a spread of them.
  const wanted = Math.min(n, 512);
  for (let k = 0; k < wanted && at < bytes; k++) {
    const t = text(Math.floor(((k + 0.5) * n) / wanted));
    const m = Math.min(t.length, bytes - at);
    dict.set(t.subarray(0, m), at);
    at += m;
    if (at < bytes) dict[at++] = 0;
  }
  return at === bytes ? dict : dict.slice(0, at);
}

/**
 * The same catalogue as {@link lazyCatalogFrom}, holding the kept items' text deflated in blocks
 * of consecutive items (about 4× smaller on product feeds) instead of the file's bytes and where
 * each item lies in it: an item is parsed after inflating its block, when first asked for. Made
 * in slices of `slicer`; the caller drops the file's bytes once it has the result. Same ids, same
 * indices, same items.
 *
 * With `deflater` (a Web Worker's), the blocks are deflated there, in batches of about
 * {@link COMPACT_BATCH_BYTES} of text copied from the file: the page only copies the batches, and
 * takes every block back at once, packed. Without it, on this thread, a block per slice.
 */
export async function compactCatalog(
  bytes: Uint8Array,
  ids: IdTable,
  bounds: Uint32Array,
  skipped: readonly string[],
  slicer: Slicer,
  categories: CategoryTable | null = null,
  deflater?: BlockDeflater,
): Promise<Catalog> {
  return catalogOverText(await compactText(bytes, bounds, ids.size, slicer, deflater), ids, skipped, categories);
}

/**
 * A compacted catalogue's text: its items' texts deflated in blocks (see {@link compactCatalog}),
 * with the blocks' preset dictionary. A page keeps it beside the saved entry, so that a later visit
 * takes it as it is ({@link catalogOverText}) rather than the file's bytes (about 4× more).
 */
export interface CompactText {
  blocks: DeflatedBlocks;
  dictionary: Uint8Array;
}

/** The blocks {@link compactCatalog} makes of the file's `n` kept items, without the catalogue over them. */
export async function compactText(
  bytes: Uint8Array,
  bounds: Uint32Array,
  n: number,
  slicer: Slicer,
  deflater?: BlockDeflater,
): Promise<CompactText> {
  checkFits(bytes, bounds, n);
  const dictionary = compactDictionary(n, (i) => bytes.subarray(bounds[2 * i], bounds[2 * i + 1]));
  if (deflater) return { blocks: await deflatedElsewhere(bytes, bounds, n, dictionary, deflater, slicer), dictionary };
  const scratch = new Uint8Array(COMPACT_BLOCK_BYTES);
  // Consecutive items' texts while they fit in a block; an item larger than a block has one of its own.
  const run = (i: number): { block: Uint8Array; next: number } => nextBlock(bytes, bounds, i, n, scratch);
  return { blocks: await packed(here(run, n, dictionary, slicer), slicer), dictionary };
}

/** Bytes of a file's text the page copies into each batch it hands a {@link BlockDeflater}. */
export const COMPACT_BATCH_BYTES = 512 * 1024;

/** A deflated block: its bytes, how many items it holds, and its inflated size. */
interface Deflated {
  block: Uint8Array;
  count: number;
  raw: number;
}

/** The blocks `run(i)` gives, deflated here, one per slice. */
async function* here(
  run: (i: number) => { block: Uint8Array; next: number },
  n: number,
  dictionary: Uint8Array,
  slicer: Slicer,
): AsyncGenerator<Deflated> {
  // Loaded only by a page that compacts: most catalogues are far below the threshold.
  const { deflateSync } = await import('fflate');
  for (let i = 0; i < n;) {
    const { block, next } = run(i);
    // The smallest hash table (4,096 heads), as in `deflateBlocks`.
    yield { block: deflateSync(block, { level: 6, mem: 0, dictionary }), count: next - i, raw: block.length };
    i = next;
    await slicer.maybeYield();
  }
}

/**
 * The file's blocks, deflated by `deflater` in batches of whole blocks (so they are the blocks
 * {@link here} would make), two batches in flight so that the deflater never waits for the page.
 * Each batch's text and bounds are copied into buffers the deflater hands back, used again for
 * the next batches: a page that allocated a fresh buffer per batch paused for its garbage
 * collector (one 512 KiB copy took up to 43 ms at 1,000,000 items).
 */
async function deflatedElsewhere(
  bytes: Uint8Array,
  bounds: Uint32Array,
  n: number,
  dictionary: Uint8Array,
  deflater: BlockDeflater,
  slicer: Slicer,
): Promise<DeflatedBlocks> {
  const sizeOf = (k: number): number => bounds[2 * k + 1]! - bounds[2 * k]! + 1;
  const pool: { text: ArrayBuffer; bounds: ArrayBuffer }[] = [];
  let i = 0;
  const send = (): Promise<BlockBatch> | null => {
    if (i >= n) return null;
    const first = i;
    let size = 0;
    while (i < n && size < COMPACT_BATCH_BYTES) {
      const j = blockEnd(sizeOf, i, n);
      for (let k = i; k < j; k++) size += sizeOf(k);
      i = j;
    }
    const start = bounds[2 * first]!;
    const length = bounds[2 * i - 1]! - start;
    const count = 2 * (i - first);
    let own = pool.pop();
    // A batch larger than the buffers (an item larger than a batch, text between items) gets larger ones.
    if (!own || own.text.byteLength < length || own.bounds.byteLength < 4 * count) {
      own = {
        text: new ArrayBuffer(Math.max(length, COMPACT_BATCH_BYTES + COMPACT_BLOCK_BYTES, own?.text.byteLength ?? 0)),
        bounds: new ArrayBuffer(Math.max(4 * count, own?.bounds.byteLength ?? 0)),
      };
    }
    const text = new Uint8Array(own.text, 0, length);
    text.set(bytes.subarray(start, start + length));
    const rel = new Uint32Array(own.bounds, 0, count);
    for (let k = 0; k < count; k++) rel[k] = bounds[2 * first + k]! - start;
    const got = deflater.add({ text, bounds: rel, dictionary });
    got.catch(() => undefined); // awaited in turn below; one that fails after another did is not
    return got;
  };
  try {
    let ahead = [send(), send()];
    while (ahead[0]) {
      const back = await ahead[0];
      pool.push({ text: back.text.buffer as ArrayBuffer, bounds: back.bounds.buffer as ArrayBuffer });
      ahead = [ahead[1]!, send()];
      await slicer.maybeYield();
    }
    return await deflater.finish();
  } finally {
    deflater.close();
  }
}

/**
 * {@link compactCatalog} from a catalogue's parsed items (each written back as JSON) rather than
 * its file: a first visit can let the file's bytes go as soon as it has parsed them.
 */
export async function compactParsed(
  catalog: Catalog,
  ids: IdTable,
  slicer: Slicer,
  categories: CategoryTable | null = null,
): Promise<Catalog> {
  if (ids.size !== catalog.size) throw new RangeError(`${ids.size} ids for a catalogue of ${catalog.size} items`);
  return catalogOverText(await compactParsedText(catalog, slicer), ids, catalog.skipped, categories);
}

/** The blocks {@link compactParsed} makes, without the catalogue over them. */
export async function compactParsedText(catalog: Catalog, slicer: Slicer): Promise<CompactText> {
  const encoder = new TextEncoder();
  // A run of items written as one string and encoded once (a million small encodes cost seconds),
  // while they fit in a block (counted in UTF-16 units: close enough to bytes for a mark); an item
  // larger than a block has one of its own. The item that did not fit starts the next run.
  let ahead: { j: number; t: string } | null = null;
  const textOf = (j: number): string => (ahead?.j === j ? ahead.t : JSON.stringify(catalog.item(j)));
  const run = (i: number): { block: Uint8Array; next: number } => {
    const parts = [textOf(i)];
    let size = parts[0]!.length + 1;
    let j = i + 1;
    for (; j < catalog.size; j++) {
      const t = JSON.stringify(catalog.item(j));
      if (size + t.length + 1 > COMPACT_BLOCK_BYTES) {
        ahead = { j, t };
        break;
      }
      parts.push(t);
      size += t.length + 1;
    }
    parts.push('');
    return { block: encoder.encode(parts.join('\u0000')), next: j };
  };
  const dictionary = compactDictionary(catalog.size, (i) => encoder.encode(JSON.stringify(catalog.item(i))));
  return { blocks: await packed(here(run, catalog.size, dictionary, slicer), slicer), dictionary };
}

const EMPTY_BLOCK = new Uint8Array(0);

/**
 * `blocks` (the deflated blocks of items 0 … n − 1, in order) packed into one buffer, a slice at a
 * time: a few thousand small buffers cost more than their bytes.
 */
async function packed(blocks: AsyncIterable<Deflated>, slicer: Slicer): Promise<DeflatedBlocks> {
  const parts: Uint8Array[] = [];
  const counts: number[] = [];
  const raw: number[] = [];
  for await (const got of blocks) {
    parts.push(got.block);
    counts.push(got.count);
    raw.push(got.raw);
  }
  const ends = new Uint32Array(parts.length);
  let total = 0;
  for (let b = 0; b < parts.length; b++) ends[b] = total += parts[b]!.length;
  const out = new Uint8Array(total);
  // Copied a slice at a time: 34 MB of fresh memory at a million items in one go is a long task.
  for (let b = 0; b < parts.length; b++) {
    out.set(parts[b]!, b === 0 ? 0 : ends[b - 1]);
    parts[b] = EMPTY_BLOCK;
    await slicer.maybeYield();
  }
  return { packed: out, ends, counts: Uint32Array.from(counts), raw: Uint32Array.from(raw) };
}

/**
 * The compacted catalogue over `text` (see {@link compactCatalog}): each block the NUL-terminated
 * texts of its items, deflated with the preset dictionary, inflated when one of its items is
 * first asked for. Throws where the blocks do not hold `ids.size` items.
 */
export async function catalogOverText(
  text: CompactText,
  ids: IdTable,
  skipped: readonly string[],
  categories: CategoryTable | null,
): Promise<Catalog> {
  return lazyOver(await blockSource(text, ids.size), ids, skipped, categories);
}

/**
 * The inflate of a compacted catalogue's blocks, loaded as first asked for: only by a page that
 * compacts, or takes a compacted text (most catalogues are far below the threshold).
 */
export const readyInflate = (): Promise<typeof Fflate> => import('fflate');

/** The items' text of {@link catalogOverText}: a block inflated as one of its items is asked for. */
async function blockSource(text: CompactText, n: number): Promise<ItemText> {
  const { inflateSync } = await readyInflate();
  const { dictionary } = text;
  const { packed, ends: blockEnds, counts, raw: rawSize } = text.blocks;
  const m = counts.length;
  if (blockEnds.length !== m || rawSize.length !== m || (m > 0 ? blockEnds[m - 1] !== packed.length : packed.length !== 0)) {
    throw new Error('the compacted blocks do not fit together');
  }
  // A block is its items' texts, each ended by NUL, a byte that valid JSON text never holds: the
  // compacted catalogue needs no per-item offsets (the bounds, 8 bytes an item, are let go).
  const at = new Uint32Array(m + 1);
  at.set(blockEnds, 1);
  for (let b = 0; b < m; b++) if (at[b + 1]! < at[b]!) throw new Error('the compacted blocks do not fit together');
  const starts = new Int32Array(m + 1);
  for (let b = 0; b < m; b++) starts[b + 1] = starts[b]! + counts[b]!;
  if (starts[m] !== n) throw new Error(`the compacted blocks hold ${starts[m]} items of ${n}`);
  const blockOf = (i: number): number => {
    let lo = 0;
    let hi = starts.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  // The block inflated last, and where each of its items ends: items are often asked for in
  // runs (a page of one department, a scan).
  let open = -1;
  let inflated = new Uint8Array(0);
  let ends: number[] = [];
  return {
    form: 'compressed',
    bytes: packed.length + at.byteLength + starts.byteLength + rawSize.byteLength + dictionary.byteLength,
    of: (i) => {
      const b = blockOf(i);
      if (b !== open) {
        inflated = inflateSync(packed.subarray(at[b], at[b + 1]), { out: new Uint8Array(rawSize[b]!), dictionary });
        ends = [];
        for (let e = inflated.indexOf(0); e >= 0; e = inflated.indexOf(0, e + 1)) ends.push(e);
        open = b;
      }
      const k = i - starts[b]!;
      return inflated.subarray(k === 0 ? 0 : ends[k - 1]! + 1, ends[k]);
    },
  };
}

/** Where a lazy catalogue's items' text comes from. */
interface ItemText {
  form: 'file' | 'compressed';
  /** Bytes held for the text. */
  bytes: number;
  /** Item i's JSON text. */
  of(i: number): Uint8Array;
}

function lazyOver(
  source: ItemText,
  ids: IdTable,
  skipped: readonly string[],
  categories: CategoryTable | null,
  /** Where the text is not here yet: what `materialise` waits for. */
  here?: Promise<void>,
): Catalog {
  const n = ids.size;
  // Only the items asked for: a page shows a few hundred of a million (an n-long array is 4 MB).
  const parsed = new Map<number, Item>();
  let left = n;
  let text: ItemText | null = source;
  const decoder = new TextDecoder();
  const none = new Map<string, number>();
  let all: readonly Item[] | null = null;
  const item = (i: number): Item => {
    const have = all ? all[i] : parsed.get(i);
    if (have) return have;
    if (!text || !(i >= 0 && i < n)) throw new RangeError(`item index ${i} is outside the catalogue`);
    const got = checkItem(JSON.parse(decoder.decode(text.of(i))), i, none);
    // The bytes are those the bounds were found in (same digest): anything else is a bug.
    if (typeof got === 'string' || got.id !== ids.id(i)) throw new Error(`the restored catalogue does not match its file at item ${i}`);
    parsed.set(i, got);
    if (--left === 0) text = null;
    return got;
  };
  const everything = (): readonly Item[] => {
    if (!all) {
      const list = new Array<Item>(n);
      for (let i = 0; i < n; i++) list[i] = item(i);
      all = Object.freeze(list);
      parsed.clear();
    }
    return all;
  };
  const noneCode = categories ? noCategory(categories.codes) : NO_CATEGORY;
  return {
    get items() {
      return everything();
    },
    item,
    id: (i) => ids.id(i),
    category: categories
      ? (i) => {
          if (!(i >= 0 && i < n)) throw new RangeError(`item index ${i} is outside the catalogue`);
          const c = categories.codes[i]!;
          return c === noneCode ? undefined : categories.names[c];
        }
      : (i) => item(i).category,
    size: n,
    indexOf: (id: string) => ids.indexOf(String(id)),
    skipped: Object.freeze([...skipped]),
    get held() {
      return text ? { form: text.form, bytes: text.bytes } : { form: 'parsed' as const, bytes: 0 };
    },
    async materialise(s: Slicer) {
      await here;
      for (let i = 0; i < n && left > 0; i++) {
        item(i);
        if ((i & 255) === 255) await s.maybeYield();
      }
      everything();
    },
  };
}

/**
 * A catalogue whose backing can be replaced by an equal one (same ids at the same indices) while
 * the page uses it: a page that is ready swaps its catalogue for the compacted one
 * ({@link compactCatalog}). Every member reads the current backing, so functions taken from it
 * earlier (`indexOf`) follow the swap.
 */
export interface SwappableCatalog extends Catalog {
  swap(next: Catalog): void;
}

export function swappable(initial: Catalog): SwappableCatalog {
  let cur = initial;
  return {
    get items() {
      return cur.items;
    },
    item: (i) => cur.item(i),
    id: (i) => cur.id(i),
    category: (i) => cur.category(i),
    indexOf: (id) => cur.indexOf(id),
    get size() {
      return cur.size;
    },
    get skipped() {
      return cur.skipped;
    },
    get held() {
      return cur.held;
    },
    materialise: (s) => cur.materialise(s),
    swap(next: Catalog) {
      if (next.size !== cur.size || (next.size > 0 && next.id(next.size - 1) !== cur.id(cur.size - 1))) {
        throw new Error('a catalogue can be swapped only for one with the same items');
      }
      cur = next;
    },
  };
}

/**
 * Every item's category as a small number, so that what groups items by department (the list
 * before any click, sharing the list among a shopper's interests) reads a category without
 * parsing the item: on a later visit items are parsed only as they are shown.
 */
export interface CategoryTable {
  /** The distinct categories, in order of first appearance. */
  names: string[];
  /**
   * Item i's category: an index into `names`, or {@link noCategory} of the array. One byte an
   * item where there are fewer than 255 categories, two bytes up to 65,535.
   */
  codes: Uint8Array | Uint16Array;
}

/** The code of an item without a category in two-byte codes. */
export const NO_CATEGORY = 0xffff;

/** The code of an item without a category in `codes`: the largest value the array holds. */
export const noCategory = (codes: Uint8Array | Uint16Array): number => (codes instanceof Uint8Array ? 0xff : NO_CATEGORY);

/** The catalogue's {@link CategoryTable}, or null when it has more distinct categories than a code can tell apart. */
export async function buildCategories(catalog: Catalog, slicer: Slicer): Promise<CategoryTable | null> {
  const names: string[] = [];
  const seen = new Map<string, number>();
  const codes = new Uint16Array(catalog.size);
  for (let i = 0; i < catalog.size; i++) {
    const c = catalog.category(i);
    if (c === undefined) codes[i] = NO_CATEGORY;
    else {
      let k = seen.get(c);
      if (k === undefined) {
        if (names.length === NO_CATEGORY) return null;
        seen.set(c, (k = names.length));
        names.push(c);
      }
      codes[i] = k;
    }
    if ((i & 2047) === 2047) await slicer.maybeYield();
  }
  if (names.length >= 0xff) return { names, codes };
  // Fewer than 255 categories (most shops): one byte an item.
  const narrow = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) narrow[i] = codes[i] === NO_CATEGORY ? 0xff : codes[i]!;
  return { names, codes: narrow };
}

/** Checks, in slices, that a saved {@link CategoryTable} fits `n` items; throws a RangeError if not. */
export async function checkCategories(table: CategoryTable, n: number, slicer: Slicer): Promise<void> {
  const { names, codes } = table;
  if (
    !Array.isArray(names) ||
    !(codes instanceof Uint16Array || codes instanceof Uint8Array) ||
    codes.length !== n ||
    names.length > noCategory(codes)
  ) {
    throw new RangeError(`a saved category table does not fit ${n} items`);
  }
  const none = noCategory(codes);
  if (names.some((x) => typeof x !== 'string')) throw new RangeError('a saved category table has a name that is not a string');
  const named = names.length;
  await inRanges(n, slicer, (from, to) => {
    for (let i = from; i < to; i++) {
      const c = codes[i]!;
      if (c >= named && c !== none) throw new RangeError(`a saved category table's code at item ${i} is out of range`);
    }
  });
}

/** "3 invalid items: a; b; c (and 2 more)". */
export function describeProblems(problems: readonly string[]): string {
  const more = problems.length > MAX_LISTED ? ` (and ${problems.length - MAX_LISTED} more)` : '';
  return `${problems.length} invalid item${problems.length > 1 ? 's' : ''}: ${problems.slice(0, MAX_LISTED).join('; ')}${more}`;
}
