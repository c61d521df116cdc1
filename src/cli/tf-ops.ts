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
  readsSynchronously('crossEntropy');
  const y = labels.dataSync();
  const w = weights ? weights.dataSync() : new Float32Array(B).fill(1);
  let wSum = 0;
  for (let r = 0; r < B; r++) wSum += w[r]!;
  const denom = Math.max(wSum, 1e-9);
  const f = tf.customGrad(((x: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const p = tf.softmax(x);
    const g = p.dataSync() as Float32Array;
    p.dispose();
    const loss = softmaxToGradient(g, n, y, 0, (r) => w[r]! / denom);
    const grad = tf.tensor2d(g, [B, n]);
    save([grad]);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0]!, dy),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(logits) as tf.Scalar;
}

/** Throws unless the backend reads values synchronously at the cost of a copy (wasm, cpu). */
function readsSynchronously(op: string): void {
  const backend = tf.getBackend();
  if (backend !== 'wasm' && backend !== 'cpu') throw new Error(`${op} reads values synchronously: wasm or cpu only, not ${backend}.`);
}

/**
 * Turns rows of softmax probabilities `g` (n a row) into the gradient of their weighted
 * cross-entropy, in place: row r (label `y[first + r]`, weight `weightOf(r)`) becomes
 * k · (p − one-hot), 0 where k is 0. Returns the rows' share of the loss, −Σ k · log p(label),
 * each p clamped at 1e-38 (the gradient is not).
 */
function softmaxToGradient(g: Float32Array, n: number, y: ArrayLike<number>, first: number, weightOf: (r: number) => number): number {
  let loss = 0;
  for (let r = 0; r < g.length / n; r++) {
    const o = r * n;
    const k = weightOf(r);
    const at = o + y[first + r]!;
    if (k === 0) {
      g.fill(0, o, o + n);
      continue;
    }
    loss -= k * Math.log(Math.max(g[at]!, 1e-38));
    if (k !== 1) for (let i = o; i < o + n; i++) g[i]! *= k;
    g[at]! -= k;
  }
  return loss;
}

/**
 * Writes the [rows, cols] row-major `a` transposed into `out` ([cols, rows]). Eight rows at a
 * time: each column's eight values go out as one run, which keeps the writes in cache lines
 * (about 1.5 times as fast as square tiles on a SASRec step's gradient, 3,294 × 3,659).
 */
export function transposeInto(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  let r0 = 0;
  for (; r0 + 8 <= rows; r0 += 8) {
    for (let c = 0, b = r0 * cols, o = r0; c < cols; c++, b++, o += rows) {
      out[o] = a[b]!;
      out[o + 1] = a[b + cols]!;
      out[o + 2] = a[b + 2 * cols]!;
      out[o + 3] = a[b + 3 * cols]!;
      out[o + 4] = a[b + 4 * cols]!;
      out[o + 5] = a[b + 5 * cols]!;
      out[o + 6] = a[b + 6 * cols]!;
      out[o + 7] = a[b + 7 * cols]!;
    }
  }
  for (; r0 < rows; r0++) for (let c = 0; c < cols; c++) out[c * rows + r0] = a[r0 * cols + c]!;
}

/**
 * Adds each of the `cols` rows of `aT` ([cols, rows] row-major) into `sums[c]`, one value after
 * another in float32, from the first to the last: the order and rounding of the wasm backend's
 * `tf.sum(a, 0)` (it transposes a and sums each row so), so that a sum over blocks of rows, taken
 * block after block, gives its very numbers, without the backend's transpose of a.
 */
export function sumRowsInto(aT: Float32Array, cols: number, rows: number, sums: Float32Array): void {
  for (let c = 0, o = 0; c < cols; c++, o += rows) {
    let s = sums[c]!;
    for (let r = o; r < o + rows; r++) s = Math.fround(s + aT[r]!);
    sums[c] = s;
  }
}

/** `itemCrossEntropy`'s transposed gradient, kept from step to step (a SASRec step's is 48 MB). */
let scratch = new Float32Array(0);

/**
 * Mean softmax cross-entropy of the logits `h` · `items`ᵀ ([R, d] · [n, d]ᵀ) against the true
 * columns `labels` [R] (int32): the value of `crossEntropy(matMul(h, items, false, true), labels)`,
 * with the gradients for `h` and `items`, made `maxLogits` logits at a time (whole rows, at least
 * one). The logits of a full softmax over a large catalogue are what a step holds at its peak
 * (R × n floats: 768 MB for 3,840 rows of 50,000 items, and that again for the softmax and for its
 * gradient), so each block of rows is scored, turned into its gradients ([rows, d] for `h`, a
 * share of [n, d] for `items`) and let go before the next. Wasm or cpu only (see `crossEntropy`).
 *
 * The items' share is made as gᵀ · rows, with gᵀ (the block's gradient transposed) written in
 * JavaScript from the values the loss reads anyway: the wasm backend's product packs its right
 * operand, so rowsᵀ · g would pack the whole [rows, n] gradient at every step (164 ms against
 * 60 ms for gᵀ · rows in a profile of a SASRec step at Online Retail's shapes), and the backend's
 * own transpose of that gradient takes longer than writing it here.
 * Each item's share sums the same products in the same order as rowsᵀ · g: the same numbers.
 *
 * `addends` are logits added to the product, in their order ((h · itemsᵀ + a₁) + a₂ …), each a
 * row for every row ([n] or [1, n]: the base's biases and mask) or one of their own ([R, n]: its
 * shopper's sparse terms); each takes its share of the gradient, a row's the sum over the rows,
 * added in JavaScript from the transposed gradient in the order the backend's `Sum` adds them
 * (`sumRowsInto`), where the backend would first transpose the whole gradient to sum it.
 */
