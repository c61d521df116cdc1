/**
 * SASRec (self-attentive sequential recommendation) as the batch-trained sequential baseline of
 * `npm run eval`: item + learned position embeddings, causal self-attention blocks (one head,
 * pre-layer-norm, feed-forward, residuals), trained on each shopper's item sequence before the
 * split to predict the next item at every position. The loss is a sampled softmax: the true next
 * item against a shared set of uniformly drawn items per batch (a full softmax over the catalogue
 * costs seconds per step on the wasm backend). Scoring ranks the full catalogue by the last
 * position's output times the item embeddings. The model is fixed during the replay.
 *
 * Embedding lookups use a custom gradient that scatter-adds into the touched rows only (tfjs's
 * gather gradient is dense over the whole table and slow on wasm/cpu).
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import { mulberry32 } from '../../core/rng.js';
import type { ReplayEvent, StaticMethod } from './replay.js';
import { sequencesBeforeSplit } from './replay.js';

export interface SasrecOptions {
  epochs: number;
  dims: number;
  maxLen: number;
  blocks?: number;
  batchSize?: number;
  negatives?: number;
  learningRate?: number;
  dropout?: number;
  seed: number;
  onProgress?: ((method: string, done: number, total: number) => void) | undefined;
}

/** Embedding rows of `table` at `ids` (int32, any shape) with a sparse, scatter-add gradient. */
function lookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const d = table.shape[1];
  const flat = tf.reshape(ids, [-1]);
  const fn = (t: tf.Tensor, save: tf.GradSaveFunc): { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor } => {
    save([flat]);
    return {
      value: tf.gather(t, flat),
      gradFunc: (dy, saved) => tf.scatterND(tf.reshape(saved[0]!, [-1, 1]), dy, table.shape),
    };
  };
  const f = tf.customGrad(fn as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.reshape(f(table), [...ids.shape, d]);
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), gamma), beta);
}

interface Block {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  Wq: tf.Variable;
  Wk: tf.Variable;
  Wv: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  W1: tf.Variable;
  b1: tf.Variable;
  W2: tf.Variable;
  b2: tf.Variable;
}

