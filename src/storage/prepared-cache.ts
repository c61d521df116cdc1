/**
 * The prepared-catalogue cache in IndexedDB (`clickwise-prepared`, shared by every namespace of
 * an origin: what it holds depends on the catalogue file and the model, not on the shopper).
 * One entry per catalogue location; the {@link MAX_ENTRIES} most recently used are kept (a shop
 * that versions its catalogue URL would otherwise collect one entry per release).
 *
 * An entry at 1,000,000 items is about 90 MB, and IndexedDB copies a value on the page's main
 * thread as it is written and read. So an entry is kept as a small header and pieces of at most
 * {@link PIECE_BYTES}, each its own record, written and read by one request each, so that each
 * copy runs in a task of its own and none holds the page for long. An entry's pieces carry its
 * generation (its start time first) and are written in batches; its header, written last, names
 * the generation: a reader sees a whole entry or none. Of two tabs writing one location at once,
 * the entry begun later is kept.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
import type { CompactText, MatrixShape, PreparedCache, PreparedEntry, PreparedMatrix, SavedBase, SavedEntry } from '../core/index.js';
import { nextTask, Slicer } from '../core/index.js';
import { asciiTextOf } from '../core/id-table.js';
import { HEADERS_STORE, PREPARED_DB } from './prepared-probe.js';
import { keepEntryCopy, keepTextCopy } from './file-copy.js';
import type { Kind, Numbers } from '../core/typed-arrays.js';
import { KINDS, kindOf } from '../core/typed-arrays.js';

/** Catalogue locations kept. */
export const MAX_ENTRIES = 3;

/** Largest piece of an entry, in bytes (or UTF-16 code units of ids). */
export const PIECE_BYTES = 1 << 20;

/**
 * Piece requests kept in flight while an entry is read. IndexedDB hands back a transaction's
 * results in order, and dispatches every result that is ready by then in the same task: with all
 * of an entry's pieces asked for at once, a page deserialised several of them (three 4 MiB pieces at
 * 100,000 items) in one long task. With two in flight, a task deserialises at most two pieces.
 */
export const READ_AHEAD = 2;

/**
 * The most bytes of pieces written in one transaction. A click's append to the learning log waits
 * for the transaction being written: with the whole entry in one (72 MB at 1,000,000 items), a first
 * visit's clicks waited for it. With a transaction per 1 MiB piece, the entry took so long to
 * write (each piece waiting its turn behind the compaction's slices) that a page opened 3.5 s
 * later did not find it.
 */
export const BATCH_BYTES = 8 << 20;

/** Where an array's pieces are: its type, length and how many pieces. */
interface ArrayRef {
  kind: Kind;
  length: number;
  pieces: number;
}

/** The layout of an entry's pieces; an entry of another layout is made again (4: ids' lengths and marks, not ends). */
const FORMAT = 4;

interface Header {
  format: number;
  generation: string;
  digest: string;
  skipped: string[];
  ids: { textPieces: number; lengths: ArrayRef; marks: ArrayRef; slots: ArrayRef };
  bounds: ArrayRef;
  spread: ArrayRef;
  categories: { names: string[]; codes: ArrayRef } | null;
  matrix: {
    modelKey: string;
    dims: number;
    embeddings: { shipped: number; cached: number; encoded: number };
    codes: ArrayRef;
    scales: ArrayRef;
    /** The aligned base's arrays kept with the matrix (`PreparedMatrix.base`), by name; absent: none kept. */
    base?: Record<string, ArrayRef>;
  } | null;
}

type Piece = Numbers | string;

interface PreparedDB extends DBSchema {
  headers: { key: string; value: Header };
  /** Key: [location, generation, part name, index]. */
  pieces: { key: [string, string, string, number]; value: Piece };
  /** Location → when a page last used its entry (ms since epoch). */
  used: { key: string; value: number };
}

