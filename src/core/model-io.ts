/**
 * Fetching model files from a URL (browser, or Node with http) or a folder path (Node), with
 * digest checks against the manifest. No DOM: only `fetch`, `crypto.subtle` and, in Node, `fs`.
 */
import { ChecksumError, ModelLoadError } from './errors.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { nextQueuedTask, nextTask, Slicer, SLICE_MS } from './slice.js';
import { kernelDigest } from './digest.js';

/** One file listed in a manifest. */
export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
  /**
   * The file's digest by the WebAssembly kernel of `digest.ts` (16 hex digits), which the tools
   * write beside `sha256`: a loader where the kernel runs checks this one instead, at memory
   * speed, where sha256 in script took a later visit's page some 270 ms for a base that knows
   * 100,000 items. It guards against what sha256 guards against here, a corrupt file or a folder
   * that mixes versions; the manifest comes from the same server as the file, so a digest that
   * resists forgery would add nothing.
   */
  k64?: string;
}

/** Where a tensor sits inside a weights file. */
export interface TensorSpec {
  name: string;
  shape: number[];
  /**
   * `float32`, `float16` (IEEE half), `int8` with one float32 scale per row stored after the data,
   * `int4`: the same with two numbers a byte (each row's ⌈cols / 2⌉ bytes, the first number of a
   * pair in the low four bits, each from −7 to 7; {@link encodeInt4Rows}), or `delta-varint`: whole numbers (a base's successor indices), each written as the zigzag
   * LEB128 varint of its difference from the number before it (the first's from 0), so that
   * indices in ascending runs take one to three bytes rather than four; `byteLength` is the
   * varints' bytes ({@link encodeDeltaVarints}).
   */
  dtype: 'float32' | 'float16' | 'int8' | 'int4' | 'delta-varint';
  file: string;
  offset: number;
  byteLength: number;
}

/** The tensor forms this version reads ({@link TensorSpec}'s `dtype`). */
const KNOWN_DTYPES = ['float32', 'float16', 'int8', 'int4', 'delta-varint'] as const satisfies readonly TensorSpec['dtype'][];

/** Whether this version reads tensors of `dtype`. */
export function knownDtype(dtype: string): boolean {
  return (KNOWN_DTYPES as readonly string[]).includes(dtype);
}

/**
 * What a file of a later version's model says: rebuilding the model does not help, the page's
 * code does. `what`: what in it this version does not read.
 */
export function laterVersionError(location: string, what: string): ModelLoadError {
  return new ModelLoadError(
    location,
    `${what}, which this version of Clickwise does not read: the model was written by a later version. Publish the page's Clickwise of that version with it.`,
    { code: 'model/later-version' },
  );
}

/**
 * Throws {@link laterVersionError} where `manifest`, at `location`, is of the format `format` in
 * a later format version than 1, the one this version reads; `kind` names it ("a head").
 */
export function refuseLaterFormat(
  manifest: { format?: unknown; formatVersion?: unknown },
  format: string,
  location: string,
  kind: string,
): void {
  const version = manifest.formatVersion;
  if (manifest.format === format && typeof version === 'number' && version > 1) {
    throw laterVersionError(location, `${location} is ${kind} of format version ${version}`);
  }
}

/**
 * How a file is asked for. `revalidate`: the file changes in place (the model folder's
 * `manifest.json`, which a maintenance run replaces), so a browser's cached copy is checked with
 * the server before it is used (`cache: 'no-cache'`), never used stale.
 */
export interface FetchOptions {
  revalidate?: boolean;
}

/** Reads bytes given a location. Injectable so tests can serve from memory (a custom one may ignore the options). */
export type Fetcher = (location: string, options?: FetchOptions) => Promise<ArrayBuffer>;

/** The `fetch` options a browser asks for a file with. */
const requestInit = (options?: FetchOptions): RequestInit | undefined => (options?.revalidate ? { cache: 'no-cache' } : undefined);