/** Trains SASRec on the events before the split and returns it as a static method. */
export async function sasrecMethod(events: readonly ReplayEvent[], n: number, o: SasrecOptions): Promise<StaticMethod> {
  const d = o.dims;
  const L = o.maxLen;
  const nBlocks = o.blocks ?? 2;
  const B = o.batchSize ?? 128;
  const S = o.negatives ?? 256;
  const drop = o.dropout ?? 0.2;
  const rand = mulberry32(o.seed);
  // Training sequences: each shopper's items before the split (shifted by one: 0 is padding), cut
  // into windows of L + 1.
  const seqs = [...sequencesBeforeSplit(events).values()].map((s) => s.map((i) => i + 1));
  const popularity = new Float32Array(n);
  for (const e of events) if (!e.scored) popularity[e.item]! += 1;
  const windows: number[][] = [];
  for (const s of seqs) {
    if (s.length < 2) continue;
    for (let end = s.length; end > 1; end -= L) windows.push(s.slice(Math.max(0, end - L - 1), end));
  }

  const init = (shape: number[], scale: number): tf.Variable =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', Math.floor(rand() * 1e9)), scale));
  const E = init([n + 1, d], 1 / Math.sqrt(d)) as tf.Variable<tf.Rank.R2>;
  const P = init([L, d], 0.02);
  const blocks: Block[] = [];
  for (let b = 0; b < nBlocks; b++) {
    blocks.push({
      ln1g: tf.variable(tf.ones([d])),
      ln1b: tf.variable(tf.zeros([d])),
      Wq: init([d, d], 1 / Math.sqrt(d)),
      Wk: init([d, d], 1 / Math.sqrt(d)),
      Wv: init([d, d], 1 / Math.sqrt(d)),
      ln2g: tf.variable(tf.ones([d])),
      ln2b: tf.variable(tf.zeros([d])),
      W1: init([d, d], 1 / Math.sqrt(d)),
      b1: tf.variable(tf.zeros([d])),
      W2: init([d, d], 1 / Math.sqrt(d)),
      b2: tf.variable(tf.zeros([d])),
    });
  }
  const lnFg = tf.variable(tf.ones([d]));
  const lnFb = tf.variable(tf.zeros([d]));
  // Causal mask: position i attends to j ≤ i.
  const causal = tf.tidy(() => tf.linalg.bandPart(tf.ones([L, L]), -1, 0));

  // Dropout draws from the seeded generator too, so a run is reproducible.
  const dropout = (x: tf.Tensor): tf.Tensor => tf.dropout(x, drop, undefined, Math.floor(rand() * 2 ** 31));
  /** Hidden states [b, L, d] of left-padded sequences X [b, L]. */
  const forward = (X: tf.Tensor2D, training: boolean): tf.Tensor3D => {
    const nb = X.shape[0];
    const pad = tf.cast(tf.notEqual(X, 0), 'float32'); // [b, L]
    const padCol = tf.expandDims(pad, 2);
    let h = tf.add(tf.mul(lookup(E, X), Math.sqrt(d)), P);
    if (training) h = dropout(h);
    h = tf.mul(h, padCol);
    // Keys: causal and not padding. Padded queries are masked out of the loss.
    const allowed = tf.mul(tf.expandDims(causal, 0), tf.expandDims(pad, 1)); // [b, L, L]
    const negInf = tf.mul(tf.sub(1, allowed), -1e9);
    for (const bl of blocks) {
      const x = layerNorm(h, bl.ln1g, bl.ln1b);
      const flat = tf.reshape(x, [nb * L, d]);
      const q = tf.reshape(tf.matMul(flat, bl.Wq), [nb, L, d]);
      const k = tf.reshape(tf.matMul(tf.reshape(h, [nb * L, d]), bl.Wk), [nb, L, d]);
      const v = tf.reshape(tf.matMul(tf.reshape(h, [nb * L, d]), bl.Wv), [nb, L, d]);
      let att = tf.softmax(tf.add(tf.div(tf.matMul(q, k, false, true), Math.sqrt(d)), negInf));
      if (training) att = dropout(att);
      h = tf.add(x, tf.matMul(att, v));
      const y = tf.reshape(layerNorm(h, bl.ln2g, bl.ln2b), [nb * L, d]);
      let f = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(y, bl.W1), bl.b1)), bl.W2), bl.b2);
      if (training) f = dropout(f);
      h = tf.mul(tf.add(h, tf.reshape(f, [nb, L, d])), padCol);
    }
    return layerNorm(h, lnFg, lnFb) as tf.Tensor3D;
  };

  const opt = tf.train.adam(o.learningRate ?? 0.001);
  const steps = Math.ceil(windows.length / B);
  const total = o.epochs * steps;
  let done = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    // Shuffle the windows.
    for (let i = windows.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [windows[i], windows[j]] = [windows[j]!, windows[i]!];
    }
    for (let s = 0; s < steps; s++) {
      const part = windows.slice(s * B, (s + 1) * B);
      const X = new Int32Array(part.length * L);
      const Y = new Int32Array(part.length * L);
      part.forEach((w, r) => {
        // Left-padded: the input is w[0..m-2], the target w[1..m-1].
        const m = w.length;
        for (let j = 0; j < m - 1; j++) {
          X[r * L + L - (m - 1) + j] = w[j]!;
          Y[r * L + L - (m - 1) + j] = w[j + 1]!;
        }
      });
      const negs = Int32Array.from({ length: S }, () => 1 + Math.floor(rand() * n));
      const loss = tf.tidy(() => {
        const Xt = tf.tensor2d(X, [part.length, L], 'int32');
        const Yt = tf.tensor1d(Y, 'int32');
        const mask = tf.cast(tf.notEqual(Yt, 0), 'float32');
        const Nt = tf.tensor1d(negs, 'int32');
        return opt.minimize(() => {
          const H = tf.reshape(forward(Xt, true), [part.length * L, d]);
          const pos = tf.sum(tf.mul(H, lookup(E, Yt)), 1, true); // [bL, 1]
          const neg = tf.matMul(H, lookup(E, Nt) as tf.Tensor2D, false, true); // [bL, S]
          const logits = tf.concat([pos, neg], 1);
          const ce = tf.sub(tf.logSumExp(logits, 1), tf.reshape(pos, [-1]));
          return tf.div(tf.sum(tf.mul(ce, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
        }, true) as tf.Scalar;
      });
      if (s === steps - 1) await loss.data();
      loss.dispose();
      o.onProgress?.('sasrec (training)', ++done, total);
    }
  }
  opt.dispose();

  // The catalogue's item embeddings, transposed once for scoring ([d, n]).
  const Et = tf.tidy(() => tf.transpose(tf.slice(E, [1, 0], [n, d])));
  return {
    name: 'sasrec',
    kind: 'static',
    async scoreBatch(histories) {
      const X = new Int32Array(histories.length * L);
      histories.forEach((h, r) => {
        const tail = h.slice(-L);
        tail.forEach((item, j) => (X[r * L + L - tail.length + j] = item + 1));
      });
      const s = tf.tidy(() => {
        const H = forward(tf.tensor2d(X, [histories.length, L], 'int32'), false);
        const last = tf.reshape(tf.slice(H, [0, L - 1, 0], [histories.length, 1, d]), [histories.length, d]);
        return tf.matMul(last, Et);
      });
      const data = (await s.data()) as Float32Array;
      s.dispose();
      // A shopper with no history has nothing to attend to: rank by popularity before the split.
      histories.forEach((h, r) => {
        if (h.length === 0) data.set(popularity, r * n);
      });
      return data;
    },
    dispose() {
      tf.dispose([E, P, Et, causal, lnFg, lnFb, ...blocks.flatMap((b) => Object.values(b) as tf.Tensor[])]);
    },
  };
}
