import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BaseParams, HeadState } from '../src/core/head.js';
import { DEFAULT_HEAD_OPTIONS, FIRST_SLOTS, IncrementalHead, pushHistory, replaceAt, scoredSet } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { MIX_LENGTH } from '../src/core/memory.js';
import { useBackend } from './helpers.js';

const N = 30;
const D = 8;

function randomSetup(seed = 7): { E: tf.Tensor2D; ids: string[]; base: BaseParams } {
  const rand = mulberry32(seed);
  const e = new Float32Array(N * D).map(() => gaussian(rand) / Math.sqrt(D));
  const W = new Float32Array(D * D).map(() => gaussian(rand) * 0.3);
  for (let i = 0; i < D; i++) W[i * D + i]! += 2;
  const bias = new Float32Array(N).map(() => gaussian(rand) * 0.1);
  const residual = new Float32Array(N * D).map(() => gaussian(rand) * 0.05);
  // Three successors per item, with probabilities summing to 1 (the shop's transitions).
  const ptr = Int32Array.from({ length: N + 1 }, (_, i) => 3 * i);
  const to = Int32Array.from({ length: 3 * N }, () => Math.floor(rand() * N));
  const p = Float32Array.from({ length: 3 * N }, (_, k) => [0.5, 0.3, 0.2][k % 3]!);
  return {
    E: tf.tensor2d(e, [N, D]),
    ids: Array.from({ length: N }, (_, i) => `item-${i}`),
    base: { W, alpha: 0.5, bias, residual, transitions: { ptr, to, p }, mix: [1.5, 0.5, 0.3, 0.8, 0.6, 0.4, 0.2, 0.9, 0.7, 1.1] },
  };
}

/** Scores of every item as a plain array (at `time`, default now). */
function scores(h: IncrementalHead, time?: number): number[] {
  const t = h.scores(time);
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('closed-form gradient', () => {
  it('matches central finite differences of the per-click loss', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base, { seed: 3, negatives: 6, rankedNegatives: 5 });
    // Move φ away from 0 and build a history, so every term of the gradient is non-trivial.
    for (const [k, item] of [3, 5, 3, 9, 11].entries()) head.learnOne({ item, impressions: [1, 2], time: 1000 * k });
    for (const input of [
      { item: 4, impressions: [5, 6, 7], time: 10_000 }, // mid-visit: the previous click was 6 s earlier
      { item: to(), impressions: [3, 5, 6, 7], time: 10_000_000 }, // the start of a later visit (3 began the first)
      { item: 4, impressions: [6], ranked: [8, 4, 10, 13, 5], time: 10_000 }, // the ranking's top passed over, too
    ]) {
      await checkGradient(head, ids, input);
    }
    head.dispose();
    E.dispose();
  });
});

/** A successor of item 9 under the test transitions, so that the transition feature is non-zero. */
const to = (): number => 12;

async function checkGradient(
  head: IncrementalHead,
  ids: string[],
  input: { item: number; impressions: number[]; ranked?: number[]; time: number },
): Promise<void> {
  const g = await head.gradients(input);
  const state = await head.save();
  const lossWith = async (mutate: (s: HeadState) => void): Promise<number> => {
    const s = structuredClone(state);
    mutate(s);
    head.load(s);
    const l = await head.loss(input);
    head.load(state);
    return l;
  };
  const eps = 1e-2;
  const check = async (analytic: number, mutate: (s: HeadState, delta: number) => void): Promise<void> => {
    const numeric = ((await lossWith((s) => mutate(s, eps))) - (await lossWith((s) => mutate(s, -eps)))) / (2 * eps);
    expect(Math.abs(numeric - analytic)).toBeLessThanOrEqual(2e-3 + 2e-2 * Math.abs(analytic));
  };
  for (const k of [0, 9, 18, 27, 36, 63]) await check(g.dW[k]!, (s, d) => (s.dW[k]! += d));
  for (const k of [0, 3, 7]) await check(g.du[k]!, (s, d) => (s.du[k]! += d));
  await check(g.dAlpha, (s, d) => (s.dAlpha += d));
  for (let k = 0; k < MIX_LENGTH; k++) await check(g.dMix[k]!, (s, d) => (s.dMix![k]! += d));
  for (let j = 0; j < 4; j++) {
    const id = ids[g.indices[j]!]!;
    await check(g.dBias[j]!, (s, d) => (s.dBias[id] = (s.dBias[id] ?? 0) + d));
  }
  // The gradient is not trivially zero, so the comparison above means something; the weights of
  // the current context carry a data term (the other context's only the L2 pull).
  expect(Math.max(...Array.from(g.dW).map(Math.abs))).toBeGreaterThan(1e-3);
  // Mid-visit the own order (5 followed 3) carries one; at a visit's start the visit starts (3) do.
  const active = input.time > 1_000_000 ? [1, 3, 7] : [0, 2, 4];
  for (const k of active) expect(Math.abs(g.dMix[k]!)).toBeGreaterThan(1e-3);
}

