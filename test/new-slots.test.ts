import { describe, expect, it } from 'vitest';
import { bestSellers, freshPlacesFor, launchesIn, newSlotsFor, slottedTop, withNewSlots } from '../src/core/new-slots.js';
import {
  attachShopDelta,
  collectExamples,
  fitLaunchSlots,
  fitNewSlots,
  launchTrendRate,
  NEW_SLOTS_MAX_COST,
} from '../src/cli/train/mix.js';
import { ShopLearner } from '../src/core/shop-delta.js';
import type { ReplayEvent } from '../src/cli/eval/replay.js';
import { MEMORY_FEATURES } from '../src/core/memory.js';
import { scoresAsQuery } from './helpers.js';

describe('places for new products in a list', () => {
  it('keeps a new product already in the top where it is, and gives the others the last places in their order', () => {
    const ranked = [5, 6, 7, 8, 9, 10];
    // 7 is new and in the top 4; 20 and 21 are not: they take the last places from 9 and 8.
    expect(withNewSlots(ranked, [7, 20, 21], 4, 3)).toEqual([5, 7, 20, 21]);
    expect(withNewSlots(ranked, [20, 21], 4, 2)).toEqual([5, 6, 20, 21]);
    expect(withNewSlots(ranked, [20, 21], 4, 1)).toEqual([5, 6, 7, 20]);
    expect(withNewSlots(ranked, [6, 20], 4, 2)).toEqual([5, 6, 7, 20]);
    // No places, or no new products: the top as it is.
    expect(withNewSlots(ranked, [20], 4, 0)).toEqual([5, 6, 7, 8]);
    expect(withNewSlots(ranked, [], 4, 2)).toEqual([5, 6, 7, 8]);
    // A short ranking still gets its places, and never grows past k.
    expect(withNewSlots([1], [20, 21, 22], 2, 3)).toEqual([20, 21]);
    expect(withNewSlots([1, 2], [20], 3, 1)).toEqual([1, 2, 20]);
  });

  it('counts places per ten of the list', () => {
    expect(newSlotsFor(10, 1)).toBe(1);
    expect(newSlotsFor(20, 1)).toBe(2);
    expect(newSlotsFor(4, 1)).toBe(0);
    expect(newSlotsFor(4, 2)).toBe(1);
    expect(newSlotsFor(3, 10)).toBe(3);
    expect(newSlotsFor(10, 0)).toBe(0);
  });
});

