/** The evaluation's typed-array head computes what the browser's tensor head computes, event by event. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BaseParams } from '../src/core/head.js';
import { IncrementalHead } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { freshState, PlainHead } from '../src/cli/eval/plain-head.js';
import { useBackend } from './helpers.js';

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
      mix: [2, 0.5, 0.2, 1.5],
    },
  };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('PlainHead', () => {
  it('gives the tensor head’s scores after every click, across visits and two shoppers', async () => {
    const { E, ids, base } = setup();
    const Et = tf.tensor2d(E, [N, D]);
    const options = { seed: 5, negatives: 8, learningRate: 0.3 };
    const tensorHeads = [new IncrementalHead(Et, ids, base, options), new IncrementalHead(Et, ids, base, options)];
    Et.dispose();
    // The twin scores the rows the head scores: its int8 rows, dequantised (residuals included).
    const plain = new PlainHead(await tensorHeads[0]!.itemVectors(), N, D, { ...base, residual: null }, options);
    const states = [freshState(D), freshState(D)];
    const rand = mulberry32(3);
    let t = 1_000_000;
    let worst = 0;
    let moved = 0;
    for (let step = 0; step < 80; step++) {
      const who = step % 7 < 4 ? 0 : 1;
      // Mostly seconds apart, sometimes a new visit hours later.
      t += rand() < 0.15 ? 3 * 3_600_000 : 1000 + Math.floor(rand() * 20_000);
      const item = Math.floor(rand() * N);
      const impressions = [Math.floor(rand() * N), Math.floor(rand() * N)];
      plain.state = states[who]!;
      const before = plain.scores(t).slice();
      tensorHeads[who]!.learnOne({ item, impressions, time: t });
      plain.learnOne({ item, impressions, time: t });
      const a = tensorHeads[who]!.scores(t + 500);
      const expected = await a.data();
      a.dispose();
      const got = plain.scores(t + 500);
      for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(expected[i]! - got[i]!));
      moved = Math.max(moved, ...Array.from(got, (x, i) => Math.abs(x - before[i]!)));
    }
    expect(worst).toBeLessThan(1e-3);
    // Learning moved the scores, so agreeing means something.
    expect(moved).toBeGreaterThan(0.1);
    tensorHeads.forEach((h) => h.dispose());
  });
});
