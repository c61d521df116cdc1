/**
 * The log readers (src/cli/data.ts): columns by name, plain or gzipped, RFC 4180 quoting, and
 * errors that name what is wrong.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseTime, readEvents, readItems } from '../src/cli/data.js';
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

  it('reads columns by name in any order, plain or gzipped, sorted by time with ties in file order', () => {
    for (const gz of [false, true]) {
      const events = readEvents(file(log, gz));
      expect(events).toEqual([
        { user: 'u2', item: 'B', t: parseTime('2011-01-01 09:00:00'), event: 'purchase', quantity: 1, basket: 's9' },
        { user: 'u1', item: 'C', t: parseTime('2011-01-01 09:00:00'), event: 'purchase', quantity: 2, basket: 'u1@2011-01-01T09:00:00Z' },
        { user: 'u1', item: 'A', t: parseTime('2011-01-02 10:00:00'), event: 'purchase', quantity: 3, basket: 'u1@2011-01-02 10:00:00' },
      ]);
    }
  });

  it('keeps only what an event needs of each row', () => {
    for (const e of readEvents(file(log))) expect(Object.keys(e).sort()).toEqual(['basket', 'event', 'item', 'quantity', 't', 'user']);
  });

  it('names a missing column, an empty log and a bad timestamp by its line', () => {
    expect(() => readEvents(file('user_id,item_id\nu,A\n'))).toThrow(/lacks the column\(s\) timestamp\. Found: user_id, item_id/);
    expect(() => readEvents(file('user_id,item_id,timestamp\n'))).toThrow(/has no data rows/);
    // The quoted title spans lines 2 and 3, so the bad row is the file's line 4.
    expect(() => readEvents(file('title,user_id,item_id,timestamp\n"two\nlines",u,A,2011-01-01\nx,u,B,yesterday\n'))).toThrow(
      /line 4: timestamp "yesterday" is not an ISO 8601 date-time/,
    );
    expect(() => readEvents(join(dir, 'missing.csv'))).toThrow(/Cannot read .*missing\.csv/);
  });
});

describe('readItems', () => {
  it('reads titles with quotes and commas, and the optional columns where they hold a value', () => {
    const items = readItems(file('item_id,title,price,category\nA,"MUG, ""RED""",2.5,kitchen\nB,PLATE,,\nC,BOWL,-1,\n', true));
    expect(items).toEqual([
      { id: 'A', title: 'MUG, "RED"', price: 2.5, category: 'kitchen' },
      { id: 'B', title: 'PLATE' },
      { id: 'C', title: 'BOWL' },
    ]);
    expect(() => readItems(file('item_id,name\nA,B\n'))).toThrow(/lacks the column\(s\) title/);
  });
});
