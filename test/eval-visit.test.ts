/**
 * `clickwise-visit` in the evaluation: the base with nothing of a shopper kept from one visit to
 * the next, the comparison that tells what a shopper's state kept in the browser is worth. And a
 * rebase (`clickwise-maintained`), which must keep everything a shopper learned; with the shop's
 * stream beside it (`clickwise-maintained-live`), the stream's learner starts again on each new base.
 */
import { describe, expect, it } from 'vitest';
import { clickwiseMethod } from '../src/cli/eval/clickwise-method.js';
import { PlainHead } from '../src/cli/eval/plain-head.js';
import { DEFAULT_HEAD_OPTIONS } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { densePsi, ShopLearner } from '../src/core/shop-delta.js';

const N = 20;
const D = 4;
const MIN = 60_000;
const GAP = DEFAULT_HEAD_OPTIONS.sessionGapMs;

/** A base whose only strong feature is the shopper's re-buy counts, mid-visit and at a start. */
function head(): PlainHead {
  const rand = mulberry32(4);
  const E = new Float32Array(N * D).map(() => gaussian(rand) / 2);
  const mix = new Array<number>(10).fill(0);
  mix[2] = 6;
  mix[3] = 6;
  const base = {
    W: Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 1 : 0)),
    alpha: 0,
    // Item 7 the least liked: only the shopper's own counts can lift it.
    bias: new Float32Array(N).map((_, i) => (i === 7 ? -1 : 0)),
    residual: null,
    mix,
  };
  return new PlainHead(E, N, D, base, { seed: 1, learningRate: 0 });
}

/** Where `item` ranks (0 = first) in `scores`. */
const rankOf = (scores: Float32Array, item: number): number => scores.filter((s) => s > scores[item]!).length;

describe('clickwise-visit: nothing of a shopper kept between visits', () => {
  it('forgets a shopper’s items at a new visit, and keeps them within one', async () => {
    const t0 = 1_000_000;
    const run = async (forget: boolean): Promise<{ within: number; next: number }> => {
      const m = clickwiseMethod('m', head(), [], undefined, forget ? GAP : undefined);
      // One visit: item 7 bought three times a minute apart.
      for (let k = 0; k < 3; k++) await m.observe({ user: 'u', item: 7, t: t0 + k * MIN, scored: false });
      const within = rankOf(await m.score('u', t0 + 4 * MIN), 7);
      await m.observe({ user: 'u', item: 2, t: t0 + 4 * MIN, scored: true });
      // The next visit, a day later.
      const next = rankOf(await m.score('u', t0 + 24 * 60 * MIN), 7);
      return { within, next };
    };
    const kept = await run(false);
    const forgot = await run(true);
    // Within the visit both lead with the item bought three times.
    expect(kept.within).toBe(0);
    expect(forgot.within).toBe(0);
    // At the next visit only the method that keeps the shopper's memory still knows it.
    expect(kept.next).toBe(0);
    expect(forgot.next).toBe(N - 1);
  });

  it('forgets at every gap of a visit’s length, also among events learned together before a score', async () => {
    const t0 = 5_000_000;
    const m = clickwiseMethod('m', head(), [], undefined, GAP);
    // Two visits before the first score, learned together at it: item 9 in the first, item 4 in the second.
    for (let k = 0; k < 3; k++) await m.observe({ user: 'u', item: 9, t: t0 + k * MIN, scored: false });
    await m.observe({ user: 'u', item: 4, t: t0 + GAP + 10 * MIN, scored: false });
    const s = Float32Array.from(await m.score('u', t0 + GAP + 11 * MIN));
    // Exactly what a shopper who only made the second visit gets.
    const second = clickwiseMethod('m', head(), [], undefined, GAP);
    await second.observe({ user: 'u', item: 4, t: t0 + GAP + 10 * MIN, scored: false });
    const alone = await second.score('u', t0 + GAP + 11 * MIN);
    expect(Array.from(s)).toEqual(Array.from(alone));
    // Not what the method that keeps everything gives: item 9, bought three times, still counts there.
    const keeps = clickwiseMethod('m', head());
    for (let k = 0; k < 3; k++) await keeps.observe({ user: 'u', item: 9, t: t0 + k * MIN, scored: false });
    await keeps.observe({ user: 'u', item: 4, t: t0 + GAP + 10 * MIN, scored: false });
    const all = await keeps.score('u', t0 + GAP + 11 * MIN);
    expect(all[9]!).toBeGreaterThan(s[9]! + 1);
  });
});

