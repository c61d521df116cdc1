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
import { forEachTransitionVote, normalisedHistory, pushHistory, pushRecent, transitionVotes } from '../../core/head.js';
import { mulberry32 } from '../../core/rng.js';
import { crossEntropy, itemCrossEntropy, lookup, matMul, sparseMatMul, weightedSparse, type SparseRows } from '../tf-ops.js';

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
   * log(known / sampled) (the correction that makes the sample stand for the whole catalogue).
   * Such a step reads and updates only the rows it touches (the batch's histories, true items and
   * drawn items; a row catches up on the steps that did not touch it when one next does, as Adam
   * would have moved it), so it costs the batch and the sample, not the catalogue.
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
  const knownList = Int32Array.from(Array.from(known.keys()).filter((i) => known[i]));
  const sampled = knownList.length > (o.fullSoftmaxUpTo ?? 50_000);
  const S = Math.min(o.sampledNegatives ?? 1024, knownList.length);
  if (sampled && S < 1) throw new RangeError('the sampled softmax needs at least one negative');
  // Each drawn item stands for known / S of the catalogue.
  const logCorrection = Math.log(knownList.length / S);
  const eye = tf.tidy(() => tf.mul(tf.eye(d), o.temperature));
  const W = tf.variable(eye, true, 'baseW');
  const alpha = variableOf(tf.scalar(alpha0), true, 'baseAlpha');
  const betaScaled = variableOf(tf.scalar(tr ? 1 : 0), !!tr, 'baseBeta');
  const opt = tf.train.adam(o.learningRate, ADAM.beta1, ADAM.beta2, ADAM.epsilon);
  // The full softmax scores every item at each step, so r and b are tensors the optimiser updates
  // whole. The sampled softmax keeps them in typed arrays (see `SampledRows`): a step reads and
  // updates only the rows its batch touches, so that its cost does not grow with the catalogue.
  const dense = sampled
    ? null
    : {
        Et: tf.tensor2d(E, [n, d]),
        R: variableOf(tf.zeros([n, d]), true, 'baseResidual'),
        b: variableOf(tf.tensor1d(bias0), true, 'baseBias'),
        mask: tf.tensor1d(Float32Array.from(known, (k) => (k ? 0 : -1e9))),
      };
  /** 1 for the items drawn in the sampled step under way. */
  const drawn = new Uint8Array(sampled ? n : 0);
  const rows = sampled ? new SampledRows(E, n, d, bias0, o.learningRate, o.epochs * Math.ceil(m / o.batchSize)) : null;
  /** L2 on r (the rows given) and on W₀ − τI, as one batch's share of it. */
  const regularised = (ce: tf.Scalar, B: number, R: tf.Tensor): tf.Scalar => {
    const reg = tf.mul(o.l2, tf.add(tf.sum(tf.square(R)), tf.sum(tf.square(tf.sub(W, eye)))));
    return tf.add(ce, tf.div(reg, m / B)) as tf.Scalar;
  };
  /**
   * One step of the sampled softmax over the rows the batch touches (its histories, its true
   * items and its drawn items), numbered in the order first met: column 0 of each example is its
   * true item, columns 1…S the batch's drawn items (a drawn item that is the row's true item does
   * not count against it). The re-buy and transition features are placed in those columns only.
   * r and b of the touched rows are updated by Adam on their own (`SampledRows.apply`); a row the
   * batch does not touch takes Adam's moves of the steps between when it is next touched
   * (`SampledRows.catchUp`), without their L2 pull.
   */
  const sampledStep = async (batch: Int32Array): Promise<number> => {
    const R = rows!;
    const B = batch.length;
    const Y = new Int32Array(B);
    const Hc = sparseRows(B, 0);
    batch.forEach((ex, r) => {
      for (const h of hists[ex]!) Hc.add(r, R.slot(h.i), h.w);
      Y[r] = R.slot(targets[ex]!);
    });
    const negs = Int32Array.from({ length: S }, () => knownList[Math.floor(rand() * knownList.length)]!);
    const N = Int32Array.from(negs, (i) => R.slot(i));
    const columnsOf = new Map<number, number[]>();
    negs.forEach((i, k) => {
      const at = columnsOf.get(i);
      if (at) at.push(1 + k);
      else columnsOf.set(i, [1 + k]);
    });
    // Of the many items the transitions vote for, only the true item and the drawn ones have a column.
    for (const i of negs) drawn[i] = 1;
    const cols = 1 + S;
    const Hk = sparseRows(B, cols);
    const Tc = tr ? sparseRows(B, cols) : null;
    const offset = new Float32Array(B * cols);
    batch.forEach((ex, r) => {
      const y = targets[ex]!;
      const place = (into: ReturnType<typeof sparseRows>, i: number, v: number): void => {
        if (i === y) into.add(r, 0, v);
        for (const c of columnsOf.get(i) ?? []) into.add(r, c, v);
      };
      for (const h of hists[ex]!) place(Hk, h.i, h.w);
      if (Tc) {
        forEachTransitionVote(tr!.tables[folds[ex]!]!, recents[ex]!, tr!.votes, (i, v) => {
          if (i === y || drawn[i]) place(Tc, i, v);
        });
      }
      for (let c = 1; c < cols; c++) offset[r * cols + c] = logCorrection;
      for (const c of columnsOf.get(y) ?? []) offset[r * cols + c] = -1e9;
    });
    for (const i of negs) drawn[i] = 0;
    const Hs = Hc.done(R.touched);
    const terms = Tc ? [Hk.done(), Tc.done()] : [Hk.done()];
    const { EU, RU, bU } = R.gather();
    const small = tr ? [W, alpha, betaScaled] : [W, alpha];
    const grads = tf.tidy(() => {
      const Yt = tf.tensor1d(Y, 'int32');
      const Nt = tf.tensor1d(N, 'int32');
      const offsetT = tf.tensor2d(offset, [B, cols]);
      const labels = tf.zeros([B], 'int32') as tf.Tensor1D;
      const EUt = tf.tensor2d(EU, [R.touched, d]);
      const { value, grads } = tf.valueAndGrads((RUt: tf.Tensor, bUt: tf.Tensor, Wt: tf.Tensor, at: tf.Tensor, bt?: tf.Tensor) => {
        const V = tf.add(EUt, RUt) as tf.Tensor2D;
        const q = matMul(sparseMatMul(Hs, V), Wt);
        const bCol = tf.reshape(bUt, [-1, 1]) as tf.Tensor2D;
        const pos = tf.add(tf.sum(tf.mul(q, lookup(V, Yt)), 1, true), lookup(bCol, Yt));
        const neg = tf.add(matMul(q, lookup(V, Nt) as tf.Tensor2D, false, true), tf.reshape(lookup(bCol, Nt), [1, S]));
        const weights = bt ? tf.stack([at, tf.mul(bt, TRANSITION_SCALE)]) : tf.reshape(at, [1]);
        const logits = tf.add(tf.add(tf.concat([pos, neg], 1), offsetT), weightedSparse(weights as tf.Tensor1D, terms)) as tf.Tensor2D;
        return regularised(crossEntropy(logits, labels), B, RUt);
      })([tf.tensor2d(RU, [R.touched, d]), tf.tensor1d(bU), ...small]);
      return { value, grads };
    });
    opt.applyGradients(small.map((v, k) => ({ name: v.name, tensor: grads.grads[k + 2]! })));
    const [gR, gb, value] = await Promise.all([grads.grads[0]!.data(), grads.grads[1]!.data(), grads.value.data()]);
    R.apply(gR as Float32Array, gb as Float32Array);
    const loss = value[0]!;
    tf.dispose([grads.value, ...grads.grads]);
    return loss;
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
      const batch = order.subarray(s * o.batchSize, (s + 1) * o.batchSize);
      let v: number;
      if (sampled) v = await sampledStep(batch);
      else {
        const { Et, R, b, mask } = dense!;
        const B = batch.length;
        // The histories and transition votes as sparse rows: a few hundred entries of n each.
        const H = sparseRows(B, n);
        const TR = tr ? sparseRows(B, n) : null;
        const Y = new Int32Array(B);
        batch.forEach((ex, r) => {
          for (const h of hists[ex]!) H.add(r, h.i, h.w);
          Y[r] = targets[ex]!;
          if (TR) for (const [i, v] of transitionVotes(tr!.tables[folds[ex]!]!, recents[ex]!, tr!.votes)) TR.add(r, i, v);
        });
        const Hs = H.done();
        const terms = TR ? [Hs, TR.done()] : [Hs];
        const loss = tf.tidy(() => {
          const labels = tf.tensor1d(Y, 'int32');
          return opt.minimize(() => {
            const V = tf.add(Et, R);
            const q = matMul(sparseMatMul(Hs, V as tf.Tensor2D), W);
            // α·h + β·t in one pass over their entries, the biases and the mask as one row.
            const weights = TR ? tf.stack([alpha, tf.mul(betaScaled, TRANSITION_SCALE)]) : tf.reshape(alpha, [1]);
            // q · Vᵀ + (b + mask) + the sparse terms, in that order, through the op that makes V's
            // gradient from the loss's gradient transposed in JavaScript (one block of rows).
            const extra = [tf.add(b, mask), weightedSparse(weights as tf.Tensor1D, terms)];
            return regularised(itemCrossEntropy(q, V as tf.Tensor2D, labels, Infinity, extra), B, R);
          }, true) as tf.Scalar;
        });
        v = (await loss.data())[0]!;
        loss.dispose();
      }
      sum += v;
      if (Number.isNaN(first)) first = v;
      o.onProgress?.(++done, total);
    }
    last = sum / steps;
  }
  const [Wd, ad, betad] = await Promise.all([W.data(), alpha.data(), betaScaled.data()]);
  rows?.finish();
  const Rd = dense ? ((await dense.R.data()) as Float32Array) : rows!.R;
  const bd = dense ? ((await dense.b.data()) as Float32Array) : rows!.b;
  opt.dispose();
  tf.dispose([eye, W, alpha, betaScaled, ...(dense ? [dense.Et, dense.R, dense.b, dense.mask] : [])]);
  return {
    W: Wd as Float32Array,
    residual: Rd,
    bias: bd,
    alpha: ad[0]!,
    beta: betad[0]! * TRANSITION_SCALE,
    loss: { first, last },
    examples: m,
    sampledNegatives: sampled ? S : 0,
  };
}

