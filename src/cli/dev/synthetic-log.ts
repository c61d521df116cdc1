/**
 * `npm run make:log -- --out DIR [--items N] [--shoppers N] [--seed S] [--order aisle|random] [--departments]`:
 * writes a synthetic grocer's log (`DIR/events.csv.gz`, `DIR/items.csv.gz`, in the format `npm run eval` and
 * `npm run maintain` read) for measuring what a shop unlike Online Retail costs and gives: mostly
 * re-buys, a catalogue of any size, products launched through the year.
 *
 * Shoppers (from 2021-01-01, for 360 days) each have three favourite departments, a list of
 * staples (each bought on a visit with a chance of their own) and a taste for new things: every
 * visit's basket holds the staples drawn, then a few items from the favourite departments or the
 * whole shop, by popularity (a Zipf-like weight; a product launched in the last 30 days sells
 * three times its weight), some of which become staples. A basket's lines come in the order of
 * the departments' aisles, so the next line follows from the last one within a visit (with
 * `--order random`, the same baskets come in a random order: a grocer whose lines say nothing of
 * the next one, where only what a shopper buys, not in what order, can be learned). 88% of the
 * products are on sale from the start, the rest launch on a random day. Titles are a brand and
 * three words of the product's department. Deterministic: the same options give the same files.
 *
 * The log is made up and, in aisle order, easy in one way: each shopper's baskets repeat a fixed
 * aisle order, which the shopper's own order (a feature of the head) learns. It measures cost
 * and scale (docs/RESULTS.md, _A large catalogue's base_), not quality against a real shop.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { mulberry32 } from '../../core/rng.js';
import { isEntry, parseArgs, runCommand, UsageError, type Command } from '../common.js';

const USAGE = `Usage: npm run make:log -- --out DIR [--items N] [--shoppers N] [--seed S] [--order aisle|random] [--departments]

Writes a synthetic grocer's log, DIR/events.csv.gz and DIR/items.csv.gz.
  --items N      products in the catalogue (default 2,500)
  --shoppers N   shoppers (default 1,200)
  --seed S       seed of the draws (default 7)
  --order O      the order of a basket's lines: aisle (the departments' aisles, the default) or
                 random (the same baskets, each in an order of its own)
  --departments  name each product's department in the catalogue (a category column; the
                 events are the same), as a shop whose catalogue has departments`;

const DAY = 86_400_000;
const DEPARTMENTS = 15;
const WORDS_PER_DEPARTMENT = 25;
const BRANDS = 60;

/** The order of a basket's lines: the departments' aisles, or one of its own for each basket. */
export type BasketOrder = 'aisle' | 'random';

export interface Product {
  id: string;
  department: number;
  title: string;
  weight: number;
  launch: number;
}

/**
 * Draws a product of a pool on sale at time t by weight, a launch in its first 30 days at three
 * times its weight: the product at which the pool's running sum of those weights, in the pool's
 * order, first reaches u times their total. A scan of the pool on each draw made a log of 100,000
 * products take hours; this one searches sums kept for the products on sale from the start
 * (a leading run of the pool) and, for the launches after them, for each day, since launches come
 * on whole days and so what is on sale and what is new change only from one day to the next. The
 * sums are added in the scan's order, so the total is the scan's to the bit and a draw is the
 * scan's except where u times the total lies within rounding of a product's edge.
 */
export class PoolSampler {
  /** Running sums of the weights of the leading products on sale from the start. */
  private readonly steady: Float64Array;
  /** Their total (0 where there are none): where the launches' sums start. */
  private readonly steadyTotal: number;
  /** The products after them (launches), whose weights change with the day. */
  private readonly later: readonly Product[];
  /** For each day since the start, the running sums over `later`, continuing `steady`'s. */
  private readonly byDay = new Map<number, Float64Array>();
  /** Whether every later product launches a whole number of days after the start. */
  private readonly wholeDays: boolean;

  constructor(
    private readonly pool: readonly Product[],
    private readonly start: number,
  ) {
    if (pool.length === 0) throw new RangeError('A pool to draw from needs products.');
    let lead = 0;
    while (lead < pool.length && pool[lead]!.launch <= start) lead++;
    this.steady = new Float64Array(lead);
    let sum = 0;
    for (let k = 0; k < lead; k++) this.steady[k] = sum += pool[k]!.weight;
    this.steadyTotal = sum;
    this.later = pool.slice(lead);
    this.wholeDays = this.later.every((p) => (p.launch - start) % DAY === 0);
  }