describe('head contract', () => {
  it('does not mutate its inputs', () => {
    const { E, ids, base } = randomSetup();
    const eBefore = Array.from(E.dataSync());
    const wBefore = Array.from(base.W);
    const biasBefore = Array.from(base.bias);
    const impressions = [1, 2, 3];
    const head = new IncrementalHead(E, ids, base);
    head.learnOne({ item: 0, impressions, time: 0 });
    expect(Array.from(E.dataSync())).toEqual(eBefore);
    expect(Array.from(base.W)).toEqual(wBefore);
    expect(Array.from(base.bias)).toEqual(biasBefore);
    expect(impressions).toEqual([1, 2, 3]);
    head.dispose();
    E.dispose();
  });

  it('gives the same output for the same seed, and a different one for another seed', () => {
    const run = (seed: number): number[] => {
      const { E, ids, base } = randomSetup();
      const head = new IncrementalHead(E, ids, base, { seed });
      for (let i = 0; i < 20; i++) head.learnOne({ item: (i * 7) % N, impressions: [(i * 3) % N], time: i * 500 });
      const s = scores(head);
      head.dispose();
      E.dispose();
      return s;
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
  });

  it('predicts the same after save and load', async () => {
    const { E, ids, base } = randomSetup();
    const a = new IncrementalHead(E, ids, base);
    // Visits of four clicks an hour apart, each walking part of a list again.
    const at = (i: number): number => i * 60_000 + Math.floor(i / 4) * 3_600_000;
    for (let i = 0; i < 15; i++) a.learnOne({ item: [3, 8, 13, 8, 3, 13][i % 6]!, impressions: [], time: at(i) });
    const saved = JSON.parse(JSON.stringify(await a.save())) as HeadState;
    expect(saved.pairs!.length).toBeGreaterThan(0);
    expect(saved.starts!.length).toBeGreaterThan(0);
    expect(saved.visit!.length).toBeGreaterThan(0);
    const b = new IncrementalHead(E, ids, base);
    b.load(saved);
    // Mid-visit (the own order counts) and at a later visit's start (the visit starts count).
    for (const t of [at(14) + 1000, at(14) + 7_200_000]) {
      const sa = scores(a, t);
      const sb = scores(b, t);
      sa.forEach((v, i) => expect(sb[i]).toBeCloseTo(v, 5));
    }
    expect(b.clicks).toBe(15);
    // A state saved before the own-order and visit-start features (four mix deltas, no pairs or
    // starts) loads, with those features' deltas at 0 and nothing remembered for them.
    const old = structuredClone(saved);
    old.dMix = old.dMix!.slice(0, 4);
    old.gMix = old.gMix!.slice(0, 4);
    delete old.pairs;
    delete old.starts;
    b.load(old);
    const again = await b.save();
    expect(again.dMix).toEqual([...old.dMix, ...new Array<number>(MIX_LENGTH - 4).fill(0)]);
    expect(again.pairs).toEqual([]);
    expect(again.starts).toEqual([]);
    // One saved before the own-popularity feature (eight mix deltas) keeps its eight.
    b.load({ ...saved, dMix: saved.dMix!.slice(0, 8), gMix: saved.gMix!.slice(0, 8) });
    expect((await b.save()).dMix).toEqual([...saved.dMix!.slice(0, 8), 0, 0, 0, 0, 0, 0]);
    // One saved before the "this visit" feature (ten, no visit) keeps its ten and remembers no visit.
    const beforeVisit = { ...saved, dMix: saved.dMix!.slice(0, 10), gMix: saved.gMix!.slice(0, 10) };
    delete beforeVisit.visit;
    b.load(beforeVisit);
    const loaded = await b.save();
    expect(loaded.dMix).toEqual([...saved.dMix!.slice(0, 10), 0, 0, 0, 0]);
    expect(loaded.visit).toEqual([]);
    // One saved before the "sells now" feature (twelve) keeps its twelve.
    b.load({ ...saved, dMix: saved.dMix!.slice(0, 12), gMix: saved.gMix!.slice(0, 12) });
    expect((await b.save()).dMix).toEqual([...saved.dMix!.slice(0, 12), 0, 0]);
    expect(() => b.load({ ...saved, visit: [3] as unknown as string[] })).toThrow(/not finite/);
    expect(() => b.load({ ...saved, dMix: [0, 0, 0, 0, 0] })).toThrow(/not finite/);
    expect(() => b.load({ ...saved, pairs: [['item-1', 'item-2', Number.NaN]] })).toThrow(/not finite/);
    a.dispose();
    b.dispose();
    E.dispose();
  });

  it('rejects an index outside the catalogue and a state of other dimensions, changing nothing', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base);
    const before = scores(head);
    expect(() => head.learnOne({ item: N, impressions: [], time: 0 })).toThrow(/outside the catalogue/);
    const bad = { ...(await head.save()), dims: D + 1 };
    expect(() => head.load(bad)).toThrow(/dims/);
    expect(scores(head)).toEqual(before);
    expect(head.clicks).toBe(0);
    head.dispose();
    E.dispose();
  });

  it('learns that impressions never clicked are negatives', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base, { negatives: 0 });
    const shown = 12;
    const s0 = scores(head)[shown]! - base.bias[shown]!;
    for (let i = 0; i < 10; i++) head.learnOne({ item: (i % 3) + 20, impressions: [shown], time: i * 100_000 });
    const dBias = (await head.save()).dBias[`item-${shown}`]!;
    expect(dBias).toBeLessThan(0);
    void s0;
    head.dispose();
    E.dispose();
  });

  it('learns that the items ranked above a click and passed over are negatives', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base, { negatives: 0, rankedNegatives: 1 });
    const passed = 12;
    for (let i = 0; i < 10; i++) head.learnOne({ item: (i % 3) + 20, impressions: [], ranked: [passed], time: i * 100_000 });
    expect((await head.save()).dBias[`item-${passed}`]!).toBeLessThan(0);
    head.dispose();
    E.dispose();
  });

  it('scores a click against the top of the ranking before it, each item once, in the weight the options give', () => {
    const o = { ...DEFAULT_HEAD_OPTIONS, negatives: 4, rankedNegatives: 3, rankedWeight: 6, impressionWeight: 0.5 };
    // The clicked item (5), an impression (7), a repeat, an index outside the catalogue and more than 3 are left out.
    const b = scoredSet({ item: 5, impressions: [7], ranked: [5, 7, 9, 9, 40, -1, 11, 13, 15], time: 0 }, N, o, 0);
    expect(Array.from(b.idx.slice(0, 5))).toEqual([5, 7, 9, 11, 13]);
    expect(Array.from(b.w.slice(0, 5))).toEqual([1, 0.5, 2, 2, 2]);
    expect(Array.from(b.y.slice(0, 5))).toEqual([1, 0, 0, 0, 0]);
    // Then the random negatives, none of them an item already in the set.
    expect(b.idx.length).toBe(9);
    expect(new Set(b.idx).size).toBe(9);
    expect(Array.from(b.w.slice(5))).toEqual([0.25, 0.25, 0.25, 0.25]);
    // None asked for: the set is as without a ranking.
    const none = scoredSet({ item: 5, impressions: [7], ranked: [9, 11], time: 0 }, N, { ...o, rankedNegatives: 0 }, 0);
    expect(Array.from(none.idx)).toEqual(Array.from(scoredSet({ item: 5, impressions: [7], time: 0 }, N, o, 0).idx));
  });

  it('learns the same from scores shifted by a constant: only their differences count', async () => {
    const { E, ids, base } = randomSetup();
    // Every item's bias 6 higher: the same ranking, scores far from 0 (own popularity, which
    // reads the bias of the shopper's items, weighs nothing here).
    const mix = Array.from(base.mix!, (w, k) => (k >= 8 ? 0 : w));
    const shifted = { ...base, mix, bias: base.bias.map((b) => b + 6) };
    // Frozen heads gather the same history; then the gradient of the next click is compared.
    const a = new IncrementalHead(E, ids, { ...base, mix }, { seed: 3, learningRate: 0 });
    const b = new IncrementalHead(E, ids, shifted, { seed: 3, learningRate: 0 });
    for (const [k, item] of [5, 9, 5, 2].entries()) {
      a.learnOne({ item, impressions: [1, 3], time: k * 600_000 });
      b.learnOne({ item, impressions: [1, 3], time: k * 600_000 });
    }
    const click = { item: 11, impressions: [1, 3, 7], time: 5 * 600_000 };
    const [ga, gb] = [await a.gradients(click), await b.gradients(click)];
    const close = (x: ArrayLike<number>, y: ArrayLike<number>): void => {
      const scale = Math.max(...Array.from(x, Math.abs));
      expect(scale).toBeGreaterThan(1e-3);
      Array.from(x).forEach((v, k) => expect(Math.abs(y[k]! - v)).toBeLessThan(1e-3 * scale));
    };
    close(ga.du, gb.du);
    close(ga.dW, gb.dW);
    close(ga.dBias, gb.dBias);
    // Own popularity's weight is the one whose feature the shift changes (it reads the bias).
    close(ga.dMix.subarray(0, 8), gb.dMix.subarray(0, 8));
    a.dispose();
    b.dispose();
    E.dispose();
  });

  it('keeps φ bounded under a flood of clicks on one item (clipping, damping, bias bound)', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base, { maxItemBias: 3 });
    for (let i = 0; i < 2000; i++) head.learnOne({ item: 4, impressions: [], time: i }); // 2000 clicks in 2 s
    const st = await head.save();
    expect(Math.abs(st.dBias['item-4']!)).toBeLessThanOrEqual(3 + 1e-6);
    // Repeats are damped: four clicks in 4 ms move φ less than the same four clicks where no
    // window counts repeats (and after so many clicks on one item the softmax's gradient is spent,
    // and the L2 pull brings a head that keeps learning back toward 0: the flood's φ is what its
    // first clicks left).
    const burst = new IncrementalHead(E, ids, base, { maxItemBias: 3 });
    const spread = new IncrementalHead(E, ids, base, { maxItemBias: 3, repeatWindowMs: 0 });
    for (let i = 0; i < 4; i++) {
      burst.learnOne({ item: 4, impressions: [], time: i });
      spread.learnOne({ item: 4, impressions: [], time: i });
    }
    expect(await burst.deltaNorm()).toBeLessThan(await spread.deltaNorm());
    burst.dispose();
    // Exactly so: a second click within the window steps at half the rate. After one click the
    // two heads are the same, and the second's gradient and sums are too; only the rate differs.
    const damped = new IncrementalHead(E, ids, base, { maxItemBias: 3 });
    const undamped = new IncrementalHead(E, ids, base, { maxItemBias: 3, repeatWindowMs: 0 });
    const bias4 = async (h: IncrementalHead): Promise<number> => (await h.save()).dBias['item-4']!;
    for (const h of [damped, undamped]) h.learnOne({ item: 4, impressions: [], time: 0 });
    const first = await bias4(damped);
    expect(await bias4(undamped)).toBe(first);
    for (const h of [damped, undamped]) h.learnOne({ item: 4, impressions: [], time: 1 });
    expect(((await bias4(damped)) - first) / ((await bias4(undamped)) - first)).toBeCloseTo(0.5, 3);
    damped.dispose();
    undamped.dispose();
    expect(Number.isFinite(await head.deltaNorm())).toBe(true);
    // The history saturates: the flooded item is one entry, at most weight 2.
    const flooded = st.history.filter((h) => h.id === 'item-4');
    expect(flooded).toHaveLength(1);
    expect(flooded[0]!.w).toBeGreaterThan(1);
    expect(flooded[0]!.w).toBeLessThanOrEqual(2);
    // With a slow decay the weight reaches the bound of 2 exactly and stays there.
    const h: { i: number; w: number }[] = [];
    for (let i = 0; i < 50; i++) pushHistory(h, 4, { historyDecay: 0.85, historySize: 20 });
    expect(h).toEqual([{ i: 4, w: 2 }]);
    head.dispose();
    spread.dispose();
    E.dispose();
  });

  it('moves each part of φ on a first click by what its gradient says, not by the whole learning rate', async () => {
    const { E, ids, base } = randomSetup();
    const eta = DEFAULT_HEAD_OPTIONS.learningRate;
    const head = new IncrementalHead(E, ids, base, { negatives: 8 });
    head.learnOne({ item: 4, impressions: [], time: 0 });
    const { dBias } = await head.save();
    // The click's own item: its gradient is large (1 − its share of the softmax), and so is its step.
    expect(dBias['item-4']!).toBeGreaterThan(0.5 * eta);
    // The random negatives: each holds a small share of the softmax, and moves by a small step.
    // (AdaGrad's sums starting at 0 moved every coordinate by the whole rate on its first step,
    // whatever the size of its gradient: a random item fell by η on one click.)
    const negatives = Object.entries(dBias).filter(([id, v]) => id !== 'item-4' && v !== 0);
    expect(negatives.length).toBeGreaterThan(3);
    for (const [, v] of negatives) {
      expect(v).toBeLessThan(0);
      expect(-v).toBeLessThan(0.5 * eta);
    }
    head.dispose();
    E.dispose();
  });
});

