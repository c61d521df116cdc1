/**
 * Training ops for the tools (base training, SASRec) that stay fast on the tfjs wasm backend.
 *
 * The wasm backend's matMul is fast on contiguous operands but many times slower when asked to
 * transpose an operand itself (`transposeA` / `transposeB`), and tfjs's own matMul gradient asks
 * for exactly that. `matMul` here transposes explicitly (one pass) and has a gradient that does
 * the same; `crossEntropy` makes its gradient from one softmax. `npm run bench:train-ops`
 * measures both against tfjs's own at the tools' shapes (docs/train-ops.json: 4.8 to 4.9 times
 * faster for a product and its gradient, 5.2 to 5.7 for the loss and its gradient).
 */
/* eslint-disable no-restricted-properties -- the tools run on wasm or cpu, where a synchronous read is a copy, and a custom gradient's forward pass cannot await. */
import * as tf from '@tensorflow/tfjs-core';

/** Swaps the last two axes (2-D or batched 3-D). */
function swapLast(x: tf.Tensor): tf.Tensor {
  return x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1]);
}

/**
 * op(a) × op(b) from plain products of contiguous operands. Either the operands asked to be
 * transposed are transposed, or the product is taken the other way round, (op(b)ᵀ op(a)ᵀ)ᵀ, and
 * its result transposed: whichever moves fewer values (a transpose is a full pass).
 */
function product(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  const m = transposeA ? a.shape[a.rank - 1]! : a.shape[a.rank - 2]!;
  const p = transposeB ? b.shape[b.rank - 2]! : b.shape[b.rank - 1]!;
  const direct = (transposeA ? a.size : 0) + (transposeB ? b.size : 0);
  const reversed = (transposeA ? 0 : a.size) + (transposeB ? 0 : b.size) + (a.size / (a.shape[a.rank - 1]! * a.shape[a.rank - 2]!)) * m * p;
  if (direct <= reversed) return tf.matMul((transposeA ? swapLast(a) : a) as tf.Tensor2D, (transposeB ? swapLast(b) : b) as tf.Tensor2D);
  return swapLast(tf.matMul((transposeB ? b : swapLast(b)) as tf.Tensor2D, (transposeA ? a : swapLast(a)) as tf.Tensor2D));
}

/**
 * `op(a) × op(b)` for 2-D or batched 3-D operands of the same rank, where op transposes the last
 * two axes if asked; the same value as `tf.matMul`, with a gradient made of plain products.
 */
export function matMul<T extends tf.Tensor>(a: T, b: tf.Tensor, transposeA = false, transposeB = false): T {
  const f = tf.customGrad(((x: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    save([x, y]);
    return {
      value: product(x, y, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
        // C = A'B' with A' = op(a), B' = op(b): dA' = dC B'ᵀ, dB' = A'ᵀ dC.
        const da = transposeA ? product(sb, dy, transposeB, true) : product(dy, sb, false, !transposeB);
        const db = transposeB ? product(dy, sa, true, transposeA) : product(sa, dy, !transposeA, false);
        return [da, db];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(a, b) as T;
}

/**
 * Mean softmax cross-entropy of `logits` [B, n] against the true columns `labels` [B] (int32),
 * weighted per row by `weights` [B] when given (the mean is over the weights' sum).
 *
 * At a full softmax over thousands of items the loss, not the products, is the cost. Here the
 * gradient (softmax − one-hot, scaled per row) is made in the forward pass from one backend
 * softmax and one pass over its values, instead of a dozen tensor passes. Needs a backend whose
 * `dataSync` is cheap (wasm, cpu: the tools' backends). The loss reported is clamped where the
 * true item's probability underflows float32 (below about 1e-38): the gradient is not.
 */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  const [B, n] = logits.shape;
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu')
    throw new Error(`crossEntropy reads values synchronously: wasm or cpu only, not ${backend}.`);
  const y = labels.dataSync();
  const w = weights ? weights.dataSync() : new Float32Array(B).fill(1);
  let wSum = 0;
  for (let r = 0; r < B; r++) wSum += w[r]!;
  const denom = Math.max(wSum, 1e-9);
  const f = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const p = tf.softmax(x);
    const g = p.dataSync() as Float32Array;
    p.dispose();
    let loss = 0;
    for (let r = 0; r < B; r++) {
      const o = r * n;
      const k = w[r]! / denom;
      const at = o + y[r]!;
      if (k === 0) {
        g.fill(0, o, o + n);
        continue;
      }
      loss -= k * Math.log(Math.max(g[at]!, 1e-38));
      if (k !== 1) for (let i = o; i < o + n; i++) g[i]! *= k;
      g[at]! -= k;
    }
    const grad = tf.tensor2d(g, [B, n]);
    save([grad]);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0]!, dy),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(logits) as tf.Scalar;
}
