/**
 * Where the stream job's events come from: a growing CSV / NDJSON file, and HTTP POSTs.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, statSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import type { RawEvent, StreamJob } from './job.js';
import { EventInputError } from './job.js';
import { chunkLinePieces, fileLinePieces, PIECE_BYTES } from './line-pieces.js';
import { ownColumn, separatorHint } from '../data.js';
import { tailSha } from './checkpoint.js';
import { nextTask, runSteps, runStepsInTurns } from '../../core/slice.js';

/**
 * Where a `FileSource` has read its file to, as a checkpoint keeps it: the byte after the last
 * whole line read, the lines counted, the CSV header, and a hash of the bytes just before, by
 * which a later start knows the file is the same one, grown since. A gzipped file is read once,
 * whole: `offset` is then its size.
 */
export interface FilePosition {
  path: string;
  gz: boolean;
  offset: number;
  line: number;
  header: string[] | null;
  tail: string;
}

/** A long read says how far it is after every this many pieces of the source's size (64 MiB). */
const PROGRESS_EVERY_PIECES = 4;

/** Bytes of one piece of a read in turns ({@link FileSource.pollInTurns}), as a new base's replay. */
export const POLL_TURN_BYTES = 256 * 1024;

type Taken = { accepted: number; duplicates: number; tooOld: number };

/**
 * Follows an events file: CSV with a header row (the columns of ARCHITECTURE.md, plus an optional
 * `id` or `event_id`), or NDJSON (`.ndjson` / `.jsonl`: one `{ id, user_id, item_id, timestamp }`
 * per line). Only whole lines are read; a line still being written waits for its newline. An
 * event without an id gets `<file name>:<line number>`, so reading the file again after a restart
 * counts nothing twice. A gzipped file is unzipped once, whole.
 *
 * The lines are read, parsed and learned in pieces of about {@link PIECE_BYTES}, each taken
 * before the next is read: a year of a shop's orders can be longer than the longest string the
 * runtime can hold (512 MiB in Node), and its events need not all be held at once. The running
 * job follows the file in turns ({@link pollInTurns}), taking events from its other sources
 * between pieces.
 */
export class FileSource {
  private offset = 0;
  private line = 0;
  private header: string[] | null = null;
  private readonly ndjson: boolean;
  private readonly name: string;
  private readonly gz: boolean;
  /** Lines skipped as bad input, with the first few reasons. */
  skipped = 0;
  /** Returns (a quantity below 0) left out: no sale, and no bad input either. */
  returns = 0;
  /** Pieces read so far, and the longest in bytes (a piece is longer than asked only to end a line). */
  pieces = 0;
  largestPiece = 0;

  /** @param pieceBytes the bytes read at a time (a line longer than this is read whole). */
  constructor(
    private readonly path: string,
    private readonly job: StreamJob,
    private readonly say: (m: string) => void,
    private readonly pieceBytes = PIECE_BYTES,
    /** The file's own name of a column, by the tools' name (`--columns`). */
    private readonly columns?: Readonly<Record<string, string>>,
  ) {
    this.ndjson = /\.(nd)?jsonl?$/i.test(path) || /\.ndjson$/i.test(path);
    this.name = basename(path);
    this.gz = path.endsWith('.gz');
  }

  /** The file's own name of the column the tools call `name`. */
  private own(name: string): string {
    // NDJSON names its fields line by line: the name given, as a CSV header holding it would.
    return this.header ? ownColumn(this.header, name, this.columns) : (this.columns?.[name] ?? name);
  }

  /** Where the file has been read to (null before anything was), for the job's checkpoint. */
  position(): FilePosition | null {
    if (this.offset === 0) return null;
    const gz = this.gz;
    const offset = gz ? statSync(this.path).size : this.offset;
    const tail = tailSha(this.path, offset);
    return tail === null ? null : { path: this.path, gz, offset, line: this.line, header: this.header, tail };
  }