describe('clickwise in the evaluation: each click learned with the ranking the page had before it', () => {
  it('gives every learned event the head’s top at its own time, scored or not, and none to a frozen head', async () => {
    const rand = mulberry32(9);
    const E = new Float32Array(N * D).map(() => gaussian(rand) / 2);
    const base = {
      W: Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 1 : 0)),
      alpha: 0,
      bias: new Float32Array(N),
      residual: null,
    };
    for (const learningRate of [0.1, 0]) {
      const h = new PlainHead(E, N, D, base, { seed: 1, learningRate, rankedNegatives: 6 });
      const seen: { ranked: readonly number[]; expected: number[] }[] = [];
      const learn = h.learnOne.bind(h);
      h.learnOne = (input) => {
        seen.push({ ranked: input.ranked ?? [], expected: h.ranking(input.time, 6) });
        learn(input);
      };
      const m = clickwiseMethod('m', h);
      const t0 = 5_000_000;
      // Two events learned before the first score, then a scored one (learned at the next turn).
      await m.observe({ user: 'u', item: 3, t: t0, scored: false });
      await m.observe({ user: 'u', item: 5, t: t0 + MIN, scored: false });
      await m.score('u', t0 + 2 * MIN);
      await m.observe({ user: 'u', item: 9, t: t0 + 2 * MIN, scored: true });
      await m.score('u', t0 + 3 * MIN);
      expect(seen).toHaveLength(3);
      for (const s of seen) expect(s.ranked).toEqual(learningRate > 0 ? s.expected : []);
      if (learningRate > 0) expect(seen.every((s) => s.ranked.length === 6)).toBe(true);
    }
  });
});

describe('a rebase in the evaluation (clickwise-maintained)', () => {
  /** A learning head over a catalogue large enough that a shopper's few touched items stay their own list. */
  const learning = (): PlainHead => {
    const n = 2_000;
    const rand = mulberry32(9);
    const E = new Float32Array(n * D).map(() => gaussian(rand) / 2);
    const W = Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 1 : 0));
    return new PlainHead(
      E,
      n,
      D,
      { W, alpha: 0.5, bias: new Float32Array(n), residual: null, mix: [] },
      { seed: 1, learningRate: 0.3, negatives: 4 },
    );
  };

  it('keeps every shopper’s learning, the last turn’s too: a rebase onto the same base changes no score', async () => {
    const t0 = 9_000_000;
    const run = async (rebase: boolean): Promise<Float32Array[]> => {
      const m = clickwiseMethod('m', learning(), rebase ? [{ at: t0 + 10 * MIN, load: () => Promise.resolve(learning()) }] : []);
      const out: Float32Array[] = [];
      for (const [user, item, k] of [
        ['u', 3, 0],
        ['u', 5, 1],
        ['v', 8, 2],
      ] as const) {
        await m.observe({ user, item, t: t0 + k * MIN, scored: false });
      }
      // u learns both clicks at this score, and is the shopper whose turn it is when the base changes.
      out.push(Float32Array.from(await m.score('u', t0 + 3 * MIN)));
      await m.observe({ user: 'u', item: 11, t: t0 + 4 * MIN, scored: true });
      out.push(Float32Array.from(await m.score('u', t0 + 11 * MIN)));
      out.push(Float32Array.from(await m.score('v', t0 + 12 * MIN)));
      return out;
    };
    const [stay, moved] = [await run(false), await run(true)];
    expect(moved.map((s) => Array.from(s))).toEqual(stay.map((s) => Array.from(s)));
    // Learning moved u's scores, so agreeing means something.
    expect(Math.max(...Array.from(stay[1]!, (x, i) => Math.abs(x - stay[0]![i]!)))).toBeGreaterThan(0.01);
  });
});

