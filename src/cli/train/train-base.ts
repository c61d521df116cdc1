/**
 * Batch training of the base θ = (W₀, rᵢ, bᵢ, α₀) on the logs, with exactly the scoring function
 * the browser's head uses (see `src/core/head.ts`):
 *
 *   sᵢ = (Σⱼ hⱼ vⱼ) W₀ vᵢ + bᵢ + α₀ hᵢ [+ β tᵢ],   vᵢ = eᵢ + rᵢ
 *
 * where h is the shopper's normalised click history before the event, built by the head's own
 * `pushHistory`, e the frozen content vectors, and r a per-item residual that lets the base learn
 * what content alone misses (which items follow which). The loss is the softmax cross-entropy of
 * the true next item over every item the logs know (above `fullSoftmaxUpTo` known items, over the
 * true item and a batch's shared sample of them: see {@link TrainBaseOptions}), plus L2 on r and
 * on W₀ − τI. With
 * `transitions`, the transition feature tᵢ joins the logits with a trained weight β, so the content
 * model learns what the shop's transitions miss rather than the same thing again. Items the logs
 * do not know keep r = 0 and b = 0: content alone places them. Runs on the tfjs wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import type { HeadOptions, Transitions } from '../../core/head.js';
import { normalisedHistory, pushHistory, pushRecent, transitionVotes } from '../../core/head.js';
import { mulberry32 } from '../../core/rng.js';
import { crossEntropy, lookup, matMul, sparseMatMul, weightedSparse, type SparseRows } from '../tf-ops.js';

export interface TrainBaseOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** L2 on the residuals r and on W₀ − τI. */
  l2: number;
  temperature: number;
  seed: number;
  history: Pick<HeadOptions, 'historyDecay' | 'historySize'>;
  /**
   * Trains the content model beside the transition feature, so that it learns what transitions
   * miss: β·tᵢ joins every logit, tᵢ the head's transition votes of the shopper's last distinct
   * items, β trained too. `tables[f]` serves the sequences of fold `fold[s]` = f and must be built
   * without them (else a pair would vote for itself).
   */
  transitions?: {
    tables: readonly Transitions[];
    fold: Uint8Array;
    votes: Pick<HeadOptions, 'transitionVotes' | 'transitionDecay'>;
  };
  /**
   * The softmax runs over every item the logs know while they are at most this many (50,000 by
   * default, as SASRec's in the eval). Above, a batch's true items are scored against
   * `sampledNegatives` known items drawn uniformly for the batch, their logits raised by
   * log(known / sampled) (the correction that makes the sample stand for the whole catalogue), so
   * a step costs the sample's size instead of the catalogue's.
   */
  fullSoftmaxUpTo?: number;
  /** Known items drawn per batch for the sampled softmax (1,024 by default). */
  sampledNegatives?: number;
  onProgress?: (done: number, total: number) => void;
}

/** β of the transition feature is this times a trained scalar that starts at 1. */
export const TRANSITION_SCALE = 20;