  /** The product drawn at `u` in [0, 1) at time `t`. */
  draw(u: number, t: number): Product {
    if (t < this.start || !this.wholeDays) return this.scan(u, t);
    const day = Math.floor((t - this.start) / DAY);
    let sums = this.byDay.get(day);
    if (sums === undefined) {
      sums = new Float64Array(this.later.length);
      let sum = this.steadyTotal;
      for (let k = 0; k < this.later.length; k++) sums[k] = sum += this.weightAt(this.later[k]!, t);
      this.byDay.set(day, sums);
    }
    const total = sums.length > 0 ? sums[sums.length - 1]! : this.steadyTotal;
    if (total <= 0) return this.scan(u, t);
    const r = u * total;
    if (this.steady.length > 0 && r <= this.steadyTotal) return this.pool[firstReaching(this.steady, r)]!;
    // A launch not yet on sale adds nothing, so the first sum to reach r is one on sale.
    return this.later[firstReaching(sums, r)]!;
  }

  /** A product's weight at `t`: 0 before its launch, three times it in its first 30 days. */
  private weightAt(p: Product, t: number): number {
    if (p.launch > t) return 0;
    return p.weight * (p.launch > t - 30 * DAY && p.launch > this.start ? 3 : 1);
  }

  /** The draw by a scan of the whole pool. */
  private scan(u: number, t: number): Product {
    const live = this.pool.filter((p) => p.launch <= t);
    if (live.length === 0) return this.pool[0]!;
    let z = 0;
    for (const p of live) z += this.weightAt(p, t);
    let r = u * z;
    for (const p of live) {
      r -= this.weightAt(p, t);
      if (r <= 0) return p;
    }
    return live[live.length - 1]!;
  }
}

/** The first index whose running sum reaches r (the last where none does). */
function firstReaching(sums: Float64Array, r: number): number {
  let lo = 0;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sums[mid]! >= r) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The log as CSV lines (the header first): events in time order, and the catalogue. Lines, not
 * one text: a large log's text is longer than the longest string the runtime can hold.
 */
