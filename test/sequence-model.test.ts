/** SASRec and GRU4Rec, the trained sequential baselines: full softmax, early stopping, and the same model from a worker thread. */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReplayEvent, StaticMethod } from '../src/cli/eval/replay.js';
import type { EpochsChosen } from '../src/cli/eval/sequence-model.js';
import { gru4recMethod, sasrecMethod, trainForChosenEpochs, trainingRun } from '../src/cli/eval/sequence-model.js';
import { buildSasrecNet } from '../src/cli/eval/sequence-nets.js';
import { mulberry32 } from '../src/core/rng.js';
import { useBackend } from './helpers.js';

const N = 40;

/** Shoppers who walk the catalogue in order (item i, then i + 1), from different starts. */
function chainEvents(): ReplayEvent[] {
  const events: ReplayEvent[] = [];
  for (let u = 0; u < 60; u++)
    for (let k = 0; k < 8; k++) events.push({ user: `u${u}`, item: (u * 7 + k) % N, t: u * 100 + k, scored: false });
  return events.sort((a, b) => a.t - b.t);
}

const options = { epochs: 40, dims: 16, maxLen: 6, blocks: 1, learningRate: 0.01, batchSize: 32, seed: 3, dropout: 0, patience: 2 };

beforeAll(async () => {
  await useBackend('wasm');
});

/**
 * Trains `method` here and in its worker thread on the chain, and checks what both baselines must
 * do: the same model both ways, the full softmax, early stopping, and the chain's next item first
 * after each history that has items. Returns the one trained here, its scores and its training.
 */
async function learnsTheChain(
  method: typeof sasrecMethod,
  histories: number[][],
): Promise<{ here: StaticMethod; t: { epochsTrained: number; heldOutNdcgPerEpoch: number[] } }> {
  const here = await method(chainEvents(), N, { ...options, threads: 0 });
  const there = await method(chainEvents(), N, options);
  const a = await here.scoreBatch(histories);
  const b = await there.scoreBatch(histories);
  expect(there.training).toEqual(here.training);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThan(1e-5);
  const t = here.training as { loss: string; epochsTrained: number; bestEpoch: number; heldOutNdcgPerEpoch: number[] };
  expect(t.loss).toBe('full softmax');
  // Early stopping: it ends `patience` epochs after its best, well before the 40 allowed.
  expect(t.epochsTrained).toBeLessThan(40);
  expect(t.epochsTrained).toBe(t.bestEpoch + 2);
  expect(Math.max(...t.heldOutNdcgPerEpoch)).toBeGreaterThan(0.8);
  // The next item of the chain comes first.
  histories.forEach((h, r) => {
    if (h.length === 0) return;
    const row = a.subarray(r * N, (r + 1) * N);
    const next = (h[h.length - 1]! + 1) % N;
    expect(row.indexOf(Math.max(...row)), `after ${h.join(' ')}`).toBe(next);
  });
  there.dispose?.();
  return { here, t };
}

