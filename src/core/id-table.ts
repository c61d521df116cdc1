/**
 * A catalogue's ids in a form that is cheap to save and to take back: every id in one string,
 * where each one ends, and an open-addressing hash table from an id to its index. A later visit
 * reads the three as they were saved (one copy each) instead of parsing a million strings and
 * indexing them in a Map, and holds a fraction of the memory.
 *
 * A lookup compares the id it finds with the one asked for, so a damaged table can make an id
 * look absent, never answer with another item.
 */
import { inRanges } from './slice.js';
import type { Slicer } from './slice.js';

/** Ids per mark: where every `MARK_EVERY`-th id starts is kept, the rest follow from the lengths. */
export const MARK_EVERY = 64;

/** What is saved. */
export interface IdTableData {
  /** Every id, one after another. */
  text: string;
  /**
   * Each id's length in UTF-16 code units, in the narrowest array that holds the longest (one
   * byte an id for any catalogue whose ids are under 256 characters, where an end offset took 4).
   */
  lengths: Uint8Array | Uint16Array | Uint32Array;
  /** Where id k · MARK_EVERY starts in `text`, for each k. */
  marks: Uint32Array;
  /**
   * A table at most three quarters full: index + 1 of the id whose probe sequence holds it, 0 for
   * empty. An id's probes start at its hash modulo the table's size and step by one.
   */
  slots: Int32Array;
}

/** FNV-1a over the id's UTF-16 code units, with a final mix. */
export function hashId(id: string): number {
  return hashRange(id, 0, id.length);
}

/** Whether `text`'s `len` code units at `a` and at `b` are the same, without slicing either. */
function sameRange(text: string, a: number, b: number, len: number): boolean {
  for (let q = 0; q < len; q++) if (text.charCodeAt(a + q) !== text.charCodeAt(b + q)) return false;
  return true;
}

/** {@link hashId} of `text.slice(from, to)`, without making it. */
function hashRange(text: string, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ text.charCodeAt(k), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) >>> 0;
}

/**
 * Where an {@link IdTableData} also carries its text as ASCII bytes ({@link withAsciiText}): a
 * table adopted from it reads the bytes and never makes the text's string. A symbol-keyed
 * property, so neither a message nor storage carries it.
 */
const ASCII_TEXT = Symbol('clickwise.asciiIdText');

/**
 * The table's data, with `ids` (every field but the text) and the text as `bytes`, all ASCII
 * (each byte one UTF-16 code unit). The text's string is made only where something reads
 * `text` (saving the entry again, checks of a table not adopted): at a million ids it is 7 MB,
 * made in one task of about 50 ms; a table adopted from it ({@link IdTable.adopt}) reads the
 * bytes instead.
 */
export function withAsciiText(ids: Omit<IdTableData, 'text'>, bytes: Uint8Array): IdTableData {
  let text: string | null = null;
  const data = { ...ids } as IdTableData;
  Object.defineProperty(data, 'text', {
    enumerable: true,
    get: () => (text ??= new TextDecoder('latin1').decode(bytes)),
  });
  // Not enumerable: the data compares and copies as the table's data alone.
  Object.defineProperty(data, ASCII_TEXT, { value: bytes, enumerable: false });
  return data;
}

/** The text of `data` as ASCII bytes, where {@link withAsciiText} made it; else null. */
export function asciiTextOf(data: IdTableData): Uint8Array | null {
  return (data as { [ASCII_TEXT]?: Uint8Array })[ASCII_TEXT] ?? null;
}

/** How a table reads its text: a string, or ASCII bytes read as one. */
interface TextView {
  slice(from: number, to: number): string;
  /** Whether `id` is at `at`. */
  has(id: string, at: number): boolean;
}

const stringView = (text: string): TextView => ({
  slice: (from, to) => text.slice(from, to),
  has: (id, at) => text.startsWith(id, at),
});

/** Longer ids are made by a decoder, shorter ones from their codes (the common case, and faster). */
const FROM_CODES_MAX = 256;

