/**
 * The stream job's checkpoint: what it has learned from its log up to a byte of it, written now
 * and then beside the log, so that a start replays only the lines after that byte instead of the
 * whole log (a busy shop's log of months took minutes to replay, during which the job took no
 * event and published nothing).
 *
 * One file, `<state>/checkpoint.bin`: a line of JSON (what the job counted, the learner's numbers,
 * where each array lies, and a SHA-256 of the arrays), then the arrays themselves, each at a
 * multiple of 8 bytes. It is written to a temporary file, fsynced and renamed over the last one,
 * so a crash leaves the old checkpoint or the new one, whole. A checkpoint is taken up only where
 * everything it rests on is as it was (`readCheckpoint` says what is not; one made on another
 * catalogue holds that catalogue's ids, and the job carries it over by id); else the job replays
 * its whole log, as it did before it kept checkpoints. The log stays the record: a checkpoint can
 * be deleted at any time, at the cost of one longer start.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ShopLearnerState } from '../../core/shop-delta.js';
import { canonicalOptions } from '../../core/shop-delta.js';
import { ITEMS_PER_STEP, runSteps, runStepsInTurns } from '../../core/slice.js';
import { syncFolder } from './log.js';

/** The checkpoint's file name in the job's state folder. */
export const CHECKPOINT_FILE = 'checkpoint.bin';

/** Bytes before a position whose hash says that a file up to there is the one the checkpoint saw. */
const TAIL_BYTES = 4096;

const FORMAT = 1;

/** What a checkpoint holds besides the learner's arrays. */
export interface CheckpointInfo {
  /** The log's bytes the checkpoint covers: its lines from here on are replayed at a start. */
  logBytes: number;
  /** Events the job had taken. */
  total: number;
  /** The log's last base marker before `logBytes` (null where it has none). */
  lastBase: string | null;
  /** The model version the learner was made on. */
  baseVersion: string;
  /** `catalogSha` of the catalogue the learner indexes. */
  catalogSha: string;
  /** The learner's options as it resolved them (`ShopLearner.options`). */
  options: unknown;
  /** Where the job's events file was read to (`FileSource.position`), or null. */
  source: unknown;
  /**
   * The oldest and newest event times in the log (ms), or null where it holds none (absent from a
   * checkpoint of a version that did not keep them).
   */
  times?: { oldest: number; newest: number } | null;
}

/** What a checkpoint is written from: the job's state folder and log, its info, the learner's state, the ids' table and the catalogue's ids. */
export interface CheckpointInput {
  dir: string;
  logPath: string;
  info: CheckpointInfo;
  learner: ShopLearnerState;
  seen: { keys: Uint32Array; size: number };
  ids: readonly string[];
}

/** A checkpoint read back: its info, the learner's state and the ids' table. */
export interface Checkpoint extends CheckpointInfo {
  learner: ShopLearnerState;
  seen: { keys: Uint32Array; size: number };
  /** The ids of the catalogue the learner indexes, in order (their SHA-256 is `catalogSha`). */
  ids: string[];
  /** When it was written (ISO 8601). */
  written: string;
}

interface Header extends CheckpointInfo {
  format: number;
  written: string;
  /** The log's last `TAIL_BYTES` before `logBytes`, hashed. */
  logTail: string;
  learner: Omit<ShopLearnerState, 'rho' | 'gRho' | 'w' | 'gW' | 'counts' | 'sold'> & {
    sold: { origin: number | null; from: number } | null;
  };
  seenSize: number;
  /** Each array: its name, kind, length and byte offset after the header. */
  arrays: { name: string; kind: ArrayKind; length: number; at: number }[];
  sha256: string;
}

type ArrayKind = 'f64' | 'u32' | 'u8';
type AnyArray = Float64Array | Uint32Array | Uint8Array;
const BYTES: Record<ArrayKind, number> = { f64: 8, u32: 4, u8: 1 };
const kindOf = (a: AnyArray): ArrayKind => (a instanceof Float64Array ? 'f64' : a instanceof Uint32Array ? 'u32' : 'u8');

/** A SHA-256 of the catalogue's ids in order: a checkpoint indexes items by their place in it. */
export function catalogSha(ids: readonly string[]): string {
  return runSteps(catalogShaSteps(ids));
}

/** {@link catalogSha} in steps: a yield after every `idsPerStep` ids. */
export function* catalogShaSteps(ids: readonly string[], idsPerStep = ITEMS_PER_STEP): Generator<void, string> {
  const h = createHash('sha256');
  // Each id as JSON, so that no id's own newline can make two lists read alike.
  for (let a = 0; a < ids.length; a += idsPerStep) {
    let text = '';
    for (let i = a; i < Math.min(ids.length, a + idsPerStep); i++) text += `${JSON.stringify(ids[i])}\n`;
    h.update(text);
    yield;
  }
  return h.digest('hex');
}

