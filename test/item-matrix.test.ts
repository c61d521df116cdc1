import { describe, expect, it } from 'vitest';
import { assembleKernel } from '../src/cli/dev/build-kernel.js';
import { ItemMatrix, TopK } from '../src/core/item-matrix.js';
import { SCORE_WASM_BASE64 } from '../src/core/kernels/score-wasm.js';
import { mulberry32 } from '../src/core/rng.js';

function randomRows(n: number, d: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n * d }, () => rand() * 2 - 1);
}

function filled(n: number, d: number, seed: number, kernel?: 'js'): { m: ItemMatrix; rows: Float32Array } {
  const rows = randomRows(n, d, seed);
  const m = new ItemMatrix(n, d, kernel ? { kernel } : {});
  m.setRows(0, rows);
  const rand = mulberry32(seed + 1);
  for (let i = 0; i < n; i++) m.bias[i] = rand() - 0.5;
  return { m, rows };
}

/** Reference scores in float64 on the dequantised rows. */
function reference(m: ItemMatrix, q: Float32Array): number[] {
  const all = m.rows(Array.from({ length: m.n }, (_, i) => i));
  return Array.from({ length: m.n }, (_, i) => {
    let s = 0;
    for (let k = 0; k < m.dims; k++) s += all[i * m.dims + k]! * q[k]!;
    return s + m.bias[i]!;
  });
}

describe('the scoring kernel', () => {
  it('is the module that score.wat assembles to (the committed bytes cannot drift from the text)', async () => {
    const bytes = await assembleKernel();
    expect(Buffer.from(bytes).toString('base64')).toBe(SCORE_WASM_BASE64);
  });

  it('runs here as WebAssembly SIMD, and the plain loop when asked', () => {
    expect(new ItemMatrix(10, 64).kernel).toBe('wasm-simd');
    expect(new ItemMatrix(10, 64, { kernel: 'js' }).kernel).toBe('js');
    // The kernel needs whole 16-byte lanes.
    expect(new ItemMatrix(10, 12).kernel).toBe('js');
  });
});

