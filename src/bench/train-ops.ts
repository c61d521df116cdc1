/**
 * `npm run bench:train-ops [-- --out F]`: the eval's training ops (src/cli/tf-ops.ts) against
 * tfjs's own, on the wasm backend, at the shapes the tools train at:
 *   - base: a batch of 512 shoppers over Online Retail's 3,659 items, d = 64 (train-base.ts);
 *   - sasrec: 128 windows × 30 positions over the same catalogue, full softmax (sequence-model.ts).
 * For each: the product's value and gradient (tf.matMul's gradient asks the backend for
 * transposed products) and the cross-entropy's value and gradient. Each figure is the median of
 * 5 runs after one warm-up; compare the ratios, measured in the same run.
 *
 * And SASRec's full-softmax head, the loss of rows scored against every item with the gradients
 * for both (`itemHead`): as `crossEntropy` of tf-ops' `matMul`, and as `itemCrossEntropy`, which
 * the training takes (the same numbers; its item gradient made from the gradient transposed in
 * JavaScript). Its rows are a step's positions that have a next item (3,294 on average at
 * Online Retail: a window's padding is not scored).
 *
 * And a step of the base's sampled softmax (`trainBaseParams` above `fullSoftmaxUpTo` known
 * products) at 10,000 and at 100,000 products, with the same shoppers: a step should cost the
 * rows its batch touches, not the catalogue, so the ratio should be near 1.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import { outputFile, parseArgs } from '../cli/common.js';
import { crossEntropy, itemCrossEntropy, matMul } from '../cli/tf-ops.js';
import { trainBaseParams } from '../cli/train/train-base.js';
import { initBackend } from '../core/backend.js';
import { DEFAULT_HEAD_OPTIONS } from '../core/head.js';
import { gaussian, mulberry32 } from '../core/rng.js';

async function median(f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const r = f();
    const all = Array.isArray(r) ? r : [r];
    await Promise.all(all.map((t) => t.data()));
    const ms = performance.now() - t0;
    tf.dispose(all);
    return ms;
  };
  await once();
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) runs.push(await once());
  return runs.sort((a, b) => a - b)[2]!;
}

export interface TrainOpsCase {
  rows: number;
  items: number;
  dims: number;
  /** ms: q·Vᵀ (logits) with its gradient, through tf.matMul, and through tf-ops' matMul. */
  productTf: number;
  productOurs: number;
  productRatio: number;
  /** ms: softmax cross-entropy with its gradient, tfjs's loss, and tf-ops' crossEntropy. */
  lossTf: number;
  lossOurs: number;
  lossRatio: number;
}

async function measure(rows: number, items: number, dims: number): Promise<TrainOpsCase> {
  const Q = tf.randomNormal([rows, dims], 0, 1, 'float32', 1);
  const V = tf.randomNormal([items, dims], 0, 0.2, 'float32', 2);
  const X = tf.randomNormal([rows, items], 0, 2, 'float32', 3) as tf.Tensor2D;
  const labels = tf.tensor1d(
    Int32Array.from({ length: rows }, (_, r) => (r * 7919) % items),
    'int32',
  );
  const onehot = tf.oneHot(labels, items);
  const productTf = await median(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.matMul(a, b, false, true)))([Q, V]));
  const productOurs = await median(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(matMul(a, b, false, true)))([Q, V]));
  const lossTf = await median(() => tf.grad((x: tf.Tensor) => tf.losses.softmaxCrossEntropy(onehot, x))(X));
  const lossOurs = await median(() => tf.grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels))(X));
  tf.dispose([Q, V, X, labels, onehot]);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return {
    rows,
    items,
    dims,
    productTf: r(productTf),
    productOurs: r(productOurs),
    productRatio: r(productTf / productOurs),
    lossTf: r(lossTf),
    lossOurs: r(lossOurs),
    lossRatio: r(lossTf / lossOurs),
  };
}

export interface ItemHeadCase {
  rows: number;
  items: number;
  dims: number;
  /** ms: the loss with its gradients for the rows and the items, as crossEntropy(matMul(rows, items, false, true)). */
  plain: number;
  /** ms: the same through itemCrossEntropy. */
  ours: number;
  ratio: number;
}

