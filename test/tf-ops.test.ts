/** The tools' training ops give tfjs's own values and gradients. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  crossEntropy,
  itemCrossEntropy,
  matMul,
  sparseMatMul,
  sumRowsInto,
  transposeInto,
  weightedSparse,
  type SparseRows,
} from '../src/cli/tf-ops.js';
import { useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

function close(a: tf.Tensor, b: tf.Tensor, tol = 1e-4): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  expect(worst).toBeLessThan(tol);
}

describe('matMul', () => {
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const)
    for (const batch of [0, 3])
      it(`matches tf.matMul and its gradient (transposeA ${ta}, transposeB ${tb}, ${batch ? 'batched' : '2-D'})`, () => {
        const m = 5;
        const k = 7;
        const p = 4;
        const shape = (r: number, c: number, t: boolean): number[] => [...(batch ? [batch] : []), ...(t ? [c, r] : [r, c])];
        const a = tf.randomNormal(shape(m, k, ta), 0, 1, 'float32', 1);
        const b = tf.randomNormal(shape(k, p, tb), 0, 1, 'float32', 2);
        const w = tf.randomNormal(shape(m, p, false), 0, 1, 'float32', 3);
        // A loss that weights every output differently, so each gradient entry is checked.
        const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x, y, ta, tb), w)));
        const theirs = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, ta, tb), w)));
        close(matMul(a, b, ta, tb), tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, ta, tb));
        const [ga, gb] = ours([a, b]);
        const [ha, hb] = theirs([a, b]);
        close(ga!, ha!);
        close(gb!, hb!);
      });
});

describe('crossEntropy', () => {
  it('matches tfjs’s softmax cross-entropy and its gradient, weighted or not', () => {
    const logits = tf.randomNormal([6, 9], 0, 3, 'float32', 4) as tf.Tensor2D;
    const labels = tf.tensor1d([0, 8, 3, 3, 5, 1], 'int32');
    const weights = tf.tensor1d([1, 0, 2, 1, 0.5, 1]);
    const onehot = tf.oneHot(labels, 9);
    for (const w of [undefined, weights]) {
      // The definition, through tfjs's own log-softmax and its automatic gradient.
      const mean = (x: tf.Tensor): tf.Scalar => {
        const ce = tf.neg(tf.sum(tf.mul(onehot, tf.logSoftmax(x)), 1));
        const ww = w ?? tf.ones([6]);
        return tf.div(tf.sum(tf.mul(ce, ww)), tf.sum(ww)) as tf.Scalar;
      };
      close(crossEntropy(logits, labels, w), mean(logits));
      close(tf.grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels, w))(logits), tf.grad(mean)(logits));
    }
    // tfjs's own loss agrees without weights.
    close(crossEntropy(logits, labels), tf.losses.softmaxCrossEntropy(onehot, logits));
  });
  it('is finite for logits far from zero, and zero-weight rows get no gradient', () => {
    const logits = tf.tensor2d([
      [1000, -1000, 0],
      [-500, 500, 10],
    ]);
    const labels = tf.tensor1d([1, 1], 'int32');
    const v = crossEntropy(logits, labels, tf.tensor1d([0, 1])).dataSync()[0]!;
    expect(v).toBeCloseTo(0, 4);
    const g = tf
      .grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor2D, labels, tf.tensor1d([0, 1])))(logits)
      .arraySync() as number[][];
    expect(g[0]!.map(Math.abs)).toEqual([0, 0, 0]);
    expect(Number.isFinite(crossEntropy(logits, labels).dataSync()[0]!)).toBe(true);
  });
});

describe('itemCrossEntropy', () => {
  it('gives crossEntropy of the rows scored against every item, value and gradients, a block of rows at a time', () => {
    const h = tf.randomNormal([7, 5], 0, 1, 'float32', 5) as tf.Tensor2D;
    const items = tf.randomNormal([9, 5], 0, 1, 'float32', 6) as tf.Tensor2D;
    const labels = tf.tensor1d([0, 8, 3, 3, 5, 1, 2], 'int32');
    const plain = (x: tf.Tensor, e: tf.Tensor): tf.Scalar => crossEntropy(matMul(x as tf.Tensor2D, e, false, true), labels);
    const [ph, pe] = tf.grads(plain)([h, items]);
    // One row a block, two rows (the last block of one), less than one row (one still), all at once.
    for (const maxLogits of [9, 18, 4, 1_000]) {
      const ours = (x: tf.Tensor, e: tf.Tensor): tf.Scalar => itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, maxLogits);
      close(ours(h, items), plain(h, items), 1e-5);
      const [gh, ge] = tf.grads(ours)([h, items]);
      close(gh!, ph!, 1e-5);
      close(ge!, pe!, 1e-5);
    }
  });
  it('gives in one block the very numbers of crossEntropy of matMul, value and gradients', () => {
    // SASRec's training took the plain path below softmaxLogits and this one above it; it now
    // takes this one always, and prints the same figures only if these are the same to the bit.
    const [R, n, d] = [37, 301, 16];
    const h = tf.randomNormal([R, d], 0, 1, 'float32', 11) as tf.Tensor2D;
    const items = tf.randomNormal([n, d], 0, 1, 'float32', 12) as tf.Tensor2D;
    const labels = tf.tensor1d(
      Array.from({ length: R }, (_, r) => (r * 13) % n),
      'int32',
    );
    const plain = (x: tf.Tensor, e: tf.Tensor): tf.Scalar => crossEntropy(matMul(x as tf.Tensor2D, e, false, true), labels);
    const ours = (x: tf.Tensor, e: tf.Tensor): tf.Scalar => itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, R * n);
    expect(ours(h, items).dataSync()[0]).toBe(plain(h, items).dataSync()[0]);
    const [ph, pe] = tf.grads(plain)([h, items]);
    const [gh, ge] = tf.grads(ours)([h, items]);
    expect(Array.from(gh!.dataSync())).toEqual(Array.from(ph!.dataSync()));
    expect(Array.from(ge!.dataSync())).toEqual(Array.from(pe!.dataSync()));
  });
  it('adds the logits given beside the product in their order, with their gradients, to the very numbers of the plain sum', () => {
    // The base's full softmax scores q · Vᵀ + (b + mask) + the sparse terms, and prints the same
    // figures through this op only if the value and every gradient are the same to the bit.
    const [R, n, d] = [29, 211, 8];
    const h = tf.randomNormal([R, d], 0, 1, 'float32', 21) as tf.Tensor2D;
    const items = tf.randomNormal([n, d], 0, 1, 'float32', 22) as tf.Tensor2D;
    const row = tf.randomNormal([n], 0, 1, 'float32', 23);
    const dense = tf.randomNormal([R, n], 0, 1, 'float32', 24);
    const labels = tf.tensor1d(
      Array.from({ length: R }, (_, r) => (r * 17) % n),
      'int32',
    );
    // The row's and the dense term's gradients come back through a product, so that each is read
    // as its caller's autodiff would pass it on.
    const plain = (x: tf.Tensor, e: tf.Tensor, b: tf.Tensor, s: tf.Tensor): tf.Scalar =>
      crossEntropy(tf.add(tf.add(matMul(x as tf.Tensor2D, e, false, true), tf.mul(b, 1.5)), tf.mul(s, 0.5)) as tf.Tensor2D, labels);
    const ours = (x: tf.Tensor, e: tf.Tensor, b: tf.Tensor, s: tf.Tensor): tf.Scalar =>
      itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, Infinity, [tf.mul(b, 1.5), tf.mul(s, 0.5)]);
    expect(ours(h, items, row, dense).dataSync()[0]).toBe(plain(h, items, row, dense).dataSync()[0]);
    const expected = tf.grads(plain)([h, items, row, dense]);
    const got = tf.grads(ours)([h, items, row, dense]);
    for (let k = 0; k < 4; k++) {
      expect(got[k]!.shape).toEqual(expected[k]!.shape);
      expect(Array.from(got[k]!.dataSync())).toEqual(Array.from(expected[k]!.dataSync()));
    }
    // Blocks of rows slice a dense term and leave a row whole.
    const blocks = (x: tf.Tensor, e: tf.Tensor, b: tf.Tensor, s: tf.Tensor): tf.Scalar =>
      itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, 5 * n, [tf.mul(b, 1.5), tf.mul(s, 0.5)]);
    close(blocks(h, items, row, dense), plain(h, items, row, dense), 1e-5);
    const inBlocks = tf.grads(blocks)([h, items, row, dense]);
    for (let k = 0; k < 4; k++) close(inBlocks[k]!, expected[k]!, 1e-5);
    // A row given as [1, n] takes its gradient in that shape, the same numbers.
    const asRow = (x: tf.Tensor, e: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, Infinity, [tf.reshape(b, [1, n])]);
    const plainRow = (x: tf.Tensor, e: tf.Tensor, b: tf.Tensor): tf.Scalar =>
      crossEntropy(tf.add(matMul(x as tf.Tensor2D, e, false, true), tf.reshape(b, [1, n])) as tf.Tensor2D, labels);
    const rowGot = tf.grads(asRow)([h, items, row]);
    const rowWant = tf.grads(plainRow)([h, items, row]);
    for (let k = 0; k < 3; k++) expect(Array.from(rowGot[k]!.dataSync())).toEqual(Array.from(rowWant[k]!.dataSync()));
    expect(() => itemCrossEntropy(h, items, labels, Infinity, [tf.zeros([R, n + 1])])).toThrow(/cannot add/);
    // Nothing is left behind, in one block or in several.
    for (const maxLogits of [Infinity, 5 * n]) {
      const before = tf.memory().numTensors;
      tf.dispose(
        tf.grads((x: tf.Tensor, e: tf.Tensor, b: tf.Tensor, s: tf.Tensor) =>
          itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, maxLogits, [b, s]),
        )([h, items, row, dense]),
      );
      expect(tf.memory().numTensors).toBe(before);
    }
  });
  it('holds a block of logits, not every row’s, and leaves no tensor behind', async () => {
    const [R, n] = [256, 2_000];
    const h = tf.randomNormal([R, 8], 0, 1, 'float32', 7) as tf.Tensor2D;
    const items = tf.randomNormal([n, 8], 0, 1, 'float32', 8) as tf.Tensor2D;
    const labels = tf.tensor1d(
      Array.from({ length: R }, (_, r) => (r * 31) % n),
      'int32',
    );
    const peak = async (loss: (x: tf.Tensor, e: tf.Tensor) => tf.Scalar): Promise<number> => {
      const before = tf.memory().numTensors;
      const info = await tf.profile(() => {
        const [a, b] = tf.grads(loss)([h, items]);
        tf.dispose([a!, b!]);
      });
      expect(tf.memory().numTensors).toBe(before);
      return info.peakBytes;
    };
    // One [R, n] float tensor's bytes: the plain loss holds the logits and their softmax at once.
    const all = R * n * 4;
    expect(await peak((x, e) => crossEntropy(matMul(x as tf.Tensor2D, e, false, true), labels))).toBeGreaterThan(all);
    expect(await peak((x, e) => itemCrossEntropy(x as tf.Tensor2D, e as tf.Tensor2D, labels, 8 * n))).toBeLessThan(all / 2);
  });
});

describe('sparse ops', () => {
  /** A 4 × 6 sparse matrix with a repeated entry (they add up), and the same made dense. */
  const sparse = (seed: number): { s: SparseRows; dense: tf.Tensor2D } => {
    const row = Int32Array.from([0, 0, 1, 3, 3, 2, 0]);
    const col = Int32Array.from([1, 4, 0, 5, 5, 2, 1]);
    const val = Float32Array.from(row, (_, j) => Math.sin(seed + j) * 2);
    const d = new Float32Array(24);
    row.forEach((r, j) => (d[r * 6 + col[j]!]! += val[j]!));
    return { s: { rows: 4, cols: 6, row, col, val }, dense: tf.tensor2d(d, [4, 6]) };
  };

  it('sparseMatMul matches tf.matMul on the dense matrix, value and gradient', () => {
    const { s, dense } = sparse(1);
    const x = tf.randomNormal([6, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
    const w = tf.randomNormal([4, 3], 0, 1, 'float32', 5);
    close(sparseMatMul(s, x), tf.matMul(dense, x));
    const ours = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(sparseMatMul(s, y as tf.Tensor2D), w)));
    const theirs = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(dense, y as tf.Tensor2D), w)));
    close(ours(x), theirs(x));
    expect(() => sparseMatMul({ ...s, col: Int32Array.from([1, 4, 0, 6, 5, 2, 1]) }, x)).toThrow(/outside 4 × 6/);
  });

  it('weightedSparse matches Σ w·S on the dense matrices, value and gradient', () => {
    const a = sparse(1);
    const b = sparse(7);
    const wts = tf.tensor1d([0.5, -2]);
    const up = tf.randomNormal([4, 6], 0, 1, 'float32', 6);
    const reference = (w: tf.Tensor): tf.Tensor => tf.add(tf.mul(tf.slice(w, [0], [1]), a.dense), tf.mul(tf.slice(w, [1], [1]), b.dense));
    close(weightedSparse(wts, [a.s, b.s]), reference(wts));
    const ours = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(weightedSparse(w as tf.Tensor1D, [a.s, b.s]), up)));
    const theirs = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(reference(w), up)));
    close(ours(wts), theirs(wts));
    expect(() => weightedSparse(tf.tensor1d([1]), [a.s, b.s])).toThrow(/1 weights for 2/);
  });
});

