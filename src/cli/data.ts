/**
 * Reading the data files of ARCHITECTURE.md: CSV with a header row, plain or gzipped, RFC 4180
 * quoting, columns found by name (extra columns ignored).
 * - events: `user_id,item_id,timestamp` (+ optional `event`, `quantity`, `session_id`), any order;
 *   returned sorted by time, stably.
 * - items: `item_id,title` (+ optional `description,price,category`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { validateCatalog } from '../core/catalog.js';
import { UsageError } from './common.js';
import type { Item } from '../core/types.js';

/** One event of the log. `t` is milliseconds since epoch (wall-clock times are read as UTC). */
export interface LogEvent {
  user: string;
  item: string;
  t: number;
  event: string;
  quantity: number;
  /** A basket: `session_id` when given, else the user and the exact timestamp. */
  basket: string;
}

/**
 * The file's bytes, gunzipped where they are gzip. Parsed from bytes, never as one string: a log's
 * text may be longer than the longest string the runtime can hold (512 MiB in Node 20).
 */
function readBytes(path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new Error(
      `Cannot read ${path}: ${err instanceof Error ? err.message : String(err)}. Give the path of a CSV file (plain or gzipped).`,
    );
  }
  const gz = buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  return gz ? gunzipSync(buf) : buf;
}

/**
 * The file's rows, each turned by `take` as it is parsed: only what `take` returns is kept, not a
 * record of every column of every row (a log's rows carry titles, prices and more that the
 * events do not need). Columns are found by name; `required` are checked on the header.
 */
function rows<T>(path: string, required: string[], take: (r: Record<string, string>, line: number) => T): T[] {
  const columns = (header: string[]): string[] => {
    const missing = required.filter((c) => !header.includes(c));
    if (missing.length) {
      throw new Error(`${path} lacks the column(s) ${missing.join(', ')}. Found: ${header.join(', ')}. Required: ${required.join(', ')}.`);
    }
    return header;
  };
  const out = parse(readBytes(path), {
    columns,
    skip_empty_lines: true,
    bom: true,
    relax_column_count: false,
    on_record: (r: Record<string, string>, info) => take(r, info.lines),
  }) as T[];
  if (out.length === 0) throw new Error(`${path} has no data rows.`);
  return out;
}

/** Parses an ISO 8601 date-time or `YYYY-MM-DD HH:MM:SS` (read as UTC), or a plain date. */
export function parseTime(s: string): number {
  const t = s.trim();
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(t)
    ? `${t}T00:00:00Z`
    : /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t)
      ? `${t.replace(' ', 'T')}Z`
      : t;
  const ms = Date.parse(iso);
  return ms;
}

/**
 * Reads and sorts an events file. A row with an unreadable timestamp is an error naming its line
 * in the file. Ids, baskets and event kinds repeat over many rows: each distinct one is kept once,
 * so a log's events hold little more than their numbers (a row's fields are fresh strings).
 */
export function readEvents(path: string): LogEvent[] {
  const strings = new Map<string, string>();
  const once = (v: string): string => {
    const had = strings.get(v);
    if (had !== undefined) return had;
    strings.set(v, v);
    return v;
  };
  // The lines of one basket come together and share their timestamp: parsed once for them.
  let lastStamp: string | null = null;
  let lastTime = NaN;
  const out: LogEvent[] = rows(path, ['user_id', 'item_id', 'timestamp'], (r, line) => {
    const stamp = r['timestamp']!;
    const t = stamp === lastStamp ? lastTime : parseTime(stamp);
    if (!Number.isFinite(t)) {
      throw new Error(`${path}, line ${line}: timestamp ${JSON.stringify(stamp)} is not an ISO 8601 date-time or YYYY-MM-DD HH:MM:SS.`);
    }
    lastStamp = stamp;
    lastTime = t;
    const user = once(r['user_id']!);
    const quantity = r['quantity'] !== undefined && r['quantity'] !== '' ? Number(r['quantity']) : 1;
    return {
      user,
      item: once(r['item_id']!),
      t,
      event: once(r['event'] || 'purchase'),
      quantity: Number.isFinite(quantity) ? quantity : 1,
      basket: once(r['session_id'] || `${user}@${stamp}`),
    };
  });
  // Array.prototype.sort is stable, so rows with the same time keep their file order.
  return out.sort((a, b) => a.t - b.t);
}

/** Reads an items file into catalogue items. */
export function readItems(path: string): Item[] {
  return rows(path, ['item_id', 'title'], (r) => {
    const item: Item = { id: r['item_id']!, title: r['title']! };
    if (r['description']) item.description = r['description'];
    if (r['category']) item.category = r['category'];
    const price = r['price'] !== undefined && r['price'] !== '' ? Number(r['price']) : NaN;
    if (Number.isFinite(price) && price >= 0) item.price = price;
    return item;
  });
}

/**
 * The items as a shop whose titles say less would list them, to see how far a model leans on the
 * text (`--title-words` of `npm run eval` and `npm run maintain`): each title cut to its first
 * `words` words; with 0, no text at all (the title is the item's id, the description dropped).
 */
export function withShortTitles(items: readonly Item[], words: number): Item[] {
  titleWordsOf(words);
  return items.map((item) => {
    if (words === 0) {
      const bare: Item = { ...item, title: item.id };
      delete bare.description;
      return bare;
    }
    const kept = item.title
      .split(/\s+/)
      .filter((w) => w.length > 0)
      .slice(0, words)
      .join(' ');
    return { ...item, title: kept.length > 0 ? kept : item.id };
  });
}

/** The `--title-words` option: null where it is not given; a whole number ≥ 0, else a usage error. */
export function titleWordsOf(value: unknown): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 0)) throw new UsageError(`--title-words must be a whole number ≥ 0, got ${String(value)}.`);
  return n;
}

/** Reads a storefront catalogue (JSON array) or the tools' items CSV. */
export function readCatalogFile(path: string): Item[] {
  if (!existsSync(path))
    throw new Error(`${path} does not exist. Give the catalogue the storefront serves (--catalog) or an items CSV (--items).`);
  if (/\.csv(\.gz)?$/.test(path)) return readItems(path);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${String(err)}): give a JSON array of items, or an items CSV with --items.`);
  }
  const catalog = validateCatalog(parsed);
  if (catalog.skipped.length) console.warn(`${catalog.skipped.length} catalogue items skipped: ${catalog.skipped.slice(0, 3).join('; ')}`);
  return [...catalog.items];
}