const asciiView = (bytes: Uint8Array): TextView => {
  const latin1 = new TextDecoder('latin1');
  return {
    slice: (from, to) => {
      const part = bytes.subarray(from, to);
      return part.length <= FROM_CODES_MAX ? String.fromCharCode.apply(null, part as unknown as number[]) : latin1.decode(part);
    },
    has: (id, at) => {
      if (at + id.length > bytes.length) return false;
      for (let q = 0; q < id.length; q++) if (bytes[at + q] !== id.charCodeAt(q)) return false;
      return true;
    },
  };
};

/** The fewest slots a table of `n` ids may have: at most three quarters full. */
const minSlots = (n: number): number => Math.ceil((4 * n) / 3);

/** Ids by index and indexes by id, over {@link IdTableData}. */
export class IdTable {
  private readonly view: TextView;
  private constructor(private readonly data: IdTableData) {
    const bytes = asciiTextOf(data);
    this.view = bytes ? asciiView(bytes) : stringView(data.text);
  }

  get size(): number {
    return this.data.lengths.length;
  }

  /** Where id i starts in the text: its mark plus the lengths of the ids since (under 64 of them). */
  private start(i: number): number {
    const { lengths, marks } = this.data;
    let at = marks[Math.floor(i / MARK_EVERY)]!;
    for (let k = i - (i % MARK_EVERY); k < i; k++) at += lengths[k]!;
    return at;
  }

  /** The saved form. */
  get saved(): IdTableData {
    return this.data;
  }

  id(i: number): string {
    const { lengths } = this.data;
    if (!(Number.isInteger(i) && i >= 0 && i < lengths.length)) throw new RangeError(`item index ${i} is outside the catalogue`);
    const start = this.start(i);
    return this.view.slice(start, start + lengths[i]!);
  }

  indexOf(id: string): number | undefined {
    const { lengths, slots } = this.data;
    const size = slots.length;
    for (let s = hashId(id) % size, probes = 0; probes < size; s = s + 1 === size ? 0 : s + 1, probes++) {
      const at = slots[s]!;
      if (at === 0) return undefined;
      const i = at - 1;
      if (lengths[i] === id.length && this.view.has(id, this.start(i))) return i;
    }
    return undefined;
  }

  /** The table of `n` ids, made in slices. Throws a RangeError when an id repeats. */
  static async build(id: (i: number) => string, n: number, slicer: Slicer): Promise<IdTable> {
    const parts: string[] = [];
    const marks = new Uint32Array(Math.ceil(n / MARK_EVERY));
    const size = Math.max(1, minSlots(n));
    const slots = new Int32Array(size);
    let at = 0;
    let longest = 0;
    for (let i = 0; i < n; i++) {
      const s = id(i);
      parts.push(s);
      if (i % MARK_EVERY === 0) marks[i / MARK_EVERY] = at;
      at += s.length;
      longest = Math.max(longest, s.length);
      let j = hashId(s) % size;
      while (slots[j] !== 0) {
        if (parts[slots[j]! - 1] === s) throw new RangeError(`the id ${JSON.stringify(s)} is listed twice`);
        j = j + 1 === size ? 0 : j + 1;
      }
      slots[j] = i + 1;
      if ((i & 4095) === 4095) await slicer.maybeYield();
    }
    const lengths = longest < 256 ? new Uint8Array(n) : longest < 65536 ? new Uint16Array(n) : new Uint32Array(n);
    parts.forEach((s, i) => (lengths[i] = s.length));
    return new IdTable({ text: parts.join(''), lengths, marks, slots });
  }