/** A variable holding `initial`'s values; `initial` itself is let go (a variable shares its data, and the tensor would stay counted). */
function variableOf(initial: tf.Tensor, trainable: boolean, name: string): tf.Variable {
  const v = tf.variable(initial, trainable, name);
  initial.dispose();
  return v;
}

/** Adam's settings for every parameter of the base (tfjs's defaults, written out for `SampledRows`). */
const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/** Steps without a gradient a row catches up on (rʲ is under 10⁻⁹ past them). */
const CATCH_UP_STEPS = 200;
const CATCH_UP_RATIO = ADAM.beta1 / Math.sqrt(ADAM.beta2);

/**
 * The residuals r and biases b of the sampled softmax, in typed arrays with their Adam moments.
 * A step numbers the rows it touches (`slot`), reads them (`gather`) and updates them from their
 * gradients (`apply`), which then lets the numbering go. Dense Adam would also move every row the
 * step does not touch, by its momentum, at a cost of the whole catalogue each step; here a row
 * takes those moves when a step next touches it, or at the end (`finish`), in one go (`catchUp`).
 */
class SampledRows {
  readonly R: Float32Array;
  readonly b: Float32Array;
  private readonly mR: Float32Array;
  private readonly vR: Float32Array;
  private readonly mb: Float32Array;
  private readonly vb: Float32Array;
  private readonly slots: Int32Array;
  /** The step that last touched each row (0: none). */
  private readonly last: Int32Array;
  private readonly q: Float64Array;
  private order: number[] = [];
  private step = 0;