/** True for an http(s) or other URL (not a file:// one, which Node reads with fs). */
export function isUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s) && !s.startsWith('file://');
}

/** True where a relative location should be resolved against the page (a browser). */
export function hasPage(): boolean {
  const g = globalThis as { location?: { href?: string } };
  return typeof g.location?.href === 'string';
}

/** Joins a folder location (URL or path) and a file name. */
export function joinLocation(base: string, file: string): string {
  return base.endsWith('/') ? base + file : `${base}/${file}`;
}

/** Default reader: `fetch` for URLs and for relative paths in a page; `fs` for paths in Node. */
export const defaultFetcher: Fetcher = async (location, options) => {
  if (isUrl(location) || hasPage()) return readResponse(location, fetch(location, requestInit(options)));
  const path = location.startsWith('file://') ? new URL(location).pathname : location;
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(p: string): Promise<Uint8Array> };
  try {
    const buf = await fs.readFile(path);
    return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  } catch (cause) {
    throw new ModelLoadError(path, `Could not read ${path}: ${String(cause)}.`, { cause });
  }
};

/** The error {@link defaultFetcher} gives for a response that is not a success (a 404). */
export function httpError(location: string, res: Response): ModelLoadError {
  return new ModelLoadError(location, `Could not fetch ${location}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`);
}

/** The body of a fetch's response, or the error `defaultFetcher` gives. */
async function readResponse(location: string, pending: Promise<Response>): Promise<ArrayBuffer> {
  let res: Response;
  try {
    res = await pending;
  } catch (cause) {
    throw new ModelLoadError(location, `Could not fetch ${location}: ${String(cause)}. Check the URL and that the server is reachable.`, {
      cause,
    });
  }
  if (!res.ok) throw httpError(location, res);
  try {
    return await readBody(res);
  } catch (cause) {
    throw new ModelLoadError(location, `Could not read ${location}: ${String(cause)}.`, { cause });
  }
}

/**
 * A response's body, read chunk by chunk into one buffer with a real yield to the page whenever
 * a slice is used up. `Response.arrayBuffer()` would do it in one task: a body that has already
 * arrived (the tag starts the catalogue's download early) is copied out in one go, which took
 * 200 ms for a 14 MB catalogue on a slow machine.
 */
export async function readBody(res: Response): Promise<ArrayBuffer> {
  const reader = res.body?.getReader();
  if (!reader) return res.arrayBuffer();
  // Content-Length is the size on the wire (compressed, maybe): a first guess, grown as needed.
  const out = new GrowingBuffer(lengthHint(res) || 1 << 16);
  // Its slices queue behind the tasks already waiting (the runtime's modules, the backend's start):
  // the download is not the only thing a visit waits for.
  const slicer = new Slicer(SLICE_MS, nextQueuedTask);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out.append(value);
    await slicer.maybeYield();
  }
  const bytes = out.bytes;
  return bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}

/** A response's Content-Length (its size on the wire: compressed, maybe), or 0 where not given. */
export function lengthHint(res: Response): number {
  const hint = Number(res.headers.get('content-length'));
  return Number.isSafeInteger(hint) && hint > 0 ? hint : 0;
}

/** Bytes appended chunk by chunk: `bytes` views what is there (a new array after a growth). */
export class GrowingBuffer {
  private buf: Uint8Array;
  private size = 0;
  constructor(capacity: number) {
    this.buf = new Uint8Array(Math.max(1, capacity));
  }
  get bytes(): Uint8Array {
    return this.buf.subarray(0, this.size);
  }
  append(chunk: Uint8Array): void {
    if (this.size + chunk.byteLength > this.buf.byteLength) {
      const grown = new Uint8Array(Math.max(this.size + chunk.byteLength, 2 * this.buf.byteLength));
      grown.set(this.buf.subarray(0, this.size));
      this.buf = grown;
    }
    this.buf.set(chunk, this.size);
    this.size += chunk.byteLength;
  }
}