/** IndexedDB-backed {@link PreparedCache}. */
export class IndexedDbPreparedCache implements PreparedCache {
  private readonly pending = new Set<Promise<unknown>>();
  private closing = false;
  private constructor(
    private readonly db: IDBPDatabase<PreparedDB>,
    private readonly now: () => number,
    private readonly pieceBytes: number,
    private readonly batchBytes: number,
    private readonly readAhead: number,
  ) {}

  /**
   * @param now the clock (tests move it forward).
   * @param pieceBytes the largest piece (tests make it small).
   * @param batchBytes the most bytes of pieces written in one transaction (tests make it small).
   * @param readAhead piece requests in flight while an entry is read: {@link READ_AHEAD} on a
   *   page; a worker, which holds no page, asks for every piece at once (`Infinity`).
   */
  static async open(
    now: () => number = Date.now,
    pieceBytes = PIECE_BYTES,
    batchBytes = BATCH_BYTES,
    readAhead = READ_AHEAD,
  ): Promise<IndexedDbPreparedCache> {
    const db = await openDB<PreparedDB>(PREPARED_DB, 1, {
      upgrade(database) {
        database.createObjectStore(HEADERS_STORE);
        database.createObjectStore('pieces');
        database.createObjectStore('used');
      },
    });
    db.addEventListener('versionchange', () => db.close());
    return new IndexedDbPreparedCache(db, now, pieceBytes, Math.max(pieceBytes, batchBytes), Math.max(1, readAhead));
  }

  /**
   * The generation of the entry saved for `location` (a name for this version of it: a new entry
   * gets a new one), or undefined where none is saved. Counts as a use of the entry.
   */
  async generationOf(location: string): Promise<string | undefined> {
    const header = await this.db.get('headers', location);
    if (header?.format !== FORMAT) return undefined;
    this.track(this.db.put('used', this.now(), location));
    return header.generation;
  }

  /** The shape of the item matrix saved for `location`, from its header alone (see `PreparedCache.shapeOf`). */
  async shapeOf(location: string): Promise<MatrixShape | undefined> {
    const header = await this.db.get('headers', location);
    const m = header?.format === FORMAT ? header.matrix : null;
    return m ? { n: m.scales.length, dims: m.dims, modelKey: m.modelKey, base: m.base !== undefined } : undefined;
  }

