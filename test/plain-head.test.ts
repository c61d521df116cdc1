/** The evaluation's typed-array head computes what the browser's tensor head computes, event by event. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BaseParams } from '../src/core/head.js';
import { FIRST_SLOTS, IncrementalHead } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { freshState, PlainHead } from '../src/cli/eval/plain-head.js';
import { adagradStepJs, projectJs, ReplayKernel } from '../src/cli/eval/replay-kernel.js';
import { REPLAY_WASM_BASE64 } from '../src/cli/eval/kernels/replay-wasm.js';
import { assembleKernel, KERNELS } from '../src/cli/dev/build-kernel.js';
import { READ_WASM_BASE64 } from '../src/bench/kernels/read-wasm.js';
import { useBackend } from './helpers.js';
import { sellsNow, withNewSlots } from '../src/core/new-slots.js';

const N = 60;
const D = 8;

function setup(): { E: Float32Array; ids: string[]; base: BaseParams } {
  const rand = mulberry32(11);
  const E = new Float32Array(N * D).map(() => gaussian(rand) / Math.sqrt(D));
  const W = new Float32Array(D * D).map(() => gaussian(rand) * 0.3);
  for (let i = 0; i < D; i++) W[i * D + i]! += 2;
  const ptr = Int32Array.from({ length: N + 1 }, (_, i) => 4 * i);
  const to = Int32Array.from({ length: 4 * N }, () => Math.floor(rand() * N));
  const p = Float32Array.from({ length: 4 * N }, (_, k) => [0.4, 0.3, 0.2, 0.1][k % 4]!);
  return {
    E,
    ids: Array.from({ length: N }, (_, i) => `i${i}`),
    base: {
      W,
      alpha: 0.7,
      bias: new Float32Array(N).map(() => gaussian(rand) * 0.2),
      residual: new Float32Array(N * D).map(() => gaussian(rand) * 0.05),
      transitions: { ptr, to, p },
      // The latest visit's items weigh 0; what sells now 0.7 mid-visit and 1.3 at a visit's start.
      mix: [2, 0.5, 0.2, 1.5, 0.8, 0.3, 0.4, 1.2, 0.9, 1.6, 0, 0, 0.7, 1.3],
    },
  };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('PlainHead', () => {
  const sold = new Map(Array.from({ length: N / 2 }, (_, k) => [2 * k, 0.1 + (k % 7) * 0.4] as [number, number]));
  // The stream's word on what sells, twice (its own-popularity feature is kept from click to click,
  // and must follow it); and counts that keep 6 items, so that clicks push items out of the feature.
  const stream = [0, 1].map((v) => Float32Array.from({ length: N }, (_, i) => ((i * 7 + v * 13) % 11) * 0.2));
  it.each([
    ['the base’s biases', null, {}],
    ['what the items sold lately', sold, {}],
    ['the stream, twice, with counts of 6 items', sold, { countItems: 6, stream: true }],
  ])(
    'gives the tensor head’s scores after every click, across visits and two shoppers (own popularity from %s)',
    async (_, recent, more) => {
      const setUp = setup();
      const { E, ids } = setUp;
      const base: BaseParams = { ...setUp.base, recent };
      const Et = tf.tensor2d(E, [N, D]);
      const options = {
        seed: 5,
        negatives: 8,
        learningRate: 0.3,
        rankedNegatives: 12,
        ...('countItems' in more ? { countItems: more.countItems } : {}),
      };
      const tensorHeads = [new IncrementalHead(Et, ids, base, options), new IncrementalHead(Et, ids, base, options)];
      Et.dispose();
      // The twin scores the rows the head scores: its int8 rows, dequantised (residuals included).
      const plain = new PlainHead(await tensorHeads[0]!.itemVectors(), N, D, { ...base, residual: null }, options);
      const states = [freshState(D), freshState(D)];
      const rand = mulberry32(3);
      let t = 1_000_000;
      let worst = 0;
      let moved = 0;
      // Each shopper often walks a list of their own, so their own order and visit starts recur.
      const lists = [
        [3, 17, 42, 8, 25],
        [50, 4, 33, 17, 9],
      ];
      const at = [0, 0];
      for (let step = 0; step < 120; step++) {
        const who = step % 7 < 4 ? 0 : 1;
        if ('stream' in more && (step === 30 || step === 80)) {
          const values = stream[step === 30 ? 0 : 1]!;
          for (const h of tensorHeads) h.setRecentSales(values);
          plain.setRecentSales(values);
        }
        // Mostly seconds apart, sometimes a new visit hours later.
        t += rand() < 0.15 ? 3 * 3_600_000 : 1000 + Math.floor(rand() * 20_000);
        const item = rand() < 0.6 ? lists[who]![at[who]!++ % 5]! : Math.floor(rand() * N);
        const impressions = [Math.floor(rand() * N), Math.floor(rand() * N)];
        plain.state = states[who]!;
        const before = plain.scores(t).slice();
        // The page's ranking before the click, as the evaluation gives it (its top are negatives).
        const ranked = plain.ranking(t, 12);
        tensorHeads[who]!.learnOne({ item, impressions, ranked, time: t });
        plain.learnOne({ item, impressions, ranked, time: t });
        const a = tensorHeads[who]!.scores(t + 500);
        const expected = await a.data();
        a.dispose();
        const got = plain.scores(t + 500);
        for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(expected[i]! - got[i]!));
        moved = Math.max(moved, ...Array.from(got, (x, i) => Math.abs(x - before[i]!)));
      }
      expect(worst).toBeLessThan(1e-3);
      // The ranking is the scores' order, best first, ties to the lower index; Δb learned on
      // every click is in it.
      plain.state = states[0]!;
      const s = plain.scores(t + 500);
      const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b);
      expect(plain.ranking(t + 500, 12)).toEqual(order.slice(0, 12));
      expect(plain.ranking(t + 500, 12, s)).toEqual(order.slice(0, 12));
      expect(plain.ranking(t + 500, 2 * N)).toEqual(order);
      // Learning moved the scores, so agreeing means something.
      expect(moved).toBeGreaterThan(0.1);
      tensorHeads.forEach((h) => h.dispose());
    },
  );
});

/**
 * A tensor head and its plain twin on a base that knows the even items (bias 2; the odd ones 0)
 * and keeps the places in `places`, after the same four clicks; with the two lists of ten at the
 * same moment: the plain head's (with its places kept, or, `places` false, its scores alone) and
 * the tensor head's, as the recommender makes it.
 */