  constructor(
    private readonly E: Float32Array,
    n: number,
    private readonly d: number,
    bias0: Float32Array,
    private readonly rate: number,
    steps: number,
  ) {
    this.R = new Float32Array(n * d);
    this.mR = new Float32Array(n * d);
    this.vR = new Float32Array(n * d);
    this.b = Float32Array.from(bias0);
    this.mb = new Float32Array(n);
    this.vb = new Float32Array(n);
    this.slots = new Int32Array(n).fill(-1);
    this.last = new Int32Array(n);
    // Adam's bias corrections of each step, √(1 − β₂ˢ) / (1 − β₁ˢ).
    this.q = Float64Array.from({ length: steps + 1 }, (_, s) =>
      s === 0 ? 0 : Math.sqrt(1 - Math.pow(ADAM.beta2, s)) / (1 - Math.pow(ADAM.beta1, s)),
    );
  }

  /** The step's number for item i, given on first use. */
  slot(i: number): number {
    let s = this.slots[i]!;
    if (s < 0) {
      s = this.slots[i] = this.order.length;
      this.order.push(i);
    }
    return s;
  }

  /** Rows touched so far in this step. */
  get touched(): number {
    return this.order.length;
  }

  /** e, r and b of the touched rows, in slot order. */
  gather(): { EU: Float32Array; RU: Float32Array; bU: Float32Array } {
    const { d, order } = this;
    const EU = new Float32Array(order.length * d);
    const RU = new Float32Array(order.length * d);
    const bU = new Float32Array(order.length);
    order.forEach((i, s) => {
      EU.set(this.E.subarray(i * d, (i + 1) * d), s * d);
      RU.set(this.R.subarray(i * d, (i + 1) * d), s * d);
      bU[s] = this.b[i]!;
    });
    return { EU, RU, bU };
  }