/**
 * A SHA-256 of the (up to) 4,096 bytes of the file at `path` before byte `at`, or null where the
 * file is shorter than `at` or cannot be read: that a file still holds them says it is the one
 * read before, grown since (an append-only log, an events file).
 */
export function tailSha(path: string, at: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    if (fstatSync(fd).size < at) return null;
    const n = Math.min(TAIL_BYTES, at);
    const buf = Buffer.alloc(n);
    if (readSync(fd, buf, 0, n, at - n) !== n) return null;
    return createHash('sha256').update(buf).digest('hex');
  } finally {
    closeSync(fd);
  }
}

/** The arrays a checkpoint holds, by name, in the order they are written. */
function arraysOf(learner: ShopLearnerState, seen: Uint32Array, ids: Uint8Array): [string, AnyArray][] {
  return [
    ['rho', learner.rho],
    ['gRho', learner.gRho],
    ['w', learner.w],
    ['gW', learner.gW],
    ...learner.counts.map((c, k): [string, Float64Array] => [`counts.${k}`, c]),
    ...(learner.sold ? [['sold', learner.sold.sums] as [string, Float64Array]] : []),
    ['seen', seen],
    ['ids', ids],
  ];
}

function bytesOf(a: AnyArray): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Bytes moved by one read or write call: a file's arrays can pass the 2 GiB one call moves (a
 * job's ids at some 150 million events), so they go in pieces.
 */
const IO_BYTES = 1 << 28;

/** Writes all of `bytes` at byte `position` of the file. */
function writeAllAt(fd: number, bytes: Buffer, position: number): void {
  for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, Math.min(IO_BYTES, bytes.length - at), position + at);
}

/** Fills `into` from the file at byte `position`; false where the file ends first. */
function readAll(fd: number, into: Buffer, position: number): boolean {
  for (let at = 0; at < into.length;) {
    const got = readSync(fd, into, at, Math.min(IO_BYTES, into.length - at), position + at);
    if (got === 0) return false;
    at += got;
  }
  return true;
}

/** The first line of the file (the header), read a piece at a time; null where it has none within 16 MiB. */
function firstLine(fd: number): Buffer | null {
  const pieces: Buffer[] = [];
  for (let at = 0; at < 1 << 24;) {
    const piece = Buffer.alloc(1 << 16);
    const got = readSync(fd, piece, 0, piece.length, at);
    if (got === 0) return null;
    const nl = piece.subarray(0, got).indexOf(0x0a);
    if (nl >= 0) {
      pieces.push(piece.subarray(0, nl + 1));
      return Buffer.concat(pieces);
    }
    pieces.push(piece.subarray(0, got));
    at += got;
  }
  return null;
}

/**
 * Writes the checkpoint into the state folder `dir` (the log's folder), whole or not at all;
 * returns its size in bytes. The arrays are written from the learner's and the set's own memory,
 * not copied, in the caller's turn.
 */
export function writeCheckpoint(input: CheckpointInput): number {
  return runSteps(writeSteps(input, IO_BYTES, false));
}

/**
 * Writes the checkpoint as `writeCheckpoint` does, a piece of `pieceBytes` at a time, letting
 * other work run between two pieces, so that a job whose ids' table is hundreds of megabytes goes
 * on taking events meanwhile. What it covers is taken when it is called: the log's bytes, `info`
 * and the learner, whose arrays it copies (they change with every event). The ids' table is not
 * copied: it only gains ids until it is replaced by a larger one (which leaves this one as it
 * was), so what is written holds every id of the events the checkpoint covers and perhaps some of
 * events taken since, which a start replays from the log after it and which change nothing there.
 */
export async function writeCheckpointInTurns(input: CheckpointInput, pieceBytes = TURN_WRITE_BYTES): Promise<number> {
  const { learner } = input;
  const copied: ShopLearnerState = {
    ...learner,
    rho: learner.rho.slice(),
    gRho: learner.gRho.slice(),
    w: learner.w.slice(),
    gW: learner.gW.slice(),
    counts: learner.counts.map((c) => c.slice()),
    origin: [...learner.origin],
    sold: learner.sold ? { ...learner.sold, sums: learner.sold.sums.slice() } : null,
  };
  return runStepsInTurns(writeSteps({ ...input, learner: copied }, pieceBytes, true));
}

/** Bytes a checkpoint written in turns writes in one (8 MiB): some 10 ms on this project's machine. */
export const TURN_WRITE_BYTES = 1 << 23;

/** A checkpoint's file, fsynced whenever this many bytes were written since the last (16 MiB). */
const CHECKPOINT_SYNC_BYTES = 1 << 24;