async function placedHeads(places: Pick<BaseParams, 'newSlots' | 'launchSlots'>) {
  const setUp = setup();
  const { E, ids } = setUp;
  const known = Uint8Array.from({ length: N }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const base: BaseParams = { ...setUp.base, known, ...places, bias: Float32Array.from({ length: N }, (_, i) => (known[i] ? 2 : 0)) };
  const Et = tf.tensor2d(E, [N, D]);
  const tensor = new IncrementalHead(Et, ids, base, { seed: 5 });
  Et.dispose();
  const plain = new PlainHead(await tensor.itemVectors(), N, D, { ...base, residual: null }, { seed: 5 });
  const t = 1_000_000;
  for (const [k, item] of [4, 10, 7, 22].entries()) {
    tensor.learnOne({ item, impressions: [], time: t + k * 1000 });
    plain.learnOne({ item, impressions: [], time: t + k * 1000 });
  }
  /** The plain head's top ten, its scores lifted as the eval lifts them where its places are kept. */
  const plainList = (kept = true): number[] => {
    const s = plain.scores(t + 9000).slice();
    if (kept) plain.applyNewSlots(s, 10);
    return Array.from({ length: N }, (_, i) => i)
      .sort((a, b) => s[b]! - s[a]! || a - b)
      .slice(0, 10);
  };
  const tensorList = async (): Promise<number[]> => {
    const top = await tensor.topScores(10, t + 9000);
    const fresh = await tensor.topFresh(tensor.freshPlaces(10), 10, t + 9000);
    return withNewSlots(Array.from(top.indices), Array.from(fresh.indices), 10, tensor.freshPlaces(10));
  };
  return { known, tensor, plain, t, plainList, tensorList };
}

describe('the places for new products', () => {
  it('give the list the tensor head gives, with the shop delta in force, and none without it', async () => {
    // The base knows the even items; ψ lifts a few odd ones, not far enough into the top ten.
    const { known, tensor, plain, plainList, tensorList } = await placedHeads({ newSlots: 2 });
    // No shop delta yet: no places, the top ten of the scores, every item known.
    expect(tensor.freshPlaces(10)).toBe(0);
    const plainTop = plainList();
    expect(plainTop.every((i) => known[i])).toBe(true);
    expect(await tensorList()).toEqual(plainTop);
    const psi = Float32Array.from({ length: N }, (_, i) => (i === 13 ? 0.5 : i === 31 ? 0.3 : 0));
    tensor.setShopBias(psi);
    plain.setShopBias(psi);
    expect(tensor.freshPlaces(10)).toBe(2);
    const withPlaces = plainList();
    expect(withPlaces.slice(0, 8)).toEqual(plainTop.slice(0, 8));
    expect(withPlaces.slice(8).every((i) => !known[i])).toBe(true);
    expect(await tensorList()).toEqual(withPlaces);
    tensor.dispose();
  });
});

describe('the places for launches', () => {
  it('go to a new product among the shop’s best sellers now, in the list the tensor head gives, and to none otherwise', async () => {
    // The base knows the even items and keeps no fixed places, one per ten for launches.
    const { known, tensor, plain, t, plainList, tensorList } = await placedHeads({ launchSlots: 1 });
    const plainTop = plainList();
    expect(plainTop.every((i) => known[i])).toBe(true);
    const psi = new Float32Array(N);
    tensor.setShopBias(psi);
    plain.setShopBias(psi);
    /** What sold lately: ten old items 10 … 1, and the new products `launches` at `at`. */
    const sold = (launches: number[], at: number): Float32Array => {
      const v = new Float32Array(N);
      for (let j = 0; j < 10; j++) v[2 * j] = 10 - j;
      for (const i of launches) v[i] = at;
      return v;
    };
    const setSold = (v: Float32Array | null): void => {
      tensor.setRecentSales(v);
      plain.setRecentSales(v);
    };
    // New products that sell, but less than the shop's ten best sellers: no place.
    setSold(sold([13, 31], 0.5));
    expect(tensor.freshPlaces(10)).toBe(0);
    const scoresOnly = plainList(false);
    expect(scoresOnly.every((i) => known[i])).toBe(true);
    expect(plainList()).toEqual(scoresOnly);
    expect(await tensorList()).toEqual(scoresOnly);
    // Product 31 sells among the ten best: it takes the list's last place, and no other new product does.
    setSold(sold([31], 5.5));
    expect(tensor.freshPlaces(10)).toBe(1);
    const withLaunch = plainList();
    expect(plainList(false).every((i) => known[i])).toBe(true);
    expect(withLaunch).toEqual([...plainList(false).slice(0, 9), 31]);
    expect(await tensorList()).toEqual(withLaunch);
    // Two launches, one place: the one the head scores higher for this shopper; a list of twenty gets both.
    setSold(sold([13, 31], 5.5));
    expect(tensor.freshPlaces(10)).toBe(1);
    expect(tensor.freshPlaces(20)).toBe(2);
    const two = plainList();
    expect(await tensorList()).toEqual(two);
    const better = plain.scores(t + 9000)[13]! > plain.scores(t + 9000)[31]! ? 13 : 31;
    expect(two[9]).toBe(better);
    // Without the stream's figures, or without the shop delta, none.
    setSold(null);
    expect(tensor.freshPlaces(10)).toBe(0);
    expect(plainList()).toEqual(plainTop);
    setSold(sold([31], 5.5));
    tensor.setShopBias(null);
    plain.setShopBias(null);
    expect(tensor.freshPlaces(10)).toBe(0);
    expect(plainList()).toEqual(plainList(false));
    expect(plainList().includes(31)).toBe(false);
    tensor.dispose();
  });
});

describe('the own-popularity feature', () => {
  it('ranks a shopper’s own items at a visit’s start by what they sold lately where the base ships it, else by the base’s bias', async () => {
    const n = 6;
    const E = tf.zeros([n, D]) as tf.Tensor2D;
    const ids = Array.from({ length: n }, (_, i) => `i${i}`);
    // Only the own-popularity weight at a visit's start; the bias says item 1 sells a little
    // better than item 2, and lately item 2 has sold far better.
    const mix = new Array<number>(10).fill(0);
    mix[9] = 5;
    const bias = Float32Array.from([0, 0.1, 0, 0, 0, 0]);
    const scored = async (recent: Map<number, number> | null): Promise<Float32Array> => {
      const head = new IncrementalHead(
        E,
        ids,
        { W: new Float32Array(D * D), alpha: 0, bias, residual: null, mix, recent },
        { learningRate: 0 },
      );
      head.learnOne({ item: 1, impressions: [], time: 0 });
      head.learnOne({ item: 2, impressions: [], time: 86_400_000 });
      const s = head.scores(2 * 86_400_000);
      const out = (await s.data()) as Float32Array;
      s.dispose();
      head.dispose();
      return out;
    };
    const byBias = await scored(null);
    expect(byBias[1]!).toBeGreaterThan(byBias[2]!);
    const byRecent = await scored(
      new Map([
        [1, 0.1],
        [2, 3],
      ]),
    );
    expect(byRecent[2]!).toBeGreaterThan(byRecent[1]! + 10);
    // An item that sold nothing lately adds nothing, whatever its bias.
    const noSales = await scored(new Map([[2, 3]]));
    expect(noSales[1]!).toBeCloseTo(0.1, 5);
    E.dispose();
  });
});

describe('the per-item AdaGrad sums, kept for touched items only', () => {
  it('grow past their first capacity and still learn, save and load as the typed-array head does', async () => {
    const n = 2500;
    const rand = mulberry32(21);
    const E = new Float32Array(n * D).map(() => gaussian(rand) / Math.sqrt(D));
    const W = new Float32Array(D * D);
    for (let i = 0; i < D; i++) W[i * D + i] = 1;
    const base: BaseParams = { W, alpha: 0.5, bias: new Float32Array(n), residual: null, mix: [0, 0, 0.5, 1] };
    const ids = Array.from({ length: n }, (_, i) => `i${i}`);
    const options = { seed: 2, negatives: 64, learningRate: 0.3 };
    const Et = tf.tensor2d(E, [n, D]);
    const head = new IncrementalHead(Et, ids, base, options);
    Et.dispose();
    const plain = new PlainHead(await head.itemVectors(), n, D, base, options);
    const tensors = tf.memory().numTensors;
    for (let k = 0; k < 60; k++) {
      // A few items clicked again and again, so their sums (not only new slots) are read and written.
      const input = { item: k % 3 === 0 ? 7 : Math.floor(rand() * n), impressions: [Math.floor(rand() * n)], time: 1_000_000 + k * 90_000 };
      head.learnOne(input);
      plain.learnOne(input);
    }
    // Over 60 × 66 scored items: the sums grew past their first 1,024 slots, and no tensor was left behind.
    expect(tf.memory().numTensors).toBe(tensors);
    const compare = async (h: IncrementalHead): Promise<number> => {
      const t = h.scores(10_000_000);
      const a = await t.data();
      t.dispose();
      const b = plain.scores(10_000_000);
      return Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i]!)));
    };
    expect(await compare(head)).toBeLessThan(1e-3);
    // Shop deltas fused in, changed (another support, touched items among it) and taken away.
    const psiOf = (seed: number): Float32Array => {
      const r = mulberry32(seed);
      const psi = new Float32Array(n);
      for (let k = 0; k < 80; k++) psi[Math.floor(r() * n)] = gaussian(r);
      psi[7] = 0.5 * seed;
      return psi;
    };
    for (const psi of [psiOf(1), psiOf(2), null]) {
      head.setShopBias(psi);
      plain.setShopBias(psi);
      expect(await compare(head)).toBeLessThan(1e-3);
    }
    head.setShopBias(psiOf(3));
    plain.setShopBias(psiOf(3));
    const saved = await head.save();
    expect(Object.keys(saved.gBias).length).toBeGreaterThan(FIRST_SLOTS);
    // Grown by doubling, never past one slot a catalogue item.
    expect(head.sumSlots).toBe(2 * FIRST_SLOTS);
    // A head that loads the state learns on from the same sums.
    const Et2 = tf.tensor2d(E, [n, D]);
    const again = new IncrementalHead(Et2, ids, base, options);
    Et2.dispose();
    again.setShopBias(psiOf(3));
    again.load(saved);
    for (const h of [head, again]) h.learnOne({ item: 7, impressions: [], time: 9_000_000 });
    plain.learnOne({ item: 7, impressions: [], time: 9_000_000 });
    expect(await compare(head)).toBeLessThan(1e-3);
    expect(await compare(again)).toBeLessThan(1e-3);
    expect(JSON.stringify((await again.save()).gBias)).toBe(JSON.stringify((await head.save()).gBias));
    for (let k = 0; k < 40; k++) {
      head.learnOne({ item: k, impressions: [], time: 20_000_000 + k * 90_000 });
      plain.learnOne({ item: k, impressions: [], time: 20_000_000 + k * 90_000 });
    }
    expect(head.sumSlots).toBe(n);
    expect(await compare(head)).toBeLessThan(1e-3);
    head.dispose();
    again.dispose();
  });
});