  /** The entry saved for `location`, with its generation (see {@link generationOf}). */
  async get(location: string): Promise<(SavedEntry & { generation: string }) | undefined> {
    const header = await this.db.get('headers', location);
    if (header?.format !== FORMAT) return undefined;
    this.track(this.db.put('used', this.now(), location));
    // Every piece is its own request, and at most `readAhead` are in flight: each is copied out of
    // the database in a task with few others. The catalogue's pieces are asked for first: its part
    // is handed back while the matrix's pieces are still read.
    const tx = this.db.transaction('pieces', 'readonly');
    const queue = new ReadQueue((key) => tx.store.get(key), this.readAhead);
    const read = (name: string, count: number): Promise<(Piece | undefined)[]> =>
      Promise.all(Array.from({ length: count }, (_, i) => queue.get([location, header.generation, name, i])));
    const catalogParts = Promise.all([
      read('text', header.ids.textPieces),
      read('lengths', header.ids.lengths.pieces),
      read('marks', header.ids.marks.pieces),
      read('slots', header.ids.slots.pieces),
      read('bounds', header.bounds.pieces),
      read('spread', header.spread.pieces),
      read('categories', header.categories?.codes.pieces ?? 0),
    ]);
    const slicer = new Slicer();
    const m = header.matrix;
    const baseParts = Object.entries(m?.base ?? {});
    const matrix: Promise<PreparedMatrix | null> = m
      ? Promise.all([
          read('codes', m.codes.pieces),
          read('scales', m.scales.pieces),
          Promise.all(baseParts.map(([name, ref]) => read(`base.${name}`, ref.pieces))),
        ]).then(async ([codes, scales, bases]) => {
          const c = await join(m.codes, codes, slicer);
          const sc = await join(m.scales, scales, slicer);
          if (!c || !sc) return null;
          // A base part gone missing costs the base only: it is read from the model's files again.
          let base: SavedBase | null = m.base ? {} : null;
          for (const [k, [name, ref]] of baseParts.entries()) {
            const a = base && (await join(ref, bases[k]!, slicer));
            if (a && base) (base as Record<string, Numbers>)[name] = a;
            else base = null;
          }
          return {
            modelKey: m.modelKey,
            dims: m.dims,
            embeddings: m.embeddings,
            codes: c as Int8Array,
            scales: sc as Float32Array,
            ...(base ? { base } : {}),
          };
        })
      : Promise.resolve(null);
    // Awaited by the caller only if the catalogue's part is handed back.
    matrix.catch(() => undefined);
    const [text, lengths, marks, slots, bounds, spread, codes] = await catalogParts;
    // A piece gone missing: the entry is made again.
    if (!text.every((p) => typeof p === 'string')) return undefined;
    const len = await join(header.ids.lengths, lengths, slicer);
    const mk = await join(header.ids.marks, marks, slicer);
    const sl = await join(header.ids.slots, slots, slicer);
    const b = await join(header.bounds, bounds, slicer);
    const s = await join(header.spread, spread, slicer);
    const cat = header.categories;
    const co = cat ? await join(cat.codes, codes, slicer) : null;
    if (!len || !mk || !sl || !b || !s || (cat && !co)) return undefined;
    const ids = {
      text: (text as string[]).join(''),
      lengths: len as Uint8Array | Uint16Array | Uint32Array,
      marks: mk as Uint32Array,
      slots: sl as Int32Array,
    };
    return {
      catalog: {
        digest: header.digest,
        ids,
        bounds: b as Uint32Array,
        skipped: header.skipped,
        spread: s as Int32Array,
        categories: cat ? { names: cat.names, codes: co as Uint8Array | Uint16Array } : null,
      },
      matrix,
      generation: header.generation,
    };
  }

