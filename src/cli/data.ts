/**
 * Reading the data files of ARCHITECTURE.md: CSV with a header row, plain or gzipped, RFC 4180
 * quoting, columns found by name (extra columns ignored).
 * - events: `user_id,item_id,timestamp` (+ optional `event`, `quantity`, `session_id`), any order;
 *   returned sorted by time, stably.
 * - items: `item_id,title` (+ optional `description,price,category`).
 */
import { closeSync, createReadStream, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { describeProblems, type ItemPlaces, validateCatalogSliced } from '../core/catalog.js';
import { parseJsonArraySliced } from '../core/json-array.js';
import { Slicer } from '../core/slice.js';
import { progressBar, UsageError } from './common.js';
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

/** How a file is read. */
export interface ReadOptions {
  /** Told, as the file is read, how many of its bytes are read (of a gzipped file, its gzipped bytes) and its size. */
  progress?: (done: number, total: number) => void;
  /** Bytes read from the file at a time: 64 KiB unless given. */
  pieceBytes?: number;
  /** The file's own name of a column, by the name the tools give it (`--columns`, {@link columnsOf}). */
  columns?: Readonly<Record<string, string>> | undefined;
}

/** The columns of an events file, by the name the tools give them: the first three are required. */
const EVENT_COLUMNS = ['user_id', 'item_id', 'timestamp', 'event', 'quantity', 'session_id'] as const;

/** Every column the tools' files may have, by the name the tools give it. */
export const FILE_COLUMNS = [...EVENT_COLUMNS, 'id', 'title', 'description', 'price', 'category'] as const;

/**
 * The `--columns` option: `user_id=CustomerID,item_id=StockCode,...`, the file's own name of each
 * column named (a shop's export keeps its own names); undefined where it is not given. A list it
 * cannot read, a column the tools' files lack or one given twice is a usage error.
 */
export function columnsOf(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    const column = pair.slice(at + 1).trim();
    if (at < 0 || name === '' || column === '')
      throw new UsageError(
        `--columns takes name=column pairs separated by commas (user_id=CustomerID,item_id=StockCode), got ${JSON.stringify(text)}.`,
      );
    if (!(FILE_COLUMNS as readonly string[]).includes(name))
      throw new UsageError(
        `--columns names ${JSON.stringify(name)}, which is not a column of the tools' files: ${FILE_COLUMNS.join(', ')}.`,
      );
    if (name in out) throw new UsageError(`--columns gives ${name} twice.`);
    out[name] = column;
  }
  return out;
}

/** The rows of an events file left out (see {@link readEvents}). */
export interface LeftOut {
  /** Rows whose `user_id` is empty (a guest's order) and that give no `session_id`: no shopper's sequence to put them in. */
  noShopper: number;
  /** Rows whose `item_id` is empty. */
  noItem: number;
  /** Rows whose `quantity` is below 0: a cancelled or returned line (a raw export keeps them), not a purchase. */
  returns: number;
}

/** The rows of guests' orders an events file holds, each order read as a shopper of one visit (see {@link readEvents}). */
export interface GuestOrders {
  rows: number;
  orders: number;
}

/**
 * The shopper of a guest's order: the order's `session_id` behind a NUL character, which a shop's
 * own ids are taken never to begin with, so that an order is not taken for one of its regulars
 * (a regular whose id is another order's number stays apart, `test/data.test.ts`).
 */
const GUEST = '\u0000';

/** Whether a log event's shopper is a guest's order (see {@link readEvents}). */
export function isGuest(user: string): boolean {
  return user.startsWith(GUEST);
}