describe('the replay kernel', () => {
  it('is the module that replay.wat assembles to (the committed bytes cannot drift from the text)', async () => {
    const bytes = await assembleKernel(KERNELS.replay);
    expect(Buffer.from(bytes).toString('base64')).toBe(REPLAY_WASM_BASE64);
  });

  it('projects and updates ΔW and its sums exactly as the plain loops do, for shoppers taking turns', () => {
    const d = 16;
    const rand = mulberry32(9);
    const W0 = Float32Array.from({ length: d * d }, () => gaussian(rand));
    const kernel = new ReplayKernel(d, W0);
    expect(kernel.kind).toBe('wasm-simd');
    expect(new ReplayKernel(d, W0, { kernel: 'js' }).kind).toBe('js');
    const vec = (len: number, scale: number): Float64Array => Float64Array.from({ length: len }, () => gaussian(rand) * scale);
    // Two shoppers' states in each code, stepped in an interleaved order.
    const wasm = [0, 1].map(() => ({ dW: new Float64Array(d * d), acc: new Float64Array(d * d) }));
    const js = [0, 1].map(() => ({ dW: new Float64Array(d * d), acc: new Float64Array(d * d) }));
    for (let t = 0; t < 40; t++) {
      const who = rand() < 0.5 ? 0 : 1;
      const h = vec(d, 1);
      // A row of h that is exactly 0 is skipped by both.
      h[3] = 0;
      const p = kernel.project(h, wasm[who]!.dW, wasm[who]!.acc);
      const r = projectJs(h, W0, js[who]!.dW, d);
      expect(Array.from(p.q)).toEqual(Array.from(r.q));
      expect(Array.from(p.hdW)).toEqual(Array.from(r.hdW));
      const gq = vec(d, 0.3);
      // a₀ 0 on some steps: the sums' start is a parameter of each step, as the head's options give it.
      const [lam, clip, eta, a0] = [1e-3 * rand(), 0.2 + rand(), 0.05 + rand() * 0.2, rand() < 0.3 ? 0 : rand()];
      const a = kernel.step(wasm[who]!.dW, wasm[who]!.acc, h, gq, lam, clip, eta, a0);
      const b = adagradStepJs(js[who]!.dW, js[who]!.acc, h, gq, d, lam, clip, eta, a0);
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-12 * b);
    }
    // The kernel holds the last shopper's ΔW until it is flushed (or another's is loaded).
    kernel.flush();
    for (const who of [0, 1]) {
      expect(Array.from(wasm[who]!.dW)).toEqual(Array.from(js[who]!.dW));
      expect(Array.from(wasm[who]!.acc)).toEqual(Array.from(js[who]!.acc));
    }
    expect(wasm[0]!.dW.some((x) => x !== 0)).toBe(true);
  });
});