describe('places for launches', () => {
  it('finds the shop’s best sellers, best first, and the new products among the first k of them', () => {
    // Item 4 sold best, then 1 and 6 alike (the lower index first); 0 and 3 sold nothing.
    const sold = Float32Array.from([0, 2, 0.5, 0, 3, 1, 2]);
    expect(Array.from(bestSellers(sold))).toEqual([4, 1, 6, 5, 2]);
    expect(Array.from(bestSellers(sold, 2))).toEqual([4, 1]);
    expect(Array.from(bestSellers(new Float32Array(3)))).toEqual([]);
    // The base knows 0 … 4: of the top three sellers only 6 is new; of the top five, 6 and 5.
    const known = Uint8Array.from([1, 1, 1, 1, 1, 0, 0]);
    const sellers = bestSellers(sold);
    expect(Array.from(launchesIn(sellers, known, 3))).toEqual([6]);
    expect(Array.from(launchesIn(sellers, known, 5))).toEqual([5, 6]);
    expect(Array.from(launchesIn(sellers, known, 2))).toEqual([]);
  });

  it('gives one place per launch up to its share of the list, or the fixed places where they are more', () => {
    expect(freshPlacesFor(10, 0, 1, 0)).toBe(0);
    expect(freshPlacesFor(10, 0, 1, 1)).toBe(1);
    expect(freshPlacesFor(10, 0, 1, 3)).toBe(1);
    expect(freshPlacesFor(10, 0, 2, 3)).toBe(2);
    expect(freshPlacesFor(20, 0, 1, 3)).toBe(2);
    expect(freshPlacesFor(10, 2, 1, 1)).toBe(2);
    expect(freshPlacesFor(10, 0, 0, 5)).toBe(0);
  });

  it('puts the launches first among the candidates, by score, then the other new products where places are fixed', () => {
    // Items 0 … 5 known and scored 10 … 5; new products 6 … 9 scored 4, 3, 2, 1.
    const scores = Float32Array.from([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const known = Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
    // Launches 8 and 9 take the places, better score first, ahead of the better-scored new product 6.
    expect(slottedTop(scores, known, 5, 1, [8, 9], false)).toEqual([0, 1, 2, 3, 8]);
    expect(slottedTop(scores, known, 5, 2, [9, 8], false)).toEqual([0, 1, 2, 8, 9]);
    // With fixed places too, the launch comes first, then the best other new product.
    expect(slottedTop(scores, known, 5, 2, [9], true)).toEqual([0, 1, 2, 9, 6]);
    // Without launches the fixed places are as before.
    expect(slottedTop(scores, known, 5, 2)).toEqual([0, 1, 2, 6, 7]);
    // No places: the top as it is, launches or not.
    expect(slottedTop(scores, known, 5, 0, [9], false)).toEqual([0, 1, 2, 3, 4]);
  });
});

const N = 40;
/** Items 30 … 39 are new to the base. */
const unknown = Uint8Array.from({ length: N }, (_, i) => (i >= 30 ? 1 : 0));
type Example = ReturnType<typeof collectExamples>[number];
const empty = (): [Int32Array, Float32Array] => [new Int32Array(0), new Float32Array(0)];

const DAY = 86_400_000;
/** The held-out weeks' length, as the maintenance job passes it. */
const WINDOW = 28 * DAY;

/**
 * Sixty days of a shop's sales: two a day of each old item 0 … 29, and from day 40 product 35,
 * `launchPerDay` a day (a best seller at 20, a slow line at 1).
 */
function salesLog(launchPerDay: number): ReplayEvent[] {
  const events: ReplayEvent[] = [];
  for (let d = 0; d < 60; d++) {
    for (let j = 0; j < 60; j++) events.push({ user: `s${j}`, item: j % 30, t: d * DAY + j * 60_000, scored: false });
    if (d >= 40)
      for (let j = 0; j < launchPerDay; j++) events.push({ user: `n${j}`, item: 35, t: d * DAY + 3_600_000 + j * 60_000, scored: false });
  }
  return events;
}

/**
 * Held-out examples of a shop whose new product 35 sells at once: `regular` events on an old item
 * the content model ranks `regularRank`-th, and `cold` on product 35, which it ranks
 * `coldRank`-th (ψ, the shop delta, points at 35); its log's launch is a best seller.
 */
function shop(o: { regular: number; regularRank: number; cold: number; coldRank: number }): { examples: Example[]; events: ReplayEvent[] } {
  const examples: Example[] = [];
  const events = salesLog(20);
  // ψ points at 35 alone.
  const psi = { indices: Int32Array.of(35), values: Float32Array.of(0.1) };
  const model = scoresAsQuery(N);
  /** Old items 0 … 29 score 30 − i (a new product 0), but `target`, placed `rank`-th. */
  const scores = (target: number, rank: number): Float32Array => {
    const base = Float32Array.from({ length: N }, (_, i) => (i < 30 ? 30 - i : 0));
    base[target] = 30 - rank + 0.5;
    return base;
  };
  const add = (target: number, rank: number, count: number): void => {
    for (let j = 0; j < count; j++)
      examples.push({
        model,
        q: scores(target, rank),
        psi,
        t: 100_000 + examples.length,
        target,
        ctx: 0,
        weight: 1,
        rep: empty(),
        feats: MEMORY_FEATURES.map(empty),
      });
  };
  add(29, o.regularRank, o.regular);
  add(35, o.coldRank, o.cold);
  return { examples, events };
}
const x = { alpha: 0, mix: [], stream: 1 };
/** The examples on new products (the maintenance job collects every one of them apart). */
const coldOf = (examples: Example[]): Example[] => examples.filter((e) => unknown[e.target] === 1);

describe('the places the maintenance job keeps for new products', () => {
  it('keeps one where what sells now finds the new products and the ranking does not, at no cost to the rest', () => {
    const { examples, events } = shop({ regular: 200, regularRank: 0, cold: 30, coldRank: 20 });
    const fit = fitNewSlots(examples, coldOf(examples), x, unknown, events, 7, WINDOW);
    expect(fit.coldExamples).toBe(30);
    expect(fit.trendHit).toBeGreaterThan(0.9);
    expect(fit.coldHit[0]).toBe(0);
    expect(fit.slots).toBe(1);
    expect(fit.coldHit[1]).toBe(1);
    expect(fit.ndcg[1]).toBeGreaterThan(fit.ndcg[0]!);
  });

  it('keeps none where the ranking finds the new products already', () => {
    const { examples, events } = shop({ regular: 200, regularRank: 0, cold: 30, coldRank: 2 });
    const fit = fitNewSlots(examples, coldOf(examples), x, unknown, events, 7, WINDOW);
    expect(fit.coldHit[0]).toBe(1);
    expect(fit.slots).toBe(0);
  });

  it('keeps none where the places would cost the ranking more than its bound', () => {
    // The regulars' items sit in the last place, which a place for new products takes from them.
    const { examples, events } = shop({ regular: 200, regularRank: 9, cold: 30, coldRank: 20 });
    const fit = fitNewSlots(examples, coldOf(examples), x, unknown, events, 7, WINDOW);
    expect(fit.coldHit[1]).toBe(1);
    expect(fit.ndcg[1]).toBeLessThan((1 - NEW_SLOTS_MAX_COST) * fit.ndcg[0]!);
    expect(fit.slots).toBe(0);
  });

  it('keeps none on too few held-out events of new products, or without the shop delta', () => {
    const few = shop({ regular: 200, regularRank: 0, cold: 5, coldRank: 20 });
    expect(fitNewSlots(few.examples, coldOf(few.examples), x, unknown, few.events, 7, WINDOW).slots).toBe(0);
    const blind = shop({ regular: 200, regularRank: 0, cold: 30, coldRank: 20 });
    for (const ex of blind.examples) ex.psi = null;
    expect(fitNewSlots(blind.examples, coldOf(blind.examples), x, unknown, blind.events, 7, WINDOW)).toMatchObject({
      slots: 0,
      coldExamples: 0,
    });
  });
});

describe('the places the maintenance job keeps for launches', () => {
  /** The shop's best sellers: old items 0 … 9, and launch 35 among them (`launch`) or not. */
  const sellers = (launch: boolean): Int32Array =>
    Int32Array.from(launch ? [0, 1, 2, 35, 3, 4, 5, 6, 7, 8] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  it('keeps one where a launch sold among the best in the held-out weeks and the ranking missed it', () => {
    const { examples } = shop({ regular: 200, regularRank: 0, cold: 30, coldRank: 20 });
    for (const ex of examples) ex.sellers = sellers(true);
    const fit = fitLaunchSlots(examples, coldOf(examples), x, unknown, 0);
    expect(fit.withLaunch).toBe(230);
    expect(fit.coldHit).toEqual([0, 1]);
    expect(fit.ndcg[1]).toBeGreaterThan(fit.ndcg[0]!);
    expect(fit.slots).toBe(1);
  });

  it('keeps one where no launch sold among the best: it costs nothing until one does', () => {
    const { examples } = shop({ regular: 200, regularRank: 9, cold: 30, coldRank: 20 });
    for (const ex of examples) ex.sellers = sellers(false);
    const fit = fitLaunchSlots(examples, coldOf(examples), x, unknown, 0);
    expect(fit.withLaunch).toBe(0);
    expect(fit.ndcg[1]).toBe(fit.ndcg[0]);
    expect(fit.slots).toBe(1);
    // Nor without what sells now in the delta at all.
    for (const ex of examples) delete ex.sellers;
    expect(fitLaunchSlots(examples, coldOf(examples), x, unknown, 0).slots).toBe(1);
  });

  it('keeps none where the launch’s place pushes out what the shoppers buy', () => {
    // The regulars' items sit in the last place, which the launch takes from them; its own buyers find it anyway.
    const { examples } = shop({ regular: 200, regularRank: 9, cold: 30, coldRank: 2 });
    for (const ex of examples) ex.sellers = sellers(true);
    const fit = fitLaunchSlots(examples, coldOf(examples), x, unknown, 0);
    expect(fit.coldHit).toEqual([1, 1]);
    expect(fit.ndcg[1]).toBeLessThan(fit.ndcg[0]!);
    expect(fit.slots).toBe(0);
  });

  it('are judged on the best sellers the stream’s learner published at each example’s moment', () => {
    const { examples, events } = shop({ regular: 20, regularRank: 0, cold: 5, coldRank: 20 });
    // The examples stand at day 60 (their times are small offsets on it); launch 35 has sold 20 a day since day 40.
    for (const ex of examples) ex.t += 60 * DAY;
    const learner = new ShopLearner(
      new Float32Array(N),
      { recentHalfLifeDays: 7 },
      Uint8Array.from(unknown, (u) => 1 - u),
    );
    attachShopDelta(examples, events, 59 * DAY, learner, 60_000);
    expect(Array.from(examples[0]!.sellers!)[0]).toBe(35);
    expect(fitLaunchSlots(examples, coldOf(examples), x, unknown, 0).coldHit).toEqual([0, 1]);
    // A learner that keeps no figures of what sells leaves the examples without them.
    attachShopDelta(examples, events, 59 * DAY, new ShopLearner(new Float32Array(N)), 60_000);
    expect(examples[0]!.sellers).toBeUndefined();
  });
});

describe('how often a list of what sells now finds a launch', () => {
  it('is high where a launch becomes a best seller, near 0 where it sells slowly, and leaves out what was on sale from the start', () => {
    const hit = launchTrendRate(salesLog(20), N, 7, WINDOW);
    expect(hit.sales).toBe(20 * 20);
    expect(hit.rate).toBeGreaterThan(0.9);
    const slow = launchTrendRate(salesLog(1), N, 7, WINDOW);
    expect(slow.sales).toBe(20);
    expect(slow.rate).toBeLessThan(0.1);
    // Past the bound, an even spread of the sales, with the same answer.
    expect(launchTrendRate(salesLog(20), N, 7, WINDOW, 10, 50).rate).toBeGreaterThan(0.9);
    // Sold from the log's first day, the old items are not launches: none of their sales count.
    expect(launchTrendRate(salesLog(0), N, 7, WINDOW)).toEqual({ rate: 0, sales: 0 });
  });
});

describe('the held-out events on new products', () => {
  it('are collected apart, every one of them up to the bound, and only they', () => {
    // Three shoppers, a click a minute on items 0 … 39; the tail begins at minute 100.
    const events: ReplayEvent[] = Array.from({ length: 300 }, (_, e) => ({
      user: `u${e % 3}`,
      item: (e * 7) % N,
      t: e * 60_000,
      scored: false,
    }));
    const from = 100 * 60_000;
    const model = { V: new Float32Array(N * 2).fill(0.1), W: Float32Array.from([1, 0, 0, 1]), bias: new Float32Array(N), n: N, d: 2 };
    const T = { ptr: new Int32Array(N + 1), to: new Int32Array(0), p: new Float32Array(0) };
    const o = {
      historyDecay: 0.3,
      historySize: 20,
      transitionVotes: 5,
      transitionDecay: 0.3,
      countItems: 100,
      pairItems: 100,
      sessionGapMs: 30 * 60_000,
    };
    const wanted = events.filter((e) => e.t >= from && unknown[e.item] === 1);
    const all = collectExamples(events, from, T, model, o, 4000, 4000, (e) => unknown[e.item] === 1);
    expect(all.map((ex) => ex.target)).toEqual(wanted.map((e) => e.item));
    expect(all.every((ex) => ex.weight === 1)).toBe(true);
    // Past the bound, every k-th of them, each standing for k.
    const some = collectExamples(events, from, T, model, o, 10, 10, (e) => unknown[e.item] === 1);
    expect(some.length).toBeLessThanOrEqual(10);
    expect(some.every((ex) => unknown[ex.target] === 1 && ex.weight === Math.ceil(wanted.length / 10))).toBe(true);
  });
});
