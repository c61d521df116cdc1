/**
 * The stream job's own append-only log: one JSON object per line, an event or a base marker.
 * An event is acknowledged only after its line is written and fsynced, so `kill -9` at any moment
 * loses no acknowledged event. A line cut short by a crash was never acknowledged: at the next
 * start it is cut off, and everything before it is replayed.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

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
   * Opens (creating) `<dir>/events.log`, cuts off a torn last line, and returns the log with its
   * lines in order.
   */
  static open(dir: string): { log: EventLog; lines: LogLine[]; torn: number } {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'events.log');
    const { lines, good, size } = parseLog(path);
    const fd = openSync(path, 'a+');
    if (good < size) {
      ftruncateSync(fd, good);
      fsyncSync(fd);
    }
    return { log: new EventLog(path, fd), lines, torn: size - good };
  }

  /** Every whole line of the log, in order. */
  read(): LogLine[] {
    return parseLog(this.path).lines;
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

/** The whole lines of a log file, the byte length they span, and the file's size. */
function parseLog(path: string): { lines: LogLine[]; good: number; size: number } {
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const lines: LogLine[] = [];
  let good = 0;
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;
    const line = text.slice(at, nl);
    let parsed: LogLine | null = null;
    try {
      parsed = toLogLine(JSON.parse(line));
    } catch {
      parsed = null;
    }
    // Lines are written whole and fsynced before the next; one that does not parse can only be
    // the end of a torn write, so nothing after it was acknowledged either.
    if (!parsed) break;
    lines.push(parsed);
    at = nl + 1;
    good += Buffer.byteLength(line) + 1;
  }
  return { lines, good, size: Buffer.byteLength(text) };
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