export interface TrainedParams {
  W: Float32Array;
  residual: Float32Array;
  bias: Float32Array;
  alpha: number;
  /** The trained transition weight β (0 when trained without the feature). */
  beta: number;
  loss: { first: number; last: number };
  examples: number;
  /** Known items drawn per batch by the sampled softmax; 0 where the softmax ran over every known item. */
  sampledNegatives: number;
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
  // With the transition feature: each example's last distinct items (most recent first) and fold.
  const tr = o.transitions;
  if (tr && tr.fold.length !== sequences.length) throw new RangeError('one fold per sequence is needed');
  const recents: Int32Array[] = [];
  const folds: number[] = [];
  sequences.forEach((seq, si) => {
    const h: { i: number; w: number }[] = [];
    const last: number[] = [];
    for (const item of seq) {
      if (h.length > 0) {
        hists.push(normalisedHistory(h));
        targets.push(item);
        if (tr) {
          recents.push(Int32Array.from(last));
          folds.push(tr.fold[si]!);
        }
      }
      pushHistory(h, item, o.history);
      if (tr) pushRecent(last, item, Math.max(1, tr.votes.transitionVotes));
    }
  });
  const m = targets.length;
  const rand = mulberry32(o.seed);
  const order = Int32Array.from({ length: m }, (_, i) => i);
  const Et = tf.tensor2d(E, [n, d]);
  const R = tf.variable(tf.zeros([n, d]), true, 'baseResidual');
  const eye = tf.mul(tf.eye(d), o.temperature);
  const W = tf.variable(tf.clone(eye), true, 'baseW');
  const b = tf.variable(tf.tensor1d(bias0), true, 'baseBias');
  const alpha = tf.variable(tf.scalar(alpha0), true, 'baseAlpha');
  const betaScaled = tf.variable(tf.scalar(tr ? 1 : 0), !!tr, 'baseBeta');
  const mask = tf.tensor1d(Float32Array.from(known, (k) => (k ? 0 : -1e9)));
  const knownList = Int32Array.from(Array.from(known.keys()).filter((i) => known[i]));
  const sampled = knownList.length > (o.fullSoftmaxUpTo ?? 50_000);
  const S = Math.min(o.sampledNegatives ?? 1024, knownList.length);
  if (sampled && S < 1) throw new RangeError('the sampled softmax needs at least one negative');
  // Each drawn item stands for known / S of the catalogue.
  const logCorrection = Math.log(knownList.length / S);
  const opt = tf.train.adam(o.learningRate);
  /** L2 on r and on W₀ − τI, as one batch's share of it. */
  const regularised = (ce: tf.Scalar, B: number): tf.Scalar => {
    const reg = tf.mul(o.l2, tf.add(tf.sum(tf.square(R)), tf.sum(tf.square(tf.sub(W, eye)))));
    return tf.add(ce, tf.div(reg, m / B)) as tf.Scalar;
  };
  /**
   * One step of the sampled softmax: column 0 of each row is its true item, columns 1…S the
   * batch's drawn items (a drawn item that is the row's true item does not count against it).
   * The re-buy and transition features are placed in those columns only.
   */
  const sampledStep = (rows: Int32Array, Y: Int32Array, Hs: SparseRows): tf.Scalar => {
    const B = rows.length;
    const negs = Int32Array.from({ length: S }, () => knownList[Math.floor(rand() * knownList.length)]!);
    const columnsOf = new Map<number, number[]>();
    negs.forEach((i, k) => {
      const at = columnsOf.get(i);
      if (at) at.push(1 + k);
      else columnsOf.set(i, [1 + k]);
    });
    const cols = 1 + S;
    const Hc = sparseRows(B, cols);
    const Tc = tr ? sparseRows(B, cols) : null;
    const offset = new Float32Array(B * cols);
    rows.forEach((ex, r) => {
      const y = Y[r]!;
      const place = (into: ReturnType<typeof sparseRows>, i: number, v: number): void => {
        if (i === y) into.add(r, 0, v);
        for (const c of columnsOf.get(i) ?? []) into.add(r, c, v);
      };
      for (const h of hists[ex]!) place(Hc, h.i, h.w);
      if (Tc) for (const [i, v] of transitionVotes(tr!.tables[folds[ex]!]!, recents[ex]!, tr!.votes)) place(Tc, i, v);
      for (let c = 1; c < cols; c++) offset[r * cols + c] = logCorrection;
      for (const c of columnsOf.get(y) ?? []) offset[r * cols + c] = -1e9;
    });
    const terms = Tc ? [Hc.done(), Tc.done()] : [Hc.done()];
    return tf.tidy(() => {
      const Yt = tf.tensor1d(Y, 'int32');
      const Nt = tf.tensor1d(negs, 'int32');
      const offsetT = tf.tensor2d(offset, [B, cols]);
      const labels = tf.zeros([B], 'int32') as tf.Tensor1D;
      return opt.minimize(() => {
        const V = tf.add(Et, R) as tf.Tensor2D;
        const q = matMul(sparseMatMul(Hs, V), W);
        const bCol = tf.reshape(b, [n, 1]) as tf.Tensor2D;
        const pos = tf.add(tf.sum(tf.mul(q, lookup(V, Yt)), 1, true), lookup(bCol, Yt));
        const neg = tf.add(matMul(q, lookup(V, Nt) as tf.Tensor2D, false, true), tf.reshape(lookup(bCol, Nt), [1, S]));
        const weights = Tc ? tf.stack([alpha, tf.mul(betaScaled, TRANSITION_SCALE)]) : tf.reshape(alpha, [1]);
        const logits = tf.add(tf.add(tf.concat([pos, neg], 1), offsetT), weightedSparse(weights as tf.Tensor1D, terms)) as tf.Tensor2D;
        return regularised(crossEntropy(logits, labels), B);
      }, true) as tf.Scalar;
    });
  };
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
      // The histories and transition votes as sparse rows: a few hundred entries of n each.
      const H = sparseRows(B, n);
      // (The sampled softmax places the transition votes in its own columns.)
      const TR = tr && !sampled ? sparseRows(B, n) : null;
      const Y = new Int32Array(B);
      rows.forEach((ex, r) => {
        for (const h of hists[ex]!) H.add(r, h.i, h.w);
        Y[r] = targets[ex]!;
        if (TR) for (const [i, v] of transitionVotes(tr!.tables[folds[ex]!]!, recents[ex]!, tr!.votes)) TR.add(r, i, v);
      });
      const Hs = H.done();
      const terms = TR ? [Hs, TR.done()] : [Hs];
      const loss = sampled
        ? sampledStep(rows, Y, Hs)
        : tf.tidy(() => {
            const labels = tf.tensor1d(Y, 'int32');
            return opt.minimize(() => {
              const V = tf.add(Et, R);
              const q = matMul(sparseMatMul(Hs, V as tf.Tensor2D), W);
              // α·h + β·t in one pass over their entries, the biases and the mask as one row.
              const weights = TR ? tf.stack([alpha, tf.mul(betaScaled, TRANSITION_SCALE)]) : tf.reshape(alpha, [1]);
              const logits = tf.add(
                tf.add(matMul(q, V, false, true), tf.add(b, mask)),
                weightedSparse(weights as tf.Tensor1D, terms),
              ) as tf.Tensor2D;
              return regularised(crossEntropy(logits, labels), B);
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
  const [Wd, Rd, bd, ad, betad] = await Promise.all([W.data(), R.data(), b.data(), alpha.data(), betaScaled.data()]);
  opt.dispose();
  tf.dispose([Et, R, eye, W, b, alpha, betaScaled, mask]);
  return {
    W: Wd as Float32Array,
    residual: Rd as Float32Array,
    bias: bd as Float32Array,
    alpha: ad[0]!,
    beta: betad[0]! * TRANSITION_SCALE,
    loss: { first, last },
    examples: m,
    sampledNegatives: sampled ? S : 0,
  };
}

/** A sparse [rows × cols] matrix filled entry by entry (see {@link SparseRows}). */
function sparseRows(rows: number, cols: number): { add(r: number, c: number, v: number): void; done(): SparseRows } {
  const row: number[] = [];
  const col: number[] = [];
  const val: number[] = [];
  return {
    add(r, c, v) {
      row.push(r);
      col.push(c);
      val.push(v);
    },
    done: () => ({ rows, cols, row: Int32Array.from(row), col: Int32Array.from(col), val: Float32Array.from(val) }),
  };
}
