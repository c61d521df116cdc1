/**
 * The catalogue's item vectors as the head scores them: one int8 row per item with a float scale
 * (vᵢ ≈ scaleᵢ · codesᵢ), plus the per-item additive term (the fused bias) in the same memory.
 *
 * Scoring is one fused pass: sᵢ = scaleᵢ · (codesᵢ · q) + biasᵢ, with the top k kept as it goes
 * (a candidate leaves the pass only when it beats the current k-th best), so a click reads
 * 64 + 8 bytes per item and nothing else. The pass runs in a small WebAssembly SIMD kernel
 * (src/core/kernels/score.wat) where the runtime allows it, else in a plain loop that computes
 * the very same float32 values (a page whose CSP forbids WebAssembly gets that one).
 *
 * Why not tfjs: scoring is memory-bound, and tfjs's matrix × vector on float32 reads 4 bytes per
 * weight at about a fifth of the memory bandwidth; int8 rows and a fused top-k read a quarter of
 * the bytes once. The learning step (a few rows per click) stays on tfjs.
 */
import { compileKernel } from './kernels/compile.js';
import { SCORE_WASM_BASE64 } from './kernels/score-wasm.js';

/** Which code scores: the WebAssembly SIMD kernel, or the plain loop. */
export type MatrixKernel = 'wasm-simd' | 'js';

/** Candidates one kernel call may hand back before the top k is updated. */
const CAND_CAP = 1024;
const QMAX = 32767;

interface KernelExports {
  count: WebAssembly.Global;
  scan: (...a: number[]) => number;
  scan64: (...a: number[]) => number;
  dense: (...a: number[]) => void;
  quantise: (...a: number[]) => void;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly (SIMD) is unavailable or forbidden. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) compiled = compileKernel(SCORE_WASM_BASE64);
  return compiled;
}

/** The k best (score, row) pairs seen so far; ties go to the lower row. */
export class TopK {
  readonly k: number;
  private readonly s: Float32Array;
  private readonly i: Int32Array;
  /** Entries held, a min-heap on (score, −row) over [0, size). */
  size = 0;

  constructor(k: number) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
    this.k = k;
    this.s = new Float32Array(k);
    this.i = new Int32Array(k);
  }

  /** Scores at or below this cannot enter (−∞ until k entries are held). */
  get threshold(): number {
    return this.size < this.k ? -Infinity : this.s[0]!;
  }

  /** a is worse than b: lower score, or the same score and a higher row. */
  private worse(a: number, b: number): boolean {
    const sa = this.s[a]!;
    const sb = this.s[b]!;
    return sa < sb || (sa === sb && this.i[a]! > this.i[b]!);
  }

  private swap(a: number, b: number): void {
    const s = this.s[a]!;
    this.s[a] = this.s[b]!;
    this.s[b] = s;
    const i = this.i[a]!;
    this.i[a] = this.i[b]!;
    this.i[b] = i;
  }

  /** Offers one scored row. NaN never enters. */
  push(score: number, row: number): void {
    if (!(score === score)) return;
    if (this.size < this.k) {
      let c = this.size++;
      this.s[c] = score;
      this.i[c] = row;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.worse(c, p)) break;
        this.swap(c, p);
        c = p;
      }
      return;
    }
    const s0 = this.s[0]!;
    if (score < s0 || (score === s0 && row > this.i[0]!)) return;
    this.s[0] = score;
    this.i[0] = row;
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      const r = l + 1;
      let m = c;
      if (l < this.size && this.worse(l, m)) m = l;
      if (r < this.size && this.worse(r, m)) m = r;
      if (m === c) break;
      this.swap(c, m);
      c = m;
    }
  }

  /** The entries, best first. */
  sorted(): { values: Float32Array; indices: Int32Array } {
    const order = Array.from({ length: this.size }, (_, t) => t).sort((a, b) =>
      this.s[b]! !== this.s[a]! ? this.s[b]! - this.s[a]! : this.i[a]! - this.i[b]!,
    );
    return { values: Float32Array.from(order, (t) => this.s[t]!), indices: Int32Array.from(order, (t) => this.i[t]!) };
  }
}

/** Per-item int8 vectors with a scale each, and the per-item bias, scored by a fused pass. */
export class ItemMatrix {
  readonly n: number;
  readonly dims: number;
  readonly kernel: MatrixKernel;
  /** int8 rows, [n × dims]. */
  readonly codes: Int8Array;
  /** Per-row scales: row i ≈ scales[i] · codes[i]. NaN marks a row that was not finite. */
  readonly scales: Float32Array;
  /** The per-item additive term of every score; the owner keeps it up to date. */
  readonly bias: Float32Array;
  private readonly q16: Int16Array;
  private readonly cand: Int32Array;
  private readonly candS: Float32Array;
  private readonly exports: KernelExports | null;
  private readonly at: { q: number; cand: number; scales: number; bias: number; codes: number };