describe('tensor hygiene', () => {
  it('keeps tf.memory().numTensors flat across 1,000 clicks and recommendations', async () => {
    const { E, ids, base } = randomSetup();
    const head = new IncrementalHead(E, ids, base);
    head.learnOne({ item: 0, impressions: [1], time: 0 });
    scores(head);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      head.learnOne({ item: (i * 13) % N, impressions: [(i * 7) % N, (i * 11) % N], time: i * 10 });
      if (i % 10 === 0) {
        scores(head);
        await head.topScores(5, i * 10);
        await head.explain([1, 2, 3]);
      }
    }
    await head.save();
    await head.deltaNorm();
    expect(tf.memory().numTensors).toBe(before);
    head.dispose();
    E.dispose();
  });
});

describe('item vectors in row blocks', () => {
  it('score, rank, learn and save exactly as one tensor does, and rank block by block the same as scores()', async () => {
    const one = randomSetup(11);
    const split = randomSetup(11);
    // 30 rows as blocks of 8, 8, 8 and 6.
    const blocks = [0, 8, 16, 24].map((r) => tf.slice(split.E, [r, 0], [Math.min(8, N - r), D]) as tf.Tensor2D);
    const a = new IncrementalHead(one.E, one.ids, one.base, { seed: 5, negatives: 6 });
    const b = new IncrementalHead(blocks, split.ids, split.base, { seed: 5, negatives: 6 });
    for (const [k, item] of [3, 17, 3, 25, 9, 29].entries()) {
      a.learnOne({ item, impressions: [1, 20], time: 1000 * k });
      b.learnOne({ item, impressions: [1, 20], time: 1000 * k });
    }
    const sa = scores(a, 6000);
    const sb = scores(b, 6000);
    sa.forEach((v, i) => expect(sb[i]).toBeCloseTo(v, 5));
    const top = await b.topScores(7, 6000);
    const expected = sa
      .map((v, i) => [v, i] as const)
      .sort((x, y) => y[0] - x[0])
      .slice(0, 7);
    expect(Array.from(top.indices)).toEqual(expected.map((x) => x[1]));
    // The fused pass scores with an int16 query: within 1e-4 of the float reference's scale.
    Array.from(top.values).forEach((v, t) => expect(v).toBeCloseTo(expected[t]![0], 3));
    const ea = await a.explain([2, 19, 28]);
    const eb = await b.explain([2, 19, 28]);
    Array.from(eb.contributions).forEach((v, t) => expect(v).toBeCloseTo(ea.contributions[t]!, 5));
    expect((await b.save()).dBias).toEqual((await a.save()).dBias);
    expect(Array.from(await b.itemVectors())).toEqual(Array.from(await a.itemVectors()));
    const narrow = tf.zeros([2, blocks[0]!.shape[1] + 16]) as tf.Tensor2D;
    expect(() => new IncrementalHead([blocks[0]!, narrow], split.ids, split.base)).toThrow(/width/);
    narrow.dispose();
    a.dispose();
    b.dispose();
    [one.E, split.E, ...blocks].forEach((t) => t.dispose());
  });
});