  put(location: string, entry: PreparedEntry, pause?: () => Promise<void>): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the prepared cache is closed'));
    const done = this.write(location, entry, pause);
    this.track(done);
    return done;
  }

  private async write(location: string, entry: PreparedEntry, pause?: () => Promise<void>): Promise<void> {
    const generation = `${this.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    const c = entry.catalog;
    const size = this.pieceBytes;
    const m = entry.matrix;
    // Each piece is copied out as it is put, in that request's task: copying them all first took
    // one long task at 100,000 items.
    // Ids that came as ASCII bytes are cut into string pieces from those, a piece at a time: the
    // whole text's string (7 MB at a million items) would be made in one long task.
    const ascii = asciiTextOf(c.ids);
    const parts: [string, Numbers | Text | null][] = [
      ['text', ascii ? asciiText(ascii) : c.ids.text],
      ['lengths', c.ids.lengths],
      ['marks', c.ids.marks],
      ['slots', c.ids.slots],
      ['bounds', c.bounds],
      ['spread', c.spread],
      ['categories', c.categories ? c.categories.codes : null],
      ['codes', m ? m.codes : null],
      ['scales', m ? m.scales : null],
      ...Object.entries(m?.base ?? {}).map(([name, a]): [string, Numbers] => [`base.${name}`, a]),
    ];
    const ref = (a: Numbers, pieces: number): ArrayRef => ({ kind: kindOf(a), length: a.length, pieces });
    const count = (name: string): number => pieceCount(parts.find(([n]) => n === name)![1], size);
    const header: Header = {
      format: FORMAT,
      generation,
      digest: c.digest,
      skipped: [...c.skipped],
      ids: {
        textPieces: count('text'),
        lengths: ref(c.ids.lengths, count('lengths')),
        marks: ref(c.ids.marks, count('marks')),
        slots: ref(c.ids.slots, count('slots')),
      },
      bounds: ref(c.bounds, count('bounds')),
      spread: ref(c.spread, count('spread')),
      categories: c.categories ? { names: [...c.categories.names], codes: ref(c.categories.codes, count('categories')) } : null,
      matrix: m
        ? {
            modelKey: m.modelKey,
            dims: m.dims,
            embeddings: { ...m.embeddings },
            codes: ref(m.codes, count('codes')),
            scales: ref(m.scales, count('scales')),
            ...(m.base
              ? { base: Object.fromEntries(Object.entries(m.base).map(([name, a]) => [name, ref(a, count(`base.${name}`))])) }
              : {}),
          }
        : null,
    };
    // In a task of its own, after the page's first list.
    await nextTask();
    // Pieces in transactions of at most `batchBytes`, each after `pause` (the recommender's: once
    // the shopper is quiet), so that a click never waits behind the whole entry. A piece's copy
    // into the database runs in that request's task. The pieces carry the new generation, which
    // no reader looks for until the header below names it.
    const perBatch = Math.floor(this.batchBytes / size);
    // Whole pieces of typed arrays are copied into this one buffer as they are put (see `piece`).
    const scratch = new ArrayBuffer(size);
    const order: [string, Numbers | Text, number][] = [];
    for (const [name, whole] of parts) for (let i = 0; i < pieceCount(whole, size); i++) order.push([name, whole!, i]);
    for (let from = 0; from < order.length; from += perBatch) {
      if (pause) await pause();
      const tx = this.db.transaction('pieces', 'readwrite', { durability: 'relaxed' });
      for (const [name, whole, i] of order.slice(from, from + perBatch)) {
        await tx.store.put(piece(whole, i, size, scratch), [location, generation, name, i]);
      }
      await tx.done;
    }
    // Then the header, with the old entry's pieces and the least recently used locations dropped, in
    // one transaction: a reader sees the old entry or the new one, never a mix.
    const tx = this.db.transaction(['headers', 'pieces', 'used'], 'readwrite', { durability: 'relaxed' });
    const headers = tx.objectStore('headers');
    const used = tx.objectStore('used');
    const pieces = tx.objectStore('pieces');
    const current = await headers.get(location);
    const range = (g: string): IDBKeyRange => IDBKeyRange.bound([location, g], [location, g, []]);
    if (current && newer(current.generation, generation)) {
      // Another tab began its write later and has ended first: its entry stays, these pieces go.
      await pieces.delete(range(generation));
      await tx.done;
      return;
    }
    await headers.put(header, location);
    await used.put(this.now(), location);
    // Every older generation of this location goes: the old entry's, and what writes that did not
    // finish left (a page closed meanwhile). A newer one is another tab's write under way, which
    // replaces this entry when it ends.
    const keys = await pieces.getAllKeys(IDBKeyRange.bound([location], [location, []]));
    for (const g of new Set(keys.map((k) => k[1]))) if (g !== generation && !newer(g, generation)) await pieces.delete(range(g));
    // Only the most recently used locations are kept.
    const all: [string, number][] = [];
    for await (const cur of used.iterate()) all.push([cur.key, cur.value]);
    for (const key of await headers.getAllKeys()) if (!all.some(([k]) => k === key)) all.push([key, -1]);
    all.sort((a, b) => b[1] - a[1]);
    for (const [key] of all.slice(MAX_ENTRIES)) {
      await headers.delete(key);
      await used.delete(key);
      await pieces.delete(IDBKeyRange.bound([key], [key, []]));
    }
    await tx.done;
    // And a copy in the private file system, which the next visit's catalogue worker reads
    // instead of these pieces while this generation stands (`file-copy.ts`).
    await keepEntryCopy(location, generation, entry, pause);
  }

  /**
   * Keeps the compacted text in the private file system beside the file's and the entry's copies
   * (`keepTextCopy`), where the next visit's catalogue worker reads it instead of the file's copy.
   */
  async keepText(location: string, digest: string, text: CompactText, pause?: () => Promise<void>): Promise<void> {
    await keepTextCopy(location, digest, text, pause);
  }

  /** Closes the database once the writes under way are done. */
  close(): void {
    this.closing = true;
    void Promise.allSettled([...this.pending]).then(() => this.db.close());
  }

  private track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }
}

type PieceKey = [string, string, string, number];

/**
 * Whether generation `a` was begun after `b` (a generation starts with its start time, base 36).
 * Of two begun in the same millisecond, the one that ends last is kept.
 */
function newer(a: string, b: string): boolean {
  return parseInt(a, 36) > parseInt(b, 36);
}

/**
 * Reads by key, in the order asked, with at most `ahead` requests in flight. The next request is
 * made as the last one's result is handed back (in that request's success event), so a
 * transaction stays open across them.
 */
class ReadQueue {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly getOne: (key: PieceKey) => Promise<Piece | undefined>,
    private readonly ahead: number,
  ) {}

  get(key: PieceKey): Promise<Piece | undefined> {
    return new Promise((resolve, reject) => {
      const start = (): void => {
        this.inFlight++;
        this.getOne(key).then(
          (v) => this.done(() => resolve(v)),
          (err: unknown) => this.done(() => reject(err as Error)),
        );
      };
      if (this.inFlight < this.ahead) start();
      else this.waiting.push(start);
    });
  }

  private done(settle: () => void): void {
    this.inFlight--;
    this.waiting.shift()?.();
    settle();
  }
}

/** The ids' text as the write cuts it: a string, or ASCII bytes cut into strings ({@link asciiText}). */
interface Text {
  readonly length: number;
  slice(from: number, to: number): string;
}

/** ASCII bytes as a {@link Text}: each piece made from its own bytes. */
function asciiText(bytes: Uint8Array): Text {
  const latin1 = new TextDecoder('latin1');
  return { length: bytes.length, slice: (from, to) => latin1.decode(bytes.subarray(from, to)) };
}

const isText = (a: Numbers | Text): a is Text => !ArrayBuffer.isView(a);

/** Units (elements, or UTF-16 code units of a text) in a piece of at most `size` bytes. */
function perPiece(a: Numbers | Text, size: number): number {
  return Math.max(1, Math.floor(size / (isText(a) ? 2 : a.BYTES_PER_ELEMENT)));
}

/** How many pieces of at most `size` bytes hold `a` (none for a part that is absent). */
function pieceCount(a: Numbers | Text | null, size: number): number {
  return a === null ? 0 : Math.ceil(a.length / perPiece(a, size));
}

/**
 * Piece `i` of `a`: a copy (a view would store its whole buffer). A whole piece of a typed array
 * that fills `scratch` (`size` bytes) exactly is copied into it, and IndexedDB's `put` copies it at
 * once: the next piece fills it again, where a fresh buffer per piece made 90 MB of garbage at
 * 1,000,000 items. A shorter last piece, and a string's, is its own copy.
 */
function piece(a: Numbers | Text, i: number, size: number, scratch: ArrayBuffer): Piece {
  const per = perPiece(a, size);
  if (isText(a) || (i + 1) * per > a.length || per * a.BYTES_PER_ELEMENT !== scratch.byteLength) {
    return a.slice(i * per, (i + 1) * per);
  }
  const out = new (a.constructor as new (b: ArrayBuffer, at: number, n: number) => Numbers)(scratch, 0, per);
  out.set(a.subarray(i * per, (i + 1) * per));
  return out;
}

/** An array back from its pieces (joined in slices), or null if any piece is missing or wrong. */
async function join(ref: ArrayRef, pieces: readonly (Piece | undefined)[], slicer: Slicer): Promise<Numbers | null> {
  const Ctor = KINDS[ref.kind];
  if (!Ctor || pieces.length !== ref.pieces) return null;
  const out = new Ctor(ref.length);
  let at = 0;
  for (const p of pieces) {
    if (!(p instanceof Ctor) || at + p.length > ref.length) return null;
    out.set(p, at);
    at += p.length;
    await slicer.maybeYield();
  }
  return at === ref.length ? out : null;
}
