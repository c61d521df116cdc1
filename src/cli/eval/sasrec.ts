/**
 * SASRec (self-attentive sequential recommendation) as the batch-trained sequential baseline of
 * `npm run eval`: item + learned position embeddings, causal self-attention blocks (one head,
 * pre-layer-norm, feed-forward, residuals), trained on each shopper's item sequence before the
 * split to predict the next item at every position. The loss is the full softmax over the
 * catalogue when it has at most `fullSoftmaxUpTo` items (50,000 by default), otherwise a sampled
 * softmax: the true next item against a shared set of uniformly drawn items per batch.
 *
 * Early stopping: each shopper's last item before the split (of shoppers with at least three) is
 * held out of training; after every epoch the model ranks the full catalogue for those held-out
 * items, and training stops once NDCG@10 there has not improved for `patience` epochs. The
 * weights of the best epoch are kept. Scoring ranks the full catalogue by the last position's
 * output times the item embeddings. The model is fixed during the replay.
 *
 * Embedding lookups use a custom gradient that scatter-adds into the touched rows only (tfjs's
 * gather gradient is dense over the whole table and slow on wasm/cpu).
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { initBackend } from '../../core/backend.js';
import { mulberry32 } from '../../core/rng.js';
import { crossEntropy, lookup, matMul } from '../tf-ops.js';
import { RankMetrics } from './metrics.js';
import type { ReplayEvent, StaticMethod } from './replay.js';
import { sequencesBeforeSplit } from './replay.js';

export interface SasrecOptions {
  /** The most epochs trained; early stopping usually ends sooner. */
  epochs: number;
  /** Epochs without a better held-out NDCG@10 before training stops (default 2). */
  patience?: number;
  /** Catalogues up to this many items train with the full softmax (default 50,000). */
  fullSoftmaxUpTo?: number;
  dims: number;
  maxLen: number;
  blocks?: number;
  batchSize?: number;
  negatives?: number;
  learningRate?: number;
  dropout?: number;
  seed: number;
  /**
   * Trains in a worker thread (default), so that the evaluation goes on with the other methods
   * (and the base's training) on the other core meanwhile; false trains in this thread.
   */
  worker?: boolean;
  /** Aborting stops a worker thread's training (the method's promise rejects). */
  signal?: AbortSignal;
  onProgress?: ((method: string, done: number, total: number) => void) | undefined;
}

/** What the training did, copied into the report. */
export interface SasrecTraining {
  loss: string;
  epochsTrained: number;
  bestEpoch: number;
  heldOutNdcgPerEpoch: number[];
  heldOutShoppers: number;
}