export function syntheticLog(o: { items: number; shoppers: number; seed: number; order?: BasketOrder; departments?: boolean }): {
  events: string[];
  items: string[];
  orders: number;
} {
  const rand = mulberry32(o.seed);
  const random = o.order === 'random';
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const words = Array.from({ length: DEPARTMENTS }, (_, d) => Array.from({ length: WORDS_PER_DEPARTMENT }, (_, w) => `w${d}x${w}`));
  const brands = Array.from({ length: BRANDS }, (_, b) => `brand${b}`);
  const start = Date.UTC(2021, 0, 1);
  const end = start + 360 * DAY;
  const products: Product[] = Array.from({ length: o.items }, (_, i) => {
    const department = Math.floor(rand() * DEPARTMENTS);
    const launch = i < o.items * 0.88 ? start : start + Math.floor(rand() * 360) * DAY;
    const w = words[department]!;
    return {
      id: `P${i}`,
      department,
      title: `${pick(brands)} ${pick(w)} ${pick(w)} ${pick(w)}`,
      weight: 1 / Math.pow(1 + Math.floor(rand() * o.items), 0.9),
      launch,
    };
  });
  const byDepartment = Array.from({ length: DEPARTMENTS }, (_, d) => products.filter((p) => p.department === d));
  const whole = new PoolSampler(products, start);
  // A catalogue smaller than the departments leaves some empty: their draws are the whole shop's.
  const samplers = byDepartment.map((pool) => (pool.length > 0 ? new PoolSampler(pool, start) : whole));
  /** A product of the pool on sale at `t`, by weight; new launches sell three times theirs. */
  const draw = (sampler: PoolSampler, t: number): Product => sampler.draw(rand(), t);
  const rows: { line: string; t: string }[] = [];
  let orders = 0;
  for (let u = 0; u < o.shoppers; u++) {
    const favourites = [Math.floor(rand() * DEPARTMENTS), Math.floor(rand() * DEPARTMENTS), Math.floor(rand() * DEPARTMENTS)];
    const gap = (3 + rand() * 20) * DAY;
    let t = start + rand() * 200 * DAY;
    const staples = new Map<string, { p: Product; chance: number }>();
    // No more staples than products: a catalogue of a few products would never fill the list.
    const stapleCount = Math.min(3 + Math.floor(rand() * 25), products.length);
    while (staples.size < stapleCount) {
      const p = rand() < 0.7 ? draw(samplers[pick(favourites)]!, t) : draw(whole, t);
      staples.set(p.id, { p, chance: 0.2 + rand() * 0.7 });
    }
    const explore = 1 + rand() * 5;
    while (t < end) {
      const basket = new Map<string, Product>();
      for (const { p, chance } of staples.values()) if (rand() < chance) basket.set(p.id, p);
      const k = Math.floor(explore * (0.5 + rand()));
      for (let j = 0; j < k; j++) {
        const p = rand() < 0.6 ? draw(samplers[pick(favourites)]!, t) : draw(whole, t);
        basket.set(p.id, p);
        if (rand() < 0.25 && !staples.has(p.id)) staples.set(p.id, { p, chance: 0.3 + rand() * 0.4 });
      }
      if (basket.size > 0) {
        orders++;
        // One draw per line either way, so both orders make the same baskets.
        const lines = [...basket.values()]
          .map((p) => ({ p, aisle: random ? rand() : p.department + rand() * 3 }))
          .sort((a, b) => a.aisle - b.aisle);
        const stamp = new Date(Math.floor(t / 60_000) * 60_000).toISOString().slice(0, 16).replace('T', ' ') + ':00';
        for (const { p } of lines) rows.push({ line: `U${u},${stamp},${orders},${p.id},${p.title},1`, t: stamp });
      }
      t += gap * (0.5 + rand());
    }
  }
  // In time order; lines of the same minute keep the order they were made in.
  rows.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  return {
    events: ['user_id,timestamp,invoice,item_id,title,quantity', ...rows.map((r) => r.line)],
    // With `departments`, each product's department as its category: the same draws, the same events.
    items: o.departments
      ? ['item_id,title,category', ...products.map((p) => `${p.id},${p.title},department ${p.department}`)]
      : ['item_id,title', ...products.map((p) => `${p.id},${p.title}`)],
    orders,
  };
}

/** CSV lines as a gzipped file's bytes, built a block of lines at a time (never one string). */
export function gzipLines(lines: readonly string[]): Buffer {
  const blocks: Buffer[] = [];
  for (let k = 0; k < lines.length; k += 65_536) blocks.push(Buffer.from(lines.slice(k, k + 65_536).join('\n') + '\n'));
  return gzipSync(Buffer.concat(blocks));
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    out: 'string',
    items: 'number',
    shoppers: 'number',
    seed: 'number',
    order: 'string',
    departments: 'boolean',
  });
  if (args['out'] === undefined) throw new UsageError(`Missing --out.\n${USAGE}`);
  const whole = (name: string, fallback: number, min: number): number => {
    const v = args[name] === undefined ? fallback : Number(args[name]);
    if (!Number.isInteger(v) || v < min)
      throw new UsageError(`--${name} must be a whole number, ${min} or more, got ${String(args[name])}.`);
    return v;
  };
  const order = args['order'] === undefined ? 'aisle' : String(args['order']);
  if (order !== 'aisle' && order !== 'random') throw new UsageError(`--order must be aisle or random, got ${order}.\n${USAGE}`);
  const o = {
    items: whole('items', 2500, 1),
    shoppers: whole('shoppers', 1200, 1),
    seed: whole('seed', 7, 0),
    order: order as BasketOrder,
    departments: args['departments'] === true,
  };
  const out = resolve(String(args['out']));
  const log = syntheticLog(o);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'events.csv.gz'), gzipLines(log.events));
  writeFileSync(join(out, 'items.csv.gz'), gzipLines(log.items));
  console.log(`wrote ${out}: ${log.events.length - 1} lines of ${log.orders} orders over ${o.items} products and ${o.shoppers} shoppers`);
}

export const command: Command = { usage: USAGE, run: main };

if (isEntry(import.meta.url)) runCommand(command, process.argv.slice(2));
