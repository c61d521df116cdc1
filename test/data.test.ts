/**
 * The log readers (src/cli/data.ts): columns by name, plain or gzipped, RFC 4180 quoting, and
 * errors that name what is wrong.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { GuestOrders, LeftOut, LogEvent } from '../src/cli/data.js';
import {
  columnsOf,
  describeGuestOrders,
  isGuest,
  dateOrderOf,
  describeLeftOut,
  describeMissingItems,
  missingItems,
  parseTime,
  readCatalogFile,
  readEvents,
  readItems,
} from '../src/cli/data.js';
import { UsageError } from '../src/cli/common.js';
import { tempFolder } from './helpers.js';

const dir = tempFolder('clickwise-data-');
let files = 0;
/** Writes `text` to a new file, gzipped where asked; returns its path. */
const file = (text: string, gz = false): string => {
  const path = join(dir, `f${files++}.csv${gz ? '.gz' : ''}`);
  writeFileSync(path, gz ? gzipSync(text) : text);
  return path;
};

describe('readEvents', () => {
  const log = [
    'title,timestamp,user_id,item_id,quantity,session_id',
    '"MUG, ""RED""",2011-01-02 10:00:00,u1,A,3,',
    '"a title over\ntwo lines",2011-01-01 09:00:00,u2,B,,s9',
    'x,2011-01-01T09:00:00Z,u1,C,2,',
  ].join('\n');

  it('reads columns by name in any order, plain or gzipped, sorted by time with ties in file order', async () => {
    for (const gz of [false, true]) {
      const events = await readEvents(file(log, gz));
      expect(events).toEqual([
        { user: 'u2', item: 'B', t: parseTime('2011-01-01 09:00:00'), event: 'purchase', quantity: 1, basket: 's9' },
        { user: 'u1', item: 'C', t: parseTime('2011-01-01 09:00:00'), event: 'purchase', quantity: 2, basket: 'u1@2011-01-01T09:00:00Z' },
        { user: 'u1', item: 'A', t: parseTime('2011-01-02 10:00:00'), event: 'purchase', quantity: 3, basket: 'u1@2011-01-02 10:00:00' },
      ]);
    }
  });

  it('leaves out rows without a shopper or an item (a guest order is no one shopper), counts them, and says so where no row is left', async () => {
    const guests = [
      'user_id,item_id,timestamp',
      'u1,A,2011-01-01 09:00:00',
      ',B,2011-01-01 09:01:00',
      '  ,C,2011-01-01 09:02:00',
      'u2,,2011-01-01 09:03:00',
      ',D,2011-01-01 09:04:00',
      'u1,E,2011-01-01 09:05:00',
    ].join('\n');
    const told: LeftOut[] = [];
    const events = await readEvents(file(guests), { leftOut: (counts) => told.push(counts) });
    // Before, the three guest rows were one shopper "" (and "  "), and the row without an item an item "".
    expect(events.map((e) => `${e.user}:${e.item}`)).toEqual(['u1:A', 'u1:E']);
    expect(told).toEqual([{ noShopper: 3, noItem: 1, returns: 0 }]);
    expect(describeLeftOut(told[0]!)).toBe('4 rows (3 without a user_id, 1 without an item_id)');
    expect(describeLeftOut({ noShopper: 0, noItem: 1, returns: 0 })).toBe('1 row (1 without an item_id)');
    expect(describeLeftOut({ noShopper: 0, noItem: 0, returns: 0 })).toBeNull();
    // A log with every row left out is an error that says why, not "no data rows".
    await expect(readEvents(file('user_id,item_id,timestamp\n,A,2011-01-01\n,B,2011-01-02\n'))).rejects.toThrow(
      /every row of .* was left out: 2 rows \(2 without a user_id\)\. The tools replay each shopper's events/,
    );
    // Nothing left out: told so too.
    const none: unknown[] = [];
    await readEvents(file(log), { leftOut: (counts) => none.push(counts) });
    expect(none).toEqual([{ noShopper: 0, noItem: 0, returns: 0 }]);
  });

  it("takes a guest's order as a shopper of one visit where its row gives the order's session_id, apart from every regular and every other order", async () => {
    const orders = [
      'user_id,item_id,timestamp,session_id',
      'u1,A,2011-01-01 09:00:00,o1',
      ',B,2011-01-01 09:01:00,o2',
      ',C,2011-01-01 09:02:00,o2',
      ' ,D,2011-01-01 09:03:00,o3',
      ',E,2011-01-01 09:04:00,',
      'o2,F,2011-01-01 09:05:00,o4',
    ].join('\n');
    const told: LeftOut[] = [];
    const guests: GuestOrders[] = [];
    const events = await readEvents(file(orders), { leftOut: (c) => told.push(c), guests: (c) => guests.push(c) });
    // Before, every row without a user_id was left out, B, C and D too.
    expect(events.map((e) => e.item)).toEqual(['A', 'B', 'C', 'D', 'F']);
    const user = (item: string): string => events.find((e) => e.item === item)!.user;
    expect(user('B')).toBe(user('C'));
    expect(new Set(['A', 'B', 'D', 'F'].map(user)).size).toBe(4);
    expect(isGuest(user('B')) && isGuest(user('D')) && !isGuest(user('F')) && !isGuest(user('A'))).toBe(true);
    expect(events.find((e) => e.item === 'C')!.basket).toBe('o2');
    // A guest row without an order's id is no one's sequence: left out, as before.
    expect(told).toEqual([{ noShopper: 1, noItem: 0, returns: 0 }]);
    expect(guests).toEqual([{ rows: 3, orders: 2 }]);
    expect(describeGuestOrders(guests[0]!)).toBe("3 rows of 2 guests' orders (no user_id), each order a shopper of one visit");
    // A file without session_id leaves every guest row out and says how to take them.
    const none: GuestOrders[] = [];
    await readEvents(file('user_id,item_id,timestamp\nu1,A,2011-01-01\n,B,2011-01-02\n'), { guests: (c) => none.push(c) });
    expect(none).toEqual([{ rows: 0, orders: 0 }]);
    expect(describeGuestOrders({ rows: 0, orders: 0 })).toBeNull();
  });

  it('reads dates with the day or the month first in digits as the whole log tells (a day above 12), and refuses a log that does not tell', async () => {
    const log = (stamps: string[]): string => ['user_id,item_id,timestamp', ...stamps.map((t, i) => `u${i},A,${t}`)].join('\n');
    const told: string[] = [];
    // A British shop's export: 13/10/2011 can only be 13 October, so 01/10/2011 is 1 October.
    const uk = await readEvents(file(log(['01/10/2011 08:26', '13/10/2011 9:00', '2/11/2011'])), {
      dateOrder: (order, example) => told.push(`${order} ${example}`),
    });
    expect(uk.map((e) => new Date(e.t).toISOString())).toEqual([
      '2011-10-01T08:26:00.000Z',
      '2011-10-13T09:00:00.000Z',
      '2011-11-02T00:00:00.000Z',
    ]);
    expect(told).toEqual(['day-first 13/10/2011 9:00']);
    // An American one: 10/13/2011 is 13 October, so 10/01/2011 is 1 October.
    const us = await readEvents(file(log(['10/01/2011 08:26', '10/13/2011 09:00'])));
    expect(us.map((e) => new Date(e.t).toISOString())).toEqual(['2011-10-01T08:26:00.000Z', '2011-10-13T09:00:00.000Z']);
    // Nothing in the log tells, or it tells both ways: an error that says what to do.
    await expect(readEvents(file(log(['01/10/2011', '02/10/2011'])))).rejects.toThrow(
      /dates such as 01\/10\/2011 could be day-first or month-first, and no date in it has a day above 12: say which with --date-order day-first \(or month-first\), or write them as YYYY-MM-DD/,
    );
    await expect(readEvents(file(log(['13/10/2011', '10/13/2011'])))).rejects.toThrow(
      /13\/10\/2011 is day-first and 10\/13\/2011 month-first/,
    );
    await expect(readEvents(file(log(['31/02/2011', '13/10/2011'])))).rejects.toThrow(/31\/02\/2011 is not a day of the calendar/);
  });

  it('reads such dates as the shop says (--date-order) where its own dates do not tell, and names a line that is no day read so', async () => {
    const log = (stamps: string[]): string => ['user_id,item_id,timestamp', ...stamps.map((t, i) => `u${i},A,${t}`)].join('\n');
    // A week's log of the first days of a month: nothing in it tells, which was an error whatever the shop knew.
    const week = file(log(['01/10/2011 08:26', '02/10/2011 9:00', '2011-10-03 10:00']));
    await expect(readEvents(week)).rejects.toThrow(/could be day-first or month-first.*--date-order day-first \(or month-first\)/);
    const told: string[] = [];
    const uk = await readEvents(week, { dates: 'day-first', dateOrder: (order) => told.push(order) });
    expect(uk.map((e) => new Date(e.t).toISOString())).toEqual([
      '2011-10-01T08:26:00.000Z',
      '2011-10-02T09:00:00.000Z',
      '2011-10-03T10:00:00.000Z',
    ]);
    // Said, not found: nothing to tell.
    expect(told).toEqual([]);
    const us = await readEvents(week, { dates: 'month-first' });
    expect(us.map((e) => new Date(e.t).toISOString().slice(0, 10))).toEqual(['2011-01-10', '2011-02-10', '2011-10-03']);
    // A date that is no day read the way the shop said: the row's line, and the order it was read in.
    await expect(readEvents(file(log(['01/10/2011', '13/10/2011'])), { dates: 'month-first' })).rejects.toThrow(
      /line 3: timestamp "13\/10\/2011" is not a day of the calendar, read month-first \(--date-order\)/,
    );
    expect(dateOrderOf(undefined)).toBeUndefined();
    expect(dateOrderOf('day-first')).toBe('day-first');
    expect(() => dateOrderOf('dmy')).toThrow(UsageError);
    expect(() => dateOrderOf('dmy')).toThrow(/--date-order must be day-first \(01\/10\/2011 is 1 October\) or month-first/);
  });

  it('leaves out a return (a quantity below 0: a cancelled or returned line of a raw export), and counts it', async () => {
    const raw = [
      'user_id,item_id,timestamp,quantity',
      'u1,A,2011-01-01 09:00:00,6',
      'u1,A,2011-01-02 09:00:00,-6',
      'u1,B,2011-01-03 09:00:00,0',
      'u1,C,2011-01-04 09:00:00,',
    ].join('\n');
    const told: unknown[] = [];
    const events = await readEvents(file(raw), { leftOut: (counts) => told.push(counts) });
    // Before, the return was one more event on A, as if it were bought again.
    expect(events.map((e) => `${e.item}:${e.quantity}`)).toEqual(['A:6', 'B:0', 'C:1']);
    expect(told).toEqual([{ noShopper: 0, noItem: 0, returns: 1 }]);
    expect(describeLeftOut({ noShopper: 2, noItem: 0, returns: 1 })).toBe('3 rows (2 without a user_id, 1 a return: a quantity below 0)');
  });

  it('counts the events before a date whose product the items file lacks, and the products', () => {
    const at = (d: number, item: string): LogEvent => ({ user: 'u', item, t: d, event: 'purchase', quantity: 1, basket: 'b' });
    const events = [at(1, 'A'), at(2, 'Z'), at(3, 'Z'), at(4, 'Y'), at(5, 'X')];
    const items = [{ id: 'A', title: 'apple' }];
    expect(missingItems(events, items)).toEqual({ events: 4, products: 3 });
    expect(missingItems(events, items, 4)).toEqual({ events: 2, products: 1 });
    expect(describeMissingItems({ events: 2, products: 1 }, 'items.csv')).toBe(
      'left out 2 events of 1 product that items.csv does not list: add them to it (a product no longer sold too) to learn from them',
    );
    expect(describeMissingItems({ events: 0, products: 0 }, 'items.csv')).toBeNull();
  });

  it('keeps only what an event needs of each row', async () => {
    for (const e of await readEvents(file(log)))
      expect(Object.keys(e).sort()).toEqual(['basket', 'event', 'item', 'quantity', 't', 'user']);
  });

  it('names a missing column, an empty log, a bad timestamp by its line, a short row and a cut gzip file', async () => {
    await expect(readEvents(file('user_id,item_id\nu,A\n'))).rejects.toThrow(/lacks the column\(s\) timestamp\. Found: user_id, item_id/);
    // A spreadsheet's export with semicolons or tabs between the columns: said so.
    await expect(readEvents(file('user_id;item_id;timestamp\nu;A;2011-01-01\n'))).rejects.toThrow(
      /Its header is one column holding ";": the columns must be separated by commas/,
    );
    await expect(readItems(file('item_id\ttitle\nA\tapple\n'))).rejects.toThrow(
      /Its header is one column holding a tab: the columns must be separated by commas/,
    );
    await expect(readEvents(file('user_id,item_id,timestamp\n'))).rejects.toThrow(/has no data rows/);
    await expect(readEvents(file(''))).rejects.toThrow(/has no data rows/);
    // The quoted title spans lines 2 and 3, so the bad row is the file's line 4.
    await expect(readEvents(file('title,user_id,item_id,timestamp\n"two\nlines",u,A,2011-01-01\nx,u,B,yesterday\n'))).rejects.toThrow(
      /line 4: timestamp "yesterday" is not an ISO 8601 date-time/,
    );
    await expect(readEvents(file('user_id,item_id,timestamp\nu,A,2011-01-01\nu,B\n'))).rejects.toThrow(/Invalid Record Length.*line 3/);
    await expect(readEvents(join(dir, 'missing.csv'))).rejects.toThrow(/Cannot read .*missing\.csv/);
    await expect(readEvents(dir)).rejects.toThrow(/Cannot read /);
    const cut = join(dir, 'cut.csv.gz');
    writeFileSync(cut, gzipSync(bigLog(2000)).subarray(0, 5000));
    await expect(readEvents(cut)).rejects.toThrow(/cut\.csv\.gz is not a whole gzip file/);
  });

  it('reads a file a piece at a time: the same events from pieces of any size, progress to its last byte, and the event loop running between pieces', async () => {
    const text = bigLog(20_000);
    for (const gz of [false, true]) {
      const path = file(text, gz);
      const size = statSync(path).size;
      const whole = await readEvents(path);
      expect(whole).toHaveLength(20_000);
      expect(whole[0]).toEqual({
        user: 'u0',
        item: 'A0',
        t: parseTime('2011-01-01 00:00:00'),
        event: 'purchase',
        quantity: 1,
        basket: 'u0@2011-01-01 00:00:00',
      });
      // Pieces that cut rows, quoted titles, lines and gzip blocks anywhere.
      const seen: number[] = [];
      expect(await readEvents(path, { pieceBytes: 777, progress: (done, total) => seen.push(done, total) })).toEqual(whole);
      expect(seen.length).toBeGreaterThan(2 * Math.floor(size / 777));
      expect(seen.at(-2)).toBe(size);
      expect(seen.at(-1)).toBe(size);
      // Timers and I/O run while the file is read.
      expect((await turnsWhile(() => readEvents(path, { pieceBytes: 4096 }))).turns).toBeGreaterThan(10);
    }
  });
});

