/**
 * Batch training of the base θ = (W₀, rᵢ, bᵢ, α₀) on the logs, with exactly the scoring function
 * the browser's head uses (see `src/core/head.ts`):
 *
 *   sᵢ = (Σⱼ hⱼ vⱼ) W₀ vᵢ + bᵢ + α₀ hᵢ,   vᵢ = eᵢ + rᵢ
 *
 * where h is the shopper's normalised click history before the event, built by the head's own
 * `pushHistory`, e the frozen content vectors, and r a per-item residual that lets the base learn
 * what content alone misses (which items follow which). The loss is the softmax cross-entropy of
 * the true next item over every item the logs know, plus L2 on r and on W₀ − τI. Items the logs
 * do not know keep r = 0 and b = 0: content alone places them. Runs on the tfjs wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import type { HeadOptions } from '../../core/head.js';
import { normalisedHistory, pushHistory } from '../../core/head.js';
import { mulberry32 } from '../../core/rng.js';
import { crossEntropy, matMul } from '../tf-ops.js';

export interface TrainBaseOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 on the residuals r and on W₀ − τI. */
  l2: number;
  temperature: number;
  seed: number;
  history: Pick<HeadOptions, 'historyDecay' | 'historySize'>;
  onProgress?: (done: number, total: number) => void;
}

export interface TrainedParams {
  W: Float32Array;
  residual: Float32Array;
  bias: Float32Array;
  alpha: number;
  loss: { first: number; last: number };
  examples: number;
}

/**
 * @param E content vectors as the head sees them [n × d]
 * @param sequences each shopper's items in time order (catalogue indices), before the cut-off
 * @param known items the logs know (the softmax runs over them only)
 * @param bias0 initial biases (log-popularity), alpha0 initial re-buy weight
 */
export async function trainBaseParams(
  E: Float32Array,
  n: number,
  d: number,
  sequences: readonly (readonly number[])[],
  known: Uint8Array,
  bias0: Float32Array,
  alpha0: number,
  o: TrainBaseOptions,
): Promise<TrainedParams> {
  // Examples: (history before the event, the event's item), for every event with a history.
  const hists: { i: number; w: number }[][] = [];
  const targets: number[] = [];
  for (const seq of sequences) {
    const h: { i: number; w: number }[] = [];
    for (const item of seq) {
      if (h.length > 0) {
        hists.push(normalisedHistory(h));
        targets.push(item);
      }
      pushHistory(h, item, o.history);
    }
  }
  const m = targets.length;
  const rand = mulberry32(o.seed);
  const order = Int32Array.from({ length: m }, (_, i) => i);
  const Et = tf.tensor2d(E, [n, d]);
  const R = tf.variable(tf.zeros([n, d]), true, 'baseResidual');
  const eye = tf.mul(tf.eye(d), o.temperature);
  const W = tf.variable(tf.clone(eye), true, 'baseW');
  const b = tf.variable(tf.tensor1d(bias0), true, 'baseBias');
  const alpha = tf.variable(tf.scalar(alpha0), true, 'baseAlpha');
  const mask = tf.tensor1d(Float32Array.from(known, (k) => (k ? 0 : -1e9)));
  const opt = tf.train.adam(o.learningRate);
  const steps = Math.ceil(m / o.batchSize);
  const total = o.epochs * steps;
  let done = 0;
  let first = NaN;
  let last = NaN;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = m - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    let sum = 0;
    for (let s = 0; s < steps; s++) {
      const rows = order.subarray(s * o.batchSize, (s + 1) * o.batchSize);
      const B = rows.length;
      const H = new Float32Array(B * n);
      const Y = new Int32Array(B);
      rows.forEach((ex, r) => {
        for (const h of hists[ex]!) H[r * n + h.i] = h.w;
        Y[r] = targets[ex]!;
      });
      const loss = tf.tidy(() => {
        const Ht = tf.tensor2d(H, [B, n]);
        const labels = tf.tensor1d(Y, 'int32');
        return opt.minimize(() => {
          const V = tf.add(Et, R);
          const q = matMul(matMul(Ht, V), W);
          const logits = tf.add(tf.add(tf.add(matMul(q, V, false, true), b), tf.mul(alpha, Ht)), mask) as tf.Tensor2D;
          const ce = crossEntropy(logits, labels);
          const reg = tf.mul(o.l2, tf.add(tf.sum(tf.square(R)), tf.sum(tf.square(tf.sub(W, eye)))));
          return tf.add(ce, tf.div(reg, m / B)) as tf.Scalar;
        }, true) as tf.Scalar;
      });
      const v = (await loss.data())[0]!;
      loss.dispose();
      sum += v;
      if (Number.isNaN(first)) first = v;
      o.onProgress?.(++done, total);
    }
    last = sum / steps;
  }
  const [Wd, Rd, bd, ad] = await Promise.all([W.data(), R.data(), b.data(), alpha.data()]);
  opt.dispose();
  tf.dispose([Et, R, eye, W, b, alpha, mask]);
  return {
    W: Wd as Float32Array,
    residual: Rd as Float32Array,
    bias: bd as Float32Array,
    alpha: ad[0]!,
    loss: { first, last },
    examples: m,
  };
}
