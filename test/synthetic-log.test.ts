/** The synthetic grocer's log that measures a large catalogue's cost: deterministic, readable, mostly re-buys. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readEvents, readItems } from '../src/cli/data.js';
import { gzipLines, syntheticLog } from '../src/cli/dev/synthetic-log.js';
import { tempFolder } from './helpers.js';

describe('the synthetic grocer’s log', () => {
  it('is the same for the same options, reads as a shop’s log, and is mostly re-buys in aisle order', () => {
    const o = { items: 300, shoppers: 30, seed: 5 };
    const log = syntheticLog(o);
    expect(syntheticLog(o)).toEqual(log);
    expect(syntheticLog({ ...o, seed: 6 }).events).not.toEqual(log.events);
    const dir = tempFolder('clickwise-log-');
    writeFileSync(join(dir, 'events.csv.gz'), gzipLines(log.events));
    writeFileSync(join(dir, 'items.csv'), log.items.join('\n') + '\n');
    const events = readEvents(join(dir, 'events.csv.gz'));
    const items = readItems(join(dir, 'items.csv'));
    expect(items).toHaveLength(300);
    expect(events.length).toBe(log.events.length - 1);
    const known = new Set(items.map((i) => i.id));
    expect(events.every((e) => known.has(e.item))).toBe(true);
    for (let k = 1; k < events.length; k++) expect(events[k]!.t).toBeGreaterThanOrEqual(events[k - 1]!.t);
    // Each line after a shopper's first visit is mostly an item they bought before.
    const seen = new Map<string, Set<string>>();
    let rebuys = 0;
    for (const e of events) {
      const mine = seen.get(e.user) ?? new Set<string>();
      if (mine.has(e.item)) rebuys++;
      mine.add(e.item);
      seen.set(e.user, mine);
    }
    expect(rebuys / events.length).toBeGreaterThan(0.6);
    expect(seen.size).toBe(30);
  });

  it('names each product’s department with departments, and makes the same events', () => {
    const o = { items: 300, shoppers: 30, seed: 5 };
    const plain = syntheticLog(o);
    const named = syntheticLog({ ...o, departments: true });
    expect(named.events).toEqual(plain.events);
    const dir = tempFolder('clickwise-log-departments-');
    writeFileSync(join(dir, 'items.csv'), named.items.join('\n') + '\n');
    const items = readItems(join(dir, 'items.csv'));
    expect(items.map((i) => i.title)).toEqual(plain.items.slice(1).map((l) => l.split(',')[1]));
    const departments = new Set(items.map((i) => i.category));
    expect([...departments].every((d) => /^department \d+$/.test(d ?? ''))).toBe(true);
    expect(departments.size).toBe(15);
    // A product's department is the one whose words its title is made of.
    for (const i of items) expect(i.title.split(' ')[1]).toMatch(new RegExp(`^w${i.category!.split(' ')[1]}x`));
  });

  it('makes the same baskets in a random order with order random, whose lines then say nothing of the next', () => {
    const o = { items: 300, shoppers: 30, seed: 5 };
    const aisle = syntheticLog(o);
    const random = syntheticLog({ ...o, order: 'random' });
    expect(syntheticLog({ ...o, order: 'aisle' })).toEqual(aisle);
    expect(random.events).not.toEqual(aisle.events);
    const department = new Map(aisle.items.slice(1).map((l) => [l.split(',')[0]!, Number(/w(\d+)x/.exec(l)![1])]));
    /** Each order's lines (invoice → items in the log's order), and the share of a basket's next lines in the same or a later aisle. */
    const baskets = (log: { events: string[] }): { lines: Map<string, string[]>; inAisleOrder: number } => {
      const lines = new Map<string, string[]>();
      for (const l of log.events.slice(1)) {
        const [, , invoice, item] = l.split(',');
        lines.set(invoice!, [...(lines.get(invoice!) ?? []), item!]);
      }
      let pairs = 0;
      let ordered = 0;
      for (const b of lines.values())
        for (let k = 1; k < b.length; k++) {
          pairs++;
          if (department.get(b[k]!)! >= department.get(b[k - 1]!)!) ordered++;
        }
      return { lines, inAisleOrder: ordered / pairs };
    };
    const a = baskets(aisle);
    const r = baskets(random);
    expect([...r.lines.keys()]).toEqual([...a.lines.keys()]);
    for (const [invoice, items] of a.lines) expect([...r.lines.get(invoice)!].sort()).toEqual([...items].sort());
    expect(a.inAisleOrder).toBeGreaterThan(0.8);
    expect(r.inAisleOrder).toBeLessThan(0.65);
  });

  it('gzips its lines a block at a time, the blocks joined without a line lost or split', () => {
    const lines = Array.from({ length: 140_000 }, (_, k) => `u${k},line ${k}`);
    expect(gunzipSync(gzipLines(lines)).toString('utf8')).toBe(lines.join('\n') + '\n');
  });
});
