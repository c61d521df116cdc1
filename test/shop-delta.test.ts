import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChecksumError, ModelLoadError } from '../src/core/errors.js';
import { IncrementalHead } from '../src/core/head.js';
import { sha256Hex } from '../src/core/model-io.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import type { ShopDeltaManifest } from '../src/core/shop-delta.js';
import { alignShopDelta, densePsi, parseShopDeltaManifest, parseShopDeltaPayload, ShopLearner } from '../src/core/shop-delta.js';
import { PlainHead } from '../src/cli/eval/plain-head.js';
import { useBackend } from './helpers.js';

const DAY = 86_400_000;
const T0 = Date.parse('2011-10-01T00:00:00Z');

beforeAll(async () => {
  await useBackend('cpu');
});

/** A stream over `n` items: item 0 sells from day 20 on, the rest at random all along. */
function stream(n: number, days: number, seed = 5): { item: number; t: number }[] {
  const rand = mulberry32(seed);
  const out: { item: number; t: number }[] = [];
  for (let k = 0; k < days * 100; k++) {
    const t = T0 + (k / 100) * DAY;
    out.push({ item: k / 100 >= 20 && rand() < 0.3 ? 0 : 1 + Math.floor(rand() * (n - 1)), t });
  }
  return out;
}

describe('ShopLearner', () => {
  it('lifts an item that starts selling above the rest, and the same events give the same ψ', () => {
    const n = 200;
    const run = (): Float32Array => {
      const l = new ShopLearner(new Float32Array(n), { seed: 3 });
      for (const e of stream(n, 30)) l.learn(e.item, e.t);
      return l.psi();
    };
    const a = run();
    expect(a.every(Number.isFinite)).toBe(true);
    const others = Array.from(a.subarray(1)).sort((x, y) => y - x);
    expect(a[0]).toBeGreaterThan(others[0]! + 0.5);
    expect(Array.from(run())).toEqual(Array.from(a));
  });

  it('learns how much recent sales matter: the weight of the short half-life grows on a trending stream', () => {
    const n = 200;
    const l = new ShopLearner(new Float32Array(n), { seed: 3 });
    for (const e of stream(n, 30)) l.learn(e.item, e.t);
    expect(l.weights[0]).toBeGreaterThan(0.1);
  });

  it('gives the recent sales of items the base does not know weights of their own', () => {
    const n = 200;
    const known = Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1));
    const l = new ShopLearner(new Float32Array(n), { seed: 3 }, known);
    for (const e of stream(n, 30)) l.learn(e.item, e.t);
    expect(l.weights).toHaveLength(4);
    // Item 0, the only new one, is what trends: its weights learn more than the known items'.
    expect(l.weights[2]! + l.weights[3]!).toBeGreaterThan(l.weights[0]! + l.weights[1]!);
    expect(new ShopLearner(new Float32Array(n), { newItemWeights: false }, known).weights).toHaveLength(2);
  });

  it('stays finite across years of stream and gaps of years (the count origin moves)', () => {
    const l = new ShopLearner(new Float32Array(10), { halfLivesDays: [0.01, 1] });
    for (let k = 0; k < 2000; k++) l.learn(k % 10, T0 + k * 40 * DAY);
    l.learn(3, T0 + 1e5 * DAY);
    expect(l.psi().every(Number.isFinite)).toBe(true);
  });

  it('publishes at most maxItems entries, centred on the median, rounded to 1/1000', () => {
    const n = 500;
    const l = new ShopLearner(new Float32Array(n), { seed: 1, maxItems: 50 });
    for (const e of stream(n, 30)) l.learn(e.item, e.t);
    const p = l.published();
    expect(p.indices.length).toBe(50);
    expect(p.indices[0]).toBe(0);
    expect(p.values.every((v) => Math.round(v * 1000) === v * 1000)).toBe(true);
    const psi = l.psi();
    const sorted = Float32Array.from(psi).sort();
    expect(sorted[n >> 1]).toBe(0);
    // The largest |ψ| are the ones kept.
    const kept = new Set(p.indices);
    const smallestKept = Math.min(...p.values.map(Math.abs));
    for (let i = 0; i < n; i++) if (!kept.has(i)) expect(Math.abs(psi[i]!)).toBeLessThanOrEqual(smallestKept + 1e-3);
  });

  it('resetItems forgets the per-item biases and keeps what sells now', () => {
    const n = 100;
    const l = new ShopLearner(new Float32Array(n), { seed: 2 });
    for (const e of stream(n, 30)) l.learn(e.item, e.t);
    const before = l.psi()[0]!;
    l.resetItems();
    const after = l.psi()[0]!;
    expect(l.events).toBe(0);
    expect(after).toBeLessThan(before);
    expect(after).toBeGreaterThan(0);
  });

  it('refuses an item outside the catalogue and a time that is not a number', () => {
    const l = new ShopLearner(new Float32Array(5));
    expect(() => l.learn(5, T0)).toThrow(/outside the catalogue/);
    expect(() => l.learn(1, Number.NaN)).toThrow(/not a finite number/);
  });
});