  /** One Adam step of the touched rows from their gradients (slot order); ends the step. */
  apply(gR: Float32Array, gb: Float32Array): void {
    const { d, order } = this;
    this.step++;
    const { beta1, beta2, epsilon } = ADAM;
    const c1 = 1 - Math.pow(beta1, this.step);
    const c2 = 1 - Math.pow(beta2, this.step);
    const update = (x: Float32Array, m: Float32Array, v: Float32Array, at: number, g: number): void => {
      m[at] = beta1 * m[at]! + (1 - beta1) * g;
      v[at] = beta2 * v[at]! + (1 - beta2) * g * g;
      x[at]! -= (this.rate * (m[at]! / c1)) / (Math.sqrt(v[at]! / c2) + epsilon);
    };
    order.forEach((i, s) => {
      this.catchUp(i, this.step - 1);
      this.last[i] = this.step;
      for (let k = 0; k < d; k++) update(this.R, this.mR, this.vR, i * d + k, gR[s * d + k]!);
      update(this.b, this.mb, this.vb, i, gb[s]!);
      this.slots[i] = -1;
    });
    this.order = [];
  }

  /** Every row brought to the last step (see `catchUp`), as dense Adam would have left them. */
  finish(): void {
    for (let i = 0; i < this.last.length; i++) this.catchUp(i, this.step);
  }

  /**
   * The steps after the row was last touched up to step `to`, as dense Adam would have taken them
   * with no gradient: its moments decay, and it goes on by its momentum, each step j after by
   * rate · rʲ · q(step) · m / √v, r = β₁/√β₂ (past CATCH_UP_STEPS the steps are too small to count).
   * The L2 pull of those steps is not caught up on: l2 · r spread over an epoch's steps, it is
   * negligible beside the gradient of a row a step touches.
   */
  private catchUp(i: number, to: number): void {
    const lastAt = this.last[i]!;
    const since = to - lastAt;
    if (since <= 0 || lastAt === 0) return;
    let sum = 0;
    let f = 1;
    const upto = Math.min(since, CATCH_UP_STEPS);
    for (let j = 1; j <= upto; j++) {
      f *= CATCH_UP_RATIO;
      sum += f * this.q[lastAt + j]!;
    }
    const { beta1, beta2, epsilon } = ADAM;
    const m1 = Math.pow(beta1, since);
    const v1 = Math.pow(beta2, since);
    const move = (x: Float32Array, m: Float32Array, v: Float32Array, at: number): void => {
      x[at]! -= (this.rate * sum * m[at]!) / (Math.sqrt(v[at]!) + epsilon);
      m[at] = m[at]! * m1;
      v[at] = v[at]! * v1;
    };
    const { d } = this;
    for (let k = 0; k < d; k++) move(this.R, this.mR, this.vR, i * d + k);
    move(this.b, this.mb, this.vb, i);
    this.last[i] = to;
  }
}

/** A sparse [rows × cols] matrix filled entry by entry (see {@link SparseRows}). */
function sparseRows(rows: number, cols: number): { add(r: number, c: number, v: number): void; done(width?: number): SparseRows } {
  const row: number[] = [];
  const col: number[] = [];
  const val: number[] = [];
  return {
    add(r, c, v) {
      row.push(r);
      col.push(c);
      val.push(v);
    },
    /** The matrix; `width` sets its columns where they were not known at the start. */
    done: (width = cols) => ({ rows, cols: width, row: Int32Array.from(row), col: Int32Array.from(col), val: Float32Array.from(val) }),
  };
}
