/**
 * Contrastive training of the encoder's learned parts on co-purchase pairs: a weight per table
 * row (learned token weighting on top of the SIF weights) and the projection to d. The GloVe /
 * n-gram table itself stays frozen. Loss: symmetric InfoNCE with in-batch negatives (each item of
 * a pair must pick its partner among the batch). Runs on the tfjs wasm backend in Node.
 */
import * as tf from '@tensorflow/tfjs-core';
// The umbrella package registers the gradient functions with the shared tfjs-core engine. Only
// this offline trainer needs them (the head's gradient is closed-form), so only tools import it.
import '@tensorflow/tfjs';
import type { EncoderInput, PoolingContext } from '../../core/encoder.js';
import { initBackend } from '../../core/backend.js';
import { poolingEntries } from '../../core/encoder.js';
import { mulberry32 } from '../../core/rng.js';
import { progressBar } from '../common.js';

export interface TrainOptions {
  /** Frozen table [rows × wordDims]. */
  table: Float32Array;
  rows: number;
  wordDims: number;
  dims: number;
  pooling: PoolingContext;
  /** Initial projection [wordDims × dims] and bias [dims]. */
  projection: Float32Array;
  bias: Float32Array;
  /** Item texts and the co-purchase pairs (indices into `items`). */
  items: readonly EncoderInput[];
  pairs: readonly [number, number][];
  steps: number;
  batchSize: number;
  temperature: number;
  learningRate: number;
  seed: number;
}

export interface TrainResult {
  rowScale: Float32Array;
  projection: Float32Array;
  bias: Float32Array;
  losses: number[];
  seconds: number;
}

/**
 * Trains and returns the learned parameters. The per-row logits are gathered outside the
 * gradient tape and updated here (Adam, sparse, in plain JS): tfjs's gather gradient scatters
 * over every row of the table and would dominate each step. Projection and bias use tfjs's Adam.
 */
export async function trainEncoder(o: TrainOptions): Promise<TrainResult> {
  const t0 = Date.now();
  await initBackend('wasm');
  const base = o.items.map((it) => poolingEntries(it, { ...o.pooling, rowScale: null }));
  const table = tf.tensor2d(o.table, [o.rows, o.wordDims]);
  const logit = new Float32Array(o.rows);
  const m1 = new Float32Array(o.rows);
  const m2 = new Float32Array(o.rows);
  const P = tf.variable(tf.tensor2d(o.projection, [o.wordDims, o.dims]), true, 'encoderProjection');
  const b = tf.variable(tf.tensor1d(o.bias), true, 'encoderBias');
  const opt = tf.train.adam(o.learningRate);
  const rand = mulberry32(o.seed);
  const losses: number[] = [];
  const bar = progressBar('training encoder', o.steps);
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];

  /** Inputs of one side of the batch: gathered vectors, and the token scores with their rows. */
  const side = (idx: number[]): { x: tf.Tensor3D; scores: tf.Tensor2D; rows: Int32Array; valid: Uint8Array; width: number } => {
    const width = Math.max(1, ...idx.map((i) => base[i]!.rows.length));
    const rows = new Int32Array(idx.length * width);
    const valid = new Uint8Array(idx.length * width);
    const sc = new Float32Array(idx.length * width).fill(-1e9);
    idx.forEach((i, r) => {
      const e = base[i]!;
      e.rows.forEach((row, c) => {
        rows[r * width + c] = row;
        valid[r * width + c] = 1;
        // base × exp(logit), normalised = softmax(log base + logit): what the runtime computes.
        sc[r * width + c] = Math.log(Math.max(e.weights[c]!, 1e-12)) + logit[row]!;
      });
    });
    const x = tf.tidy(() => tf.reshape(tf.gather(table, tf.tensor1d(rows, 'int32')), [idx.length, width, o.wordDims]) as tf.Tensor3D);
    return { x, scores: tf.tensor2d(sc, [idx.length, width]), rows, valid, width };
  };

  const lossFn = (xa: tf.Tensor3D, xb: tf.Tensor3D) =>
    tf.valueAndGrads((sa: tf.Tensor, sb: tf.Tensor, p: tf.Tensor, bias: tf.Tensor) => {
      const z = (x: tf.Tensor3D, s: tf.Tensor): tf.Tensor2D => {
        const pooled = tf.sum(tf.mul(x, tf.expandDims(tf.softmax(s, 1), 2)), 1) as tf.Tensor2D;
        const y = tf.add(tf.matMul(pooled, p as tf.Tensor2D), bias);
        return tf.div(y, tf.maximum(tf.norm(y, 'euclidean', 1, true), 1e-8)) as tf.Tensor2D;
      };
      const sim = tf.div(tf.matMul(z(xa, sa), z(xb, sb), false, true), o.temperature);
      const n = xa.shape[0];
      const labels = tf.oneHot(tf.range(0, n, 1, 'int32'), n);
      return tf.div(
        tf.add(tf.losses.softmaxCrossEntropy(labels, sim), tf.losses.softmaxCrossEntropy(labels, tf.transpose(sim))),
        2,
      ) as tf.Scalar;
    });

  for (let step = 1; step <= o.steps; step++) {
    const batch: [number, number][] = [];
    const used = new Set<number>();
    for (let tries = 0; batch.length < o.batchSize && tries < o.batchSize * 20; tries++) {
      const p = o.pairs[Math.floor(rand() * o.pairs.length)]!;
      // In-batch negatives must not be positives: each item at most once per batch.
      if (used.has(p[0]) || used.has(p[1])) continue;
      used.add(p[0]);
      used.add(p[1]);
      batch.push(p);
    }
    const A = side(batch.map((p) => p[0]));
    const Bs = side(batch.map((p) => p[1]));
    const { value, grads } = lossFn(A.x, Bs.x)([A.scores, Bs.scores, P, b]);
    const [ga, gb] = await Promise.all([grads[0]!.data(), grads[1]!.data()]);
    // The bias stays at its centring value: trained, it drifts toward one shared direction for
    // every item (a collapse that in-batch negatives only weakly resist).
    opt.applyGradients([{ name: P.name, tensor: grads[2]! }]);
    losses.push((await value.data())[0]!);
    // Sparse Adam on the row logits touched by this batch.
    const g = new Map<number, number>();
    for (const [s, gr] of [
      [A, ga],
      [Bs, gb],
    ] as const) {
      for (let k = 0; k < s.rows.length; k++) if (s.valid[k]) g.set(s.rows[k]!, (g.get(s.rows[k]!) ?? 0) + gr[k]!);
    }
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    for (const [row, gr] of g) {
      m1[row] = beta1 * m1[row]! + (1 - beta1) * gr;
      m2[row] = beta2 * m2[row]! + (1 - beta2) * gr * gr;
      logit[row]! -= (o.learningRate * (m1[row]! / c1)) / (Math.sqrt(m2[row]! / c2) + eps);
    }
    for (const t of [A.x, A.scores, Bs.x, Bs.scores, value, ...grads]) t.dispose();
    bar.tick(step);
  }
  bar.end();
  const [pj, bs] = await Promise.all([P.data(), b.data()]);
  table.dispose();
  P.dispose();
  b.dispose();
  opt.dispose();
  return {
    rowScale: Float32Array.from(logit, (v) => Math.exp(v)),
    projection: Float32Array.from(pj as Float32Array),
    bias: Float32Array.from(bs as Float32Array),
    losses,
    seconds: (Date.now() - t0) / 1000,
  };
}