describe('a rebase with the shop’s stream (clickwise-maintained-live)', () => {
  const HOUR = 60 * MIN;
  /** A frozen head whose biases are `bias` (one per base), ψ fully weighed. */
  const based = (bias: number): PlainHead => {
    const rand = mulberry32(5);
    const E = new Float32Array(N * D).map(() => gaussian(rand) / 2);
    const W = Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 1 : 0));
    const b = new Float32Array(N).map((_, i) => (i % 4 === 0 ? bias : 0));
    return new PlainHead(E, N, D, { W, alpha: 0.5, bias: b, residual: null, mix: [] }, { seed: 1, learningRate: 0 });
  };

  it('learns the whole log again on the new base, the per-item delta starting at the split and at the rebase', async () => {
    const t0 = 50 * HOUR;
    const split = t0 + 10 * HOUR;
    const rebaseAt = t0 + 20 * HOUR;
    /** What each learner did, in order: an item learned (with its time), or a reset of the per-item delta. */
    const logs: { bias: number; did: (string | number)[] }[] = [];
    const learnerOn = (h: PlainHead): ShopLearner => {
      const l = new ShopLearner(h.baseBias, { seed: 3 });
      const log = { bias: h.baseBias[0]!, did: [] as (string | number)[] };
      logs.push(log);
      const learn = l.learn.bind(l);
      const reset = l.resetItems.bind(l);
      l.learn = (item, t) => {
        log.did.push(t);
        learn(item, t);
      };
      l.resetItems = () => {
        log.did.push('reset');
        reset();
      };
      return l;
    };
    const first = based(1);
    const next = based(-2);
    const m = clickwiseMethod('m', first, [{ at: rebaseAt, load: () => Promise.resolve(next) }], {
      learner: learnerOn(first),
      everyMs: HOUR,
      split,
      learnerOn,
    });
    // The crowd buys item 1 every hour, 30 hours long; each of its events is scored.
    let last = new Float32Array(N);
    for (let k = 0; k < 30; k++) {
      const t = t0 + k * HOUR + MIN;
      last = Float32Array.from(await m.score('crowd', t));
      await m.observe({ user: 'crowd', item: 1 + (k % 3), t, scored: true });
    }
    expect(logs.map((l) => l.bias)).toEqual([1, -2]);
    const times = (k0: number, k1: number): number[] => Array.from({ length: k1 - k0 }, (_, j) => t0 + (k0 + j) * HOUR + MIN);
    // The first learner: every event up to the rebase's last delta, reset at the split.
    expect(logs[0]!.did).toEqual([...times(0, 10), 'reset', ...times(10, 19)]);
    // The new base's: the same log again, reset at the split, then the events since, reset at the rebase.
    expect(logs[1]!.did).toEqual([...times(0, 10), 'reset', ...times(10, 19), ...times(19, 20), 'reset', ...times(20, 29)]);
    // The scores after the rebase are the new base's with the new learner's ψ (a fresh shopper's,
    // as the crowd's own memory counts too, compare them on a head that saw the same events).
    const check = based(-2);
    const replayed = learnerOn(check);
    logs.pop();
    for (const t of times(0, 29)) {
      if (t >= split && t - HOUR < split) replayed.resetItems();
      if (t >= rebaseAt && t - HOUR < rebaseAt) replayed.resetItems();
      replayed.learn(1 + (Math.round((t - t0 - MIN) / HOUR) % 3), t);
    }
    const p = replayed.published(t0 + 29 * HOUR);
    check.setShopBias(densePsi(N, p.indices, p.values));
    const twin = clickwiseMethod('twin', check);
    for (let k = 0; k < 29; k++) await twin.observe({ user: 'crowd', item: 1 + (k % 3), t: t0 + k * HOUR + MIN, scored: false });
    const expected = await twin.score('crowd', t0 + 29 * HOUR + MIN);
    Array.from(last).forEach((s, i) => expect(s).toBeCloseTo(expected[i]!, 5));
    // ψ moved the scores, so agreeing means something.
    expect(Math.max(...Array.from(densePsi(N, p.indices, p.values), Math.abs))).toBeGreaterThan(0.01);
  });
  it('learns again only what the job’s log keeps: the events of its window, as the job compacts its log', async () => {
    const t0 = 50 * HOUR;
    const split = t0 + 10 * HOUR;
    const rebaseAt = t0 + 20 * HOUR;
    const did: (string | number)[][] = [];
    const learnerOn = (h: PlainHead): ShopLearner => {
      const l = new ShopLearner(h.baseBias, { seed: 3 });
      const mine: (string | number)[] = [];
      did.push(mine);
      const learn = l.learn.bind(l);
      const reset = l.resetItems.bind(l);
      l.learn = (item, t) => {
        mine.push(t);
        learn(item, t);
      };
      l.resetItems = () => {
        mine.push('reset');
        reset();
      };
      return l;
    };
    const first = based(1);
    // A window of 8 hours: the log is compacted once its oldest event is 2 hours before it.
    const m = clickwiseMethod('m', first, [{ at: rebaseAt, load: () => Promise.resolve(based(-2)) }], {
      learner: learnerOn(first),
      everyMs: HOUR,
      split,
      learnerOn,
      keepDays: 8 / 24,
    });
    for (let k = 0; k < 30; k++) {
      const t = t0 + k * HOUR + MIN;
      await m.score('crowd', t);
      await m.observe({ user: 'crowd', item: 1 + (k % 3), t, scored: true });
    }
    const times = (k0: number, k1: number): number[] => Array.from({ length: k1 - k0 }, (_, j) => t0 + (k0 + j) * HOUR + MIN);
    expect(did[0]).toEqual([...times(0, 10), 'reset', ...times(10, 19)]);
    // At the rebase the log held events 9 on: compacted at events 12, 15 and 18, each time down
    // to the 8 hours before the newest.
    expect(did[1]).toEqual([...times(9, 10), 'reset', ...times(10, 19), ...times(19, 20), 'reset', ...times(20, 29)]);
  });
});