describe('the bench’s read-floor kernel', () => {
  it('is the module that read.wat assembles to, and sums every byte it is given', async () => {
    const bytes = await assembleKernel(KERNELS.read);
    expect(Buffer.from(bytes).toString('base64')).toBe(READ_WASM_BASE64);
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { sum } = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { env: { memory } }).exports as {
      sum: (from: number, to: number) => number;
    };
    const words = new Int32Array(memory.buffer, 0, 64);
    words.forEach((_, i) => (words[i] = i + 1));
    expect(sum(0, 256)).toBe((64 * 65) / 2);
    expect(sum(64, 128)).toBe(17 + 18 + 19 + 20 + 21 + 22 + 23 + 24 + 25 + 26 + 27 + 28 + 29 + 30 + 31 + 32);
  });
});

/** Random content over n items and a base that passes it through: W = I, no biases. */
function identityBase(n: number, seed: number): { E: Float32Array; base: BaseParams } {
  const rand = mulberry32(seed);
  const E = new Float32Array(n * D).map(() => gaussian(rand) / Math.sqrt(D));
  const W = new Float32Array(D * D);
  for (let i = 0; i < D; i++) W[i * D + i] = 1;
  return { E, base: { W, alpha: 0.5, bias: new Float32Array(n), residual: null, mix: [0, 0, 0.5, 1] } };
}