/** What `work` resolves to, and how many turns of the event loop (a loop of `setImmediate`) ran before it did. */
async function turnsWhile<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let running = true;
  const spin = (): void => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  const value = await work().finally(() => (running = false));
  return { value, turns };
}

/** A log of n rows, with a quoted title over two lines every 100th row. */
function bigLog(n: number): string {
  const lines = ['user_id,title,item_id,timestamp,quantity'];
  for (let i = 0; i < n; i++) {
    const title = i % 100 === 0 ? `"a ""title""\nover two lines, ${i}"` : `title ${i}`;
    const t = new Date(Date.UTC(2011, 0, 1) + i * 60_000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push(`u${i % 37},${title},A${i % 501},${t},${1 + (i % 3)}`);
  }
  return lines.join('\n');
}

describe('--columns: a file with its own column names', () => {
  // The head of the shop's raw export (Online Retail's own names).
  const raw = [
    'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country',
    '536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom',
    '536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,,United Kingdom',
  ].join('\n');
  const columns = columnsOf('user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate,quantity=Quantity,title=Description');

  it('reads the events and the items under the names the file gives them', async () => {
    const events = await readEvents(file(raw), { columns });
    expect(events).toEqual([
      {
        user: '17850',
        item: '85123A',
        t: parseTime('2010-12-01 08:26:00'),
        event: 'purchase',
        quantity: 6,
        basket: '17850@2010-12-01 08:26:00',
      },
    ]);
    const items = await readItems(file(raw), { columns });
    expect(items.map((i) => `${i.id}:${i.title}`)).toEqual(['85123A:WHITE HANGING HEART T-LIGHT HOLDER', '22633:HAND WARMER UNION JACK']);
    // Without them the file is refused, naming what it lacks.
    await expect(readEvents(file(raw))).rejects.toThrow(/lacks the column\(s\) user_id, item_id, timestamp/);
    // One --columns for an events file with its own names and an items file with the tools' names.
    const items2 = await readItems(file('item_id,title\n85123A,HEART\n'), { columns });
    expect(items2.map((i) => i.id)).toEqual(['85123A']);
    // A name given that the file lacks is named with the column it stands for.
    await expect(readEvents(file(raw), { columns: { ...columns, user_id: 'Customer' } })).rejects.toThrow(
      /lacks the column\(s\) Customer \(user_id, by --columns\)/,
    );
  });

  it('refuses a list it cannot read, or that names a column no file of the tools has', () => {
    expect(columnsOf(undefined)).toBeUndefined();
    expect(() => columnsOf('user_id')).toThrow(
      /--columns takes name=column pairs separated by commas \(user_id=CustomerID,item_id=StockCode\), got "user_id"/,
    );
    expect(() => columnsOf('user=CustomerID')).toThrow(
      /--columns names "user", which is not a column of the tools' files: user_id, item_id, timestamp/,
    );
    expect(() => columnsOf('user_id=A,user_id=B')).toThrow(/--columns gives user_id twice/);
  });
});

describe('parseTime', () => {
  const oct1 = Date.UTC(2011, 9, 1, 8, 26);
  it('reads ISO 8601 date-times (UTC where no zone is given), plain dates, and seconds or milliseconds since 1970', () => {
    expect(parseTime('2011-10-01 08:26:00')).toBe(oct1);
    expect(parseTime('2011-10-01T08:26')).toBe(oct1);
    expect(parseTime('2011-10-01T08:26:00.250Z')).toBe(oct1 + 250);
    expect(parseTime('2011-10-01T09:26:00+01:00')).toBe(oct1);
    expect(parseTime('2011-10-01T09:26:00+0100')).toBe(oct1);
    expect(parseTime(' 2011-10-01 ')).toBe(Date.UTC(2011, 9, 1));
    // A spreadsheet's hour without its leading zero.
    expect(parseTime('2011-10-01 8:26')).toBe(oct1);
    // An export's epoch: seconds (what most systems write) or milliseconds, told apart by size
    // (a millisecond count under 10¹¹ would be a shop's event of 1970 to 1973).
    expect(parseTime('1317457560')).toBe(oct1);
    expect(parseTime('1317457560.5')).toBe(oct1 + 500);
    expect(parseTime('1317457560000')).toBe(oct1);
  });
  it('reads the forms that say which number is the day: year first, or the month by its name (UTC where no zone is named)', () => {
    // Date.parse read these in the machine's own time zone where they named none.
    expect(parseTime('2011/10/01 08:26')).toBe(oct1);
    expect(parseTime('2011-10-1 8:26')).toBe(oct1);
    expect(parseTime('Sat, 01 Oct 2011 08:26:00 GMT')).toBe(oct1);
    expect(parseTime('Sat, 01 Oct 2011 09:26:00 +0100')).toBe(oct1);
    expect(parseTime('01 Oct 2011 08:26:00')).toBe(oct1);
    expect(parseTime('Oct 1, 2011 08:26')).toBe(oct1);
    expect(parseTime('1 October 2011')).toBe(Date.UTC(2011, 9, 1));
    expect(parseTime('Feb 29, 2012')).toBe(Date.UTC(2012, 1, 29));
    // The day checked where it was written: 00:30 on 1 October in a zone an hour ahead of UTC.
    expect(parseTime('Sat, 01 Oct 2011 00:30:00 +0100')).toBe(Date.UTC(2011, 8, 30, 23, 30));
  });
  it('reads a day or a month first in digits the way it is told', () => {
    expect(parseTime('01/10/2011 08:26', 'day-first')).toBe(oct1);
    expect(parseTime('10/01/2011 08:26', 'month-first')).toBe(oct1);
    expect(parseTime('1.10.2011 08:26', 'day-first')).toBe(oct1);
    // Other forms are read as they say, whatever the order.
    expect(parseTime('2011-10-01 08:26', 'month-first')).toBe(oct1);
    expect(parseTime('30/02/2011', 'day-first')).toBeNaN();
    expect(parseTime('13/10/2011', 'month-first')).toBeNaN();
  });
  it('refuses what it could read two ways, and a day the calendar lacks', () => {
    // 01/10/2011 is 1 October in a British shop and 10 January in an American one; Date.parse
    // read both slash forms in the machine's own time zone.
    for (const bad of [
      '01/10/2011 08:26',
      '10/01/2011',
      '1.10.2011 08:26',
      '01-10-2011',
      '2011-02-30',
      '2011-02-30 10:00:00',
      // Date.parse took these for 3 March, 1 October and 1 March.
      '31 Feb 2011',
      'Sat, 31 Sep 2011 08:26:00 GMT',
      'Feb 29, 2011',
      'yesterday',
      '',
      '-5',
    ])
      expect(parseTime(bad), bad).toBeNaN();
  });
});

describe('readItems', () => {
  it('reads titles with quotes and commas, and the optional columns where they hold a value', async () => {
    const items = await readItems(file('item_id,title,price,category\nA,"MUG, ""RED""",2.5,kitchen\nB,PLATE,,\nC,BOWL,-1,\n', true));
    expect(items).toEqual([
      { id: 'A', title: 'MUG, "RED"', price: 2.5, category: 'kitchen' },
      { id: 'B', title: 'PLATE' },
      { id: 'C', title: 'BOWL' },
    ]);
    await expect(readItems(file('item_id,name\nA,B\n'))).rejects.toThrow(/lacks the column\(s\) title/);
  });

  it('skips the rows a page would skip (no id, a repeated id, no title) and tells them, as the storefront does', async () => {
    const told: string[][] = [];
    const items = await readItems(file('item_id,title\nA,apple\n,no id\nB,\nA,apple again\nC,cheese\n'), {
      skipped: (problems) => told.push([...problems]),
    });
    // Before, the tools took all five: a product "" and B without text, and A twice, which put
    // a second A in every list the eval scored and left the first without its events.
    expect(items).toEqual([
      { id: 'A', title: 'apple' },
      { id: 'C', title: 'cheese' },
    ]);
    expect(told).toHaveLength(1);
    expect(told[0]!.join('; ')).toMatch(/line 3 has no id.*"B" \(line 4\) has an empty title.*id "A" is duplicated \(lines 2 and 5\)/);
    // Told without a listener, each row by its line in the file (a quoted title may take two).
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (m: string): void => void warned.push(m);
    try {
      await readItems(file('item_id,title\nA,"apple,\nred"\n,no id\nB,\nA,apple again\nC,cheese\n'));
    } finally {
      console.warn = warn;
    }
    // Before: "item 1 has no id", "(items 0 and 3)", counted from 0 after the header.
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(
      /f[0-9]+\.csv: 3 invalid items: line 4 has no id .*; item "B" \(line 5\) has an empty title.*; id "A" is duplicated \(lines 2 and 6\); ids must be unique\. These rows were skipped; the other 2 items are used\./,
    );
    // Every row skipped: an error that says what is wrong with them.
    await expect(readItems(file('item_id,title\n,x\nB,\n'))).rejects.toThrow(
      /f[0-9]+\.csv: The catalogue has no usable item: 2 invalid items/,
    );
  });
});

describe('readCatalogFile', () => {
  const catalog = Array.from({ length: 30_000 }, (_, i) => ({
    id: `sku-${i}`,
    title: `A product of the shop, number ${i}`,
    price: i % 50,
  }));

  it('reads a JSON catalogue in slices, the event loop running between them, with the items a whole parse gives', async () => {
    const path = join(dir, 'catalog.json');
    writeFileSync(path, JSON.stringify(catalog));
    const { value: items, turns } = await turnsWhile(() => Promise.resolve(readCatalogFile(path)));
    expect(items).toEqual(catalog);
    expect(turns).toBeGreaterThan(1);
  });

  it('reads an items CSV, and names a file that is missing or not JSON', async () => {
    expect(await readCatalogFile(file('item_id,title\nA,MUG\n'))).toEqual([{ id: 'A', title: 'MUG' }]);
    await expect(Promise.resolve().then(() => readCatalogFile(join(dir, 'none.json')))).rejects.toThrow(/none\.json does not exist/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[{"id": "A", "title": "MUG"},');
    await expect(Promise.resolve().then(() => readCatalogFile(bad))).rejects.toThrow(/bad\.json is not valid JSON/);
  });
});