describe('sasrec', () => {
  it('learns a chain with the full softmax, stops early, and trains the same model in a worker thread', async () => {
    const { here, t } = await learnsTheChain(sasrecMethod, [[3, 4, 5], [10], [38, 39], []]);
    expect(t.heldOutNdcgPerEpoch).toHaveLength(t.epochsTrained);
    here.dispose?.();
  }, 120_000);

  it('chooses its epochs on the weeks before the split, then learns those weeks too', async () => {
    // Sixty days: shoppers walk the chain of items 0-39 all along; a new path, 40 to 49, is walked
    // only in the last 28 days before the split.
    const day = 86_400_000;
    const events: ReplayEvent[] = [];
    for (let u = 0; u < 60; u++) {
      const at = (u % 60) * day;
      for (let k = 0; k < 8; k++) events.push({ user: `u${u}`, item: (u * 7 + k) % N, t: at + k, scored: false });
      if (u >= 32) for (let k = 0; k < 8; k++) events.push({ user: `u${u}`, item: 40 + ((u + k) % 10), t: at + 10 + k, scored: false });
    }
    events.sort((a, b) => a.t - b.t);
    const m = await sasrecMethod(events, N + 10, { ...options, threads: 0, split: 60 * day, validationEvents: 100 });
    // In worker threads the two trainings run at once, to the same network.
    const there = await sasrecMethod(events, N + 10, { ...options, split: 60 * day, validationEvents: 100 });
    expect(there.training).toEqual(m.training);
    const probe = [[43], [46, 47], [3, 4, 5]];
    const [a, b] = [await m.scoreBatch(probe), await there.scoreBatch(probe)];
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-5);
    there.dispose?.();
    // In one worker thread (less memory): the two trainings one after the other, to the same network.
    const said: string[] = [];
    const one = await sasrecMethod(events, N + 10, {
      ...options,
      threads: 1,
      split: 60 * day,
      validationEvents: 100,
      onProgress: (label) => said.push(label),
    });
    expect(one.training).toEqual(m.training);
    const c = await one.scoreBatch(probe);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - c[i]!)).toBeLessThan(1e-5);
    one.dispose?.();
    const choosing = said.map((l, k) => (l.includes('choosing epochs') ? k : -1)).filter((k) => k >= 0);
    const again = said.map((l, k) => (l.includes('choosing epochs') ? -1 : k)).filter((k) => k >= 0);
    expect(choosing.length).toBeGreaterThan(0);
    expect(again.length).toBeGreaterThan(0);
    expect(Math.max(...choosing)).toBeLessThan(Math.min(...again));
    const t = m.training as { heldOut: string; bestEpoch: number; retrainedEpochs: number; heldOutEvents: number; epochsTrained: number };
    expect(t.heldOut).toBe('the 28 days before the split');
    // Capped: the period holds 28 shoppers' 15 scored events each.
    expect(t.heldOutEvents).toBe(100);
    expect(t.epochsTrained).toBe(t.bestEpoch + 2);
    expect(t.retrainedEpochs).toBe(t.bestEpoch);
    // The path of the held-out weeks was learned by the network trained again on every event.
    const s = await m.scoreBatch([[43], [46, 47]]);
    const best = (r: number): number => {
      const row = Array.from(s.subarray(r * (N + 10), (r + 1) * (N + 10)));
      return row.indexOf(Math.max(...row));
    };
    expect([best(0), best(1)]).toEqual([44, 48]);
    m.dispose?.();
  }, 120_000);

  it('trains the second network for the chosen epochs only, waiting for the choice where it is ahead', async () => {
    const sequences = Array.from({ length: 30 }, (_, u) => ({ items: Array.from({ length: 8 }, (_, k) => (u * 7 + k) % N), heldFrom: 6 }));
    const o = { ...options, epochs: 8, dropout: 0.2 };
    /** Trains with the choice going through `states`, one per read, the last held; the weights and what was read. */
    const trainedWith = async (states: EpochsChosen[], cap = o.epochs) => {
      const asked: number[] = [];
      let at = 0;
      const next = async (trained: number): Promise<EpochsChosen> => {
        asked.push(trained);
        for (;;) {
          const c = states[Math.min(at, states.length - 1)]!;
          if (c.done || c.best > trained) return c;
          at++;
        }
      };
      const oc = { ...o, epochs: cap };
      const { net, epochs } = await trainForChosenEpochs('sasrec', trainingRun(sequences, N, oc), N, oc, next);
      const w = (await Promise.all(net.variables.map((v) => v.data()))) as Float32Array[];
      net.dispose();
      return { epochs, w, asked, read: at };
    };
    // Chosen before it starts: 3 epochs.
    const exact = await trainedWith([{ best: 3, done: true }]);
    // The choice improves to epoch 3, then stops two epochs later: the network waits at 3.
    const waiting = await trainedWith([
      { best: 1, done: false },
      { best: 2, done: false },
      { best: 3, done: false },
      { best: 3, done: false },
      { best: 3, done: true },
    ]);
    // The same choice under a higher cap on epochs: the cap bounds the loop, nothing else.
    const capped = await trainedWith([{ best: 3, done: true }], 2 * o.epochs);
    // Six epochs chosen, to show that three and six differ.
    const six = await trainedWith([{ best: 6, done: true }]);
    expect([exact.epochs, waiting.epochs, capped.epochs, six.epochs]).toEqual([3, 3, 3, 6]);
    expect(waiting.asked).toEqual([1, 2, 3]);
    expect(waiting.read).toBe(4);
    waiting.w.forEach((w, k) => expect(Array.from(w)).toEqual(Array.from(exact.w[k]!)));
    capped.w.forEach((w, k) => expect(Array.from(w)).toEqual(Array.from(exact.w[k]!)));
    expect(Array.from(six.w[0]!)).not.toEqual(Array.from(exact.w[0]!));
  }, 120_000);

  it('trains the full softmax a block of logits at a time where a batch would make more than softmaxLogits', async () => {
    // A catalogue of 4,000, and every window in one batch: hundreds of rows of 4,000 logits a step.
    const n = 4_000;
    const events = chainEvents().map((e) => ({ ...e, item: (e.item * 97) % n }));
    const o = { ...options, epochs: 3, batchSize: 128, validationEvents: 20, threads: 0 as const };
    const trained = async (extra: { softmaxLogits?: number }): Promise<{ m: StaticMethod; peak: number }> => {
      let m: StaticMethod | undefined;
      const info = await tf.profile(async () => {
        m = await sasrecMethod(events, n, { ...o, ...extra });
      });
      return { m: m!, peak: info.peakBytes };
    };
    const whole = await trained({});
    const blocks = await trained({ softmaxLogits: 20_000 });
    expect(blocks.m.training).toEqual(whole.m.training);
    expect(blocks.peak).toBeLessThan(whole.peak / 2);
    const histories = [[97, 194, 291], [0], []];
    const a = await whole.m.scoreBatch(histories);
    const b = await blocks.m.scoreBatch(histories);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(a[i]!)));
    expect(worst).toBeLessThan(1e-3);
    await expect(sasrecMethod(events, n, { ...o, softmaxLogits: 0 })).rejects.toThrow(
      /softmaxLogits must be a whole number of at least 1, got 0/,
    );
    whole.m.dispose?.();
    blocks.m.dispose?.();
  }, 120_000);

  it('scores from the last position alone the very numbers of the whole forward pass', async () => {
    // The replay's scores skip the other positions' queries in the last block; every figure the
    // eval prints holds only if they are the numbers of the whole pass's last row, to the bit.
    for (const blocks of [1, 2]) {
      const net = buildSasrecNet(N, { dims: 16, maxLen: 6, blocks, dropout: 0.2 }, mulberry32(blocks));
      // Longer than the window, as long, shorter (padded), one item, none.
      const histories = [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14], [15, 16], [17], []];
      const fast = await net.scoreShifted(histories);
      const X = new Int32Array(histories.length * 6);
      histories.forEach((h, r) => h.slice(-6).forEach((item, j, tail) => (X[r * 6 + 6 - tail.length + j] = item)));
      const whole = tf.tidy(() => {
        const H = net.forward(tf.tensor2d(X, [histories.length, 6], 'int32'), false);
        return tf.matMul(tf.reshape(tf.slice(H, [0, 5, 0], [histories.length, 1, 16]), [histories.length, 16]), net.itemsT());
      });
      expect(Array.from(fast)).toEqual(Array.from(whole.dataSync()));
      whole.dispose();
      net.dispose();
    }
  });

  it('uses a sampled softmax above the full-softmax limit', async () => {
    const m = await sasrecMethod(chainEvents(), N, { ...options, epochs: 2, fullSoftmaxUpTo: 10, negatives: 8, threads: 0 });
    expect((m.training as { loss: string }).loss).toBe('sampled softmax, 8 negatives');
    m.dispose?.();
  });

  it('refuses settings it cannot train with, naming them', async () => {
    await expect(sasrecMethod(chainEvents(), N, { ...options, epochs: 0 })).rejects.toThrow(
      /epochs must be a whole number of at least 1, got 0/,
    );
    await expect(sasrecMethod(chainEvents(), N, { ...options, patience: 1.5 })).rejects.toThrow(/patience/);
    await expect(sasrecMethod(chainEvents(), N, { ...options, learningRate: -1 })).rejects.toThrow(/learning rate must be above 0/);
    await expect(sasrecMethod(chainEvents(), N, { ...options, threads: 3 as 2 })).rejects.toThrow(
      /0, 1 or 2 threads beside the caller's, got 3/,
    );
  });

  it('rejects when its worker thread is stopped', async () => {
    const stop = new AbortController();
    const pending = sasrecMethod(chainEvents(), N, { ...options, signal: stop.signal });
    stop.abort();
    await expect(pending).rejects.toThrow(/stopped/);
  });
});