/**
 * {@link defaultFetcher}, except that the first request for a location in `early` takes the
 * response already asked for (the storefront tag starts the catalogue's download while its
 * runtime loads). Later requests fetch again.
 */
export function prefetchingFetcher(early: Map<string, Promise<Response>>): Fetcher {
  return (location, options) => {
    const pending = early.get(location);
    if (!pending) return defaultFetcher(location, options);
    early.delete(location);
    return readResponse(location, pending);
  };
}

/**
 * Inputs of this many bytes or more are hashed a piece at a time, a task each: WebCrypto copies
 * its whole input on the calling thread before it hashes elsewhere, which for the shop's 16 MB
 * vectors file at 1,000,000 items was one stretch of 87 ms on the page (`npm run
 * bench:profile-visit -- --items 1000000 --first`).
 */
export const SHA256_SLICED_FROM = 4 << 20;
/**
 * Files of this many bytes or more are checked in a task of their own. A page's WebCrypto digest
 * runs on the calling thread (1.6 MB took 8 to 13 ms in Chromium on the 2-core machine of the
 * project's runs); in the task that read the body's last chunk, followed by the caller's decoding
 * of the bytes, the shop's vectors file made a task of over 50 ms on a first visit at 100,000
 * items (docs/PERFORMANCE.md).
 */
export const FILE_TASK_FROM = 1 << 18;
/** Bytes hashed a task: a MiB took about 5 ms in Node here, and several times that under a page's load. */
const SHA256_PIECE = 1 << 18;

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Hex sha256 of bytes: by WebCrypto below `slicedFrom` bytes ({@link SHA256_SLICED_FROM}, for a
 * page's thread; a worker passes Infinity), else (or where there is no WebCrypto: an insecure
 * http page) by {@link sha256Sliced}.
 */
export async function sha256Hex(data: ArrayBuffer | Uint8Array, slicedFrom = SHA256_SLICED_FROM): Promise<string> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  const subtle = globalThis.crypto?.subtle;
  if (subtle && bytes.byteLength < slicedFrom) return hex(new Uint8Array(await subtle.digest('SHA-256', bytes as BufferSource)));
  return hex(await sha256Sliced(bytes));
}

/**
 * The sha256 of `bytes` in script (`@noble/hashes`), `piece` bytes a task, with `yieldTo`
 * between pieces.
 */
export async function sha256Sliced(bytes: Uint8Array, piece = SHA256_PIECE, yieldTo: () => Promise<void> = nextTask): Promise<Uint8Array> {
  const h = sha256.create();
  for (let at = 0; at < bytes.length; at += piece) {
    if (at > 0) await yieldTo();
    h.update(bytes.subarray(at, Math.min(bytes.length, at + piece)));
  }
  return h.digest();
}

/** True when bytes start like an HTML page (a server's 404 page or an SPA fallback). */
export function looksLikeHtml(buf: ArrayBuffer): boolean {
  const head = new TextDecoder().decode(buf.slice(0, 64)).trimStart().toLowerCase();
  return head.startsWith('<!doctype') || head.startsWith('<html');
}

/** Fetches a JSON file. Errors name the file. */
export async function fetchJson<T>(fetcher: Fetcher, location: string, options?: FetchOptions): Promise<T> {
  const buf = await fetcher(location, options);
  try {
    return JSON.parse(new TextDecoder().decode(buf)) as T;
  } catch (cause) {
    throw new ModelLoadError(
      location,
      `${location} is not valid JSON (${looksLikeHtml(buf) ? 'it is an HTML page: a wrong URL?' : String(cause)}).`,
      {
        cause,
      },
    );
  }
}

/**
 * Fetches one manifest file and checks its digest: `k64` where the manifest has it and the
 * kernel runs, else sha256. A mismatch is a `ChecksumError` naming the file.
 */
