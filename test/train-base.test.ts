/**
 * The base's training beside the shop's transition feature: the weight of transitions is learned
 * with the content model, which then leaves to transitions what they already explain.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEAD_OPTIONS } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { buildTransitions } from '../src/cli/train/mix.js';
import { trainBaseParams, type TrainBaseOptions } from '../src/cli/train/train-base.js';
import { useBackend } from './helpers.js';

const N = 24;
const D = 8;

/**
 * `shoppers` who each walk `length` steps of the path i → i + 1 (mod n) from random starts, over
 * n items whose content says nothing of it.
 */
function pathWalks(
  n: number,
  shoppers: number,
  length: number,
  seed: number,
): { E: Float32Array; sequences: number[][]; known: Uint8Array } {
  const rand = mulberry32(seed);
  const E = new Float32Array(n * D).map(() => gaussian(rand) / Math.sqrt(D));
  const sequences = Array.from({ length: shoppers }, () => {
    const start = Math.floor(rand() * n);
    return Array.from({ length }, (_, k) => (start + k) % n);
  });
  return { E, sequences, known: new Uint8Array(n).fill(1) };
}

/** Two folds of the shoppers, each with the transitions of the other (a pair must not vote for itself). */
function foldedTransitions(sequences: number[][], n: number): { fold: Uint8Array; tables: ReturnType<typeof buildTransitions>[] } {
  const fold = Uint8Array.from(sequences, (_, s) => s % 2);
  const tables = [1, 0].map((other) =>
    buildTransitions(
      sequences.filter((_, s) => fold[s] === other),
      n,
    ),
  );
  return { fold, tables };
}

const setup = (): ReturnType<typeof pathWalks> => pathWalks(N, 120, 6, 3);

const options: TrainBaseOptions = {
  epochs: 6,
  batchSize: 64,
  learningRate: 0.02,
  l2: 1e-4,
  temperature: 5,
  seed: 1,
  history: DEFAULT_HEAD_OPTIONS,
};

describe('training the base beside the transition feature', () => {
  it('learns a positive transition weight and fits the path better than content alone', { timeout: 60_000 }, async () => {
    await useBackend('cpu');
    const { E, sequences, known } = setup();
    const { fold, tables } = foldedTransitions(sequences, N);
    const alone = await trainBaseParams(E, N, D, sequences, known, new Float32Array(N), 0, options);
    const joint = await trainBaseParams(E, N, D, sequences, known, new Float32Array(N), 0, {
      ...options,
      transitions: { tables, fold, votes: DEFAULT_HEAD_OPTIONS },
    });
    expect(alone.beta).toBe(0);
    // β starts at 20 and grows: the path is exactly what the other half's transitions say.
    expect(joint.beta).toBeGreaterThan(20);
    expect(joint.loss.last).toBeLessThan(alone.loss.last);
    expect(joint.examples).toBe(alone.examples);
  });

  it('refuses folds that do not match the sequences', async () => {
    await useBackend('cpu');
    const { E, sequences, known } = setup();
    const tables = [buildTransitions(sequences, N)];
    await expect(
      trainBaseParams(E, N, D, sequences, known, new Float32Array(N), 0, {
        ...options,
        transitions: { tables, fold: new Uint8Array(3), votes: DEFAULT_HEAD_OPTIONS },
      }),
    ).rejects.toThrow(/one fold per sequence/);
  });
});

