/**
 * Parses a large JSON array in slices. The UTF-8 bytes are scanned for the array's top-level
 * commas (JSON's structural characters are ASCII, so they never occur inside a multi-byte
 * character, and a string is skipped in one native search for its closing quote); each run of
 * complete elements is then decoded and handed to `JSON.parse`. A 15 MB catalogue parsed by one
 * `JSON.parse` holds the page for over 100 ms. The result equals `JSON.parse(text)`; malformed
 * input throws a SyntaxError, as it would.
 */
import type { Slicer } from './slice.js';

/**
 * Bytes handed to one `JSON.parse`: a piece holds the elements that end within the next PIECE
 * bytes scanned, so a parse takes at most twice this. Pieces of 64 KB were tried: a first visit
 * at 100,000 items then had more and longer tasks (95 to 222 ms against 0 to 81 ms, in
 * `npm run bench:visit-plain`), and was slower.
 */
const PIECE = 256 * 1024;

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export async function parseJsonArraySliced(bytes: Uint8Array, slicer: Slicer, bounds?: JsonBounds): Promise<unknown> {
  return parseJsonArrayFrom({ bytes, more: () => Promise.resolve(false) }, slicer, bounds);
}

/**
 * Bytes that may still be arriving: `bytes` is what is here (a new array after `more`), and
 * `more` waits for the next part, resolving false once the whole file is here.
 */
export interface ArrivingBytes {
  readonly bytes: Uint8Array;
  more(): Promise<boolean>;
}

/**
 * {@link parseJsonArraySliced} on bytes that may still be arriving: each part is scanned, and its
 * complete elements parsed, as it comes, so a file is parsed while it downloads. Returns once the
 * whole file is here; the result and the errors are those of a parse of the whole file. `each`
 * is given every element of the array, in order, as soon as it is parsed (nothing where the file
 * holds no array).
 */
export async function parseJsonArrayFrom(
  src: ArrivingBytes,
  slicer: Slicer,
  bounds?: JsonBounds,
  each?: (element: unknown, index: number) => void,
): Promise<unknown> {
  /** Waits until byte i has arrived (false: the file ends before it). */
  const has = async (i: number): Promise<boolean> => {
    while (i >= src.bytes.length) if (!(await src.more())) return false;
    return true;
  };
  let first = 0;
  // A UTF-8 byte order mark, then whitespace.
  await has(2);
  if (src.bytes[0] === 0xef && src.bytes[1] === 0xbb && src.bytes[2] === 0xbf) first = 3;
  while ((await has(first)) && isSpace(src.bytes[first])) first++;
  // Not an array (or empty): small or wrong either way; one parse gives the usual result or error.
  if (src.bytes[first] !== 0x5b) {
    while (await src.more());
    return JSON.parse(new TextDecoder().decode(src.bytes));
  }
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const out: unknown[] = [];
  const take = (from: number, to: number): void => {
    for (const x of JSON.parse(`[${decoder.decode(src.bytes.subarray(from, to))}]`) as unknown[]) {
      each?.(x, out.length);
      out.push(x);
    }
  };
  const st: ScanState = {
    pos: first,
    depth: 0,
    inString: false,
    opened: [],
    lastComma: -1,
    end: -1,
    commas: bounds ?? null,
  };
  bounds?.push(first);
  let start = first + 1;
  while (st.end < 0 && (await has(st.pos))) {
    scan(src.bytes, st, Math.min(src.bytes.length, st.pos + PIECE));
    // Complete elements are parsed once they fill a piece; the rest waits for the closing bracket.
    if (st.end < 0 && st.lastComma - start >= PIECE) {
      take(start, st.lastComma);
      start = st.lastComma + 1;
      st.lastComma = -1;
    }
    if (slicer.due()) await slicer.yield();
  }
  const { end, lastComma } = st;
  if (end < 0) throw new SyntaxError('Unexpected end of JSON input: the array is not closed.');
  bounds?.push(end);
  let blank = true;
  for (let i = start; i < end && blank; i++) blank = isSpace(src.bytes[i]);
  if (!blank) take(start, end);
  else if (out.length > 0 || lastComma >= 0) throw new SyntaxError('Unexpected "]" after a comma in the JSON array.');
  while (await src.more());
  const bytes = src.bytes;
  for (let i = end + 1; i < bytes.length; i++) {
    if (!isSpace(bytes[i])) throw new SyntaxError('Unexpected data after the end of the JSON array.');
  }
  return out;
}

interface ScanState {
  pos: number;
  depth: number;
  inString: boolean;
  /** The opening bracket at each depth. */
  opened: number[];
  /** The last top-level comma, or -1. */
  lastComma: number;
  /** The array's closing bracket, once found. */
  end: number;
  /** Where every top-level comma is recorded, if anywhere. */
  commas: JsonBounds | null;
}

/**
 * Collects where a JSON array's elements lie: the offset of its `[`, of every top-level comma,
 * then of its `]`. Element i is the bytes strictly between entries i and i + 1.
 */
export class JsonBounds {
  private buf = new Uint32Array(1024);
  length = 0;
  push(pos: number): void {
    if (this.length === this.buf.length) {
      const grown = new Uint32Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    this.buf[this.length++] = pos;
  }
  /** The offsets collected (a view: copy it to keep it past more pushes). */
  view(): Uint32Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * Scans bytes [st.pos, to): a plain synchronous loop, which the JIT optimises well. A string is
 * skipped in one native search for its next quote; the quote closes it unless an odd run of
 * backslashes stands before it (the bytes before are still in `bytes`, and the run cannot pass the
 * string's opening quote). Most of a catalogue's bytes are its strings' (titles, descriptions).
 */
function scan(bytes: Uint8Array, st: ScanState, to: number): void {
  let { pos, depth, inString, lastComma } = st;
  const opened = st.opened;
  for (; pos < to; pos++) {
    if (inString) {
      const q = bytes.indexOf(0x22, pos);
      if (q < 0 || q >= to) {
        pos = to;
        break;
      }
      let k = q - 1;
      while (bytes[k] === 0x5c) k--;
      // An even run (none included) leaves the quote unescaped: the string ends there.
      if ((q - 1 - k) % 2 === 0) inString = false;
      pos = q;
      continue;
    }
    const c = bytes[pos]!;
    if (c === 0x22) inString = true;
    else if (c === 0x2c) {
      if (depth === 1) {
        lastComma = pos;
        st.commas?.push(pos);
      }
    } else if (c === 0x7b || c === 0x5b) opened[depth++] = c;
    else if (c === 0x7d || c === 0x5d) {
      // `}` must close a `{` and `]` a `[`: their codes differ by 2.
      if (depth === 0 || opened[depth - 1] !== c - 2) throw new SyntaxError(`Unexpected "${String.fromCharCode(c)}" in the JSON array.`);
      if (--depth === 0) {
        st.end = pos;
        pos++;
        break;
      }
    }
  }
  Object.assign(st, { pos, depth, inString, lastComma });
}