/** The network: its weights, and its hidden states and scores for histories of shifted items. */
interface SasrecNet {
  variables: tf.Variable[];
  forward(X: tf.Tensor2D, training: boolean): tf.Tensor3D;
  /**
   * Scores [histories.length × n] of the catalogue after each history (items shifted by one: 0 is
   * padding). `itemsT`, the item rows transposed ([d, n]), saves taking them from E on each call
   * once the weights no longer change.
   */
  scoreShifted(histories: readonly (readonly number[])[], itemsT?: tf.Tensor2D): Promise<Float32Array>;
  /** The item rows of E transposed ([d, n]), as scoring reads them. */
  itemsT(): tf.Tensor2D;
  dispose(): void;
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

/**
 * The network with random weights drawn from `rand`, or with `weights` (in the order of
 * `variables`) where given.
 */
function buildNet(n: number, o: SasrecOptions, rand: () => number, weights?: readonly Float32Array[]): SasrecNet {
  const d = o.dims;
  const L = o.maxLen;
  const nBlocks = o.blocks ?? 2;
  const drop = o.dropout ?? 0.2;
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
      const q = tf.reshape(matMul(flat, bl.Wq), [nb, L, d]);
      const k = tf.reshape(matMul(tf.reshape(h, [nb * L, d]), bl.Wk), [nb, L, d]);
      const v = tf.reshape(matMul(tf.reshape(h, [nb * L, d]), bl.Wv), [nb, L, d]);
      let att = tf.softmax(tf.add(tf.div(matMul(q, k, false, true), Math.sqrt(d)), negInf));
      if (training) att = dropout(att);
      h = tf.add(x, matMul(att, v));
      const y = tf.reshape(layerNorm(h, bl.ln2g, bl.ln2b), [nb * L, d]);
      let f = tf.add(matMul(tf.relu(tf.add(matMul(y, bl.W1), bl.b1)), bl.W2), bl.b2);
      if (training) f = dropout(f);
      h = tf.mul(tf.add(h, tf.reshape(f, [nb, L, d])), padCol);
    }
    return layerNorm(h, lnFg, lnFb) as tf.Tensor3D;
  };

  const itemsT = (): tf.Tensor2D => tf.tidy(() => tf.transpose(tf.slice(E, [1, 0], [n, d])));
  /** Scores [histories.length × n] of the catalogue after each history (items shifted by one). */
  const scoreShifted = async (histories: readonly (readonly number[])[], ready?: tf.Tensor2D): Promise<Float32Array> => {
    const X = new Int32Array(histories.length * L);
    histories.forEach((h, r) => {
      const tail = h.slice(-L);
      tail.forEach((item, j) => (X[r * L + L - tail.length + j] = item));
    });
    const s = tf.tidy(() => {
      const H = forward(tf.tensor2d(X, [histories.length, L], 'int32'), false);
      const last = tf.reshape(tf.slice(H, [0, L - 1, 0], [histories.length, 1, d]), [histories.length, d]);
      return ready ? tf.matMul(last, ready) : tf.matMul(last, itemsT());
    });
    const data = (await s.data()) as Float32Array;
    s.dispose();
    return data;
  };
  const variables = [E, P, lnFg, lnFb, ...blocks.flatMap((b) => Object.values(b) as tf.Variable[])];
  if (weights) {
    if (weights.length !== variables.length) throw new Error(`SASRec: ${weights.length} weight arrays for ${variables.length} variables.`);
    variables.forEach((v, k) => v.assign(tf.tensor(weights[k]!, v.shape)));
  }
  return {
    variables,
    forward,
    scoreShifted,
    itemsT,
    dispose: () => tf.dispose([...variables, causal]),
  };
}

/**
 * Trains SASRec on each shopper's sequence (catalogue indices, in time order) with early
 * stopping on the held-out last items, and returns the network of the best epoch.
 */
