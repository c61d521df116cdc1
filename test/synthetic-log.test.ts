/** The synthetic grocer's log that measures a large catalogue's cost: deterministic, readable, mostly re-buys. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readEvents, readItems } from '../src/cli/data.js';
import { gzipLines, PoolSampler, syntheticLog, type Product } from '../src/cli/dev/synthetic-log.js';
import { mulberry32 } from '../src/core/rng.js';
import { tempFolder } from './helpers.js';

describe('the synthetic grocer’s log', () => {
  it('is the same for the same options, reads as a shop’s log, and is mostly re-buys in aisle order', async () => {
    const o = { items: 300, shoppers: 30, seed: 5 };
    const log = syntheticLog(o);
    expect(syntheticLog(o)).toEqual(log);
    expect(syntheticLog({ ...o, seed: 6 }).events).not.toEqual(log.events);
    const dir = tempFolder('clickwise-log-');
    writeFileSync(join(dir, 'events.csv.gz'), gzipLines(log.events));
    writeFileSync(join(dir, 'items.csv'), log.items.join('\n') + '\n');
    const events = await readEvents(join(dir, 'events.csv.gz'));
    const items = await readItems(join(dir, 'items.csv'));
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

  it('names each product’s department with departments, and makes the same events', async () => {
    const o = { items: 300, shoppers: 30, seed: 5 };
    const plain = syntheticLog(o);
    const named = syntheticLog({ ...o, departments: true });
    expect(named.events).toEqual(plain.events);
    const dir = tempFolder('clickwise-log-departments-');
    writeFileSync(join(dir, 'items.csv'), named.items.join('\n') + '\n');
    const items = await readItems(join(dir, 'items.csv'));
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

  it('writes the same logs as the version that scanned every product on each draw', () => {
    // Digests of logs that the generator wrote before its draws were searched (each draw then
    // scanned the whole pool): the logs docs/RESULTS.md measures must stay those its commands write.
    const digest = (lines: readonly string[]): string => createHash('sha256').update(lines.join('\n')).digest('hex');
    const plain = syntheticLog({ items: 300, shoppers: 30, seed: 5 });
    expect(plain.events).toHaveLength(9055);
    expect(digest(plain.events)).toBe('67fceeab88b640000063776debba354ecfa542405f7168743fe71097db166c80');
    expect(digest(plain.items)).toBe('e7273f9ed5b920fbdcbd3c7e3bbb37b07d5f6d1f0f9c8ba208b129258e8a704d');
    const random = syntheticLog({ items: 3000, shoppers: 40, seed: 3, order: 'random' });
    expect(random.events).toHaveLength(18303);
    expect(digest(random.events)).toBe('7264ca4d2a73b6c5c19f97ed7fe5149dcd10b0466bc070f5c1c9c5a29721a9e9');
    expect(digest(random.items)).toBe('1c5b0b608058dd696fb808d87def1a6e34b3dc02efdeda486ef9b540c60adc90');
  });

  it('makes a log of a catalogue too small to have every department', () => {
    // Five products cannot fill 15 departments: a shopper's favourite department may have none.
    for (const items of [1, 2, 5]) {
      const log = syntheticLog({ items, shoppers: 4, seed: 1 });
      expect(log.items).toHaveLength(items + 1);
      expect(log.events.length).toBeGreaterThan(1);
      const ids = new Set(log.items.slice(1).map((l) => l.split(',')[0]));
      expect(log.events.slice(1).every((l) => ids.has(l.split(',')[3]))).toBe(true);
    }
  });

  it('draws the product that a scan of the pool’s products on sale, by weight, would draw', () => {
    const DAY = 86_400_000;
    const start = Date.UTC(2021, 0, 1);
    const rand = mulberry32(23);
    // Products on sale from the start, then launches on whole days (some on the first, some after
    // the times drawn), as the generator makes them; weights of many sizes.
    const pool: Product[] = Array.from({ length: 400 }, (_, i) => ({
      id: `P${i}`,
      department: 0,
      title: '',
      weight: 1 / Math.pow(1 + Math.floor(rand() * 400), 0.9),
      launch: i < 300 ? start : start + Math.floor(rand() * 400) * DAY,
    }));
    /** The scan the generator made before: every product on sale, its weight tripled in its first 30 days. */
    const scan = (u: number, t: number, from: readonly Product[] = pool): Product => {
      const live = from.filter((p) => p.launch <= t);
      const weightAt = (p: Product): number => p.weight * (p.launch > t - 30 * DAY && p.launch > start ? 3 : 1);
      let z = 0;
      for (const p of live) z += weightAt(p);
      let r = u * z;
      for (const p of live) {
        r -= weightAt(p);
        if (r <= 0) return p;
      }
      return live[live.length - 1]!;
    };
    const sampler = new PoolSampler(pool, start);
    let launches = 0;
    for (let k = 0; k < 20_000; k++) {
      // Times on the days' edges too, and draws at 0 and near 1.
      const t = k % 7 === 0 ? start + Math.floor(rand() * 380) * DAY : start + rand() * 380 * DAY;
      const u = k % 11 === 0 ? 0 : k % 13 === 0 ? 1 - 2 ** -40 : rand();
      const p = sampler.draw(u, t);
      expect(p).toBe(scan(u, t));
      if (p.launch > start) launches++;
    }
    // The launches were drawn too, not only the products on sale from the start.
    expect(launches).toBeGreaterThan(1_000);
    // Launches at other times than whole days are drawn by the scan itself.
    const odd = pool.map((p, i) => (i % 3 === 0 && p.launch > start ? { ...p, launch: p.launch + 3_600_000 } : p));
    const oddSampler = new PoolSampler(odd, start);
    for (let k = 0; k < 2_000; k++) {
      const t = start + rand() * 380 * DAY;
      const u = rand();
      expect(oddSampler.draw(u, t)).toBe(scan(u, t, odd));
    }
  });
});