describe('transposeInto', () => {
  it('writes every shape transposed, rows in eights and the rows left over', () => {
    for (const [rows, cols] of [
      [13, 7],
      [8, 3],
      [16, 5],
      [1, 4],
      [7, 1],
      [0, 3],
    ] as const) {
      const a = Float32Array.from({ length: rows * cols }, (_, i) => i + 0.5);
      const out = new Float32Array(rows * cols).fill(-1);
      transposeInto(a, rows, cols, out);
      const want = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[c * rows + r] = a[r * cols + c]!;
      expect(Array.from(out)).toEqual(Array.from(want));
    }
  });
});

describe('sumRowsInto', () => {
  it('gives the wasm backend’s column sums to the bit, whole and block after block', () => {
    // Values of mixed size and sign, so that any other order or rounding of the sum shows.
    const [rows, cols] = [512, 300];
    const a = tf.randomNormal([rows, cols], 0, 1, 'float32', 31);
    const big = tf.mul(a, tf.pow(10, tf.randomUniform([rows, cols], -3, 3, 'float32', 32)));
    const values = big.dataSync() as Float32Array;
    const want = Array.from(tf.sum(big, [0]).dataSync());
    const aT = new Float32Array(rows * cols);
    transposeInto(values, rows, cols, aT);
    const whole = new Float32Array(cols);
    sumRowsInto(aT, cols, rows, whole);
    expect(Array.from(whole)).toEqual(want);
    // Blocks of 100 rows (the last of 12), each transposed alone, summed in turn.
    const blocks = new Float32Array(cols);
    for (let from = 0; from < rows; from += 100) {
      const n = Math.min(100, rows - from);
      const part = new Float32Array(n * cols);
      transposeInto(values.subarray(from * cols, (from + n) * cols), n, cols, part);
      sumRowsInto(part, cols, n, blocks);
    }
    expect(Array.from(blocks)).toEqual(want);
    // A float64 sum is not what the backend gives here (the check can tell the orders apart).
    const wide = Array.from({ length: cols }, (_, c) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += values[r * cols + c]!;
      return Math.fround(s);
    });
    expect(wide).not.toEqual(want);
    tf.dispose([a, big]);
  });
});