async function trainNet(
  sequences: readonly (readonly number[])[],
  n: number,
  o: SasrecOptions,
): Promise<{ net: SasrecNet; training: SasrecTraining }> {
  const d = o.dims;
  const L = o.maxLen;
  const B = o.batchSize ?? 128;
  const S = o.negatives ?? 256;
  const rand = mulberry32(o.seed);
  // Training sequences: each shopper's items before the split (shifted by one: 0 is padding), cut
  // into windows of L + 1.
  const all = sequences.map((s) => s.map((i) => i + 1));
  // Held out for early stopping: the last item of every shopper with at least three.
  const held = all.filter((s) => s.length >= 3).map((s) => ({ history: s.slice(0, -1), target: s[s.length - 1]! }));
  const seqs = all.map((s) => (s.length >= 3 ? s.slice(0, -1) : s));
  const full = n <= (o.fullSoftmaxUpTo ?? 50_000);
  const patience = o.patience ?? 2;
  const windows: number[][] = [];
  for (const s of seqs) {
    if (s.length < 2) continue;
    for (let end = s.length; end > 1; end -= L) windows.push(s.slice(Math.max(0, end - L - 1), end));
  }
  const net = buildNet(n, o, rand);
  const { variables, forward, scoreShifted } = net;
  const E = variables[0]! as tf.Variable<tf.Rank.R2>;

  /** NDCG@10 of the held-out last items (ties count against the item). */
  const heldOutNdcg = async (): Promise<number> => {
    const metrics = new RankMetrics(10);
    for (let at = 0; at < held.length; at += 256) {
      const part = held.slice(at, at + 256);
      const scores = await scoreShifted(part.map((h) => h.history));
      part.forEach((h, r) => {
        const row = scores.subarray(r * n, (r + 1) * n);
        const t = row[h.target - 1]!;
        let rank = 0;
        for (let i = 0; i < n && rank < 10; i++) if (i !== h.target - 1 && row[i]! >= t) rank++;
        metrics.add(rank);
      });
    }
    return metrics.events ? metrics.ndcgSum / metrics.events : 0;
  };

  const opt = tf.train.adam(o.learningRate ?? 0.001);
  const steps = Math.ceil(windows.length / B);
  const total = o.epochs * steps;
  let done = 0;
  let best: { epoch: number; ndcg: number; weights: tf.Tensor[] } | null = null;
  const curve: number[] = [];
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
      const negs = full ? null : Int32Array.from({ length: S }, () => 1 + Math.floor(rand() * n));
      const loss = tf.tidy(() => {
        const Xt = tf.tensor2d(X, [part.length, L], 'int32');
        const Yt = tf.tensor1d(Y, 'int32');
        const mask = tf.cast(tf.notEqual(Yt, 0), 'float32');
        if (!negs) {
          // Full softmax: every catalogue item (row 0 of E, the padding, is not one) at every position.
          const labels = tf.maximum(tf.sub(Yt, tf.scalar(1, 'int32')), tf.scalar(0, 'int32')) as tf.Tensor1D;
          return opt.minimize(() => {
            const H = tf.reshape(forward(Xt, true), [part.length * L, d]);
            const logits = matMul(H, tf.slice(E, [1, 0], [n, d]), false, true) as tf.Tensor2D;
            return crossEntropy(logits, labels, mask as tf.Tensor1D);
          }, true) as tf.Scalar;
        }
        const Nt = tf.tensor1d(negs, 'int32');
        return opt.minimize(() => {
          const H = tf.reshape(forward(Xt, true), [part.length * L, d]);
          const pos = tf.sum(tf.mul(H, lookup(E, Yt)), 1, true); // [bL, 1]
          const neg = matMul(H, lookup(E, Nt) as tf.Tensor2D, false, true); // [bL, S]
          const logits = tf.concat([pos, neg], 1);
          const ce = tf.sub(tf.logSumExp(logits, 1), tf.reshape(pos, [-1]));
          return tf.div(tf.sum(tf.mul(ce, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
        }, true) as tf.Scalar;
      });
      if (s === steps - 1) await loss.data();
      loss.dispose();
      o.onProgress?.('sasrec (training)', ++done, total);
    }
    const ndcg = await heldOutNdcg();
    curve.push(Number(ndcg.toFixed(4)));
    if (!best || ndcg > best.ndcg) {
      if (best) tf.dispose(best.weights);
      best = { epoch: epoch + 1, ndcg, weights: variables.map((v) => tf.clone(v)) };
    } else if (epoch + 1 - best.epoch >= patience) {
      o.onProgress?.('sasrec (training)', total, total);
      break;
    }
  }
  opt.dispose();
  if (best) {
    variables.forEach((v, k) => v.assign(best!.weights[k]!));
    tf.dispose(best.weights);
  }

  const training: SasrecTraining = {
    loss: full ? 'full softmax' : `sampled softmax, ${S} negatives`,
    epochsTrained: curve.length,
    bestEpoch: best?.epoch ?? 0,
    heldOutNdcgPerEpoch: curve,
    heldOutShoppers: held.length,
  };
  return { net, training };
}

/** The trained weights and what training did, as a worker thread posts them. */
interface TrainedMessage {
  type: 'trained';
  weights: Float32Array[];
  training: SasrecTraining;
}

/**
 * Trains in a worker thread (this module, started as the worker's entry) and rebuilds the
 * network here from the weights it posts back.
 */
async function trainInWorker(sequences: number[][], n: number, o: SasrecOptions): Promise<{ net: SasrecNet; training: SasrecTraining }> {
  const { onProgress, signal, ...options } = o;
  // Under the TypeScript loader (npm run eval, the tests) the worker loads this very file through it.
  const ts = import.meta.url.endsWith('.ts');
  const code = ts
    ? `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`
    : `import(${JSON.stringify(import.meta.url)})`;
  const worker = new Worker(code, { eval: true, workerData: { sasrec: { sequences, n, options } } });
  try {
    const trained = await new Promise<TrainedMessage>((resolve, reject) => {
      worker.on('message', (m: TrainedMessage | { type: 'progress'; done: number; total: number }) => {
        if (m.type === 'progress') onProgress?.('sasrec (training, worker thread)', m.done, m.total);
        else resolve(m);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => reject(new Error(`The SASRec training thread stopped (exit code ${code}) before it finished.`)));
      signal?.addEventListener('abort', () => reject(new Error('SASRec training was stopped.')), { once: true });
      if (signal?.aborted) reject(new Error('SASRec training was stopped.'));
    });
    return { net: buildNet(n, o, mulberry32(o.seed), trained.weights), training: trained.training };
  } finally {
    await worker.terminate();
  }
}

// The worker thread's side: train, post the weights, end.
if (!isMainThread && (workerData as { sasrec?: unknown } | null)?.sasrec) {
  const job = (workerData as { sasrec: { sequences: number[][]; n: number; options: SasrecOptions } }).sasrec;
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`SASRec trains on the wasm backend, which could not start: ${backend.reason}`);
  const { net, training } = await trainNet(job.sequences, job.n, {
    ...job.options,
    onProgress: (_m, done, total) => parentPort!.postMessage({ type: 'progress', done, total }),
  });
  const weights = (await Promise.all(net.variables.map((v) => v.data()))) as Float32Array[];
  parentPort!.postMessage(
    { type: 'trained', weights, training } satisfies TrainedMessage,
    weights.map((w) => w.buffer as ArrayBuffer),
  );
  net.dispose();
}

/** Throws a RangeError naming the first setting SASRec cannot train with. */
export function validateSasrecOptions(o: SasrecOptions): void {
  const whole = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1))
      throw new RangeError(`SASRec's ${name} must be a whole number of at least 1, got ${v}.`);
  };
  whole('epochs', o.epochs);
  whole('patience', o.patience);
  whole('dims', o.dims);
  whole('maxLen (--sasrec-len)', o.maxLen);
  whole('blocks', o.blocks);
  whole('batchSize', o.batchSize);
  if (o.learningRate !== undefined && !(o.learningRate > 0))
    throw new RangeError(`SASRec's learning rate must be above 0, got ${o.learningRate}.`);
}

/** Trains SASRec on the events before the split and returns it as a static method. */
export async function sasrecMethod(events: readonly ReplayEvent[], n: number, o: SasrecOptions): Promise<StaticMethod> {
  validateSasrecOptions(o);
  const popularity = new Float32Array(n);
  for (const e of events) if (!e.scored) popularity[e.item]! += 1;
  const sequences = [...sequencesBeforeSplit(events).values()];
  const { net, training } = o.worker === false ? await trainNet(sequences, n, o) : await trainInWorker(sequences, n, o);
  // The weights are fixed from here on: the item rows are transposed once for every batch.
  const itemsT = net.itemsT();
  return {
    name: 'sasrec',
    kind: 'static',
    training: { ...training },
    async scoreBatch(histories) {
      const data = await net.scoreShifted(
        histories.map((h) => h.map((i) => i + 1)),
        itemsT,
      );
      // A shopper with no history has nothing to attend to: rank by popularity before the split.
      histories.forEach((h, r) => {
        if (h.length === 0) data.set(popularity, r * n);
      });
      return data;
    },
    dispose() {
      itemsT.dispose();
      net.dispose();
    },
  };
}