export async function fetchVerified(fetcher: Fetcher, base: string, file: ManifestFile): Promise<ArrayBuffer> {
  const location = joinLocation(base, file.path);
  const buf = await fetcher(location);
  // A large file's digest gets a task of its own, apart from the body's last chunk and from what
  // the caller does with the bytes (see FILE_TASK_FROM).
  const large = buf.byteLength >= FILE_TASK_FROM;
  if (large) await nextTask();
  // The kernel's digest where the manifest has it and the kernel runs; else sha256.
  const fast = file.k64 !== undefined ? await kernelDigest(new Uint8Array(buf), new Slicer()) : null;
  if (fast !== null) {
    if (large) await nextTask();
    if (fast !== file.k64) throw new ChecksumError(location, file.k64!, fast, 'k64');
    return buf;
  }
  const actual = await sha256Hex(buf);
  if (large) await nextTask();
  if (actual !== file.sha256) throw new ChecksumError(location, file.sha256, actual);
  return buf;
}

/** Converts an IEEE-754 half to a float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

let halves: Float32Array | null = null;

/**
 * Every half's float ({@link halfToFloat}), made on first use (65,536 numbers, 256 KB): a base's
 * millions of float16 probabilities are decoded by look-up, which took a later visit's page some
 * 90 ms by the formula at 100,000 items. The table is made from the bits (3 ms here, against 7
 * by the formula, at a page's first vote read from probabilities kept as halves): a half's sign,
 * exponent and mantissa moved to a float32's places, a subnormal half normalised, ±∞ kept and a
 * NaN made the canonical one.
 */
export function halfTable(): Float32Array {
  if (!halves) {
    const t = new Float32Array(1 << 16);
    const bits = new Uint32Array(t.buffer);
    for (let h = 0; h < t.length; h++) {
      const sign = (h & 0x8000) << 16;
      const e = (h >> 10) & 0x1f;
      let f = h & 0x3ff;
      if (e === 31) bits[h] = f ? 0x7fc00000 : (sign | 0x7f800000) >>> 0;
      else if (e !== 0) bits[h] = (sign | ((e + 112) << 23) | (f << 13)) >>> 0;
      else if (f === 0) bits[h] = sign >>> 0;
      else {
        // f · 2^-24: shifted until its leading 1 is the implicit bit, the exponent down by one a shift.
        let x = -14;
        while (!(f & 0x400)) {
          f <<= 1;
          x--;
        }
        bits[h] = (sign | ((x + 127) << 23) | ((f & 0x3ff) << 13)) >>> 0;
      }
    }
    halves = t;
  }
  return halves;
}

/**
 * Converts a float to the nearest IEEE-754 half (round to nearest even is not needed here). A
 * mantissa that rounds up to a whole 1 carries into the exponent: added, not or-ed, which halved
 * such a number where its exponent was odd (0.49999 became 0.25).
 */