export function itemCrossEntropy(
  h: tf.Tensor2D,
  items: tf.Tensor2D,
  labels: tf.Tensor1D,
  maxLogits: number,
  addends: readonly tf.Tensor[] = [],
): tf.Scalar {
  const [R, d] = h.shape;
  const n = items.shape[0];
  if (items.shape[1] !== d) throw new RangeError(`rows of ${d} cannot score items of ${items.shape[1]}`);
  if (labels.shape[0] !== R) throw new RangeError(`${labels.shape[0]} labels for ${R} rows`);
  // Each addend is a row of the items' logits for every row ([n] or [1, n]) or one for each ([R, n]).
  const whole = addends.map((a) => {
    const shape = a.shape.join(',');
    if (shape === `${n}` || shape === `1,${n}`) return false;
    if (shape === `${R},${n}`) return true;
    throw new RangeError(`cannot add logits of shape [${shape}] to ${R} rows of ${n} items`);
  });
  readsSynchronously('itemCrossEntropy');
  const y = labels.dataSync();
  const block = Math.max(1, Math.floor(maxLogits / Math.max(n, 1)));
  const f = tf.customGrad(((...args: tf.Tensor[]) => {
    const x = args[0] as tf.Tensor2D;
    const e = args[1] as tf.Tensor2D;
    const added = args.slice(2, 2 + addends.length);
    const save = args[2 + addends.length] as unknown as tf.GradSaveFunc;
    const eT = tf.transpose(e);
    const dxParts: tf.Tensor[] = [];
    // The addends' gradients: each block's [rows, n] gradient where an addend has a row for each
    // of the R rows; where one is a single row, its gradient, the sum of the rows' (see below).
    const keepRows = whole.includes(true);
    const gradParts: tf.Tensor[] = [];
    const colSum = whole.includes(false) ? new Float32Array(n) : null;
    // ∂/∂items summed over the blocks, [n, d]: each block's is a plain product.
    let ge: tf.Tensor = tf.zeros([n, d]);
    let loss = 0;
    for (let from = 0; from < R; from += block) {
      const rows = Math.min(block, R - from);
      if (scratch.length < rows * n) scratch = new Float32Array(rows * n);
      const gT = scratch.subarray(0, rows * n);
      // Each [rows, n] tensor goes as soon as it is read, so that the wasm heap holds two at most
      // (and the block's gradient, where addends need it).
      const [dx, sum, kept] = tf.tidy(() => {
        const xs = tf.slice(x, [from, 0], [rows, d]);
        let logits = tf.matMul(xs, eT);
        // Added in their order, as (product + a₁) + a₂ …: the same sums as the plain expression.
        added.forEach((a, k) => {
          const next = tf.add(logits, whole[k] && rows < R ? tf.slice(a, [from, 0], [rows, n]) : a);
          logits.dispose();
          logits = next;
        });
        const p = tf.softmax(logits);
        logits.dispose();
        const g = p.dataSync() as Float32Array;
        p.dispose();
        loss += softmaxToGradient(g, n, y, from, () => 1 / R);
        const grad = tf.tensor2d(g, [rows, n]);
        const dx = tf.matMul(grad, e);
        if (!keepRows) grad.dispose();
        transposeInto(g, rows, n, gT);
        if (colSum) sumRowsInto(gT, n, rows, colSum);
        const gradT = tf.tensor2d(gT, [n, rows]);
        const share = tf.matMul(gradT, xs);
        gradT.dispose();
        return [dx, tf.add(ge, share), keepRows ? grad : null];
      });
      dxParts.push(dx);
      if (kept) gradParts.push(kept);
      ge.dispose();
      ge = sum;
    }
    const gx = dxParts.length === 1 ? dxParts[0]! : tf.concat(dxParts);
    if (dxParts.length > 1) tf.dispose(dxParts);
    // Each addend's gradient is the logits' own: whole for [R, n]; for a row, summed over the rows.
    const gl = gradParts.length <= 1 ? gradParts[0] : tf.concat(gradParts);
    if (gradParts.length > 1) tf.dispose(gradParts);
    const gRow = colSum ? tf.tensor1d(colSum) : null;
    const ga = added.map((a, k) => (whole[k] ? gl! : a.rank === 1 ? gRow! : tf.reshape(gRow!, a.shape)));
    eT.dispose();
    // A gradient shared by several addends is saved once (`save` keeps copies: the gradients are read from them).
    const distinct = [...new Set(ga)];
    save([gx, ge, ...distinct]);
    const at = ga.map((g) => 2 + distinct.indexOf(g));
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.mul(saved[0]!, dy),
        tf.mul(saved[1]!, dy),
        ...at.map((k) => tf.mul(saved[k]!, dy)),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (f as unknown as (...t: tf.Tensor[]) => tf.Scalar)(h, items, ...addends);
}

/**
 * A sparse [rows × cols] matrix in coordinate form: entry j is (row[j], col[j]) = val[j], and
 * entries at the same place add up. The base's training keeps each shopper's history (about 20
 * items) and transition votes (a few hundred) this way instead of as dense rows of the catalogue.
 */
export interface SparseRows {
  rows: number;
  cols: number;
  row: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Checks that every entry of `s` lies within its shape. */
function checkSparse(s: SparseRows): void {
  const { row, col, val } = s;
  if (row.length !== col.length || row.length !== val.length)
    throw new RangeError('a sparse matrix needs one row, column and value per entry');
  for (let j = 0; j < row.length; j++) {
    if (!(row[j]! >= 0 && row[j]! < s.rows && col[j]! >= 0 && col[j]! < s.cols)) {
      throw new RangeError(`entry ${j} at (${row[j]}, ${col[j]}) lies outside ${s.rows} × ${s.cols}`);
    }
  }
}

/**
 * S × x for a constant sparse S [rows × cols] and x [cols × d]: the value of `tf.matMul` on S made
 * dense, and its gradient for x (Sᵀ dy), each in one pass over S's entries. A dense product would
 * multiply every row of the catalogue, nearly all by 0. Wasm or cpu only (values read in place).
 */
export function sparseMatMul(s: SparseRows, x: tf.Tensor2D): tf.Tensor2D {
  checkSparse(s);
  if (x.shape[0] !== s.cols) throw new RangeError(`a ${s.rows} × ${s.cols} sparse matrix cannot multiply ${x.shape[0]} rows`);
  const d = x.shape[1];
  const f = tf.customGrad(((xt: tf.Tensor2D) => ({
    value: tf.tensor2d(sparseProduct(s, xt.dataSync() as Float32Array, d, false), [s.rows, d]),
    gradFunc: (dy: tf.Tensor) => tf.tensor2d(sparseProduct(s, dy.dataSync() as Float32Array, d, true), [s.cols, d]),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor2D;
}

/** S × src (`transpose` false: src has S's cols rows) or Sᵀ × src (true: src has S's rows rows), src [· × d]. */
function sparseProduct(s: SparseRows, src: Float32Array, d: number, transpose: boolean): Float32Array {
  const { row, col, val } = s;
  const [to, from] = transpose ? [col, row] : [row, col];
  const out = new Float32Array((transpose ? s.cols : s.rows) * d);
  for (let j = 0; j < val.length; j++) {
    const o = to[j]! * d;
    const i = from[j]! * d;
    const v = val[j]!;
    for (let k = 0; k < d; k++) out[o + k]! += v * src[i + k]!;
  }
  return out;
}

/**
 * Σ_f w[f] · S_f made dense, for constant sparse S_f of one shape and weights w [F]; the gradient
 * for w is Σ dy ⊙ S_f, summed over S_f's entries only. One dense matrix is written and none is
 * multiplied: the features' weights cost no pass over the catalogue. Wasm or cpu only.
 */
export function weightedSparse(w: tf.Tensor1D, terms: readonly SparseRows[]): tf.Tensor2D {
  if (terms.length === 0 || w.shape[0] !== terms.length) throw new RangeError(`${w.shape[0]} weights for ${terms.length} sparse terms`);
  const { rows, cols } = terms[0]!;
  for (const t of terms) {
    checkSparse(t);
    if (t.rows !== rows || t.cols !== cols) throw new RangeError('sparse terms must all have the same shape');
  }
  const f = tf.customGrad(((wt: tf.Tensor1D) => {
    const wv = wt.dataSync() as Float32Array;
    const out = new Float32Array(rows * cols);
    terms.forEach((t, fi) => {
      const k = wv[fi]!;
      for (let j = 0; j < t.row.length; j++) out[t.row[j]! * cols + t.col[j]!]! += k * t.val[j]!;
    });
    return {
      value: tf.tensor2d(out, [rows, cols]),
      gradFunc: (dy: tf.Tensor) => {
        const g = dy.dataSync() as Float32Array;
        const dw = new Float32Array(terms.length);
        terms.forEach((t, fi) => {
          let acc = 0;
          for (let j = 0; j < t.row.length; j++) acc += g[t.row[j]! * cols + t.col[j]!]! * t.val[j]!;
          dw[fi] = acc;
        });
        return tf.tensor1d(dw);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(w) as tf.Tensor2D;
}

/** Embedding rows of `table` at `ids` (int32, any shape) with a sparse, scatter-add gradient. */
export function lookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
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