  /**
   * @param options.kernel 'js' forces the plain loop (tests compare the two); the default takes
   *   the WebAssembly kernel when it can run here and `dims` is a multiple of 16.
   */
  constructor(n: number, dims: number, options: { kernel?: MatrixKernel } = {}) {
    if (!Number.isInteger(n) || n < 0 || !Number.isInteger(dims) || dims < 1 || dims > 256) {
      throw new RangeError(`an item matrix needs n ≥ 0 rows of 1 to 256 dims, got ${n} × ${dims}`);
    }
    this.n = n;
    this.dims = dims;
    const mod = options.kernel !== 'js' && dims % 16 === 0 ? kernelModule() : null;
    // Layout: q (int16, padded to 64 bytes) | candidates (cap × 8) | scales | bias | codes.
    const qBytes = Math.ceil((dims * 2) / 64) * 64;
    const at = { q: 0, cand: qBytes, scales: qBytes + CAND_CAP * 8, bias: 0, codes: 0 };
    at.bias = at.scales + 4 * n;
    at.codes = at.bias + 4 * n;
    this.at = at;
    const total = at.codes + n * dims;
    let buffer: ArrayBuffer | null = null;
    let exp: KernelExports | null = null;
    if (mod) {
      try {
        const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(total / 65536)) });
        exp = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as KernelExports;
        buffer = memory.buffer;
      } catch {
        exp = null;
      }
    }
    this.exports = exp;
    this.kernel = exp ? 'wasm-simd' : 'js';
    const buf = buffer ?? new ArrayBuffer(total);
    this.q16 = new Int16Array(buf, at.q, dims);
    this.cand = new Int32Array(buf, at.cand, CAND_CAP * 2);
    this.candS = new Float32Array(buf, at.cand, CAND_CAP * 2);
    this.scales = new Float32Array(buf, at.scales, n);
    this.bias = new Float32Array(buf, at.bias, n);
    this.codes = new Int8Array(buf, at.codes, n * dims);
  }

  /** Bytes the matrix holds (codes, scales, bias and the kernel's scratch). */
  get bytes(): number {
    return this.at.codes + this.n * this.dims;
  }

  /**
   * Quantises `rows` (row-major float32, a whole number of rows) into rows from `from` on: each
   * row gets scale = max|x| / 127. A row holding a value that is not finite gets a NaN scale, so
   * its score is NaN and never ranks. The WebAssembly kernel (`quantise`) and the plain loop give
   * the same bytes.
   */
  setRows(from: number, rows: Float32Array): void {
    const d = this.dims;
    const count = rows.length / d;
    if (!Number.isInteger(count) || from < 0 || from + count > this.n) {
      throw new RangeError(`rows must be whole rows of ${d} within [0, ${this.n}), got ${rows.length} values at ${from}`);
    }
    const exp = this.exports;
    if (exp) {
      // Staged through the candidates' area (not in use between scans), as many rows as it holds.
      const per = Math.floor((CAND_CAP * 8) / (4 * d));
      for (let r = 0; r < count; r += per) {
        const take = Math.min(per, count - r);
        this.candS.set(rows.subarray(r * d, (r + take) * d));
        exp.quantise(this.at.cand, take, d, this.at.codes + (from + r) * d, this.at.scales + 4 * (from + r));
      }
      return;
    }
    for (let r = 0; r < count; r++) {
      const o = r * d;
      let m = 0;
      let finite = true;
      for (let k = 0; k < d; k++) {
        const x = rows[o + k]!;
        if (!Number.isFinite(x)) finite = false;
        else if (Math.abs(x) > m) m = Math.abs(x);
      }
      const row = from + r;
      const c = row * d;
      if (!finite || m === 0) {
        this.codes.fill(0, c, c + d);
        this.scales[row] = finite ? 0 : NaN;
        continue;
      }
      const inv = 127 / m;
      for (let k = 0; k < d; k++) this.codes[c + k] = Math.round(rows[o + k]! * inv);
      this.scales[row] = m / 127;
    }
  }

  /** Rows `at`, dequantised, [|at| × dims] row-major, in that order. */
  rows(at: ArrayLike<number>): Float32Array {
    const d = this.dims;
    const out = new Float32Array(at.length * d);
    for (let j = 0; j < at.length; j++) {
      const i = at[j]!;
      if (!(i >= 0 && i < this.n)) throw new RangeError(`row ${i} is outside [0, ${this.n})`);
      const s = this.scales[i]!;
      for (let k = 0; k < d; k++) out[j * d + k] = this.codes[i * d + k]! * s;
    }
    return out;
  }

  /** Every row, dequantised, [n × dims] row-major (for tools and the float reference). */
  allRows(): Float32Array {
    return this.rows(Int32Array.from({ length: this.n }, (_, i) => i));
  }

  /** Sets the kernel's int16 query from `q`; returns its scale (0 when q is all zeros). */
  private setQuery(q: ArrayLike<number>): number {
    if (q.length !== this.dims) throw new RangeError(`the query has ${q.length} values, the rows ${this.dims}`);
    let m = 0;
    for (let k = 0; k < q.length; k++) {
      const x = Math.abs(q[k]!);
      // A query that is not finite scores every item NaN: nothing ranks.
      if (!Number.isFinite(x)) m = NaN;
      else if (x > m) m = x;
    }
    if (!(m > 0)) {
      this.q16.fill(0);
      return m === 0 ? 0 : NaN;
    }
    const inv = QMAX / m;
    for (let k = 0; k < q.length; k++) this.q16[k] = Math.round(q[k]! * inv);
    return Math.fround(m / QMAX);
  }

  /** The score of row i in the plain loop: the kernel's float32 operations in its order. */
  private scoreJs(i: number, qs: number): number {
    const d = this.dims;
    const o = i * d;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += this.codes[o + k]! * this.q16[k]!;
    const f = Math.fround;
    return f(f(f(f(dot) * this.scales[i]!) * qs) + this.bias[i]!);
  }

  /**
   * Scores rows [from, to) against `q` and offers every score to `top` (in row order, so ties go
   * to the lower row). `patch` adds to the bias of a few rows for this pass only (the sparse terms
   * of a shopper's history); the bias is as it was when this returns.
   */
  scanTop(q: ArrayLike<number>, top: TopK, from = 0, to = this.n, patch?: { idx: ArrayLike<number>; val: ArrayLike<number> }): void {
    if (from < 0 || to > this.n || from > to) throw new RangeError(`rows [${from}, ${to}) are outside [0, ${this.n})`);
    const qs = this.setQuery(q);
    const saved = patch ? this.applyPatch(patch, from, to) : null;
    try {
      const e = this.exports;
      if (!e) {
        for (let i = from; i < to; i++) {
          const s = this.scoreJs(i, qs);
          if (s > top.threshold) top.push(s, i);
        }
        return;
      }
      const a = this.at;
      let pos = from;
      while (pos < to) {
        pos =
          this.dims === 64
            ? e.scan64(a.codes, a.scales, a.bias, a.q, qs, pos, to, top.threshold, a.cand, CAND_CAP)
            : e.scan(a.codes, a.scales, a.bias, a.q, this.dims, qs, pos, to, top.threshold, a.cand, CAND_CAP);
        const count = e.count.value as number;
        for (let c = 0; c < count; c++) top.push(this.candS[2 * c + 1]!, this.cand[2 * c]!);
      }
    } finally {
      if (saved) this.restorePatch(saved);
    }
  }

  /**
   * Scores rows `at` against `q` as {@link scanTop} scores them (the same float32 operations,
   * `patch` included) and offers each to `top`: for a subset of the catalogue, such as the
   * products the base does not know, without a pass over the rest.
   */
  scanTopAt(q: ArrayLike<number>, top: TopK, at: ArrayLike<number>, patch?: { idx: ArrayLike<number>; val: ArrayLike<number> }): void {
    for (let j = 0; j < at.length; j++)
      if (!(at[j]! >= 0 && at[j]! < this.n)) throw new RangeError(`row ${at[j]} is outside [0, ${this.n})`);
    const qs = this.setQuery(q);
    const saved = patch ? this.applyPatch(patch, 0, this.n) : null;
    try {
      for (let j = 0; j < at.length; j++) {
        const s = this.scoreJs(at[j]!, qs);
        if (s > top.threshold) top.push(s, at[j]!);
      }
    } finally {
      if (saved) this.restorePatch(saved);
    }
  }

  /** Scores of rows [from, to) against `q`, bias included, into `out` (out[0] is row `from`). */
  dense(q: ArrayLike<number>, out: Float32Array, from = 0, to = this.n): void {
    if (from < 0 || to > this.n || from > to || out.length < to - from) throw new RangeError(`rows [${from}, ${to}) do not fit`);
    const qs = this.setQuery(q);
    const e = this.exports;
    if (!e) {
      for (let i = from; i < to; i++) out[i - from] = this.scoreJs(i, qs);
      return;
    }
    // The kernel writes into its own memory: go through the candidate area, CAND_CAP × 2 floats at a time.
    const a = this.at;
    const step = CAND_CAP * 2;
    for (let s = from; s < to; s += step) {
      const t = Math.min(to, s + step);
      e.dense(a.codes, a.scales, a.bias, a.q, this.dims, qs, s, t, a.cand);
      out.set(this.candS.subarray(0, t - s), s - from);
    }
  }

  private applyPatch(
    patch: { idx: ArrayLike<number>; val: ArrayLike<number> },
    from: number,
    to: number,
  ): { idx: number[]; old: number[] } {
    const idx: number[] = [];
    const old: number[] = [];
    for (let j = 0; j < patch.idx.length; j++) {
      const i = patch.idx[j]!;
      if (i < from || i >= to) continue;
      idx.push(i);
      old.push(this.bias[i]!);
    }
    // Duplicates add up; the originals were taken before any was changed.
    for (let j = 0; j < patch.idx.length; j++) {
      const i = patch.idx[j]!;
      if (i >= from && i < to) this.bias[i] = this.bias[i]! + patch.val[j]!;
    }
    return { idx, old };
  }

  private restorePatch(saved: { idx: number[]; old: number[] }): void {
    // In reverse, so that the first-saved original of a duplicated row is the one that stays.
    for (let j = saved.idx.length - 1; j >= 0; j--) this.bias[saved.idx[j]!] = saved.old[j]!;
  }
}
