/**
 * The stream job's own append-only log: one JSON object per line, an event or a base marker.
 * An event is acknowledged only after its line is written and fsynced, so `kill -9` at any moment
 * loses no acknowledged event. A line cut short by a crash was never acknowledged: at the next
 * start it is cut off, and everything before it is replayed.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nextTask } from '../../core/slice.js';
import { fileLinePieces, PIECE_BYTES } from './line-pieces.js';

/**
 * Bytes replayed in one turn while the job goes on taking events (`forEachInTurns`): about 4,000
 * lines, some 40 ms of learning on this project's machine, after which a waiting request is answered.
 */
export const TURN_BYTES = 1 << 18;

/** A compaction's copy is fsynced whenever this many bytes were written to it since the last (16 MiB). */
const SYNC_BYTES = 1 << 24;

/** An event as the job keeps it: the item id, the shopper, the time (ms since epoch), a unique id. */
export interface StreamEvent {
  id: string;
  user: string;
  item: string;
  t: number;
}

/** A line of the log. */
export type LogLine = { kind: 'event'; event: StreamEvent } | { kind: 'base'; version: string };

export class EventLog {
  readonly path: string;
  private fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /**
   * Opens (creating) `<dir>/events.log` and cuts off a torn last line; `visit` is given every
   * whole line from byte `from` on (the start of a line: 0, or where a checkpoint was written), in
   * order, as the log is read (in pieces of whole lines: a log can be longer than the longest
   * string the runtime can hold, and its lines are not all kept).
   */
  static open(
    dir: string,
    visit: (line: LogLine) => void = () => undefined,
    pieceBytes = PIECE_BYTES,
    from = 0,
  ): { log: EventLog; torn: number } {
    mkdirSync(dir, { recursive: true });
    const path = EventLog.pathIn(dir);
    // What a job killed while it compacted its log left: the log itself was not yet replaced.
    rmSync(compactingPath(path), { force: true });
    const fd = openSync(path, 'a+');
    try {
      const size = fstatSync(fd).size;
      if (!(Number.isInteger(from) && from >= 0 && from <= size))
        throw new RangeError(`${path} is ${size} bytes long: its lines cannot be read from byte ${from}`);
      const good = readLines(fd, from, size, visit, pieceBytes);
      if (good < size) {
        ftruncateSync(fd, good);
        fsyncSync(fd);
      }
      return { log: new EventLog(path, fd), torn: size - good };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The log's path in the job's state folder `dir`. */
  static pathIn(dir: string): string {
    return join(dir, 'events.log');
  }

  /** The log's length in bytes: every line written so far ends there or before. */
  get bytes(): number {
    return fstatSync(this.fd).size;
  }

  /**
   * Gives `visit` every whole line of the log, in order, a piece of about `pieceBytes` at a time,
   * letting other work run between two pieces (the job takes events meanwhile, and the log grows):
   * it reads on until it reaches the log's end, and resolves in the same turn, so that a caller
   * that acts when it resolves acts on every line written until then.
   */
  async forEachInTurns(visit: (line: LogLine) => void, pieceBytes = TURN_BYTES): Promise<void> {
    // Only a torn write fails to parse, and `open` cut that off: nothing after one is read.
    await this.piecesInTurns((bytes) => visitLines(bytes, visit) === bytes.length, pieceBytes);
  }

  /**
   * Rewrites the log with only the lines `keep` keeps, a piece of about `pieceBytes` at a time,
   * letting other work run between two pieces (the job takes events meanwhile, appended to the log
   * as it was): the kept lines go to a temporary file, and the last piece, the fsync, the rename
   * over the log and `swapped` all come in one turn, so no line written meanwhile is left out and
   * the next `append` goes to the new log. A crash before the rename leaves the log as it was (the
   * next `open` removes the temporary file), after it the new one, whole.
   */
  async compactInTurns(
    keep: (line: LogLine) => boolean,
    swapped: () => void = () => undefined,
    pieceBytes = TURN_BYTES,
  ): Promise<{ before: number; after: number }> {
    const tmp = compactingPath(this.path);
    const out = openSync(tmp, 'w');
    let after = 0;
    /** Bytes copied since the last fsync of the copy. */
    let unsynced = 0;
    /** Copies a piece's kept lines; false where a line does not parse (nothing from it on is copied). */
    const copy = (bytes: Buffer): boolean => {
      const kept: Buffer[] = [];
      // The kept lines go in runs: from `run` to the line before the next one dropped.
      let run = 0;
      let i = 0;
      let ok = true;
      while (i < bytes.length) {
        const nl = bytes.indexOf(0x0a, i);
        const line = parseLine(bytes, i, nl);
        if (!line) {
          ok = false;
          break;
        }
        if (!keep(line)) {
          if (i > run) kept.push(bytes.subarray(run, i));
          run = nl + 1;
        }
        i = nl + 1;
      }
      if (i > run) kept.push(bytes.subarray(run, i));
      const buf = Buffer.concat(kept);
      for (let w = 0; w < buf.length;) w += writeSync(out, buf, w, buf.length - w);
      after += buf.length;
      unsynced += buf.length;
      return ok;
    };
    // Made durable as it goes, so that the last turn's fsync has little left to write (one of the
    // whole copy held the job some 480 ms at 325 MB on this project's machine).
    const syncIfDue = (): void => {
      if (unsynced < SYNC_BYTES) return;
      fsyncSync(out);
      unsynced = 0;
    };
    let closed = false;
    let before = 0;
    try {
      const stopped = await this.piecesInTurns(copy, pieceBytes, syncIfDue, (stoppedAt) => {
        // Only a torn write fails to parse, and `open` cut that off: a line that does not parse
        // here leaves the log as it was, rather than a copy that ends before it.
        if (stoppedAt !== null) return;
        fsyncSync(out);
        closeSync(out);
        closed = true;
        before = fstatSync(this.fd).size;
        renameSync(tmp, this.path);
        syncFolder(this.path);
        closeSync(this.fd);
        this.fd = openSync(this.path, 'a+');
        swapped();
      });
      if (stopped !== null)
        throw new Error(`${this.path} holds a line after byte ${stopped} that does not parse: the log is left as it was`);
    } catch (err) {
      if (!closed) {
        closeSync(out);
        rmSync(tmp, { force: true });
      }
      throw err;
    }
    return { before, after };
  }

  /**
   * Gives `take` the log's whole lines from its start, a piece of about `pieceBytes` at a time,
   * `between` and other work running between two pieces (the log grows meanwhile); once the rest
   * is one piece or less it is read in one turn, so that lines that keep coming (more slowly than
   * they are read) cannot keep it from ending, and `end` is called in that same turn. Returns (and
   * gives `end`) the byte of the first piece `take` refused (returned false for), or null.
   */
  private async piecesInTurns(
    take: (bytes: Buffer) => boolean,
    pieceBytes: number,
    between: () => void = () => undefined,
    end: (stoppedAt: number | null) => void = () => undefined,
  ): Promise<number | null> {
    let at = 0;
    const stop = (stoppedAt: number | null): number | null => {
      end(stoppedAt);
      return stoppedAt;
    };
    for (;;) {
      const size = fstatSync(this.fd).size;
      if (size - at <= pieceBytes) {
        for (const piece of fileLinePieces(this.fd, at, size, pieceBytes)) {
          if (!take(piece.bytes)) return stop(at);
          at = piece.end;
        }
        return stop(null);
      }
      const piece = fileLinePieces(this.fd, at, size, pieceBytes).next();
      if (piece.done || !take(piece.value.bytes)) return stop(at);
      at = piece.value.end;
      between();
      await nextTask();
    }
  }

  /** Appends lines and makes them durable (one write, one fsync) before returning. */
  append(lines: readonly LogLine[]): void {
    if (lines.length === 0) return;
    const text = lines.map((l) => JSON.stringify(l.kind === 'event' ? l.event : { base: l.version }) + '\n').join('');
    writeSync(this.fd, text);
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The temporary file a compaction writes the kept lines to, beside the log at `path`. */
function compactingPath(path: string): string {
  return `${path}.compacting`;
}

/** Makes a rename in the folder of `path` durable (the folder's entry). */
export function syncFolder(path: string): void {
  const fd = openSync(dirname(path), 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Gives `visit` the log's whole lines from byte `from` up to `size`, in order; returns where they
 * end, which is before the first line that does not parse.
 */
function readLines(fd: number, from: number, size: number, visit: (line: LogLine) => void, pieceBytes: number): number {
  let good = from;
  for (const { bytes } of fileLinePieces(fd, from, size, pieceBytes)) {
    const read = visitLines(bytes, visit);
    good += read;
    if (read < bytes.length) return good;
  }
  return good;
}

/**
 * Gives `visit` the lines of a piece (whole lines, each ending with a newline) up to the first
 * that does not parse; returns the bytes they span.
 */
function visitLines(bytes: Buffer, visit: (line: LogLine) => void): number {
  for (let at = 0; at < bytes.length;) {
    const nl = bytes.indexOf(0x0a, at);
    const parsed = parseLine(bytes, at, nl);
    // Lines are written whole and fsynced before the next; one that does not parse can only be
    // the end of a torn write, so nothing after it was acknowledged either.
    if (!parsed) return at;
    visit(parsed);
    at = nl + 1;
  }
  return bytes.length;
}

/** The line of `bytes` from `at` to the newline at `nl`, or null where it does not parse. */
function parseLine(bytes: Buffer, at: number, nl: number): LogLine | null {
  try {
    return toLogLine(JSON.parse(bytes.toString('utf8', at, nl)));
  } catch {
    return null;
  }
}

function toLogLine(o: unknown): LogLine | null {
  if (typeof o !== 'object' || o === null) return null;
  const r = o as Record<string, unknown>;
  if (typeof r['base'] === 'string') return { kind: 'base', version: r['base'] };
  if (typeof r['id'] === 'string' && typeof r['user'] === 'string' && typeof r['item'] === 'string' && typeof r['t'] === 'number') {
    return { kind: 'event', event: { id: r['id'], user: r['user'], item: r['item'], t: r['t'] } };
  }
  return null;
}
