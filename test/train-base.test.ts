/**
 * The base's training beside the shop's transition feature: the weight of transitions is learned
 * with the content model, which then leaves to transitions what they already explain.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEAD_OPTIONS } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { buildTransitions } from '../src/cli/train/mix.js';
import { trainBaseParams, type TrainBaseOptions } from '../src/cli/train/train-base.js';
import { useBackend } from './helpers.js';

const N = 24;
const D = 8;

/** Shoppers who walk the fixed path i → i + 1 from random starts; content says nothing of it. */
function setup(): { E: Float32Array; sequences: number[][]; known: Uint8Array } {
  const rand = mulberry32(3);
  const E = new Float32Array(N * D).map(() => gaussian(rand) / Math.sqrt(D));
  const sequences = Array.from({ length: 120 }, () => {
    const start = Math.floor(rand() * N);
    return Array.from({ length: 6 }, (_, k) => (start + k) % N);
  });
  return { E, sequences, known: new Uint8Array(N).fill(1) };
}

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
    const fold = Uint8Array.from(sequences, (_, s) => s % 2);
    const tables = [1, 0].map((other) =>
      buildTransitions(
        sequences.filter((_, s) => fold[s] === other),
        N,
      ),
    );
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
