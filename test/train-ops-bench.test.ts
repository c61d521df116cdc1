/**
 * `npm run bench:train-ops`'s step of the base's sampled softmax: it times the steps it says it
 * times, of the batch and sample it names, and refuses a run too short to time; and its SASRec
 * head, timed both ways at the shapes it names.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { itemHead, sampledStep } from '../src/bench/train-ops.js';
import { useBackend } from './helpers.js';

describe('bench:train-ops, the sampled softmax step', () => {
  it('times every step past the warm-up', { timeout: 60_000 }, async () => {
    await useBackend('cpu');
    // 60 shoppers of 20 examples: 1,200 examples in steps of 32, 38 steps, 3 of them warm-up.
    const r = await sampledStep(3_000, { dims: 8, shoppers: 60, shopped: 500, batch: 32, negatives: 16, warmup: 3 });
    expect(r).toMatchObject({ items: 3_000, dims: 8, steps: 35, batch: 32, negatives: 16 });
    expect(r.msPerStep).toBeGreaterThan(0);
    expect(Number.isFinite(r.msPerStep)).toBe(true);
  });

  it('refuses a run with no step past the warm-up', async () => {
    await useBackend('cpu');
    await expect(sampledStep(500, { dims: 8, shoppers: 2, batch: 64, negatives: 8, warmup: 1 })).rejects.toThrow(
      /none past the 1 of warm-up/,
    );
  });
});

describe("bench:train-ops, SASRec's full-softmax head", () => {
  it('times the head both ways at the shapes it names, and leaves no tensor behind', { timeout: 60_000 }, async () => {
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const r = await itemHead(40, 300, 8);
    expect(r).toMatchObject({ rows: 40, items: 300, dims: 8 });
    expect(r.plain).toBeGreaterThan(0);
    expect(r.ours).toBeGreaterThan(0);
    expect(r.ratio).toBeGreaterThan(0);
    expect(Number.isFinite(r.ratio)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