  /**
   * Goes on from where a checkpoint says this file had been read to, where the file still holds
   * what was read then (the same bytes before that point: it grew, and was not replaced or cut);
   * else, or where the position is another file's, reading starts at the file's beginning, as it
   * did before checkpoints, and the events read before are dropped as retries by their ids.
   * Returns whether it went on.
   */
  resume(position: unknown): boolean {
    const p = position as Partial<FilePosition> | null;
    if (!p || typeof p !== 'object' || p.path !== this.path || this.offset !== 0) return false;
    const gz = this.gz;
    if (p.gz !== gz || !(Number.isInteger(p.offset) && p.offset! > 0) || !Number.isInteger(p.line)) return false;
    if (p.header !== null && !(Array.isArray(p.header) && p.header.every((h) => typeof h === 'string'))) return false;
    if (!this.ndjson && !gz && p.header === null) return false;
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return false;
    }
    if ((gz && size !== p.offset) || tailSha(this.path, p.offset!) !== p.tail) {
      this.say(
        `reading ${this.name} from its start: it is not the file the checkpoint read (replaced or cut since); events seen before are not counted twice`,
      );
      return false;
    }
    this.offset = gz ? 1 : p.offset!;
    this.line = p.line!;
    this.header = p.header ?? null;
    this.say(
      gz
        ? `${this.name} was read whole before the checkpoint: not read again`
        : `reading ${this.name} on from byte ${p.offset} (line ${p.line}), where the checkpoint left it`,
    );
    return true;
  }

  /** Whether a read in turns is under way. */
  private polling = false;

  /**
   * Reads what was appended since the last call, at once; returns the events taken. Not for a
   * gzipped file, which would be unzipped whole: {@link pollInTurns} reads it as it unzips.
   */
  poll(): Taken {
    if (this.polling) throw new Error(`${this.name} is being read in turns: poll once that is done.`);
    if (this.gz) throw new Error(`${this.name} is gzipped: read it with pollInTurns, which unzips it a piece at a time.`);
    return runSteps(this.pollSteps(this.pieceBytes));
  }

  /**
   * {@link poll} a piece of at most `turnBytes` at a time, other work (events posted, a
   * publication) running between pieces: a shop's export appended at once may be millions of
   * lines, which a read at once would take seconds over. A call while one is under way takes
   * nothing.
   */
  async pollInTurns(turnBytes = POLL_TURN_BYTES): Promise<Taken> {
    if (this.polling) return { accepted: 0, duplicates: 0, tooOld: 0 };
    this.polling = true;
    try {
      const pieceBytes = Math.min(turnBytes, this.pieceBytes);
      return this.gz ? await this.readGzip(pieceBytes) : await runStepsInTurns(this.pollSteps(pieceBytes));
    } finally {
      this.polling = false;
    }
  }

  /**
   * A read's pieces, taken one by one: `end` of `total` bytes are read after each, said every few
   * pieces (every 64 MiB with the default pieces, whatever the pieces' size).
   */
  private taker(pieceBytes: number): { taken: Taken; take: (bytes: Buffer, end: number, total: number) => void } {
    const taken = { accepted: 0, duplicates: 0, tooOld: 0 };
    let read = 0;
    const every = PROGRESS_EVERY_PIECES * Math.max(1, Math.round(this.pieceBytes / pieceBytes));
    const take = (bytes: Buffer, end: number, total: number): void => {
      this.pieces++;
      this.largestPiece = Math.max(this.largestPiece, bytes.length);
      const r = this.take(bytes);
      taken.accepted += r.accepted;
      taken.duplicates += r.duplicates;
      taken.tooOld += r.tooOld;
      if (++read % every === 0 && end < total) {
        this.say(
          `reading ${this.name}: ${Math.floor((100 * end) / total)}% (${end} of ${total} bytes), ${taken.accepted} new events so far`,
        );
      }
    };
    return { taken, take };
  }

  /**
   * Reads a gzipped file once, as it unzips: a piece of whole lines at a time, the next task
   * between two, never the whole file in memory (a year of orders unzips to gigabytes). How far
   * is said by the zipped bytes read. A file that does not unzip whole throws once the events of
   * the pieces before the error are taken; it is read again from its start at the next call (their ids known).
   */
  private async readGzip(pieceBytes: number): Promise<Taken> {
    const { taken, take } = this.taker(pieceBytes);
    if (this.offset > 0) return taken;
    const total = statSync(this.path).size;
    const file = createReadStream(this.path, { highWaterMark: 1 << 16 });
    const unzipped = createGunzip();
    // One loop pulls the pieces and takes them, so nothing is taken once it has thrown.
    file.on('error', (err) => unzipped.destroy(err));
    file.pipe(unzipped);
    try {
      for await (const piece of chunkLinePieces(unzipped, pieceBytes)) {
        const bytes = piece.bytes[piece.bytes.length - 1] === 0x0a ? piece.bytes : Buffer.concat([piece.bytes, Buffer.from('\n')]);
        take(bytes, file.bytesRead, total);
        await nextTask();
      }
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR')
        throw new Error(
          `${this.path} is not a whole gzip file (${(err as Error).message}); ${taken.accepted} new events were taken before the error; the rest is read once the file is whole.`,
        );
      throw err;
    } finally {
      file.destroy();
      unzipped.destroy();
    }
    this.offset = 1;
    return taken;
  }

  /** The work of a read of a plain file: a yield after each piece taken. */
  private *pollSteps(pieceBytes: number): Generator<void, Taken> {
    const { taken, take } = this.taker(pieceBytes);
    const size = statSync(this.path).size;
    if (size < this.offset) {
      this.say(
        `${this.path} got shorter (rotated or truncated): reading it again from the start; events seen before are not counted twice`,
      );
      this.offset = 0;
      this.line = 0;
      this.header = null;
    }
    if (size === this.offset) return taken;
    const fd = openSync(this.path, 'r');
    try {
      for (const piece of fileLinePieces(fd, this.offset, size, pieceBytes)) {
        this.offset = piece.end;
        take(piece.bytes, piece.end, size);
        yield;
      }
    } finally {
      closeSync(fd);
    }
    return taken;
  }

  private take(bytes: Buffer): Taken {
    const text = bytes.toString('utf8');
    const lines = text.split('\n');
    lines.pop();
    const raws: { raw: RawEvent; line: number }[] = [];
    for (const l of lines) {
      this.line++;
      if (l.trim() === '') continue;
      if (!this.ndjson && this.header === null) {
        this.header = (parse(l, { bom: true }) as string[][])[0] ?? [];
        const missing = ['user_id', 'item_id', 'timestamp'].filter((c) => !this.header!.includes(this.own(c)));
        if (missing.length)
          throw new Error(
            `${this.path} lacks the column(s) ${missing.map((c) => (this.own(c) === c ? c : `${this.own(c)} (${c}, by --columns)`)).join(', ')}. Found: ${this.header.join(', ')}.${separatorHint(this.header)}`,
          );
        continue;
      }
      try {
        let rec: Record<string, unknown>;
        if (this.ndjson) rec = JSON.parse(l) as Record<string, unknown>;
        else {
          const cells = (parse(l, { relax_quotes: false }) as string[][])[0] ?? [];
          const row: Record<string, string> = {};
          this.header!.forEach((h, k) => (row[h] = cells[k] ?? ''));
          rec = row;
        }
        if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new EventInputError('not an object');
        const id = rec[this.own('id')];
        const raw: RawEvent = {
          id: id === '' || id === undefined ? rec['event_id'] || undefined : id,
          user_id: rec[this.own('user_id')],
          item_id: rec[this.own('item_id')],
          timestamp: rec[this.own('timestamp')],
          quantity: rec[this.own('quantity')],
        };
        raws.push({ raw, line: this.line });
      } catch (err) {
        this.skip(`${this.path}, line ${this.line}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    const good = [];
    let returns = 0;
    for (const { raw, line } of raws) {
      try {
        const v = this.job.validate(
          [raw],
          () => `${this.path}, line ${line}`,
          () => `${this.name}:${line}`,
        );
        good.push(...v.events);
        returns += v.returns;
      } catch (err) {
        this.skip(err instanceof Error ? err.message : String(err));
      }
    }
    const taken = this.job.accept(good);
    this.returns += returns;
    this.job.noteReturns(returns);
    return taken;
  }

  private skip(reason: string): void {
    this.skipped++;
    if (this.skipped <= 10) this.say(`skipped ${reason}`);
    else if (this.skipped === 11) this.say('more lines skipped; the count is in the status');
  }
}

/** Options of the HTTP source. */
export interface HttpOptions {
  host: string;
  port: number;
  secret: string;
  maxBodyBytes: number;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * `POST /events` with `Authorization: Bearer <secret>` and a JSON array of events (or NDJSON):
 * `{ id, user_id, item_id, timestamp, quantity? }`. The whole body is checked first; one bad event
 * rejects the request and nothing of it is taken. A return (a quantity below 0) is left out of what
 * is taken. 200 `{ accepted, duplicates, tooOld, returns }` is sent only once the events are durable. `GET /status` (same secret) tells what the job knows.
 */
export function startHttp(job: StreamJob, o: HttpOptions, onAccepted: () => void): Promise<Server> {
  const want = digest(`Bearer ${o.secret}`);
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body) + '\n');
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = `${req.method} ${url.pathname}`;
    if (route !== 'POST /events' && route !== 'GET /status') {
      send(res, 404, { error: `No ${route}. Use POST /events or GET /status.` });
      return;
    }
    if (!timingSafeEqual(digest(req.headers.authorization ?? ''), want)) {
      req.resume();
      send(res, 401, { error: 'Wrong or missing secret: send "Authorization: Bearer <secret>" with the secret the job was started with.' });
      return;
    }
    if (route === 'GET /status') {
      send(res, 200, job.status());
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > o.maxBodyBytes) {
      req.resume();
      send(res, 413, { error: `The body is ${declared} bytes; the limit is ${o.maxBodyBytes}. Send the events in smaller batches.` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > o.maxBodyBytes) {
        send(res, 413, { error: `The body is over ${o.maxBodyBytes} bytes. Send the events in smaller batches.` });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8').trim();
    let raws: RawEvent[];
    try {
      raws = text.startsWith('[')
        ? (JSON.parse(text) as RawEvent[])
        : text
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l, j) => {
              try {
                return JSON.parse(l) as RawEvent;
              } catch {
                throw new EventInputError(`line ${j + 1} of the body is not JSON`);
              }
            });
      if (!Array.isArray(raws) || raws.some((r) => typeof r !== 'object' || r === null))
        throw new EventInputError('the body must be a JSON array of event objects, or one JSON object per line');
    } catch (err) {
      send(res, 400, { error: `Malformed body: ${err instanceof Error ? err.message : String(err)}. Nothing was taken.` });
      return;
    }
    try {
      const { events, returns } = job.validate(raws, (j) => `event ${j}`);
      const r = job.accept(events);
      job.noteReturns(returns);
      onAccepted();
      send(res, 200, { ...r, returns });
    } catch (err) {
      const status = err instanceof EventInputError ? err.status : 500;
      send(res, status, { error: `${err instanceof Error ? err.message : String(err)} Nothing was taken.` });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: String(err) });
    });
  });
  return new Promise((resolveP, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolveP(server));
  });
}