export function floatToHalf(v: number): number {
  const f32 = new Float32Array([v]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const e = ((x >>> 23) & 0xff) - 127 + 15;
  let m = x & 0x7fffff;
  if (e <= 0) {
    if (e < -10) return sign;
    m = (m | 0x800000) >> (1 - e);
    return sign | ((m + 0x1000) >> 13);
  }
  if (e >= 31) return sign | 0x7c00;
  return sign | ((e << 10) + ((m + 0x1000) >> 13));
}

/** Decodes one tensor of a weights file into float32. */
export function decodeTensor(buf: ArrayBuffer, spec: TensorSpec): Float32Array {
  const { out, rows, decode } = tensorDecoder(buf, spec);
  decode(0, rows);
  return out;
}

/**
 * {@link decodeTensor} in slices of rows, yielding to the page where a slice is used up: the
 * encoder's word table is 1.8 million numbers, a long task of its own on a slow phone.
 */
export async function decodeTensorSliced(buf: ArrayBuffer, spec: TensorSpec, slicer: Slicer): Promise<Float32Array> {
  const { out, rows, cols, decode } = tensorDecoder(buf, spec);
  const step = Math.max(1, Math.floor(DECODE_BLOCK / Math.max(1, cols)));
  for (let from = 0; from < rows; from += step) {
    decode(from, Math.min(rows, from + step));
    await slicer.maybeYield();
  }
  return out;
}

/** Numbers decoded between checks of the slice's time (a millisecond or two). */
const DECODE_BLOCK = 1 << 16;

/**
 * `n` numbers of `Kind` at byte `at` of `buf`: read in place where `at` is a multiple of their
 * size (a copy of a large tensor at once is a long task of its own), else copied out.
 */
function viewOf<T>(
  Kind: { new (buf: ArrayBuffer, at: number, n: number): T; readonly BYTES_PER_ELEMENT: number },
  buf: ArrayBuffer,
  at: number,
  n: number,
): T {
  const size = Kind.BYTES_PER_ELEMENT;
  return at % size === 0 ? new Kind(buf, at, n) : new Kind(buf.slice(at, at + n * size), 0, n);
}

/**
 * A tensor's numbers and its int8 or int4 rows (those that share a scale), once its place in its
 * file is checked; `dataBytes`: the bytes before the scales.
 */
function checkedPlace(buf: ArrayBuffer, spec: TensorSpec): { size: number; scaleRows: number; dataBytes: number } {
  // A form a later version writes (a head manifest that names one is refused before its files download).
  if (!knownDtype(spec.dtype)) {
    throw laterVersionError(spec.file, `Tensor ${spec.name} in ${spec.file} is of dtype ${JSON.stringify(spec.dtype)}`);
  }
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const scaleRows = spec.shape.length > 1 ? spec.shape[0]! : 1;
  // Varints take one to five bytes a number (their bytes are checked again as they are decoded);
  // the other forms a fixed count.
  const varints = spec.dtype === 'delta-varint';
  const dataBytes = spec.dtype === 'int4' ? scaleRows * Math.ceil(size / Math.max(scaleRows, 1) / 2) : size;
  const expected = spec.dtype === 'float32' ? size * 4 : spec.dtype === 'float16' ? size * 2 : dataBytes + scaleRows * 4;
  const fits = varints ? spec.byteLength >= size && spec.byteLength <= 5 * size : spec.byteLength === expected;
  if (!fits || spec.offset + spec.byteLength > buf.byteLength) {
    throw new ModelLoadError(
      spec.file,
      `Tensor ${spec.name} in ${spec.file} has ${spec.byteLength} bytes at offset ${spec.offset}, expected ${varints ? `${size} to ${5 * size}` : expected} for shape [${spec.shape.join(',')}] ${spec.dtype}. Rebuild the model.`,
    );
  }
  return { size, scaleRows, dataBytes };
}

/**
 * Whole numbers as a `delta-varint` tensor's bytes ({@link TensorSpec}): each number's difference
 * from the one before (the first's from 0), zigzag-coded (0, −1, 1, −2, … as 0, 1, 2, 3, …), as a
 * LEB128 varint, seven bits a byte, low first.
 */
export function encodeDeltaVarints(values: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5 * values.length);
  let at = 0;
  let before = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || Math.abs(v) > 0x7fffffff) throw new RangeError(`delta-varint holds 32-bit whole numbers, got ${v}`);
    const d = v - before;
    before = v;
    let z = d >= 0 ? 2 * d : -2 * d - 1;
    while (z >= 0x80) {
      out[at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    out[at++] = z;
  }
  return out.slice(0, at);
}

/**
 * A float16 tensor's numbers as their IEEE half bits, copied out of its file (whose bytes may then
 * be let go): for a caller that keeps millions of them (a base's transition probabilities) at two
 * bytes each and reads each through {@link halfTable} when it needs it.
 */
export function halfBits(buf: ArrayBuffer, spec: TensorSpec): Uint16Array {
  if (spec.dtype !== 'float16') throw new ModelLoadError(spec.file, `Tensor ${spec.name} is ${spec.dtype}, not float16.`);
  const { size } = checkedPlace(buf, spec);
  return viewOf(Uint16Array, buf, spec.offset, size).slice();
}

