import { gzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChecksumError, ModelLoadError } from '../src/core/errors.js';
import { IncrementalHead } from '../src/core/head.js';
import { sha256Hex } from '../src/core/model-io.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import type { ShopDeltaManifest } from '../src/core/shop-delta.js';
import {
  alignShopDelta,
  deltaEntries,
  densePsi,
  parseShopDeltaManifest,
  parseShopDeltaPayload,
  RecentSales,
  ShopLearner,
  largestEntries,
  middleValue,
} from '../src/core/shop-delta.js';
import { PlainHead } from '../src/cli/eval/plain-head.js';
import { recentSales } from '../src/cli/train/base.js';
import { clickwiseMethod } from '../src/cli/eval/clickwise-method.js';
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

describe('largestEntries, what a delta publishes', () => {
  /** The rule as a sort of every entry (the version before). */
  const bySort = (v: Float32Array, keep: number): { indices: number[]; values: number[] } => {
    const order = Array.from({ length: v.length }, (_, i) => i)
      .filter((i) => Math.abs(v[i]!) >= 5e-4)
      .sort((a, b) => Math.abs(v[b]!) - Math.abs(v[a]!) || a - b)
      .slice(0, keep)
      .sort((a, b) => a - b);
    return { indices: order, values: order.map((i) => Math.round(v[i]! * 1000) / 1000) };
  };

  it('keeps the entries furthest from 0, the lower index of two as far, as a sort of every entry does', () => {
    const rand = mulberry32(21);
    for (const n of [0, 1, 7, 300, 5_000]) {
      // Values on a coarse grid, so that many are equally far from 0; some under 5e-4, some NaN.
      const v = Float32Array.from({ length: n }, () => {
        const u = rand();
        if (u < 0.05) return NaN;
        if (u < 0.2) return 1e-4 * (rand() - 0.5);
        return Math.round(gaussian(rand) * 8) / 16;
      });
      for (const keep of [0, 1, 2, 10, 299, 1_000, n + 3]) {
        const got = largestEntries(v, keep);
        const want = bySort(v, keep);
        expect(Array.from(got.indices)).toEqual(want.indices);
        expect(got.values).toEqual(want.values);
      }
    }
  });
});

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

  it('publishes what every item’s ψ written out, centred on the median of a sort, gives', () => {
    const n = 3001;
    const known = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const bias = Float32Array.from({ length: n }, (_, i) => Math.log1p(n - i) / 8);
    const l = new ShopLearner(bias, { seed: 2, maxItems: 400 }, known);
    const events = stream(n, 40);
    for (const e of events) l.learn(e.item, e.t);
    const DAY = 86_400_000;
    for (const t of [events.at(-1)!.t, events.at(-1)!.t + 3 * DAY]) {
      const s = l.state();
      const K = s.counts.length;
      const byHand = Float32Array.from({ length: n }, (_, i) => {
        let v = s.rho[i]!;
        const off = known[i] ? 0 : K;
        for (let k = 0; k < K; k++) {
          const c = s.counts[k]![i]!;
          v += s.w[off + k]! * (c === 0 ? 0 : Math.log1p(c * Math.pow(2, (s.origin[k]! - t) / (l.options.halfLivesDays[k]! * DAY))));
        }
        return v;
      });
      const median = Float32Array.from(byHand).sort()[n >> 1]!;
      const want = largestEntries(
        byHand.map((v) => v - median),
        400,
      );
      expect(l.published(t)).toEqual(want);
    }
  });

  it('middleValue is the value a sort puts at the middle, with repeats, zeros of both signs, infinities and NaN', () => {
    const rand = mulberry32(11);
    const pool = [0, -0, 1, -1, 0.5, Infinity, -Infinity, 1e-30, -1e-30];
    for (let trial = 0; trial < 400; trial++) {
      const n = 1 + Math.floor(rand() * (trial < 200 ? 12 : 3000));
      const v = Float32Array.from({ length: n }, () =>
        trial % 4 === 0 ? pool[Math.floor(rand() * pool.length)]! : trial % 4 === 1 ? Math.floor(rand() * 5) : gaussian(rand),
      );
      if (trial % 50 === 7) v[Math.floor(rand() * n)] = NaN;
      const want = Float32Array.from(v).sort()[n >> 1]!;
      const got = middleValue(v);
      // A zero's sign aside (−0 and +0 compare equal), the same value; a NaN where the sort has one.
      if (Number.isNaN(want)) expect(got).toBeNaN();
      else expect(got === want).toBe(true);
    }
    expect(() => middleValue(new Float32Array(0))).toThrow(RangeError);
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

  it('publishes what sold lately with ψ where it keeps it: the base’s figure, brought up to date', () => {
    const n = 40;
    const events = stream(n, 30);
    const plain = new ShopLearner(new Float32Array(n), { seed: 3, maxItems: 10 });
    const l = new ShopLearner(new Float32Array(n), { seed: 3, recentHalfLifeDays: 7, maxItems: 10 });
    for (const e of events) {
      plain.learn(e.item, e.t);
      l.learn(e.item, e.t);
    }
    expect(plain.published().recent).toBeUndefined();
    const at = T0 + 31 * DAY;
    const p = l.published(at);
    // ψ is the same with or without it.
    expect(p.values).toEqual(plain.published(at).values);
    // The 10 best sellers of the last days, rounded as ψ is, equal to what the maintenance job
    // computes from the same events at the same time.
    const want = recentSales(events, n, at, 7)!;
    const best = Array.from(want.keys())
      .sort((a, b) => want[b]! - want[a]! || a - b)
      .slice(0, 10)
      .sort((a, b) => a - b);
    expect(Array.from(p.recent!.indices)).toEqual(best);
    expect(p.recent!.indices[0]).toBe(0); // item 0 sells best from day 20 on
    p.recent!.values.forEach((v, j) => expect(v).toBeCloseTo(want[best[j]!]!, 3));
  });

  it('RecentSales gives what the maintenance job ships as `recent`, across years of stream', () => {
    const n = 7;
    const events: { item: number; t: number }[] = [];
    for (let k = 0; k < 600; k++) events.push({ item: (k * 3) % n, t: T0 + k * 0.37 * DAY });
    // A year without sales: the sums' origin moves (2^-256 would be 0 otherwise).
    events.push({ item: 2, t: T0 + 3000 * DAY }, { item: 5, t: T0 + 3000.5 * DAY });
    const r = new RecentSales(n, 7);
    for (const e of events) r.add(e.item, e.t);
    for (const at of [T0 + 3001 * DAY, T0 + 3010 * DAY]) {
      const want = recentSales(events, n, at, 7)!;
      Array.from(r.values(at)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    }
    // By hand: one sale a half-life ago and one two half-lives ago give log(1 + 1/2 + 1/4).
    const hand = new RecentSales(2, 7);
    hand.add(1, T0);
    hand.add(1, T0 + 7 * DAY);
    expect(hand.values(T0 + 14 * DAY)[1]).toBeCloseTo(Math.log(1.75), 6);
    expect(hand.values(T0 + 14 * DAY)[0]).toBe(0);
    // Started from the figures at a time, it adds only the events after it: the same figures.
    const cut = T0 + 100 * DAY;
    const seeded = new RecentSales(n, 7);
    const atCut = recentSales(events, n, cut, 7)!;
    seeded.seed(new Map(Array.from(atCut, (v, i) => [i, v] as [number, number])), cut);
    for (const e of events) seeded.add(e.item, e.t);
    const want = recentSales(events, n, T0 + 3010 * DAY, 7)!;
    Array.from(seeded.values(T0 + 3010 * DAY)).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    expect(() => seeded.seed(new Map([[1, -1]]), cut)).toThrow(/finite number ≥ 0/);
    expect(() => new RecentSales(2, 0)).toThrow(/half-life/);
    expect(() => hand.add(2, T0)).toThrow(/outside the catalogue/);
    expect(() => new ShopLearner(new Float32Array(2), { recentHalfLifeDays: -1 })).toThrow(/Invalid shop learner options/);
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

  it('reads a payload of format 1 that matches its manifest and aligns it by id', async () => {
    const bytes = payloadBytes({ format: 1, baseVersion: 'v1', seq: 4, ids: ['b', 'zz'], bias: [0.5, -1] });
    const m = await manifestFor(bytes);
    const p = parseShopDeltaPayload(bytes, await sha256Hex(bytes), m, 'x');
    const index = new Map([
      ['a', 0],
      ['b', 1],
    ]);
    const target = { size: 2, indexOf: (id: string) => index.get(id) };
    const { psi, unknown, items } = alignShopDelta(p, target);
    expect(Array.from(psi)).toEqual([0, 0.5]);
    expect(unknown).toBe(1);
    expect(items).toBe(1);
    expect(alignShopDelta(p, target).recent).toBeNull();
  });

  it('reads what sold lately where a payload of format 1 has it, aligned by id, and refuses it damaged', async () => {
    const payload = { format: 1, baseVersion: 'v1', seq: 4, ids: ['b'], bias: [0.5] };
    const recent = { halfLifeDays: 7, ids: ['a', 'zz', 'c'], values: [1.25, 2, 0.5] };
    const bytes = payloadBytes({ ...payload, recent });
    const m = await manifestFor(bytes);
    const p = parseShopDeltaPayload(bytes, await sha256Hex(bytes), m, 'x');
    const index = new Map([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
    const got = alignShopDelta(p, { size: 3, indexOf: (id) => index.get(id) });
    expect(Array.from(got.psi)).toEqual([0, 0.5, 0]);
    expect(Array.from(got.recent!)).toEqual([1.25, 0, 0.5]);
    expect(got.recentItems).toBe(2);
    for (const bad of [
      { ...recent, values: [1, -0.5, 1] },
      { ...recent, values: [1, null, 1] },
      { ...recent, values: [1, 2] },
      { ...recent, halfLifeDays: 0 },
      { ...recent, ids: ['a', 3, 'c'] },
    ]) {
      const b = payloadBytes({ ...payload, recent: bad });
      expect(() => parseShopDeltaPayload(b, null, m, 'x')).toThrow(/half-life > 0 and one finite value ≥ 0 per item/);
    }
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
    expect(() => parseShopDeltaManifest(JSON.stringify({ ...m, format: 3 }), 'm')).toThrow(/format 1 or 2/);
  });

  // Format 2: the items the base knows by their row in it, the others by id.
  const baseIds = ['a', 'b', 'c', 'd', 'e'];
  const baseTarget = (catalogue: string[]) => {
    const index = new Map(catalogue.map((id, i) => [id, i]));
    // Each base row's catalogue index, as a page's alignment gives it.
    const byRow = baseIds.map((id) => index.get(id));
    return { size: catalogue.length, indexOf: (id: string) => index.get(id), baseIndex: (row: number) => byRow[row] };
  };
  const baseRow = (id: string): number | undefined => (baseIds.includes(id) ? baseIds.indexOf(id) : undefined);

  it('lists the items the base knows by row, as gaps in ascending order, and the others by id', () => {
    expect(deltaEntries(['d', 'new-1', 'b', 'e'], [0.25, 1, -0.5, 2], baseRow)).toEqual({
      rows: [1, 2, 1],
      rowValues: [-0.5, 0.25, 2],
      ids: ['new-1'],
      values: [1],
    });
    // Without the base's rows every item is listed by id.
    expect(deltaEntries(['d', 'b'], [0.25, -0.5])).toEqual({ rows: [], rowValues: [], ids: ['d', 'b'], values: [0.25, -0.5] });
  });

  it('reads a payload of format 2 and aligns it with this catalogue through the base’s rows, as by id', async () => {
    const ids = ['d', 'new-1', 'b', 'a', 'gone'];
    const bias = [0.25, 1, -0.5, 0.75, 3];
    const sold = { ids: ['e', 'new-1', 'a'], values: [2, 1.5, 0.5] };
    const payload = {
      format: 2,
      baseVersion: 'v1',
      seq: 4,
      psi: deltaEntries(ids, bias, baseRow),
      recent: { halfLifeDays: 7, ...deltaEntries(sold.ids, sold.values, baseRow) },
    };
    const bytes = payloadBytes(payload);
    const p = parseShopDeltaPayload(bytes, await sha256Hex(bytes), await manifestFor(bytes, { format: 2 }), 'x');
    // This catalogue has the base's items in another order, a new product, and lacks 'c' and 'gone'.
    const catalogue = ['new-1', 'e', 'a', 'b', 'd'];
    const got = alignShopDelta(p, baseTarget(catalogue));
    const byId = (list: string[], values: number[]): number[] => catalogue.map((id) => (list.includes(id) ? values[list.indexOf(id)]! : 0));
    expect(Array.from(got.psi)).toEqual(byId(ids, bias));
    expect(Array.from(got.recent!)).toEqual(byId(sold.ids, sold.values));
    expect([got.items, got.unknown, got.recentItems]).toEqual([4, 1, 3]);
    // A page without the base's rows skips the items listed by row, and counts them unknown.
    const { size, indexOf } = baseTarget(catalogue);
    const blind = alignShopDelta(p, { size, indexOf });
    expect([blind.items, blind.unknown]).toEqual([1, 4]);
    // A row past the base's last is skipped too.
    const past = { ...payload, psi: { rows: [1, 9], rowValues: [1, 1], ids: [], values: [] } };
    const pastBytes = payloadBytes(past);
    const q = parseShopDeltaPayload(pastBytes, null, await manifestFor(pastBytes, { format: 2 }), 'x');
    expect([alignShopDelta(q, baseTarget(catalogue)).items, alignShopDelta(q, baseTarget(catalogue)).unknown]).toEqual([1, 1]);
  });

  it('refuses a payload of format 2 whose rows are not whole gaps, or whose lists do not match', async () => {
    const psi = { rows: [0, 2], rowValues: [0.5, 1], ids: ['x'], values: [1] };
    const good = payloadBytes({ format: 2, baseVersion: 'v1', seq: 4, psi });
    const m = await manifestFor(good, { format: 2 });
    expect(parseShopDeltaPayload(good, null, m, 'x').psi).toEqual(psi);
    for (const bad of [
      { ...psi, rows: [-1, 2] },
      { ...psi, rows: [0, 0] },
      { ...psi, rows: [0, 1.5] },
      { ...psi, rows: [0, '2'] },
      { ...psi, rowValues: [0.5] },
      { ...psi, rowValues: [0.5, null] },
      { ...psi, ids: [] },
      { rows: [0], rowValues: [1] },
    ]) {
      expect(() => parseShopDeltaPayload(payloadBytes({ format: 2, baseVersion: 'v1', seq: 4, psi: bad }), null, m, 'x')).toThrow(
        /rows as whole gaps/,
      );
    }
    const recent = { halfLifeDays: 7, rows: [3], rowValues: [-1], ids: [], values: [] };
    expect(() => parseShopDeltaPayload(payloadBytes({ format: 2, baseVersion: 'v1', seq: 4, psi, recent }), null, m, 'x')).toThrow(
      /one finite value ≥ 0 per item/,
    );
  });

  it('keeps a delta of 5,000 items with long ids small: their rows gzip to a fraction of their ids', () => {
    const rand = mulberry32(11);
    const hex = (k: number): string => Array.from({ length: k }, () => Math.floor(rand() * 16).toString(16)).join('');
    const n = 100_000;
    const ids = Array.from({ length: n }, () => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`);
    const row = new Map(ids.map((id, i) => [id, i]));
    const picked = Array.from({ length: 5_000 }, () => ids[Math.floor(rand() * n)]!).filter((id, k, all) => all.indexOf(id) === k);
    const values = picked.map(() => Math.round((rand() * 4 - 2) * 1000) / 1000);
    const gz = (o: object): number => gzipSync(JSON.stringify(o)).length;
    const byRow = gz(deltaEntries(picked, values, (id) => row.get(id)));
    const byId = gz(deltaEntries(picked, values));
    // About 15 kB against about 110 kB.
    expect(byRow).toBeLessThan(byId / 5);
    expect(byRow).toBeLessThan(20_000);
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

  it('ranks the shopper’s own items by what the delta says sold lately, in both heads, and back by the base’s', async () => {
    const { E, ids, base } = setup();
    // Only the own-popularity weight at a visit's start; the base says item 3 sold better.
    const mix = new Array<number>(10).fill(0);
    mix[9] = 4;
    const withRecent = { ...base, mix, recent: new Map([[3, 2]]) };
    const head = new IncrementalHead(tf.tensor2d(E, [N, D]), ids, withRecent, { seed: 1, learningRate: 0 });
    const plain = new PlainHead(await head.itemVectors(), N, D, withRecent, { seed: 1, learningRate: 0 });
    for (const [k, item] of [3, 5].entries()) {
      head.learnOne({ item, impressions: [], time: 1000 * k });
      plain.learnOne({ item, impressions: [], time: 1000 * k });
    }
    const later = 10 * DAY; // a visit's start
    const before = scoresAt(head, later);
    const sold = densePsi(N, [5, 9], [3, 1]);
    const tensors = tf.memory().numTensors;
    head.setRecentSales(sold);
    plain.setRecentSales(sold);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = scoresAt(head, later);
    // Item 3 loses what the base said it sold, item 5 gains what the delta says; nothing else moves
    // (item 9 is not the shopper's).
    after.forEach((s, i) => expect(s).toBeCloseTo(before[i]! + (i === 3 ? -4 * 2 : i === 5 ? 4 * 3 : 0), 4));
    expect(after[5]!).toBeGreaterThan(after[3]!);
    const plainScores = plain.scores(later);
    after.forEach((s, i) => expect(plainScores[i]).toBeCloseTo(s, 4));
    head.setRecentSales(null);
    plain.setRecentSales(null);
    scoresAt(head, later).forEach((s, i) => expect(s).toBeCloseTo(before[i]!, 4));
    plain.scores(later).forEach((s, i) => expect(s).toBeCloseTo(before[i]!, 4));
    expect(() => head.setRecentSales(new Float32Array(3))).toThrow(/entries/);
    expect(() => head.setRecentSales(densePsi(N, [1], [-1]))).toThrow(/finite number ≥ 0/);
    head.dispose();
  });

  it('in the evaluation’s clickwise-live, ranks a regular’s own items at a visit’s start by what sells after the split', async () => {
    const { E, base } = setup();
    // Only the own-popularity weight at a visit's start. Before the split item 3 sold best; after
    // it, item 5 does. The shopper bought both before the split, once each.
    const mix = new Array<number>(10).fill(0);
    mix[9] = 4;
    const split = T0 + 30 * DAY;
    const before: { item: number; t: number }[] = [];
    for (let k = 0; k < 60; k++) before.push({ item: k % 3 === 0 ? 5 : 3, t: T0 + k * 0.4 * DAY });
    const sold = recentSales(before, N, split, 7)!;
    // No biases and no weight for ψ: only what sold lately tells the two apart, besides content.
    const withRecent = {
      ...base,
      bias: new Float32Array(N),
      shopDeltaWeight: 0,
      mix,
      recent: new Map(Array.from(sold, (v, i) => [i, v] as [number, number]).filter(([, v]) => v > 0)),
      recentHalfLifeDays: 7,
      recentAt: split,
    };
    const rankAtStart = async (live: boolean): Promise<[number, number]> => {
      const plain = new PlainHead(E, N, D, withRecent, { seed: 1, learningRate: 0 });
      const learner = new ShopLearner(plain.baseBias, { seed: 1, recentHalfLifeDays: live ? plain.recentHalfLifeDays : 0 });
      if (live && plain.baseRecent) learner.seedRecent(plain.baseRecent, plain.recentAt!);
      const m = clickwiseMethod('clickwise-live', plain, [], { learner, everyMs: 3_600_000, split });
      for (const e of before) await m.observe({ user: 'crowd', ...e, scored: false });
      await m.observe({ user: 'regular', item: 3, t: T0 + DAY, scored: false });
      await m.observe({ user: 'regular', item: 5, t: T0 + 2 * DAY, scored: false });
      // After the split the crowd buys item 5 only, for two weeks.
      for (let k = 0; k < 80; k++) {
        const t = split + k * 0.17 * DAY;
        await m.score('crowd', t);
        await m.observe({ user: 'crowd', item: 5, t, scored: true });
      }
      const s = await m.score('regular', split + 14 * DAY);
      return [s[3]!, s[5]!];
    };
    const [stale3, stale5] = await rankAtStart(false);
    const [live3, live5] = await rankAtStart(true);
    // Without the stream's figures item 3 keeps what it sold before the split; with them item 5
    // leads by what it sells now.
    expect(live5).toBeGreaterThan(live3);
    expect(live5 - live3).toBeGreaterThan(stale5 - stale3 + 4);
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

  it('weighs ψ of the products the base does not know by shopDeltaWeightNew, in both heads', async () => {
    const { E, ids, base } = setup();
    // Item 7 is new to the base: the stream's word on it counts 4 times, on item 2 a quarter.
    const known = Uint8Array.from({ length: N }, (_, i) => (i === 7 ? 0 : 1));
    const weighted = { ...base, shopDeltaWeight: 0.25, shopDeltaWeightNew: 4, known };
    const head = new IncrementalHead(tf.tensor2d(E, [N, D]), ids, weighted, { seed: 1 });
    const plain = new PlainHead(await head.itemVectors(), N, D, weighted, { seed: 1 });
    const before = scoresAt(head, 5000);
    const psi = densePsi(N, [2, 7], [1.5, -0.25]);
    head.setShopBias(psi);
    plain.setShopBias(psi);
    const after = scoresAt(head, 5000);
    after.forEach((s, i) => expect(s).toBeCloseTo(before[i]! + (i === 7 ? 4 : 0.25) * psi[i]!, 5));
    const plainScores = plain.scores(5000);
    after.forEach((s, i) => expect(plainScores[i]).toBeCloseTo(s, 4));
    head.dispose();
  });
});
