import { describe, expect, it } from 'vitest';
import { repeatThenPopularityMethod } from '../src/cli/eval/baselines.js';
import { checkSettings, DEFAULT_EVAL_SETTINGS } from '../src/cli/eval/eval.js';
import type { OnlineMethod, ReplayEvent } from '../src/cli/eval/replay.js';
import type { START_FEATURES } from '../src/cli/eval/start-ranker.js';
import { candidatesNdcg, coordinateSearch, fitSmoothNdcg, startRankerMethod, topBy } from '../src/cli/eval/start-ranker.js';
import { mulberry32 } from '../src/core/rng.js';

const DAY = 86_400_000;
const ev = (user: string, item: number, t: number, scored: boolean): ReplayEvent => ({ user, item, t, scored });
const ranks = (m: OnlineMethod, user: string, t: number): number[] => {
  const s = Array.from(m.score(user, t) as Float32Array);
  return s.map((_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b);
};
const weight = (m: { training: Record<string, unknown> }, f: (typeof START_FEATURES)[number]): number =>
  (m.training['weights'] as Record<string, number>)[f]!;

describe('the best sellers of a fitted start (topBy)', () => {
  it('are the first k of every row sorted by the column, largest first, ties to the lower row', () => {
    const rand = mulberry32(5);
    for (const [rows, k] of [
      [50, 10],
      [300, 200],
      [120, 200],
      [0, 5],
    ] as const) {
      // Values drawn from few levels, so that many rows tie; the other column is noise.
      const values = Float32Array.from({ length: rows * 2 }, (_, j) => (j % 2 ? Math.floor(rand() * 7) - 3 : rand()));
      const sorted = Array.from({ length: rows }, (_, i) => i)
        .sort((a, b) => values[b * 2 + 1]! - values[a * 2 + 1]! || a - b)
        .slice(0, k);
      expect(topBy(values, 2, 1, k)).toEqual(sorted);
    }
  });
});

describe('the fit of the visit-start rankers', () => {
  // Two features; the bought product (row 0) is the one with the most of the second, while the
  // first puts two others above it.
  const sets = [Float32Array.of(0, 3, 1, 1, 2, 0, 0.5, 2), Float32Array.of(0, 5, 3, 1, 1, 4, 2, 0), Float32Array.of(1, 2, 2, 1, 0, 0)];

  it('counts ties against the bought product and only the top k', () => {
    // By the first feature alone: ranks 4, 4 and 2.
    const byFirst = (2 / Math.log2(5) + 1 / Math.log2(3)) / 3;
    expect(candidatesNdcg(sets, 2, [1, 0])).toBeCloseTo(byFirst, 12);
    // Every product alike: the ties count against the bought one, last of each set.
    expect(candidatesNdcg(sets, 2, [0, 0])).toBeCloseTo((2 / Math.log2(5) + 1 / Math.log2(4)) / 3, 12);
    expect(candidatesNdcg(sets, 2, [1, 0], 1)).toBe(0);
    expect(candidatesNdcg(sets, 2, [0, 1])).toBe(1);
  });

  it('moves from where it starts toward the weights that rank the bought products first', () => {
    const start = [1, 0];
    const before = candidatesNdcg(sets, 2, start);
    const { weights } = fitSmoothNdcg(sets, 2, 200, start);
    const smooth = candidatesNdcg(sets, 2, weights);
    expect(smooth).toBeGreaterThan(before);
    expect(weights[1]).toBeGreaterThan(0);
    const searched = coordinateSearch(sets, 2, weights);
    expect(searched).toBeGreaterThanOrEqual(smooth);
    expect(searched).toBe(1);
    expect(candidatesNdcg(sets, 2, weights)).toBe(searched);
  });
});

describe('start-ranker and start-ceiling', () => {
  // 40 shoppers, a visit every two days for 120 days: each begins with their staple (product 0, 1
  // or 2) and then buys product 7 three times, so by count 7 leads every shopper's own list while
  // the staple is what each visit begins with. Products 8 and 9 sell to others all along.
  const split = 100 * DAY;
  const log: ReplayEvent[] = [];
  for (let d = 0; d < 120; d += 2) {
    for (let u = 0; u < 40; u++) {
      const t = d * DAY + u * 60_000;
      const scored = t >= split;
      log.push(ev(`s${u}`, u % 3, t, scored));
      for (let k = 1; k <= 3; k++) log.push(ev(`s${u}`, 7, t + k * 1000, scored));
    }
    log.push(ev('other', 8, d * DAY + 50 * 60_000, d * DAY >= split), ev('other', 9, d * DAY + 90 * 60_000, d * DAY >= split));
  }
  log.sort((a, b) => a.t - b.t);
  const o = { ...DEFAULT_EVAL_SETTINGS.startRanker, fitDays: 56, steps: 100 };

  it('learns from the visit starts before the split what begins a visit, where the re-buy rule ranks by count', () => {
    const ranker = startRankerMethod(log, 10, o, 'before', split);
    const rule = repeatThenPopularityMethod(log, 10, { recency: 1, priorHalfLifeDays: 7, visit: 'last' });
    const firstScored = log.findIndex((e) => e.scored);
    for (const e of log.slice(0, firstScored)) {
      ranker.observe(e);
      rule.observe(e);
    }
    // The first scored visit of shopper s4 (staple 1) begins.
    const at = log[firstScored]!.t + 4 * 60_000;
    expect(ranks(rule, 's4', at)[0]).toBe(7);
    expect(ranks(ranker, 's4', at)[0]).toBe(1);
    expect(weight(ranker, 'visitsBegun')).toBeGreaterThan(0);
    // It fitted the starts of the 56 days before the split: 28 days of 40 shoppers and the two
    // visits a day of the other shopper, none after.
    expect(ranker.training['fittedStarts']).toBe(28 * 42);
    expect(ranker.training['skipped']).toBe(0);
  });

  it('leaves a feature out where asked: its weight is 0', () => {
    const ranker = startRankerMethod(log, 10, { ...o, features: ['bought', 'purchases', 'popular7d'] }, 'before', split);
    expect(weight(ranker, 'visitsBegun')).toBe(0);
    expect(weight(ranker, 'bought')).not.toBe(0);
  });

  it('the ceiling fits the scored starts themselves, and only them', () => {
    const ceiling = startRankerMethod(log, 10, o, 'scored', split);
    // Ten scored days (100 to 118) of 42 visits.
    expect(ceiling.training['fittedStarts']).toBe(10 * 42);
    expect(ceiling.name).toBe('start-ceiling');
    expect(String(ceiling.training['fit'])).toMatch(/in-sample/);
  });

  it('counts what sold before a moment, not the lines of an order at the same moment', () => {
    // Product 3 is sold twice at one moment; product 4 once, earlier. A shopper new to the shop
    // asked at that same moment sees 4 first; a moment later, 3.
    const tiny = [ev('x', 5, 0, false), ev('a', 4, 10 * DAY, true), ev('b', 3, 11 * DAY, true), ev('c', 3, 11 * DAY, true)];
    const m = startRankerMethod(tiny, 6, { ...o, fitDays: 1 }, 'before', 10 * DAY);
    for (const e of tiny.slice(0, 3)) m.observe(e);
    const order = ranks(m, 'new', 11 * DAY);
    expect(order.indexOf(4)).toBeLessThan(order.indexOf(3));
    m.observe(tiny[3]!);
    const later = ranks(m, 'new', 11 * DAY + 1);
    expect(later.indexOf(3)).toBeLessThan(later.indexOf(4));
  });

  it('refuses settings that would fit nothing', () => {
    const bad = (startRanker: typeof o): void => checkSettings({ ...DEFAULT_EVAL_SETTINGS, startRanker }, ['start-ranker'], 1);
    expect(() => bad({ ...o, fitDays: 0 })).toThrow(/--start-fit-days must be a number of days > 0, got 0/);
    expect(() => bad({ ...o, steps: 1.5 })).toThrow(/--start-steps must be a whole number ≥ 1, got 1.5/);
    expect(() => startRankerMethod(log, 10, { ...o, steps: 0 }, 'scored', split)).toThrow(/--start-steps/);
    expect(() => bad({ ...o, features: ['bought', 'price'] })).toThrow(/--start-features must name some of bought, purchases/);
    expect(() => bad({ ...o, features: [] })).toThrow(/--start-features/);
  });
});