/**
 * A matrix tensor read a row at a time, where it lies in its file (nothing decoded ahead):
 * `row(r, out, at)` writes row r's numbers into `out` from `at`. For a caller that needs some
 * rows, each in another place (a base's residuals, aligned with a catalogue): decoding the whole
 * tensor first took a page 27 ms and N × d floats for a base of 100,000 items.
 */
export interface TensorRows {
  rows: number;
  cols: number;
  row(r: number, out: Float32Array, at: number): void;
}

/** {@link TensorRows} of a tensor of shape [rows, …] in `buf`. */
export function tensorRows(buf: ArrayBuffer, spec: TensorSpec): TensorRows {
  if (spec.dtype === 'delta-varint')
    throw new ModelLoadError(spec.file, `Tensor ${spec.name} is ${spec.dtype}: it is read whole, not by rows.`);
  const { size, scaleRows, dataBytes } = checkedPlace(buf, spec);
  const rows = scaleRows;
  const cols = rows > 0 ? size / rows : 1;
  if (spec.dtype === 'float32') {
    const f = viewOf(Float32Array, buf, spec.offset, size);
    return { rows, cols, row: (r, out, at) => out.set(f.subarray(r * cols, (r + 1) * cols), at) };
  }
  if (spec.dtype === 'float16') {
    const h = viewOf(Uint16Array, buf, spec.offset, size);
    const table = halfTable();
    return {
      rows,
      cols,
      row: (r, out, at) => {
        for (let c = 0; c < cols; c++) out[at + c] = table[h[r * cols + c]!]!;
      },
    };
  }
  if (spec.dtype === 'int4') return { rows, cols, row: int4Rows(buf, spec, dataBytes, rows, cols) };
  const q = viewOf(Int8Array, buf, spec.offset, size);
  const scales = viewOf(Float32Array, buf, spec.offset + size, rows);
  return {
    rows,
    cols,
    row: (r, out, at) => {
      const s = scales[r]!;
      for (let c = 0; c < cols; c++) out[at + c] = q[r * cols + c]! * s;
    },
  };
}

/** A reader of an int4 tensor's rows (its place checked: `dataBytes` of numbers, then a scale a row): row r's `cols` numbers into `out` at `at`. */
function int4Rows(
  buf: ArrayBuffer,
  spec: TensorSpec,
  dataBytes: number,
  rows: number,
  cols: number,
): (r: number, out: Float32Array, at: number) => void {
  const nibbles = new Uint8Array(buf, spec.offset, dataBytes);
  const scales = viewOf(Float32Array, buf, spec.offset + dataBytes, rows);
  const perRow = Math.ceil(cols / 2);
  return (r, out, at) => {
    const from = r * perRow;
    const scale = scales[r]!;
    for (let c = 0; c < cols; c++) {
      const b = nibbles[from + (c >> 1)]!;
      const v = c & 1 ? b >> 4 : b & 15;
      out[at + c] = (v > 7 ? v - 16 : v) * scale;
    }
  };
}