describe('ItemMatrix', () => {
  for (const d of [64, 32]) {
    it(`gives the same float32 scores from the kernel and the plain loop (d = ${d})`, () => {
      const a = filled(3001, d, 7).m;
      const b = filled(3001, d, 7, 'js').m;
      const q = randomRows(1, d, 99);
      const sa = new Float32Array(3001);
      const sb = new Float32Array(3001);
      a.dense(q, sa);
      b.dense(q, sb);
      expect(Array.from(sa)).toEqual(Array.from(sb));
      const ta = new TopK(25);
      const tb = new TopK(25);
      a.scanTop(q, ta);
      b.scanTop(q, tb);
      expect(ta.sorted()).toEqual(tb.sorted());
      // Windows that start and end off the kernel's groups of four rows, with a top k larger than
      // the window (every row is handed back) and one that keeps a few.
      for (const [from, to, k] of [
        [1, 3, 5],
        [2, 11, 40],
        [5, 2999, 7],
        [1023, 2050, 3],
        [3000, 3001, 1],
      ] as const) {
        const wa = new TopK(k);
        const wb = new TopK(k);
        a.scanTop(q, wa, from, to);
        b.scanTop(q, wb, from, to);
        expect(wa.sorted()).toEqual(wb.sorted());
        expect(Math.min(...wa.sorted().indices)).toBeGreaterThanOrEqual(from);
        expect(Math.max(...wa.sorted().indices)).toBeLessThan(to);
      }
    });
  }

  for (const d of [64, 16, 256]) {
    it(`quantises to the same bytes in the kernel and the plain loop (d = ${d}): halves, signs, zeros, NaN and ±∞`, () => {
      const n = 700;
      const rows = randomRows(n, d, 11 + d);
      const rand = mulberry32(5 + d);
      for (let i = 0; i < n; i++) {
        const o = i * d;
        const kind = i % 7;
        if (kind === 1) {
          // Values whose code lands exactly on a half: x · 127 / m = j + 0.5 (m = 127, x = j + 0.5),
          // of both signs, which Math.round takes up (toward +∞).
          rows[o] = 127;
          for (let k = 1; k < d; k++) rows[o + k] = (Math.floor(rand() * 254) - 127 + 0.5) * (k % 2 ? 1 : -1);
        } else if (kind === 2) {
          // Just under and just over a half after the scaling, and the row's largest at either sign.
          rows[o + (i % d)] = -3;
          for (let k = 0; k < d; k++)
            if (k !== i % d) rows[o + k] = Math.fround((Math.floor(rand() * 6) - 3) * (0.5 + (rand() - 0.5) * 1e-6));
        } else if (kind === 3) rows.fill(0, o, o + d);
        else if (kind === 4) rows[o + ((i * 5) % d)] = [NaN, Infinity, -Infinity][i % 3]!;
        else if (kind === 5)
          for (let k = 0; k < d; k++) rows[o + k]! *= 1e-30; // tiny, still finite
        else if (kind === 6) rows[o + (i % d)] = -0;
      }
      const a = new ItemMatrix(n, d);
      const b = new ItemMatrix(n, d, { kernel: 'js' });
      expect(a.kernel).toBe('wasm-simd');
      // In pieces of every size the kernel stages at once, and a row at a time.
      a.setRows(0, rows.subarray(0, 333 * d));
      for (let i = 333; i < 400; i++) a.setRows(i, rows.subarray(i * d, (i + 1) * d));
      a.setRows(400, rows.subarray(400 * d));
      b.setRows(0, rows);
      expect(
        Buffer.from(a.codes.buffer, a.codes.byteOffset, a.codes.byteLength).equals(
          Buffer.from(b.codes.buffer, b.codes.byteOffset, b.codes.byteLength),
        ),
      ).toBe(true);
      expect(Array.from(a.scales, (x) => (Number.isNaN(x) ? 'NaN' : x))).toEqual(
        Array.from(b.scales, (x) => (Number.isNaN(x) ? 'NaN' : x)),
      );
      // The plain loop's own answers on the special rows, so that both cannot be wrong alike.
      expect(Number.isNaN(b.scales[4]!)).toBe(true);
      expect(b.scales[3]).toBe(0);
      expect(Array.from(b.codes.subarray(3 * d, 4 * d)).every((c) => c === 0)).toBe(true);
      const halves = Array.from(b.codes.subarray(1 * d, 2 * d));
      for (let k = 1; k < d; k++) expect(halves[k]).toBe(Math.floor(rows[1 * d + k]!) + 1);
    });
  }

  it('scores within int8 rounding of the float vectors, and ranks like them', () => {
    const { m, rows } = filled(2000, 64, 3);
    const q = randomRows(1, 64, 4);
    const got = new Float32Array(2000);
    m.dense(q, got);
    let worst = 0;
    const exact: number[] = [];
    for (let i = 0; i < 2000; i++) {
      let s = m.bias[i]!;
      for (let k = 0; k < 64; k++) s += rows[i * 64 + k]! * q[k]!;
      exact.push(s);
      worst = Math.max(worst, Math.abs(s - got[i]!));
    }
    // Each row is off by at most half a step (max|x| / 254) per coordinate; the sum stays well
    // under the spread of the scores (about 2.5 here).
    expect(worst).toBeLessThan(0.05);
    const top = new TopK(10);
    m.scanTop(q, top);
    const best = exact
      .map((s, i) => ({ s, i }))
      .sort((x, y) => y.s - x.s)
      .slice(0, 20)
      .map((x) => x.i);
    // The int8 top 10 are all among the float top 20.
    for (const i of top.sorted().indices) expect(best).toContain(i);
  });

  it('keeps exactly the k best of a single pass, across chunks, ties to the lower row', () => {
    const { m } = filled(5000, 64, 11);
    const q = randomRows(1, 64, 12);
    const ref = reference(m, q);
    const dense = new Float32Array(5000);
    m.dense(q, dense);
    const want = Array.from(dense, (s, i) => ({ s, i }))
      .sort((x, y) => y.s - x.s || x.i - y.i)
      .slice(0, 37);
    const top = new TopK(37);
    for (let from = 0; from < 5000; from += 1234) m.scanTop(q, top, from, Math.min(5000, from + 1234));
    const got = top.sorted();
    expect(Array.from(got.indices)).toEqual(want.map((x) => x.i));
    expect(Array.from(got.values)).toEqual(want.map((x) => x.s));
    // And those are the float64 reference's best too, up to the int16 query's rounding.
    expect(Math.abs(got.values[0]! - Math.max(...ref))).toBeLessThan(1e-3);
    // Equal scores: the lower row wins, as a stable sort would have it.
    const flat = new ItemMatrix(100, 64);
    flat.bias.fill(1);
    const t = new TopK(5);
    flat.scanTop(new Float32Array(64), t);
    expect(Array.from(t.sorted().indices)).toEqual([0, 1, 2, 3, 4]);
  });

  it('hands back more than its candidate buffer holds (every row beats the threshold)', () => {
    // Rising scores: every row is a new best, so the kernel fills its buffer again and again.
    const n = 5000;
    const m = new ItemMatrix(n, 64);
    for (let i = 0; i < n; i++) m.bias[i] = i;
    const top = new TopK(3);
    m.scanTop(new Float32Array(64), top);
    expect(Array.from(top.sorted().indices)).toEqual([4999, 4998, 4997]);
  });

  it('never ranks a row that was not finite, and the others still rank', () => {
    const rows = randomRows(50, 64, 5);
    rows[7 * 64 + 3] = NaN;
    rows[9 * 64] = Infinity;
    const m = new ItemMatrix(50, 64);
    m.setRows(0, rows);
    expect(Number.isNaN(m.scales[7]!)).toBe(true);
    const top = new TopK(50);
    m.scanTop(randomRows(1, 64, 6), top);
    const got = Array.from(top.sorted().indices);
    expect(got).toHaveLength(48);
    expect(got).not.toContain(7);
    expect(got).not.toContain(9);
    // A query that is not finite: nothing ranks (rather than a list in catalogue order).
    const none = new TopK(5);
    const q = randomRows(1, 64, 6);
    q[0] = NaN;
    m.scanTop(q, none);
    expect(none.size).toBe(0);
  });

  it('adds a patch to the bias for one pass only (duplicates add up)', () => {
    const { m } = filled(300, 64, 21);
    const before = Float32Array.from(m.bias);
    const top = new TopK(1);
    m.scanTop(new Float32Array(64), top, 0, 300, { idx: [42, 42, 7], val: [500, 500, 999] });
    expect(Array.from(top.sorted().indices)).toEqual([42]);
    expect(top.sorted().values[0]).toBeCloseTo(before[42]! + 1000, 2);
    expect(Array.from(m.bias)).toEqual(Array.from(before));
  });

  it('dequantises rows in the asked order and checks bounds', () => {
    const { m, rows } = filled(10, 64, 31);
    const r = m.rows([3, 1]);
    for (let k = 0; k < 64; k++) {
      expect(r[k]).toBeCloseTo(rows[3 * 64 + k]!, 2);
      expect(r[64 + k]).toBeCloseTo(rows[64 + k]!, 2);
    }
    expect(() => m.rows([10])).toThrow(/outside/);
    expect(() => m.setRows(9, new Float32Array(128))).toThrow(/whole rows/);
    expect(() => new TopK(0)).toThrow(/positive integer/);
  });
});