describe('the scoring pass’s copy of the biases', () => {
  it('follows every change of φ and ψ: learning, the shop delta, load and reset', async () => {
    const { E, ids, base } = randomSetup(21);
    const head = new IncrementalHead(E, ids, base, { seed: 2, negatives: 6, learningRate: 0.5 });
    const psi = new Float32Array(N).map((_, i) => (i % 5 === 0 ? 0.8 : 0));
    /** A head built afresh from the same state reads every bias from scratch. */
    const fresh = async (withPsi: boolean): Promise<IncrementalHead> => {
      const h = new IncrementalHead(E, ids, base, { seed: 2, negatives: 6, learningRate: 0.5 });
      if (withPsi) h.setShopBias(psi);
      h.load(await head.save());
      return h;
    };
    const same = async (withPsi: boolean, time: number): Promise<void> => {
      const ref = await fresh(withPsi);
      const [got, want] = [await head.topScores(N, time), await ref.topScores(N, time)];
      expect(Array.from(got.indices)).toEqual(Array.from(want.indices));
      Array.from(got.values).forEach((v, t) => expect(v).toBeCloseTo(want.values[t]!, 5));
      ref.dispose();
    };
    // Scored before anything changes, so that a stale copy would show.
    await head.topScores(5, 0);
    for (const [k, item] of [3, 17, 3, 25].entries()) {
      head.learnOne({ item, impressions: [1, 20], time: 1000 * k });
      await same(false, 1000 * k + 500);
    }
    head.setShopBias(psi);
    await same(true, 5000);
    head.learnOne({ item: 9, impressions: [], time: 6000 });
    await same(true, 6500);
    head.setShopBias(null);
    await same(false, 7000);
    const saved = await head.save();
    head.reset();
    await same(false, 8000);
    head.load(saved);
    await same(false, 9000);
    head.dispose();
    E.dispose();
  });
});