/**
 * The steps of a checkpoint's write, one piece of at most `pieceBytes` each: the arrays after a
 * place kept for the header, each piece hashed (and, for the ids' table, its ids counted) as it is
 * written, then the header, the fsync and the rename. Returns the file's size. A piece of the
 * table is always at a multiple of 8 bytes of its own array, so it can be read as 32-bit words.
 */
function* writeSteps(
  { dir, logPath, info, learner, seen, ids }: CheckpointInput,
  pieceBytes: number,
  /** Whether the ids' table may gain ids between two pieces (a write in turns): each piece of it is then copied first. */
  live: boolean,
): Generator<void, number> {
  if (!(Number.isInteger(pieceBytes) && pieceBytes > 0 && pieceBytes % 8 === 0))
    throw new RangeError(`A checkpoint's piece must be a whole number of bytes, a multiple of 8, got ${pieceBytes}.`);
  const logTail = tailSha(logPath, info.logBytes);
  if (logTail === null) throw new Error(`${logPath} is shorter than the ${info.logBytes} bytes the checkpoint covers`);
  // The catalogue's ids, so that a start on another catalogue can carry what was learned over by id.
  const arrays = arraysOf(learner, seen.keys, Buffer.from(JSON.stringify(ids)));
  let at = 0;
  const placed = arrays.map(([name, a]) => {
    const entry = { name, kind: kindOf(a), length: a.length, at };
    at += Math.ceil(a.byteLength / 8) * 8;
    return entry;
  });
  const { origin, rand, learned, lastTime, sold } = learner;
  const headerOf = (sha256: string, seenSize: number): Header => ({
    format: FORMAT,
    written: new Date().toISOString(),
    ...info,
    logTail,
    learner: { origin, rand, learned, lastTime, sold: sold ? { origin: sold.origin, from: sold.from } : null },
    seenSize,
    arrays: placed,
    sha256,
  });
  // The header's place: as long as it can be once its hash and count are known (each of fixed or
  // bounded length), a multiple of 8; the header is padded with spaces to it.
  const room = Math.ceil((Buffer.byteLength(JSON.stringify(headerOf('0'.repeat(64), Number.MAX_SAFE_INTEGER))) + 1) / 8) * 8;
  const path = join(dir, CHECKPOINT_FILE);
  const tmp = `${path}.${process.pid}.${++writes}.tmp`;
  sweepCheckpointLeftovers(dir);
  const fd = openSync(tmp, 'w');
  const hash = createHash('sha256');
  let seenSize = 0;
  let unsynced = 0;
  try {
    for (const [k, [name, a]] of arrays.entries()) {
      const start = room + placed[k]!.at;
      const all = bytesOf(a);
      for (let from = 0; from < all.length; from += pieceBytes) {
        // A copy of each piece of the ids' table, which may gain ids between two pieces: what is
        // hashed, counted and written is the same.
        const end = Math.min(all.length, from + pieceBytes);
        let piece = all.subarray(from, end);
        if (name === 'seen' && live) {
          piece = Buffer.allocUnsafeSlow(end - from);
          all.copy(piece, 0, from, end);
        }
        hash.update(piece);
        if (name === 'seen') {
          const slots = new Uint32Array(piece.buffer, piece.byteOffset, piece.length / 4);
          for (let j = 1; j < slots.length; j += 2) if (slots[j] !== 0) seenSize++;
        }
        writeAllAt(fd, piece, start + from);
        unsynced += piece.length;
        if (unsynced >= CHECKPOINT_SYNC_BYTES) {
          fsyncSync(fd);
          unsynced = 0;
        }
        yield;
      }
      const pad = Math.ceil(a.byteLength / 8) * 8 - a.byteLength;
      if (pad) writeAllAt(fd, Buffer.alloc(pad), start + a.byteLength);
    }
    const text = JSON.stringify(headerOf(hash.digest('hex'), seenSize));
    const head = Buffer.alloc(room, 0x20);
    head.write(text, 0, 'utf8');
    head[room - 1] = 0x0a;
    writeAllAt(fd, head, 0);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
  syncFolder(path);
  return room + at;
}

/**
 * Removes what a job killed while it wrote a checkpoint left in the state folder `dir` (a file as
 * large as a checkpoint; the checkpoint before stood): at a start, and before each write. Files
 * of this process are kept (one of its own may be under way).
 */
export function sweepCheckpointLeftovers(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^checkpoint\.bin\.(\d+)(\.\d+)?\.tmp$/.exec(name);
    if (m && Number(m[1]) !== process.pid) rmSync(join(dir, name), { force: true });
  }
}

/** Checkpoints this process began to write: each writes a temporary file of its own. */
let writes = 0;