/** How an events file is read. */
export interface EventsReadOptions extends ReadOptions {
  /** Told once the file is read how many rows were left out (zeros where none was). */
  leftOut?: (counts: LeftOut) => void;
  /** Told once the file is read how many rows of guests' orders it took, and of how many orders (zeros where none). */
  guests?: (counts: GuestOrders) => void;
  /** Told how dates with the day or the month first in digits were read, and a date that decided it (where the file has such dates and `dates` is not given). */
  dateOrder?: (order: DateOrder, example: string) => void;
  /**
   * How the file writes dates with the day or the month first in digits, where the shop says so
   * (`--date-order`): then its own dates need not tell, and one that is not a day read so is an error.
   */
  dates?: DateOrder | undefined;
}

/** Which number of a date with the day or the month first in digits is the day. */
export type DateOrder = 'day-first' | 'month-first';

/** The `--date-order` option: `day-first` or `month-first` (undefined where it is not given); anything else is a usage error. */
export function dateOrderOf(value: unknown): DateOrder | undefined {
  if (value === undefined) return undefined;
  if (value === 'day-first' || value === 'month-first') return value;
  throw new UsageError(`--date-order must be day-first (01/10/2011 is 1 October) or month-first (10 January), got ${String(value)}.`);
}

/** A date with the day or the month first in digits (01/10/2011 08:26, 1.10.2011), which only the rest of its log can tell apart. */
const DAY_MONTH = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?$/;

/** Such a date read in `order`, as UTC (NaN where the day is not the calendar's). */
function dayMonthTime(stamp: string, order: DateOrder): number {
  const m = DAY_MONTH.exec(stamp.trim());
  if (!m) return NaN;
  const [, a, b, y, hh = '0', mm = '0', ss = '0', frac = ''] = m;
  const [day, month] = order === 'day-first' ? [Number(a), Number(b)] : [Number(b), Number(a)];
  const t = Date.UTC(Number(y), month - 1, day, Number(hh), Number(mm), Number(ss)) + Math.round(Number(`0${frac}`) * 1000);
  const at = new Date(t);
  return at.getUTCFullYear() === Number(y) && at.getUTCMonth() === month - 1 && at.getUTCDate() === day && Number(hh) < 24 ? t : NaN;
}

/**
 * How a log writes its dates with the day or the month first, from its dates themselves: a first
 * number above 12 can only be a day, a second one only a day too. Throws where none says, or
 * where two say otherwise.
 */
function inferDateOrder(stamps: readonly string[], path: string): { order: DateOrder; example: string } {
  let dayFirst: string | null = null;
  let monthFirst: string | null = null;
  for (const s of stamps) {
    const m = DAY_MONTH.exec(s.trim())!;
    if (Number(m[1]) > 12) dayFirst ??= s;
    if (Number(m[2]) > 12) monthFirst ??= s;
  }
  if (dayFirst !== null && monthFirst !== null)
    throw new Error(`${path}: its dates disagree: ${dayFirst} is day-first and ${monthFirst} month-first. Write them as YYYY-MM-DD.`);
  if (dayFirst === null && monthFirst === null)
    throw new Error(
      `${path}: dates such as ${stamps[0]!} could be day-first or month-first, and no date in it has a day above 12: say which with --date-order day-first (or month-first), or write them as YYYY-MM-DD (ISO 8601).`,
    );
  return dayFirst !== null ? { order: 'day-first', example: dayFirst } : { order: 'month-first', example: monthFirst! };
}