describe('a head’s tensors', () => {
  it('are none as long as the catalogue, in the head or in a click’s learning', async () => {
    const n = 5 * FIRST_SLOTS;
    const rand = mulberry32(5);
    const E = tf.tensor2d(
      new Float32Array(n * D).map(() => gaussian(rand) / Math.sqrt(D)),
      [n, D],
    );
    const W = new Float32Array(D * D);
    for (let i = 0; i < D; i++) W[i * D + i] = 1;
    const head = new IncrementalHead(
      E,
      Array.from({ length: n }, (_, i) => `i${i}`),
      { W, alpha: 0.5, bias: new Float32Array(n), residual: null },
      { negatives: 8 },
    );
    head.setShopBias(new Float32Array(n).map((_, i) => (i % 97 === 0 ? 0.5 : 0)));
    let largest = 0;
    for (let k = 0; k < 6; k++) {
      const p = await tf.profile(() => head.learnOne({ item: (k * 977) % n, impressions: [(k * 31) % n], time: 1000 * k }));
      for (const kernel of p.kernels)
        for (const shape of kernel.outputShapes)
          largest = Math.max(
            largest,
            shape.reduce((a, b) => a * b, 1),
          );
    }
    // Learning works on the scored items, the slots and d × d: nothing of n entries.
    expect(largest).toBeLessThan(n);
    // What it learned is what it ranks by: Δb of a clicked item lifts it in the fused pass.
    const top = await head.topScores(n, 5000);
    const ref = Array.from(head.scores(5000).dataSync());
    const rankOf = (i: number): number => Array.from(top.indices).indexOf(i);
    expect(Math.abs(top.values[rankOf(977)]! - ref[977]!)).toBeLessThan(1e-2);
    head.dispose();
    E.dispose();
  });

  it('are all freed by dispose (none left over from building its variables)', () => {
    const { E, ids, base } = randomSetup(3);
    const before = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const head = new IncrementalHead(E, ids, base);
    // Δb and the AdaGrad sums of the biases take FIRST_SLOTS each, or one an item if fewer (they
    // grow with the items touched); the rest is d × d or smaller: no tensor of one entry an item.
    expect(tf.memory().numBytes - bytes).toBe(4 * (2 * Math.min(FIRST_SLOTS, N) + 3 * D * D + 2 * D + 2 + 2 * MIX_LENGTH));
    expect(head.sumSlots).toBe(Math.min(FIRST_SLOTS, N));
    head.dispose();
    expect(tf.memory().numTensors).toBe(before);
    E.dispose();
  });
});

