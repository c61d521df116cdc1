/**
 * `npm run bench:train-ops [-- --out F]`: the eval's training ops (src/cli/tf-ops.ts) against
 * tfjs's own, on the wasm backend, at the shapes the tools train at:
 *   - base: a batch of 512 shoppers over Online Retail's 3,659 items, d = 64 (train-base.ts);
 *   - sasrec: 128 windows × 30 positions over the same catalogue, full softmax (sequence-model.ts).
 * For each: the product's value and gradient (tf.matMul's gradient asks the backend for
 * transposed products) and the cross-entropy's value and gradient. Each figure is the median of
 * 5 runs after one warm-up; compare the ratios, measured in the same run.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import { parseArgs } from '../cli/common.js';
import { crossEntropy, matMul } from '../cli/tf-ops.js';
import { initBackend } from '../core/backend.js';

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

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const args = parseArgs(process.argv.slice(2), { out: 'string' });
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`This bench needs the wasm backend: ${backend.reason}`);
  const result = { backend: backend.name, base: await measure(512, 3659, 64), sasrec: await measure(128 * 30, 3659, 64) };
  console.log(JSON.stringify(result, null, 2));
  if (args['out']) writeFileSync(String(args['out']), JSON.stringify(result, null, 2) + '\n');
}