describe('a parked shopper', () => {
  /** Bytes of the typed arrays a state holds (its own and its Δb's), and the entries of its per-item maps. */
  const footprint = (st: ReturnType<typeof freshState>): { bytes: number; entries: number } => {
    let bytes = 0;
    let entries = 0;
    for (const v of [...Object.values(st), ...Object.values(st.dB)]) {
      if (ArrayBuffer.isView(v)) bytes += v.byteLength;
      else if (v instanceof Map) entries += v.size;
    }
    return { bytes, entries };
  };
  /**
   * Two shoppers taking turns over a catalogue of n items, the first clicking `clicks[0]` times,
   * the second `clicks[1]`: their states, each one's scores at the end, and the base's.
   */
  const replay = (
    n: number,
    clicks: [number, number],
  ): { states: ReturnType<typeof freshState>[]; last: Float32Array[]; baseOnly: Float32Array; fresh: Float32Array; plain: PlainHead } => {
    const { E, base } = identityBase(n, 4);
    const plain = new PlainHead(E, n, D, base, { seed: 3, negatives: 16, learningRate: 0.3 });
    const baseOnly = plain.scores(9_000_000).slice();
    const states = [freshState(D), freshState(D)];
    const left = [...clicks];
    for (let k = 0; left[0]! + left[1]! > 0; k++) {
      const who = left[k % 2]! > 0 ? k % 2 : 1 - (k % 2);
      left[who]!--;
      plain.state = states[who]!;
      plain.learnOne({ item: (k * 37) % 150, impressions: [(k * 11) % 150], time: 1_000_000 + k * 90_000 });
    }
    const last = states.map((st) => {
      plain.state = st;
      return plain.scores(9_000_000).slice();
    });
    plain.state = freshState(D);
    return { states, last, baseOnly, fresh: plain.scores(9_000_000).slice(), plain };
  };
  /** Each shopper's scores after the other's turn are their own; a fresh shopper's are the base's. */
  const expectOwnScores = (r: ReturnType<typeof replay>): void => {
    expect(r.fresh).toEqual(r.baseOnly);
    for (let s = 0; s < 2; s++) {
      r.plain.state = r.states[1 - s]!;
      r.plain.scores(9_000_000);
      r.plain.state = r.states[s]!;
      expect(r.plain.scores(9_000_000)).toEqual(r.last[s]);
      expect(Math.max(...Array.from(r.last[s]!, (x, i) => Math.abs(x - r.baseOnly[i]!)))).toBeGreaterThan(0.01);
    }
  };

  it('keeps what it learned in the items it touched, not in an array the size of the catalogue', () => {
    const mid = replay(20_000, [20, 20]);
    const large = replay(50_000, [20, 20]);
    for (let s = 0; s < 2; s++) {
      const a = footprint(mid.states[s]!);
      const b = footprint(large.states[s]!);
      expect(b.entries).toBeGreaterThan(0);
      expect(large.states[s]!.dB.dense).toBeNull();
      expect(b.bytes).toBe(a.bytes);
    }
    expectOwnScores(large);
  });

  it('holds no ΔW until it learns: a frozen head’s shoppers never take one, a learning head’s at its first step', () => {
    const { E, base } = identityBase(500, 4);
    const frozen = new PlainHead(E, 500, D, base, { seed: 3, learningRate: 0 });
    const learning = new PlainHead(E, 500, D, base, { seed: 3, learningRate: 0.3 });
    const sizes = [frozen, learning].map((head) => {
      const st = freshState(D);
      head.state = st;
      const before = footprint(st).bytes;
      head.scores(1_000_000);
      const scored = footprint(st).bytes;
      for (let k = 0; k < 5; k++) head.learnOne({ item: k * 3, impressions: [], time: 1_000_000 + k * 60_000 });
      head.scores(2_000_000);
      return { before, scored, learned: footprint(st).bytes, dW: st.dW.length, gW: st.gW.length };
    });
    // The frozen head's shopper after five clicks holds what a fresh one does.
    expect(sizes[0]).toEqual({ before: sizes[0]!.before, scored: sizes[0]!.before, learned: sizes[0]!.before, dW: 0, gW: 0 });
    expect(sizes[1]!.dW).toBe(D * D);
    expect(sizes[1]!.gW).toBe(D * D);
    expect(sizes[1]!.learned).toBeGreaterThanOrEqual(sizes[1]!.before + 2 * D * D * 8);
  });

  it('keeps an array of its own once it has touched an eighth of the catalogue, beside a shopper who has not', () => {
    const r = replay(2_000, [40, 2]);
    expect(r.states[0]!.dB.dense).toHaveLength(2_000);
    expect(r.states[1]!.dB.dense).toBeNull();
    expectOwnScores(r);
  });
});