describe('the sampled softmax of a large catalogue', () => {
  const n = 300;
  const walk = (): ReturnType<typeof pathWalks> => pathWalks(n, 600, 5, 8);
  /** Share of items whose successor on the path the trained scores rank first after a click on them. */
  const hitAt1 = (E: Float32Array, p: { W: Float32Array; residual: Float32Array; bias: Float32Array; alpha: number }): number => {
    const V = Float32Array.from(E, (v, k) => v + p.residual[k]!);
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const q = new Float32Array(D);
      for (let a = 0; a < D; a++) for (let c = 0; c < D; c++) q[c]! += V[i * D + a]! * p.W[a * D + c]!;
      let best = -1;
      let top = -Infinity;
      for (let j = 0; j < n; j++) {
        let s = p.bias[j]! + (j === i ? p.alpha : 0);
        for (let c = 0; c < D; c++) s += V[j * D + c]! * q[c]!;
        if (s > top) [top, best] = [s, j];
      }
      if (best === (i + 1) % n) hits++;
    }
    return hits / n;
  };

  it('runs above `fullSoftmaxUpTo` known items, and learns the path nearly as the full softmax does', { timeout: 120_000 }, async () => {
    await useBackend('cpu');
    const { E, sequences, known } = walk();
    const o = { ...options, epochs: 8, learningRate: 0.03 };
    const full = await trainBaseParams(E, n, D, sequences, known, new Float32Array(n), 0, o);
    const sampled = await trainBaseParams(E, n, D, sequences, known, new Float32Array(n), 0, {
      ...o,
      fullSoftmaxUpTo: 100,
      sampledNegatives: 64,
    });
    expect(full.sampledNegatives).toBe(0);
    expect(sampled.sampledNegatives).toBe(64);
    const untrained = hitAt1(E, {
      W: Float32Array.from({ length: D * D }, (_, k) => (k % (D + 1) === 0 ? 5 : 0)),
      residual: new Float32Array(n * D),
      bias: new Float32Array(n),
      alpha: 0,
    });
    const [a, b] = [hitAt1(E, full), hitAt1(E, sampled)];
    expect(untrained).toBeLessThan(0.05);
    expect(a).toBeGreaterThan(0.5);
    expect(b).toBeGreaterThan(0.8 * a);
  });

  it('draws only items the logs know', async () => {
    await useBackend('cpu');
    const { E, sequences } = walk();
    // Half the catalogue unknown: drawn as negatives, their biases would be pushed down from 0.
    const known = Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 1 : 0));
    const inside = sequences.map((s) => s.filter((i) => i < n / 2));
    const p = await trainBaseParams(E, n, D, inside, known, new Float32Array(n), 0, {
      ...options,
      epochs: 2,
      fullSoftmaxUpTo: 10,
      sampledNegatives: 16,
    });
    expect(p.sampledNegatives).toBe(16);
    for (let i = n / 2; i < n; i++) expect(p.bias[i]).toBe(0);
    expect(Math.max(...Array.from(p.bias.subarray(0, n / 2), Math.abs))).toBeGreaterThan(0);
  });

  it('leaves no tensor behind, by either softmax', { timeout: 60_000 }, async () => {
    await useBackend('cpu');
    const { E, sequences, known } = walk();
    const { fold, tables } = foldedTransitions(sequences, n);
    const before = tf.memory().numTensors;
    for (const fullSoftmaxUpTo of [50_000, 10]) {
      for (const transitions of [undefined, { tables, fold, votes: DEFAULT_HEAD_OPTIONS }]) {
        await trainBaseParams(E, n, D, sequences, known, new Float32Array(n), 0, {
          ...options,
          epochs: 1,
          fullSoftmaxUpTo,
          sampledNegatives: 16,
          ...(transitions ? { transitions } : {}),
        });
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });

  it(
    "costs a step the rows the batch touches, not the catalogue: no tensor of the catalogue's size is made",
    { timeout: 60_000 },
    async () => {
      await useBackend('cpu');
      // 20,000 items, of which the shoppers walk the first 300: a step touches at most the batch's
      // histories, its true items and its 32 drawn items.
      const big = 20_000;
      const { sequences } = walk();
      const rand = mulberry32(5);
      const E = new Float32Array(big * D).map(() => gaussian(rand) / Math.sqrt(D));
      const known = new Uint8Array(big).fill(1);
      const largest: number[] = [];
      const info = await tf.profile(async () => {
        await trainBaseParams(E, big, D, sequences.slice(0, 64), known, new Float32Array(big), 0, {
          ...options,
          epochs: 1,
          fullSoftmaxUpTo: 1_000,
          sampledNegatives: 32,
        });
        return [];
      });
      for (const k of info.kernels) for (const shape of k.outputShapes) largest.push(shape.reduce((a, b) => a * b, 1));
      expect(info.kernels.length).toBeGreaterThan(0);
      // The batch (64 shoppers of 5 items) touches fewer than 64 × 5 + 32 rows of D.
      expect(Math.max(...largest)).toBeLessThan((64 * 5 + 32) * D);
      expect(info.peakBytes).toBeLessThan(big * D * 4);
    },
  );
});