/** Checks a tensor's place in its file and returns its output and a decoder of row ranges into it. */
function tensorDecoder(
  buf: ArrayBuffer,
  spec: TensorSpec,
): { out: Float32Array; rows: number; cols: number; decode: (from: number, to: number) => void } {
  const { size, scaleRows, dataBytes } = checkedPlace(buf, spec);
  // int8 and int4 rows share a scale; floats are decoded by any ranges of numbers, so each is a
  // row of its own (a one-dimensional tensor of millions of numbers is then decoded in slices too).
  const rows = spec.dtype === 'int8' || spec.dtype === 'int4' ? scaleRows : size;
  const cols = rows > 0 ? size / rows : 1;
  const out = new Float32Array(size);
  if (spec.dtype === 'float32') {
    const f = viewOf(Float32Array, buf, spec.offset, size);
    return { out, rows, cols, decode: (from, to) => out.set(f.subarray(from * cols, to * cols), from * cols) };
  }
  if (spec.dtype === 'delta-varint') {
    // Read in order, each range where the one before ended: the varints are read one after another.
    const bytes = new Uint8Array(buf, spec.offset, spec.byteLength);
    let at = 0;
    let next = 0;
    let value = 0;
    const bad = (why: string): never => {
      throw new ModelLoadError(spec.file, `Tensor ${spec.name} in ${spec.file}: ${why}. Rebuild the model.`);
    };
    return {
      out,
      rows,
      cols,
      decode: (from, to) => {
        if (from !== next) bad('its numbers were asked for out of order');
        for (let i = from; i < to; i++) {
          let z = 0;
          let shift = 0;
          let b = 0;
          do {
            if (at >= bytes.length || shift > 28) bad('a varint runs past its bytes');
            b = bytes[at++]!;
            z += (b & 0x7f) * 2 ** shift;
            shift += 7;
          } while (b & 0x80);
          value += z % 2 === 1 ? -(z + 1) / 2 : z / 2;
          if (!(Math.abs(value) <= 0x7fffffff)) bad('a number is past 32 bits');
          out[i] = value;
        }
        next = to;
        if (to === size && at !== bytes.length) bad(`${bytes.length - at} bytes are left after its ${size} numbers`);
      },
    };
  }
  if (spec.dtype === 'float16') {
    const h = viewOf(Uint16Array, buf, spec.offset, size);
    return {
      out,
      rows,
      cols,
      decode: (from, to) => {
        const table = halfTable();
        for (let i = from * cols; i < to * cols; i++) out[i] = table[h[i]!]!;
      },
    };
  }
  if (spec.dtype === 'int4') {
    const row = int4Rows(buf, spec, dataBytes, rows, cols);
    return {
      out,
      rows,
      cols,
      decode: (from, to) => {
        for (let r = from; r < to; r++) row(r, out, r * cols);
      },
    };
  }
  const q = viewOf(Int8Array, buf, spec.offset, size);
  const scales = viewOf(Float32Array, buf, spec.offset + size, rows);
  return {
    out,
    rows,
    cols,
    decode: (from, to) => {
      for (let r = from; r < to; r++) {
        const s = scales[r]!;
        for (let c = 0; c < cols; c++) out[r * cols + c] = q[r * cols + c]! * s;
      }
    },
  };
}

/** A row's scale for symmetric rounding to whole steps up to `top`: its largest magnitude / `top` (1 for a row of zeros). */
function rowScale(data: Float32Array, from: number, cols: number, top: number): number {
  let m = 0;
  for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(data[from + c]!));
  return m > 0 ? m / top : 1;
}

/**
 * Encodes a row-major matrix as `int4` rows ({@link TensorSpec}): each number rounded to a whole
 * multiple, −7 to 7, of its row's scale (its largest magnitude / 7), two a byte, then the scales
 * as float32. Half the bytes of int8 rows, each number within half a step of its row.
 */
export function encodeInt4Rows(data: Float32Array, rows: number): Uint8Array {
  const cols = rows > 0 ? data.length / rows : 0;
  const perRow = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * perRow + rows * 4);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = (scales[r] = rowScale(data, r * cols, cols, 7));
    for (let c = 0; c < cols; c++) {
      const q = Math.max(-7, Math.min(7, Math.round(data[r * cols + c]! / s))) & 15;
      out[r * perRow + (c >> 1)]! |= c & 1 ? q << 4 : q;
    }
  }
  out.set(new Uint8Array(scales.buffer), rows * perRow);
  return out;
}

/** Encodes a row-major matrix as int8 with one float32 scale per row (symmetric, max-abs). */
export function encodeInt8Rows(data: Float32Array, rows: number): Uint8Array {
  const cols = data.length / rows;
  const out = new Uint8Array(data.length + rows * 4);
  const q = new Int8Array(out.buffer, 0, data.length);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const s = (scales[r] = rowScale(data, r * cols, cols, 127));
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.round(data[r * cols + c]! / s);
  }
  out.set(new Uint8Array(scales.buffer), data.length);
  return out;
}