describe('a shopper taken to a new base', () => {
  it('brings everything learned on the old one, their last turn included', () => {
    const n = 5_000;
    const { E, base } = identityBase(n, 6);
    const options = { seed: 3, negatives: 16, learningRate: 0.3 };
    const [oldHead, newHead] = [new PlainHead(E, n, D, base, options), new PlainHead(E, n, D, base, options)];
    const st = freshState(D);
    oldHead.state = st;
    for (let k = 0; k < 6; k++) oldHead.learnOne({ item: (k * 53) % n, impressions: [], time: 1_000_000 + k * 90_000 });
    const learned = oldHead.scores(9_000_000).slice();
    // The rebase, as the eval makes it: the old base's turn ends, and the shopper goes on on the new one.
    oldHead.park();
    newHead.state = st;
    expect(newHead.scores(9_000_000)).toEqual(learned);
    expect(Math.max(...Array.from(learned, (x, i) => Math.abs(x - newHead.baseBias[i]!)))).toBeGreaterThan(0.01);
  });
});

describe('what sells now (the "sells now" feature)', () => {
  it('is the best sellers by what they sold lately, best first, ties to the lower index, at most as many as asked', () => {
    const values = Float32Array.from([0, 2, 5, 0, 5, 1, 3]);
    expect([...sellsNow(values, 3)]).toEqual([
      [2, 5],
      [4, 5],
      [6, 3],
    ]);
    // Items that sold nothing are never best sellers.
    expect([...sellsNow(values, 10).keys()]).toEqual([2, 4, 6, 1, 5]);
    expect(sellsNow(new Float32Array(0)).size).toBe(0);
  });

  it("lifts the shop's best sellers by the base's weight at a visit's start and in its middle, from the base's sales and then the stream's", async () => {
    const rand = mulberry32(21);
    const n = 300;
    const E = new Float32Array(n * D).map(() => gaussian(rand) / Math.sqrt(D));
    const Et = tf.tensor2d(E, [n, D]);
    const ids = Array.from({ length: n }, (_, i) => `p${i}`);
    // Item 250 sold best lately; every other item a little, item 7 nothing.
    const recent = new Map(Array.from({ length: n }, (_, i) => [i, i === 250 ? 4 : i === 7 ? 0 : 0.01 * (i % 13)] as [number, number]));
    const base = (mix: number[]): BaseParams => ({
      W: new Float32Array(D * D).map((_, k) => (k % (D + 1) === 0 ? 0.1 : 0)),
      alpha: 0,
      bias: new Float32Array(n),
      residual: null,
      mix,
      recent,
    });
    // Weight 8 at a visit's start only; a base of twelve weights (before the feature) has none.
    const withIt = new IncrementalHead(Et, ids, base([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8]), { seed: 1 });
    const without = new IncrementalHead(Et, ids, base(new Array<number>(12).fill(0)), { seed: 1 });
    Et.dispose();
    const top = async (h: IncrementalHead, time: number): Promise<number> => {
      const s = h.scores(time);
      const v = (await s.data()) as Float32Array;
      s.dispose();
      return v.indexOf(Math.max(...v));
    };
    const t = 1_000_000;
    for (const h of [withIt, without]) h.learnOne({ item: 3, impressions: [], ranked: [], time: t });
    // Hours later a visit begins: the best seller leads where the base weighs it there.
    expect(await top(withIt, t + 3 * 3_600_000)).toBe(250);
    expect(await top(without, t + 3 * 3_600_000)).not.toBe(250);
    // In the middle of the visit its weight is 0.
    const mid = withIt.scores(t + 1000);
    const start = withIt.scores(t + 3 * 3_600_000);
    const diff = (await tf.sub(start, mid).data()) as Float32Array;
    mid.dispose();
    start.dispose();
    // (8 and what the first click, a visit's start, taught the shopper's φ of it) × 4.
    expect(diff[250]).toBeGreaterThan(0.95 * 8 * 4);
    expect(diff[250]).toBeLessThan(1.05 * 8 * 4);
    expect(diff[7]).toBeCloseTo(0, 5);
    // What it adds is explained as no click's: at a visit's start its weight times what it sold, in the middle nothing.
    const atStart = await withIt.explain([250, 7, 3], t + 3 * 3_600_000);
    expect(atStart.sellsNow[0]).toBeCloseTo(diff[250]!, 3);
    expect([atStart.sellsNow[1], atStart.sellsNow[2]]).toEqual([0, 0]);
    expect((await withIt.explain([250], t + 1000)).sellsNow[0]).toBeCloseTo(0, 5);
    // A base without the feature adds only what φ's first click, on an item that is no best seller, taught it against them.
    const learnedOnly = (await without.explain([250], t + 3 * 3_600_000)).sellsNow[0]!;
    expect(learnedOnly).toBeLessThan(0);
    expect(learnedOnly).toBeGreaterThan(-0.05 * 8 * 4);
    // The stream says item 7 sells best now: it leads the next visit's start instead.
    withIt.setRecentSales(Float32Array.from({ length: n }, (_, i) => (i === 7 ? 6 : 0.01)));
    expect(await top(withIt, t + 6 * 3_600_000)).toBe(7);
    withIt.dispose();
    without.dispose();
  });
});