describe('gru4rec', () => {
  it('learns a chain with the full softmax, stops early, and trains the same model in a worker thread', async () => {
    // The fourth history is longer than the window.
    const { here } = await learnsTheChain(gru4recMethod, [[3, 4, 5], [10], [38, 39], [1, 2, 3, 4, 5, 6, 7, 8, 9], []]);
    expect(here.name).toBe('gru4rec');
    here.dispose?.();
  }, 120_000);

  it('reads the order of a history, not only its last item', async () => {
    // Two paths share their middle item: after 1, 5 comes 2; after 3, 5 comes 4 (the last item of
    // each, 6, is held out for early stopping).
    const events: ReplayEvent[] = [];
    for (let u = 0; u < 80; u++) {
      const path = u % 2 === 0 ? [1, 5, 2, 6] : [3, 5, 4, 6];
      path.forEach((item, k) => events.push({ user: `u${u}`, item, t: u * 100 + k, scored: false }));
    }
    const m = await gru4recMethod(events, 8, { ...options, maxLen: 4, threads: 0 });
    const s = await m.scoreBatch([
      [1, 5],
      [3, 5],
    ]);
    const best = (r: number): number => {
      const row = Array.from(s.subarray(r * 8, (r + 1) * 8));
      return row.indexOf(Math.max(...row));
    };
    expect([best(0), best(1)]).toEqual([2, 4]);
    m.dispose?.();
  }, 120_000);

  it('refuses a dropout it cannot train with, naming the network', async () => {
    await expect(gru4recMethod(chainEvents(), N, { ...options, dropout: 1 })).rejects.toThrow(/GRU4Rec's dropout must be from 0/);
    await expect(gru4recMethod(chainEvents(), N, { ...options, maxLen: 0 })).rejects.toThrow(/GRU4Rec's maxLen \(--gru4rec-len\)/);
  });
});