describe('the delta files', () => {
  const payloadBytes = (o: object): ArrayBuffer => new TextEncoder().encode(JSON.stringify(o)).buffer as ArrayBuffer;
  const manifestFor = async (bytes: ArrayBuffer, extra: Partial<ShopDeltaManifest> = {}): Promise<ShopDeltaManifest> => ({
    format: 1,
    baseVersion: 'v1',
    seq: 4,
    path: 'delta-4-abcdef12.json',
    sha256: (await sha256Hex(bytes))!,
    bytes: bytes.byteLength,
    items: 2,
    events: 10,
    eventsThrough: null,
    publishedAt: new Date(T0).toISOString(),
    ...extra,
  });

  it('reads a payload that matches its manifest and aligns it by id', async () => {
    const bytes = payloadBytes({ format: 1, baseVersion: 'v1', seq: 4, ids: ['b', 'zz'], bias: [0.5, -1] });
    const m = await manifestFor(bytes);
    const p = parseShopDeltaPayload(bytes, await sha256Hex(bytes), m, 'x');
    const index = new Map([
      ['a', 0],
      ['b', 1],
    ]);
    const { psi, unknown } = alignShopDelta(p, 2, (id) => index.get(id));
    expect(Array.from(psi)).toEqual([0, 0.5]);
    expect(unknown).toBe(1);
  });

  it('refuses a torn payload, one for another base, and values that are not finite', async () => {
    const good = payloadBytes({ format: 1, baseVersion: 'v1', seq: 4, ids: ['a'], bias: [0.5] });
    const m = await manifestFor(good);
    const torn = good.slice(0, good.byteLength - 3);
    expect(() => parseShopDeltaPayload(torn, 'f'.repeat(64), m, 'x')).toThrow(ChecksumError);
    const other = payloadBytes({ format: 1, baseVersion: 'v0', seq: 4, ids: ['a'], bias: [0.5] });
    expect(() => parseShopDeltaPayload(other, null, m, 'x')).toThrow(/for base v1/);
    const nan = new TextEncoder().encode('{"format":1,"baseVersion":"v1","seq":4,"ids":["a"],"bias":[null]}').buffer as ArrayBuffer;
    expect(() => parseShopDeltaPayload(nan, null, m, 'x')).toThrow(ModelLoadError);
    expect(() => parseShopDeltaManifest('{"format":1}', 'm')).toThrow(/baseVersion, seq, path and sha256/);
    expect(() => parseShopDeltaManifest(JSON.stringify({ ...m, path: '../secret' }), 'm')).toThrow(ModelLoadError);
  });
});

describe('fusing ψ into the head', () => {
  /** The head's scores at `time`, as plain numbers. */
  const scoresAt = (head: IncrementalHead, time: number): number[] => {
    const t = head.scores(time);
    const v = Array.from(t.dataSync());
    t.dispose();
    return v;
  };
  const N = 20;
  const D = 4;
  const setup = (): { E: Float32Array; ids: string[]; base: { W: Float32Array; alpha: number; bias: Float32Array; residual: null } } => {
    const rand = mulberry32(9);
    return {
      E: new Float32Array(N * D).map(() => gaussian(rand) / 2),
      ids: Array.from({ length: N }, (_, i) => `i${i}`),
      base: {
        W: Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 2 : 0)),
        alpha: 0.5,
        bias: new Float32Array(N).map(() => gaussian(rand) * 0.1),
        residual: null,
      },
    };
  };

  it('adds ψ to every score, keeps the shopper’s φ, and removes it again; the typed-array twin agrees', async () => {
    const { E, ids, base } = setup();
    const head = new IncrementalHead(tf.tensor2d(E, [N, D]), ids, base, { seed: 1 });
    const plain = new PlainHead(await head.itemVectors(), N, D, base, { seed: 1 });
    for (const [k, item] of [3, 5, 3].entries()) {
      head.learnOne({ item, impressions: [], time: 1000 * k });
      plain.learnOne({ item, impressions: [], time: 1000 * k });
    }
    const read = (): number[] => scoresAt(head, 5000);
    const before = read();
    const savedBefore = await head.save();
    const psi = densePsi(N, [2, 7], [1.5, -0.25]);
    const tensors = tf.memory().numTensors;
    head.setShopBias(psi);
    plain.setShopBias(psi);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = read();
    after.forEach((s, i) => expect(s).toBeCloseTo(before[i]! + psi[i]!, 5));
    const plainScores = plain.scores(5000);
    after.forEach((s, i) => expect(plainScores[i]).toBeCloseTo(s, 4));
    // φ is the shopper's own: the same state is saved with or without the shop delta (up to the
    // float32 rounding of the fused bias vector).
    const round = (x: unknown): unknown =>
      JSON.parse(JSON.stringify(x, (_, v: unknown) => (typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v)));
    const savedAfter = await head.save();
    expect(round(savedAfter)).toEqual(round(savedBefore));
    expect(Object.keys(savedAfter.dBias)).toEqual(Object.keys(savedBefore.dBias));
    head.setShopBias(null);
    read().forEach((s, i) => expect(s).toBeCloseTo(before[i]!, 5));
    expect(() => head.setShopBias(new Float32Array(3))).toThrow(/entries/);
    expect(() => head.setShopBias(densePsi(N, [1], [Number.NaN]))).toThrow(/not finite/);
    head.dispose();
  });

  it('weighs ψ by the base’s shopDeltaWeight, in both heads', async () => {
    const { E, ids, base } = setup();
    const weighted = { ...base, shopDeltaWeight: 0.25 };
    const head = new IncrementalHead(tf.tensor2d(E, [N, D]), ids, weighted, { seed: 1 });
    const plain = new PlainHead(await head.itemVectors(), N, D, weighted, { seed: 1 });
    const read = (): number[] => scoresAt(head, 5000);
    const before = read();
    const psi = densePsi(N, [2, 7], [1.5, -0.25]);
    head.setShopBias(psi);
    plain.setShopBias(psi);
    const after = read();
    after.forEach((s, i) => expect(s).toBeCloseTo(before[i]! + 0.25 * psi[i]!, 5));
    const plainScores = plain.scores(5000);
    after.forEach((s, i) => expect(plainScores[i]).toBeCloseTo(s, 4));
    head.dispose();
  });
});