/** SASRec's full-softmax head at `rows` positions over `items` items (see the file's comment). */
export async function itemHead(rows: number, items: number, dims: number): Promise<ItemHeadCase> {
  const H = tf.randomNormal([rows, dims], 0, 1, 'float32', 4);
  const E = tf.randomNormal([items, dims], 0, 0.2, 'float32', 5);
  const labels = tf.tensor1d(
    Int32Array.from({ length: rows }, (_, r) => (r * 7919) % items),
    'int32',
  );
  const plain = await median(() =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => crossEntropy(matMul(a as tf.Tensor2D, b, false, true), labels))([H, E]),
  );
  const ours = await median(() =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => itemCrossEntropy(a as tf.Tensor2D, b as tf.Tensor2D, labels, rows * items))([H, E]),
  );
  tf.dispose([H, E, labels]);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { rows, items, dims, plain: r(plain), ours: r(ours), ratio: Math.round((plain / ours) * 100) / 100 };
}

export interface SampledStepCase {
  /** Products in the catalogue, all known to the log (so all drawn from). */
  items: number;
  dims: number;
  /** Steps timed (after `warmup` untimed ones), each a batch of `batch` examples against `negatives` drawn products. */
  steps: number;
  batch: number;
  negatives: number;
  /** ms: the median step. */
  msPerStep: number;
}

/**
 * The median step of the base's sampled softmax at `items` products. The shoppers (seeded, the
 * same at every size) buy among the first `shopped` products, so the batches are the same and
 * only the catalogue grows.
 */
export async function sampledStep(
  items: number,
  o: { dims?: number; shoppers?: number; shopped?: number; batch?: number; negatives?: number; warmup?: number } = {},
): Promise<SampledStepCase> {
  const dims = o.dims ?? 64;
  const batch = o.batch ?? 512;
  const negatives = o.negatives ?? 1024;
  const warmup = o.warmup ?? 2;
  const shopped = Math.min(o.shopped ?? 10_000, items);
  const rand = mulberry32(11);
  const E = Float32Array.from({ length: items * dims }, () => gaussian(rand) / Math.sqrt(dims));
  // 21 purchases a shopper: 20 examples each, each with a history of up to 20 items.
  const sequences = Array.from({ length: o.shoppers ?? 400 }, () =>
    Array.from({ length: 21 }, () => Math.floor(rand() * rand() * shopped)),
  );
  const times: number[] = [];
  let t0 = performance.now();
  await trainBaseParams(E, items, dims, sequences, new Uint8Array(items).fill(1), new Float32Array(items), 0, {
    epochs: 1,
    batchSize: batch,
    learningRate: 0.005,
    l2: 1e-4,
    temperature: 5,
    seed: 1,
    history: DEFAULT_HEAD_OPTIONS,
    fullSoftmaxUpTo: 0,
    sampledNegatives: negatives,
    onProgress: () => {
      const now = performance.now();
      times.push(now - t0);
      t0 = now;
    },
  });
  const timed = times.slice(warmup).sort((a, b) => a - b);
  if (timed.length === 0) throw new Error(`${times.length} steps, none past the ${warmup} of warm-up: give more shoppers`);
  return { items, dims, steps: timed.length, batch, negatives, msPerStep: Math.round(timed[timed.length >> 1]! * 10) / 10 };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const args = parseArgs(process.argv.slice(2), { out: 'string' });
  // The folder of --out is made now, not found missing after the run.
  const out = args['out'] ? outputFile(args['out']) : null;
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`This bench needs the wasm backend: ${backend.reason}`);
  const base = await measure(512, 3659, 64);
  const sasrec = await measure(128 * 30, 3659, 64);
  const head = await itemHead(3294, 3659, 64);
  // Last: its catalogues of 100,000 rows leave the heap larger than the ops above found it.
  const small = await sampledStep(10_000);
  const large = await sampledStep(100_000);
  const result = {
    backend: backend.name,
    base,
    sasrec,
    itemHead: head,
    sampledStep: { small, large, ratio: Math.round((large.msPerStep / small.msPerStep) * 100) / 100 },
  };
  console.log(JSON.stringify(result, null, 2));
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}