/** Whether the file is gzip (by its first two bytes), and its size; an unreadable file is an error naming it. */
function probe(path: string): { gz: boolean; size: number } {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(2);
    const n = readSync(fd, head, 0, 2, 0);
    return { gz: n === 2 && head[0] === 0x1f && head[1] === 0x8b, size: fstatSync(fd).size };
  } catch (err) {
    throw new Error(
      `Cannot read ${path}: ${err instanceof Error ? err.message : String(err)}. Give the path of a CSV file (plain or gzipped).`,
    );
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** What a row's turn throws where the row is bad: `rows` gives it the row's line in the file. */
class BadRow extends Error {}

/** The options of every parse of a file here, so that two parses count its records alike. */
const CSV = { skip_empty_lines: true, bom: true, relax_column_count: false } as const;

/** A new stream of the file's bytes, gunzipped where they are gzip, `pieceBytes` read at a time. */
function bytesOf(path: string, gz: boolean, pieceBytes: number | undefined, each?: (bytes: number) => void): Readable {
  const source = createReadStream(path, pieceBytes ? { highWaterMark: pieceBytes } : {});
  if (each) source.on('data', (b) => each(b.length));
  return gz ? source.pipe(createGunzip()).on('error', (err) => source.destroy(err)) : source;
}

/**
 * The header's name of the column the tools call `name`: the one `columns` gives, where the header
 * has it, else the tools' own (so one `--columns` serves an events file and an items file that
 * name their columns differently).
 */
export function ownColumn(header: readonly string[], name: string, columns: Readonly<Record<string, string>> | undefined): string {
  const given = columns?.[name];
  return given !== undefined && (header.includes(given) || !header.includes(name)) ? given : name;
}

/**
 * What to add to the error of a header that lacks columns, where it is one column holding another
 * separator (a spreadsheet's export with semicolons, tabs or bars): that the columns must be
 * separated by commas. Empty otherwise.
 */
export function separatorHint(header: readonly string[]): string {
  const other = header.length === 1 ? [';', '\t', '|'].find((c) => header[0]!.includes(c)) : undefined;
  if (other === undefined) return '';
  return ` Its header is one column holding ${other === '\t' ? 'a tab' : JSON.stringify(other)}: the columns must be separated by commas (save the file as comma-separated CSV).`;
}

/**
 * The file's rows, each turned by the function `take` makes from the header: only what that
 * returns is kept, not a record of every column of every row (a log's rows carry titles, prices
 * and more that the events do not need). The file is read, gunzipped and parsed a piece at a
 * time, never whole: a log may be larger than the largest buffer (4 GiB in Node 20) or string
 * (512 MiB) the runtime can hold, its text is never held beside what is kept of it, and the
 * event loop runs between pieces. Columns are found by name (`take` is given each one's place,
 * −1 where the file lacks it); `required` are checked on the header. A row's turn throws a
 * `BadRow` for a bad row, which is told with the row's line in the file, or null for a row to
 * leave out. A file with no data rows is an error; one whose rows are all left out is the
 * caller's to tell.
 */
async function rows<T>(
  path: string,
  required: string[],
  take: (column: (name: string) => number) => (r: string[]) => T | null,
  options: ReadOptions = {},
  lines?: number[],
): Promise<T[]> {
  const { gz, size } = probe(path);
  const out: T[] = [];
  const progress = options.progress;
  let done = 0;
  const each = progress ? (bytes: number): void => progress((done += bytes), size) : undefined;
  let failure: unknown = null;
  // Data rows read (the header is record 0): a bad row is found again by its place in the file.
  let records = 0;
  try {
    // Where asked, the line each record starts on (a parse that tells them takes longer: items files only).
    const starts: number[] = [];
    const parser = lines
      ? parse({
          ...CSV,
          on_record: (r: string[], info) => {
            // info.lines is the record's last line: back by the line ends inside its quoted fields.
            let within = 0;
            for (const field of r) for (let at = field.indexOf('\n'); at !== -1; at = field.indexOf('\n', at + 1)) within++;
            starts.push(info.lines - within);
            return r;
          },
        })
      : parse(CSV);
    await pipeline(bytesOf(path, gz, options.pieceBytes, each), parser, async (parsed: AsyncIterable<string[]>) => {
      let row: ((r: string[]) => T | null) | null = null;
      try {
        for await (const r of parsed) {
          if (row === null) {
            const own = (name: string): string => ownColumn(r, name, options.columns);
            const missing = required.filter((c) => !r.includes(own(c)));
            if (missing.length)
              throw new Error(
                `${path} lacks the column(s) ${missing.map((c) => (own(c) === c ? c : `${own(c)} (${c}, by --columns)`)).join(', ')}. Found: ${r.join(', ')}. Required: ${required.join(', ')}${options.columns ? '' : ' (--columns user_id=...,item_id=... reads a file with its own names)'}.${separatorHint(r)}`,
              );
            row = take((name) => r.indexOf(own(name)));
          } else {
            records++;
            const kept = row(r);
            if (kept !== null) {
              out.push(kept);
              lines?.push(starts[records]!);
            }
          }
        }
      } catch (err) {
        // The pipeline, ended early, rejects with an abort of its own: this is what is told.
        failure = err;
        throw err;
      }
    });
  } catch (caught) {
    const err = failure ?? caught;
    const code = (err as { code?: unknown }).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw new Error(`${path} is not a whole gzip file (${(err as Error).message}).`);
    if (err instanceof BadRow) throw new Error(`${path}, line ${await lineOfRecord(path, gz, records)}: ${err.message}`);
    throw err;
  }
  if (records === 0) throw new Error(`${path} has no data rows.`);
  return out;
}

/**
 * The line of the file where its record `k` (the header is 0) ends, by a second parse: only for
 * a bad row's error, as a parse that tells every record's line takes half as long again.
 */
async function lineOfRecord(path: string, gz: boolean, k: number): Promise<number> {
  let line = -1;
  let seen = 0;
  const found = new Error('found');
  const parser = parse({
    ...CSV,
    on_record: (_r: string[], info) => {
      if (seen++ === k) {
        line = info.lines;
        throw found;
      }
      return null;
    },
  });
  await pipeline(bytesOf(path, gz, undefined), parser, async (records: AsyncIterable<unknown>) => {
    for await (const r of records) void r;
  }).catch((err: unknown) => {
    if (err !== found) throw err;
  });
  return line;
}

/** A count since 1970 in milliseconds: seconds where it is under 10¹¹ (see {@link parseTime}); NaN where it is not a finite count ≥ 0. */
export function epochMs(n: number): number {
  if (!Number.isFinite(n) || n < 0) return NaN;
  return n < 1e11 ? Math.round(n * 1000) : n;
}

/**
 * An ISO 8601 date or date-time: date, time, fraction of a second, zone (`Z`, `+hh:mm`,
 * `+hhmm`); the year first with slashes too, and a month, day or hour without its leading zero.
 */
const ISO_TIME = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
/** A month's name or its first three letters. */
const MONTH_NAME = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b/i;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** A time that names its zone at its end (GMT, UTC, Z, GMT+0100, +01:00). */
const NAMED_ZONE = /(?:\b(?:GMT|UTC)|\dZ)(?:[+-]\d{2}:?\d{2})?$|[+-]\d{2}:?\d{2}$/i;
/** That zone, to cut off: what is left is the time as written where it was written. */
const ZONE_AT_END = /(?:(?:GMT|UTC)(?:[+-]\d{2}:?\d{2})?|Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parses a time of the data files, in milliseconds since 1970 (NaN where it cannot be read one
 * way only): an ISO 8601 date-time (`YYYY-MM-DD HH:MM:SS` too, or `2011/10/1 8:26`; read as UTC
 * where it names no zone), a plain date (its midnight, UTC), a date with the month by its name
 * (`Sat, 01 Oct 2011 08:26:00 GMT`, `Oct 1, 2011`; UTC where it names no zone), or seconds or
 * milliseconds since 1970 (a count under 10¹¹ is seconds: in milliseconds it would be an event
 * of 1970 to 1973). A day of the month first in digits is refused rather than left to
 * `Date.parse`, which reads 01/10/2011 as 10 January where a British shop means 1 October (and
 * in the machine's own time zone), unless `order` says which it is; so is a day the calendar
 * lacks (2011-02-30, 31 Feb 2011).
 */
export function parseTime(s: string, order?: DateOrder): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return epochMs(Number(t));
  if (order !== undefined && DAY_MONTH.test(t)) return dayMonthTime(t, order);
  const m = ISO_TIME.exec(t);
  if (!m) {
    // The month by its name (01 Oct 2011, Sat, 01 Oct 2011 08:26:00 GMT): no doubt which number
    // is the day. Read as UTC where it names no zone; a day of the month first in digits
    // (01/10/2011, 1.10.2011) is refused, as the shop's convention decides it.
    const month = MONTH_NAME.exec(t);
    if (!month || /^\d{1,2}[/.-]\d{1,2}[/.-]/.test(t)) return NaN;
    // Date.parse takes 31 Feb 2011 for 3 March: the day, read where it is written (its own zone), must be the month's.
    const zoned = NAMED_ZONE.test(t);
    const day = /(?<![\d:])(\d{1,2})(?![\d:])/.exec(t);
    const wall = Date.parse(`${zoned ? t.replace(ZONE_AT_END, '') : t} UTC`);
    const at = new Date(wall);
    if (!day || at.getUTCDate() !== Number(day[1]) || at.getUTCMonth() !== MONTHS.indexOf(month[1]!.toLowerCase())) return NaN;
    return zoned ? Date.parse(t) : wall;
  }
  const [, y, mo0, d0, hh = '00', mm = '00', ss = '00', frac = '', zone = 'Z'] = m;
  const [mo, d] = [mo0!.padStart(2, '0'), d0!.padStart(2, '0')];
  const ms = Date.parse(
    `${y}-${mo}-${d}T${hh.padStart(2, '0')}:${mm}:${ss}${frac}${zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone}`,
  );
  // Date.parse takes 2011-02-30 for 2 March: the day must be the calendar's.
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return NaN;
  return ms;
}

/** A command's date flag (`--split`, `--until`) read by {@link parseTime}; a `UsageError` naming the flag where it is not a date. */
export function dateFlag(flag: string, value: unknown, order?: DateOrder): number {
  const t = parseTime(String(value), order);
  if (!Number.isFinite(t)) throw new UsageError(`--${flag} ${String(value)} is not a date (YYYY-MM-DD or ISO 8601).`);
  return t;
}

/**
 * Reads and sorts an events file, a piece at a time (`options`: progress). A row with an
 * unreadable timestamp is an error naming its line in the file. A row with an empty `user_id` is
 * a guest's order: where it gives the order's `session_id` it is read as the order's own shopper,
 * of that one visit (a sale of the shop's like any other, and a visit whose lines follow one
 * another; {@link isGuest}, counted in `options.guests`); without one it belongs to no shopper's
 * sequence (kept as it was, it made every guest one shopper) and is left out. So is a row with an
 * empty `item_id` or a `quantity` below 0 (a return or a cancelled line). What is left out is
 * counted (`options.leftOut`); a file whose rows are all left out is an error. Dates
 * with the day or the month first in digits (01/10/2011) are read as the file's own dates tell:
 * one with a first number above 12 makes them day-first (`options.dateOrder`); a file none of
 * whose dates tells, or whose dates disagree, is an error, unless the shop says how it writes
 * them (`options.dates`). Ids, baskets and event kinds repeat over many rows: each distinct
 * one is kept once, so a log's events hold little more than their numbers (a row's fields are
 * fresh strings).
 */
export async function readEvents(path: string, options: EventsReadOptions = {}): Promise<LogEvent[]> {
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
  const left: LeftOut = { noShopper: 0, noItem: 0, returns: 0 };
  const guests: GuestOrders = { rows: 0, orders: 0 };
  const guestOrders = new Set<string>();
  const undated: { event: LogEvent; stamp: string }[] = [];
  const out: LogEvent[] = await rows(
    path,
    EVENT_COLUMNS.slice(0, 3),
    (column) => {
      const [userAt, itemAt, timeAt, eventAt, quantityAt, sessionAt] = EVENT_COLUMNS.map(column);
      return (r) => {
        const userId = r[userAt!]!;
        const itemId = r[itemAt!]!;
        const session = r[sessionAt!] ?? '';
        const guest = userId.trim() === '';
        if (guest && session.trim() === '') {
          left.noShopper++;
          return null;
        }
        if (itemId.trim() === '') {
          left.noItem++;
          return null;
        }
        const stamp = r[timeAt!]!;
        const t = stamp === lastStamp ? lastTime : parseTime(stamp, options.dates);
        // A date with the day or the month first: read once the whole file has said which (unless the shop said).
        const undatedNow = !Number.isFinite(t) && options.dates === undefined && DAY_MONTH.test(stamp.trim());
        if (!Number.isFinite(t) && !undatedNow)
          throw new BadRow(
            options.dates !== undefined && DAY_MONTH.test(stamp.trim())
              ? `timestamp ${JSON.stringify(stamp)} is not a day of the calendar, read ${options.dates} (--date-order).`
              : `timestamp ${JSON.stringify(stamp)} is not an ISO 8601 date-time (or YYYY-MM-DD HH:MM:SS, read as UTC), a date with the day or the month first in digits (01/10/2011) or with the month by its name (a day the calendar has), nor seconds or milliseconds since 1970.`,
          );
        if (!undatedNow) {
          lastStamp = stamp;
          lastTime = t;
        }
        const q = r[quantityAt!];
        const quantity = q !== undefined && q !== '' ? Number(q) : 1;
        if (quantity < 0) {
          left.returns++;
          return null;
        }
        const user = once(guest ? GUEST + session : userId);
        if (guest) {
          guests.rows++;
          guestOrders.add(user);
        }
        const event: LogEvent = {
          user,
          item: once(itemId),
          t,
          event: once(r[eventAt!] || 'purchase'),
          quantity: Number.isFinite(quantity) ? quantity : 1,
          basket: once(session || `${user}@${stamp}`),
        };
        if (undatedNow) undated.push({ event, stamp: once(stamp) });
        return event;
      };
    },
    options,
  );
  if (out.length === 0)
    throw new Error(
      `every row of ${path} was left out: ${describeLeftOut(left)}. The tools replay each shopper's events in turn, so a row needs a shopper (or, for a guest's order, its session_id), an item and a quantity of 0 or more.`,
    );
  if (undated.length > 0) {
    const { order, example } = inferDateOrder([...new Set(undated.map((u) => u.stamp))], path);
    for (const u of undated) {
      u.event.t = dayMonthTime(u.stamp, order);
      if (!Number.isFinite(u.event.t))
        throw new Error(
          `${path}: ${u.stamp} is not a day of the calendar (read ${order}, as ${example} says; --date-order says which where the file is wrong).`,
        );
    }
    options.dateOrder?.(order, example);
  }
  options.leftOut?.({ ...left });
  guests.orders = guestOrders.size;
  options.guests?.(guests);
  // Array.prototype.sort is stable, so rows with the same time keep their file order.
  return out.sort((a, b) => a.t - b.t);
}

/** The rows of guests' orders an events file gave, in words; null where it gave none. */
export function describeGuestOrders(guests: GuestOrders): string | null {
  if (guests.rows === 0) return null;
  const rows = guests.rows === 1 ? '1 row' : `${guests.rows.toLocaleString('en')} rows`;
  const orders = guests.orders === 1 ? "1 guest's order" : `${guests.orders.toLocaleString('en')} guests' orders`;
  return `${rows} of ${orders} (no user_id), each order a shopper of one visit`;
}

/** The rows left out of an events file, in words ("4 rows (3 without a user_id, 1 without an item_id)"); null where none was. */
export function describeLeftOut(left: LeftOut): string | null {
  const parts = [
    left.noShopper > 0 ? `${left.noShopper.toLocaleString('en')} without a user_id` : '',
    left.noItem > 0 ? `${left.noItem.toLocaleString('en')} without an item_id` : '',
    left.returns > 0 ? `${left.returns.toLocaleString('en')} a return: a quantity below 0` : '',
  ].filter(Boolean);
  if (parts.length === 0) return null;
  const total = left.noShopper + left.noItem + left.returns;
  return `${total === 1 ? '1 row' : `${total.toLocaleString('en')} rows`} (${parts.join(', ')})`;
}

/**
 * The events (before `until`) whose product the items file lacks, and how many products those
 * are: the tools cannot score or learn them, and leave them out.
 */
export function missingItems(events: readonly LogEvent[], items: readonly Item[], until = Infinity): { events: number; products: number } {
  const known = new Set(items.map((i) => i.id));
  const products = new Set<string>();
  let n = 0;
  for (const e of events) {
    if (e.t >= until) break;
    if (known.has(e.item)) continue;
    n++;
    products.add(e.item);
  }
  return { events: n, products: products.size };
}

/** A line for the tools to print where events were left out for products the items file lacks; null where none was. */
export function describeMissingItems(missing: { events: number; products: number }, itemsPath: string): string | null {
  if (missing.events === 0) return null;
  const ev = missing.events === 1 ? '1 event' : `${missing.events.toLocaleString('en')} events`;
  const pr = missing.products === 1 ? '1 product' : `${missing.products.toLocaleString('en')} products`;
  return `left out ${ev} of ${pr} that ${itemsPath} does not list: add them to it (a product no longer sold too) to learn from them`;
}

/** How an items file is read. */
export interface ItemsReadOptions extends ReadOptions {
  /** Told the rows skipped (what is wrong with each), where any was; unless given, they are printed as a warning. */
  skipped?: (problems: readonly string[]) => void;
}

/**
 * Reads an items file into catalogue items, a piece at a time, checked as a page checks its
 * catalogue (`validateCatalog`): a row without an id, with an id of an earlier row or without a
 * title is skipped and told (`options.skipped`), so that the tools score and learn the catalogue
 * a page would show; a file with no usable row is an error.
 */
export async function readItems(path: string, options: ItemsReadOptions = {}): Promise<Item[]> {
  const lines: number[] = [];
  const read = await rows(
    path,
    ['item_id', 'title'],
    (column) => {
      const [idAt, titleAt, descriptionAt, categoryAt, priceAt] = ['item_id', 'title', 'description', 'category', 'price'].map(column);
      return (r) => {
        const item: Item = { id: r[idAt!]!, title: r[titleAt!]! };
        const description = r[descriptionAt!];
        if (description) item.description = description;
        const category = r[categoryAt!];
        if (category) item.category = category;
        const p = r[priceAt!];
        const price = p !== undefined && p !== '' ? Number(p) : NaN;
        if (Number.isFinite(price) && price >= 0) item.price = price;
        return item;
      };
    },
    options,
    lines,
  );
  const places: ItemPlaces = {
    one: (i) => `line ${lines[i]!}`,
    two: (a, b) => `lines ${lines[a]!} and ${lines[b]!}`,
    after: (i) => ` (line ${lines[i]!})`,
  };
  const catalog = await validateCatalogSliced(read, new Slicer(), true, places).catch((err: unknown) => {
    throw new Error(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (catalog.skipped.length > 0) {
    if (options.skipped) options.skipped(catalog.skipped);
    else console.warn(`${path}: ${describeProblems(catalog.skipped)}. These rows were skipped; the other ${catalog.size} items are used.`);
  }
  return [...catalog.items];
}

/**
 * The events and items files of `eval` and `maintain`, read as both commands read them: a progress
 * bar while the events are read, then a line for each thing left out (rows, unlisted products
 * before `until`) and for how dates with the day or the month first were read. `items` is the
 * catalogue as read (the caller cuts its titles where asked), `leftOut` the rows left out.
 */
export async function readShopLog(
  eventsPath: string,
  itemsPath: string,
  o: { columns: Readonly<Record<string, string>> | undefined; until: number; dates?: DateOrder | undefined },
): Promise<{ events: LogEvent[]; items: Item[]; leftOut: LeftOut; guests: GuestOrders }> {
  const reading = progressBar(`reading ${eventsPath}`, 1);
  let leftOut: LeftOut = { noShopper: 0, noItem: 0, returns: 0 };
  let guests: GuestOrders = { rows: 0, orders: 0 };
  const events = await readEvents(eventsPath, {
    progress: (done, total) => reading.tick(done / total),
    leftOut: (c) => (leftOut = c),
    guests: (c) => (guests = c),
    dateOrder: (order, example) => console.error(`read the dates of ${eventsPath} ${order}: ${example} says so`),
    columns: o.columns,
    dates: o.dates,
  });
  reading.end();
  const guestsSaid = describeGuestOrders(guests);
  if (guestsSaid) console.error(`read ${guestsSaid}, from ${eventsPath}`);
  const leftOutSaid = describeLeftOut(leftOut);
  if (leftOutSaid)
    console.error(
      `left out ${leftOutSaid} of ${eventsPath}${
        leftOut.noShopper > 0
          ? " (a guest's order is read as a shopper of one visit where its rows give its session_id: --columns session_id=...)"
          : ''
      }`,
    );
  const items = await readItems(itemsPath, { columns: o.columns });
  const missingSaid = describeMissingItems(missingItems(events, items, o.until), itemsPath);
  if (missingSaid) console.error(missingSaid);
  return { events, items, leftOut, guests };
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

/**
 * The events as a shop whose shoppers never buy a product twice would log them, to see what a
 * model does where re-buys count for nothing (`--first-buys-only` of `npm run eval` and `npm run
 * maintain`): each shopper's first event on each product, in the order given (the tools' events
 * are sorted by time); `dropped`, how many were left out.
 */
export function firstBuysOnly(events: readonly LogEvent[]): { events: LogEvent[]; dropped: number } {
  const seen = new Map<string, Set<string>>();
  const kept: LogEvent[] = [];
  for (const e of events) {
    let items = seen.get(e.user);
    if (!items) seen.set(e.user, (items = new Set()));
    if (items.has(e.item)) continue;
    items.add(e.item);
    kept.push(e);
  }
  return { events: kept, dropped: events.length - kept.length };
}

/** `--first-buys-only` of both commands: the events read, or where `on` their first buys, saying on stderr what it left out. */
export function firstBuysWhere(on: boolean, events: LogEvent[]): LogEvent[] {
  if (!on) return events;
  const kept = firstBuysOnly(events);
  console.error(
    `--first-buys-only: left out ${kept.dropped} of ${events.length} events, each a shopper's event on a product they had an event on before`,
  );
  return kept.events;
}

/** The `--title-words` option: null where it is not given; a whole number ≥ 0, else a usage error. */
export function titleWordsOf(value: unknown): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 0)) throw new UsageError(`--title-words must be a whole number ≥ 0, got ${String(value)}.`);
  return n;
}

/**
 * Reads a storefront catalogue (JSON array) or the tools' items CSV (its columns under the names
 * `columns` gives, where given). Both are read in slices, so
 * that a job that reads a catalogue again while it runs (the stream job) keeps taking events.
 */
export async function readCatalogFile(path: string, columns?: Readonly<Record<string, string>>): Promise<Item[]> {
  if (!existsSync(path))
    throw new Error(`${path} does not exist. Give the catalogue the storefront serves (--catalog) or an items CSV (--items).`);
  if (/\.csv(\.gz)?$/.test(path)) return readItems(path, { columns });
  const slicer = new Slicer();
  let parsed: unknown;
  try {
    parsed = await parseJsonArraySliced(new Uint8Array(await readFile(path)), slicer);
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${String(err)}): give a JSON array of items, or an items CSV with --items.`);
  }
  const catalog = await validateCatalogSliced(parsed, slicer);
  if (catalog.skipped.length) console.warn(`${catalog.skipped.length} catalogue items skipped: ${catalog.skipped.slice(0, 3).join('; ')}`);
  return [...catalog.items];
}