describe('the query’s weights in plain numbers', () => {
  /** The ranking of the float tensor reference, scores(), best first. */
  const reference = (head: IncrementalHead, time: number, k: number): number[] =>
    scores(head, time)
      .map((v, i) => [v, i] as const)
      .sort((x, y) => y[0] - x[0] || x[1] - y[1])
      .slice(0, k)
      .map((x) => x[1]);

  it('are read again after every change of φ (a click, load, reset), also when a click lands while a ranking waits', async () => {
    const { E, ids, base } = randomSetup(31);
    const head = new IncrementalHead(E, ids, base, { seed: 4, negatives: 6, learningRate: 0.5 });
    const k = 8;
    const same = async (time: number): Promise<void> => {
      const top = await head.topScores(k, time);
      expect(Array.from(top.indices)).toEqual(reference(head, time, k));
    };
    await same(0);
    for (const [t, item] of [5, 12, 5, 27, 2].entries()) {
      head.learnOne({ item, impressions: [1, 20], time: 1000 * t });
      await same(1000 * t + 500);
    }
    const saved = await head.save();
    head.reset();
    await same(9000);
    head.load(saved);
    await same(9500);
    // A click while a ranking waits for its read-back: that ranking is of φ before the click, and
    // the next one sees the click.
    head.learnOne({ item: 7, impressions: [3], time: 9800 });
    const waiting = head.topScores(k, 10_000);
    head.learnOne({ item: 14, impressions: [3], time: 10_100 });
    await waiting;
    await same(10_200);
    head.dispose();
    E.dispose();
  });
});

describe('replaceAt', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`sets the entries asked for in a new tensor and leaves its input as it was (${backend})`, async () => {
      await useBackend(backend);
      const t = tf.tensor1d([1, 2, 3, 4, 5, 6]);
      const before = tf.memory().numTensors;
      const out = tf.tidy(() => replaceAt(t, tf.tensor2d([4, 1], [2, 1], 'int32'), tf.tensor1d([40, 10])));
      expect(Array.from(await out.data())).toEqual([1, 10, 3, 4, 40, 6]);
      expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
      expect(tf.memory().numTensors).toBe(before + 1);
      tf.dispose([t, out]);
    });
  }
});