  /**
   * The table of the ids in `text`, one after another, each `lengths[i]` long (what a shipped
   * catalogue index carries, `catalog-index-file.ts`): its marks and hash table made here, in
   * slices, as {@link IdTable.build} makes them. Throws a RangeError when an id repeats, or the
   * lengths do not add up to the text.
   */
  static async fromText(text: string, lengths: Uint8Array | Uint16Array | Uint32Array, slicer: Slicer): Promise<IdTable> {
    const n = lengths.length;
    const marks = new Uint32Array(Math.ceil(n / MARK_EVERY));
    const starts = new Uint32Array(n);
    const size = Math.max(1, minSlots(n));
    const slots = new Int32Array(size);
    let at = 0;
    for (let i = 0; i < n; i++) {
      if (i % MARK_EVERY === 0) marks[i / MARK_EVERY] = at;
      starts[i] = at;
      const len = lengths[i]!;
      if (at + len > text.length) throw new RangeError("an id table's lengths pass the end of its text");
      let j = hashRange(text, at, at + len) % size;
      while (slots[j] !== 0) {
        const k = slots[j]! - 1;
        if (lengths[k] === len && sameRange(text, starts[k]!, at, len)) {
          throw new RangeError(`the id ${JSON.stringify(text.slice(at, at + len))} is listed twice`);
        }
        j = j + 1 === size ? 0 : j + 1;
      }
      slots[j] = i + 1;
      at += len;
      if ((i & 4095) === 4095) await slicer.maybeYield();
    }
    if (at !== text.length) throw new RangeError("an id table's lengths do not add up to its text");
    return new IdTable({ text, lengths, marks, slots });
  }

  /**
   * A table that {@link IdTable.build} made elsewhere (the catalogue's worker, see
   * `catalog-index.ts`), taken as it is: what comes back from storage goes through {@link check}.
   * Data made by {@link withAsciiText} is read from its bytes.
   */
  static adopt(data: IdTableData): IdTable {
    return new IdTable(data);
  }

  /**
   * A saved table taken back, after checks of its shape in slices (marks where the lengths put
   * them, the lengths adding up to the text; a table at most three quarters full, holding every
   * index once). Throws a RangeError on anything else. `textLength`: the text's length, where
   * the text is not in `data` (it is '' there) but goes on as UTF-8 bytes (see `utf16Length`).
   */
  static async check(data: IdTableData, slicer: Slicer, textLength?: number): Promise<IdTable> {
    const { text, lengths, marks, slots } = data ?? ({} as IdTableData);
    if (
      typeof text !== 'string' ||
      !(lengths instanceof Uint8Array || lengths instanceof Uint16Array || lengths instanceof Uint32Array) ||
      !(marks instanceof Uint32Array) ||
      !(slots instanceof Int32Array)
    ) {
      throw new RangeError('a saved id table needs a string and three typed arrays');
    }
    const n = lengths.length;
    const size = slots.length;
    if (n === 0 || size < minSlots(n)) throw new RangeError(`a saved id table of ${n} ids has ${size} slots`);
    if (marks.length !== Math.ceil(n / MARK_EVERY)) throw new RangeError(`a saved id table of ${n} ids has ${marks.length} marks`);
    let at = 0;
    await inRanges(n, slicer, (from, to) => {
      let sum = at;
      for (let i = from; i < to; i++) {
        if (i % MARK_EVERY === 0 && marks[i / MARK_EVERY] !== sum) throw new RangeError(`a saved id table's mark at ${i} is wrong`);
        sum += lengths[i]!;
      }
      at = sum;
    });
    if (at !== (textLength ?? text.length)) throw new RangeError("a saved id table's lengths do not add up to its text");
    const seen = new Uint8Array(n);
    let held = 0;
    await inRanges(size, slicer, (from, to) => {
      let count = 0;
      for (let s = from; s < to; s++) {
        const at = slots[s]!;
        if (at !== 0) {
          if (!(at >= 1 && at <= n) || seen[at - 1]) throw new RangeError(`a saved id table's slot ${s} is wrong`);
          seen[at - 1] = 1;
          count++;
        }
      }
      held += count;
    });
    if (held !== n) throw new RangeError(`a saved id table holds ${held} of its ${n} ids`);
    return new IdTable(data);
  }
}
