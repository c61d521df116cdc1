/**
 * How many successors each item keeps in the transitions a base trains with and ships
 * (`BaseOptions.successors`, default `TRANSITION_TOP`): the most frequent, the rest left out.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/cli/data.js';
import { DEFAULT_BASE_OPTIONS, trainBase, validateBaseOptions } from '../src/cli/train/base.js';
import { TRANSITION_TOP } from '../src/cli/train/mix.js';
import { mulberry32 } from '../src/core/rng.js';
import { dailyVisitsLog, demoCatalog, MODELS, useBackend } from './helpers.js';

const DAY = 86_400_000;
const t0 = Date.UTC(2024, 0, 1);
const until = t0 + 12 * DAY;

/**
 * Forty shoppers over twelve days, a visit a day of six purchases among 30 products: each
 * product is followed by many others. Product 0 is followed by product 1 in every visit that
 * holds both, in that order, so 1 is 0's most frequent successor.
 */
function busyLog(ids: readonly string[]): LogEvent[] {
  const rand = mulberry32(11);
  return dailyVisitsLog(40, 12, t0, (_, day) => {
    const visit = Array.from({ length: 6 }, () => ids[Math.floor(rand() * 30)]!);
    if (day % 2 === 0) visit.splice(0, 2, ids[0]!, ids[1]!);
    return visit;
  });
}

describe('the successors a base keeps', () => {
  const items = demoCatalog();
  const ids = items.map((i) => i.id);
  const rows = (T: { ptr: Int32Array }): number[] => Array.from({ length: T.ptr.length - 1 }, (_, r) => T.ptr[r + 1]! - T.ptr[r]!);
  let log: LogEvent[] = [];
  beforeAll(async () => {
    await useBackend('cpu');
    log = busyLog(ids);
  });

  it('are the most frequent, as many as asked for an item (TRANSITION_TOP by default)', async () => {
    const quick = { ...DEFAULT_BASE_OPTIONS, epochs: 0, headLearningRates: [0.1] };
    const shipped = (await trainBase(log, items, until, MODELS, quick)).head;
    const few = (await trainBase(log, items, until, MODELS, { ...quick, successors: 3 })).head;
    const [T, T3] = [shipped.transitions!, few.transitions!];
    // (Each of the 30 products is followed by most of the others here, and some by itself.)
    expect(Math.max(...rows(T))).toBeLessThanOrEqual(TRANSITION_TOP);
    expect(Math.max(...rows(T))).toBeGreaterThanOrEqual(Math.min(TRANSITION_TOP, 29));
    expect(Math.max(...rows(T3))).toBe(3);
    // Product 0's most likely successor is product 1 in both.
    for (const head of [shipped, few]) {
      const t = head.transitions!;
      const row = head.ids.indexOf(ids[0]!);
      const kept = Array.from(t.to.subarray(t.ptr[row]!, t.ptr[row + 1]!));
      const probs = Array.from(t.p.subarray(t.ptr[row]!, t.ptr[row + 1]!));
      expect(head.ids[kept[probs.indexOf(Math.max(...probs))]!]).toBe(ids[1]);
    }
  }, 120_000);

  it('are refused unless a whole number from 1 to 10,000', () => {
    for (const bad of [0, 1.5, 10_001, Number.NaN]) {
      expect(() => validateBaseOptions({ ...DEFAULT_BASE_OPTIONS, successors: bad })).toThrow(
        /successors must be a whole number from 1 to 10,000/,
      );
    }
  });
});

describe("the base's L2 weight (eval's --base-l2)", () => {
  it('is refused unless a number ≥ 0: a negative or NaN weight would train residuals without bound', () => {
    for (const bad of [-1e-4, Number.NaN, Infinity]) {
      expect(() => validateBaseOptions({ ...DEFAULT_BASE_OPTIONS, l2: bad })).toThrow(/l2 must be a number ≥ 0/);
    }
    for (const good of [0, 1e-4, 1e-3]) expect(() => validateBaseOptions({ ...DEFAULT_BASE_OPTIONS, l2: good })).not.toThrow();
  });
});