/**
 * The checkpoint in `dir` where it can be taken up, else why not: there is none; it is not whole
 * (its hash); the log no longer holds the bytes it covers; or the learner it holds was made on
 * another model version or options than `expect`'s. One made on another catalogue is given with
 * that catalogue's ids (`ids`), for the caller to carry over. Never throws on a bad file.
 */
export function readCheckpoint(
  dir: string,
  logPath: string,
  expect: { baseVersion: string; options: object },
): { checkpoint: Checkpoint } | { why: string } {
  const path = join(dir, CHECKPOINT_FILE);
  if (!existsSync(path)) return { why: 'there is none' };
  const views = new Map<string, AnyArray>();
  const hash = createHash('sha256');
  let header: Header;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r');
    const line = firstLine(fd);
    if (line === null) return { why: `${path} cannot be read as a checkpoint` };
    header = JSON.parse(line.toString('utf8')) as Header;
    if (header.format !== FORMAT) return { why: `it is of format ${String(header.format)}, not ${FORMAT}` };
    const body = Math.ceil(line.length / 8) * 8;
    const size = fstatSync(fd).size;
    // Each array read into memory of its own, in pieces: the file is never held whole.
    for (const a of header.arrays ?? []) {
      if (!(Number.isInteger(a.length) && a.length >= 0 && Number.isInteger(a.at) && a.at >= 0) || !(a.kind in BYTES))
        return { why: `${path} cannot be read as a checkpoint` };
      const end = body + a.at + a.length * BYTES[a.kind];
      if (end > size) return { why: `${path} is cut short (its ${a.name} is not whole)` };
      const view = a.kind === 'f64' ? new Float64Array(a.length) : a.kind === 'u32' ? new Uint32Array(a.length) : new Uint8Array(a.length);
      const bytes = bytesOf(view);
      if (!readAll(fd, bytes, body + a.at)) return { why: `${path} is cut short (its ${a.name} is not whole)` };
      hash.update(bytes);
      views.set(a.name, view);
    }
  } catch {
    return { why: `${path} cannot be read as a checkpoint` };
  } finally {
    if (fd !== null) closeSync(fd);
  }
  if (hash.digest('hex') !== header.sha256) return { why: `${path} is damaged (its arrays do not match their SHA-256)` };
  if (header.baseVersion !== expect.baseVersion) return { why: `it was made on base ${header.baseVersion}, not ${expect.baseVersion}` };
  if (
    typeof header.options !== 'object' ||
    header.options === null ||
    canonicalOptions(header.options) !== canonicalOptions(expect.options)
  )
    return { why: 'it was made with other learner options' };
  if (tailSha(logPath, header.logBytes) !== header.logTail)
    return { why: `${logPath} no longer holds the ${header.logBytes} bytes it covers` };
  const f64 = (name: string): Float64Array => {
    const v = views.get(name);
    if (!(v instanceof Float64Array)) throw new Error(`the checkpoint lacks ${name}`);
    return v;
  };
  try {
    const counts: Float64Array[] = [];
    for (let k = 0; views.has(`counts.${k}`); k++) counts.push(f64(`counts.${k}`));
    const seen = views.get('seen');
    if (!(seen instanceof Uint32Array)) throw new Error('the checkpoint lacks seen');
    const text = views.get('ids');
    const ids = text instanceof Uint8Array ? (JSON.parse(Buffer.from(text).toString('utf8')) as unknown) : null;
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string') || catalogSha(ids) !== header.catalogSha)
      throw new Error('its catalogue is not whole');
    const l = header.learner;
    return {
      checkpoint: {
        logBytes: header.logBytes,
        total: header.total,
        lastBase: header.lastBase,
        baseVersion: header.baseVersion,
        catalogSha: header.catalogSha,
        options: header.options,
        source: header.source,
        times: validTimes(header.times),
        written: header.written,
        learner: {
          rho: f64('rho'),
          gRho: f64('gRho'),
          w: f64('w'),
          gW: f64('gW'),
          counts,
          origin: l.origin,
          rand: l.rand,
          learned: l.learned,
          lastTime: l.lastTime,
          sold: l.sold ? { sums: f64('sold'), origin: l.sold.origin, from: l.sold.from } : null,
        },
        seen: { keys: seen, size: header.seenSize },
        ids,
      },
    };
  } catch (err) {
    return { why: err instanceof Error ? err.message : String(err) };
  }
}

/** A checkpoint's `times` where they are two numbers, else null. */
function validTimes(t: unknown): { oldest: number; newest: number } | null {
  if (typeof t !== 'object' || t === null) return null;
  const { oldest, newest } = t as Record<string, unknown>;
  return typeof oldest === 'number' && typeof newest === 'number' && Number.isFinite(oldest) && Number.isFinite(newest)
    ? { oldest, newest }
    : null;
}
