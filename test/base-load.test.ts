/**
 * A large base as a page loads it: read (`loadHeadModel` with a slicer) and aligned with the
 * catalogue (`alignBaseSteps`) in slices, each the same as at once.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultHead, INT4_RESIDUALS_FROM, successorsAscending, writeHeadModel } from '../src/cli/train/head-io.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import type { HeadManifest } from '../src/core/model.js';
import { alignBase, alignBaseSteps, loadHeadModel, loadModelManifest } from '../src/core/model.js';
import { MIX_LENGTH } from '../src/core/memory.js';
import {
  decodeTensor,
  decodeTensorSliced,
  defaultFetcher,
  encodeDeltaVarints,
  encodeInt4Rows,
  encodeInt8Rows,
  floatToHalf,
  halfToFloat,
  tensorRows,
} from '../src/core/model-io.js';
import type { Fetcher, TensorSpec } from '../src/core/model-io.js';
import { kernelDigestNow } from '../src/core/digest.js';
import { mulberry32 } from '../src/core/rng.js';
import { runSteps, runStepsSliced, Slicer } from '../src/core/slice.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A slicer whose slice is always used up, counting its yields. */
function countingSlicer(): { slicer: Slicer; yields: () => number } {
  let n = 0;
  const slicer = new Slicer(0, () => {
    n++;
    return Promise.resolve();
  });
  return { slicer, yields: () => n };
}

/** Writes a base of `ids`, each with `successors` transitions (the last one `lastTo` where given); returns its folder. */
function writeBase(ids: string[], successors: number, seed = 7, lastTo?: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'clickwise-base-load-'));
  dirs.push(dir);
  const encoder = JSON.parse(readFileSync('models/encoder/manifest.json', 'utf8')) as EncoderManifest;
  const d = encoder.dims;
  const rand = mulberry32(seed);
  const n = ids.length;
  const to = Int32Array.from({ length: n * successors }, () => Math.floor(rand() * n));
  // A successor of the last entry out of range, where asked: a damaged base.
  if (lastTo !== undefined) to[to.length - 1] = lastTo;
  writeHeadModel(join(dir, 'head'), {
    ...defaultHead(encoder),
    ids,
    bias: Float32Array.from(ids, () => rand() - 0.5),
    residual: Float32Array.from({ length: n * d }, () => rand() - 0.5),
    recent: Float32Array.from(ids, () => rand() * 3),
    recentHalfLifeDays: 7,
    recentAt: Date.parse('2026-11-01T00:00:00Z'),
    transitions: { ptr: Int32Array.from({ length: n + 1 }, (_, i) => i * successors), to, p: Float32Array.from(to, () => rand()) },
  });
  return join(dir, 'head');
}

describe('a base read in slices', () => {
  it('gives what a read at once gives, ids of many bytes included, yielding as it goes', async () => {
    // 6,000 ids of 60 bytes and more (accents: two bytes a letter): items.txt is past one piece.
    const ids = Array.from({ length: 6000 }, (_, i) => `thé-vert-été-${'é'.repeat(20 + (i % 13))}-${i}`);
    const folder = writeBase(ids, 12);
    const whole = await loadHeadModel(defaultFetcher, folder);
    const { slicer, yields } = countingSlicer();
    const sliced = await loadHeadModel(defaultFetcher, folder, { slicer });
    expect([...sliced.itemIndex.keys()]).toEqual(ids);
    expect(sliced.itemIndex).toEqual(whole.itemIndex);
    for (const key of ['W', 'bias', 'residual', 'recent'] as const) expect(sliced[key]).toEqual(whole[key]);
    expect(sliced.transitions).toEqual(whole.transitions);
    // The residuals alone are 6,000 × d numbers: more than one slice's decoding, and more again
    // for the other tensors, the lines, the checks and the id map.
    expect(yields()).toBeGreaterThanOrEqual(8);
  });

  it('still refuses a transition to a row the base does not have', async () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `p${i}`);
    const folder = writeBase(ids, 3, 7, 20_000);
    await expect(loadHeadModel(defaultFetcher, folder, { slicer: countingSlicer().slicer })).rejects.toThrow(/do not fit items\.txt/);
    await expect(loadHeadModel(defaultFetcher, folder)).rejects.toThrow(/do not fit items\.txt/);
  });
});

describe('float16', () => {
  it('rounds to the nearest half, a mantissa that rounds up carrying into the exponent', () => {
    /** The number a half's bits stand for, as the loader decodes it. */
    const half = (h: number): number =>
      decodeTensor(Uint16Array.of(h).buffer, { name: 'x', shape: [1], dtype: 'float16', file: 'x', offset: 0, byteLength: 2 })[0]!;
    const f16 = (v: number): number => half(floatToHalf(v));
    // Just under 0.5 (exponent 13, odd) and 2 (exponent 15): the rounded mantissa is a whole 1.
    expect(f16(0.49999)).toBe(0.5);
    expect(f16(1.99999)).toBe(2);
    expect(f16(0.99999)).toBe(1);
    // Every half in [2^-14, 1] is its own nearest, and a float between two rounds to one of them.
    for (let h = 0x0400; h <= 0x3c00; h++) {
      const v = half(h);
      expect(floatToHalf(v)).toBe(h);
      const next = f16(v * (1 + 2 ** -12));
      expect(Math.abs(next - v) / v).toBeLessThanOrEqual(2 ** -10);
    }
    // Past the largest half: infinity; below the smallest subnormal: zero.
    expect(f16(70000)).toBe(Infinity);
    expect(f16(1e-9)).toBe(0);
  });
});

describe('float16 by its table', () => {
  it('decodes every half as the formula does, read in place or copied', () => {
    const all = Uint16Array.from({ length: 1 << 16 }, (_, h) => h);
    const spec = { name: 'x', shape: [all.length], dtype: 'float16' as const, file: 'x', offset: 2, byteLength: all.byteLength };
    // At an even offset the halves are read in place; at an odd one, copied out first.
    const even = new Uint8Array(all.byteLength + 2);
    even.set(new Uint8Array(all.buffer), 2);
    const odd = new Uint8Array(all.byteLength + 1);
    odd.set(new Uint8Array(all.buffer), 1);
    const a = decodeTensor(even.buffer, spec);
    const b = decodeTensor(odd.buffer, { ...spec, offset: 1 });
    for (let h = 0; h < all.length; h++) {
      const want = Math.fround(halfToFloat(h));
      expect(Object.is(a[h], want) || (Number.isNaN(a[h]) && Number.isNaN(want))).toBe(true);
      expect(Object.is(b[h], a[h]) || (Number.isNaN(b[h]) && Number.isNaN(a[h]))).toBe(true);
    }
    expect([a[0x3c00], a[0xbc00], a[0x7c00], a[0x0001]]).toEqual([1, -1, Infinity, 2 ** -24]);
  });
});

describe('a long one-dimensional tensor', () => {
  it('is decoded in slices, not in one piece (the transitions of a large base: millions of float16 numbers)', async () => {
    const n = 200_000;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 1000) / 1000);
    const bytes = Uint16Array.from(values, floatToHalf);
    const spec = { name: 'transP', shape: [n], dtype: 'float16' as const, file: 'head.bin', offset: 0, byteLength: bytes.byteLength };
    const { slicer, yields } = countingSlicer();
    const sliced = await decodeTensorSliced(bytes.buffer, spec, slicer);
    expect(sliced).toEqual(decodeTensor(bytes.buffer, spec));
    // 65,536 numbers a slice at most.
    expect(yields()).toBeGreaterThanOrEqual(Math.ceil(n / 65_536));
    const f32 = { ...spec, dtype: 'float32' as const, byteLength: n * 4 };
    const { slicer: s2, yields: y2 } = countingSlicer();
    expect(await decodeTensorSliced(values.buffer, f32, s2)).toEqual(values);
    expect(y2()).toBeGreaterThanOrEqual(Math.ceil(n / 65_536));
  });
});

describe('a base as it is written', () => {
  it('holds its residuals as int8 rows and its transition probabilities as float16, about half the bytes, or float32 where asked', async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => `p${i}`);
    const folder = writeBase(ids, 20);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as {
      tensors: { name: string; dtype: string }[];
      files: { path: string; bytes: number }[];
    };
    const dtype = Object.fromEntries(manifest.tensors.map((t) => [t.name, t.dtype]));
    expect(dtype).toEqual({
      W: 'float32',
      bias: 'float32',
      recent: 'float32',
      transPtr: 'float32',
      transTo: 'delta-varint',
      residual: 'int8',
      transP: 'float16',
    });
    // The same base written exactly.
    const exactDir = mkdtempSync(join(tmpdir(), 'clickwise-base-load-'));
    dirs.push(exactDir);
    const head = await loadHeadModel(defaultFetcher, folder);
    const encoder = JSON.parse(readFileSync('models/encoder/manifest.json', 'utf8')) as EncoderManifest;
    const rand = mulberry32(7);
    const d = encoder.dims;
    // writeBase's draws, in its order: the successors, the biases, the residuals, what sold lately, the probabilities.
    const to = Int32Array.from({ length: 3000 * 20 }, () => Math.floor(rand() * 3000));
    const bias = Float32Array.from(ids, () => rand() - 0.5);
    const residual = Float32Array.from({ length: 3000 * d }, () => rand() - 0.5);
    const recent = Float32Array.from(ids, () => rand() * 3);
    const p = Float32Array.from(to, () => rand());
    writeHeadModel(
      join(exactDir, 'head'),
      {
        ...defaultHead(encoder),
        ids,
        bias,
        residual,
        recent,
        recentHalfLifeDays: 7,
        recentAt: Date.parse('2026-11-01T00:00:00Z'),
        transitions: { ptr: Int32Array.from({ length: 3001 }, (_, i) => i * 20), to, p },
      },
      { exact: true },
    );
    const exact = await loadHeadModel(defaultFetcher, join(exactDir, 'head'));
    expect(exact.residual).toEqual(residual);
    // Each row's successors in ascending order, each with its own probability.
    const sorted = successorsAscending({ ptr: Int32Array.from({ length: 3001 }, (_, i) => i * 20), to, p });
    expect(exact.transitions!.to).toEqual(Float32Array.from(sorted.to));
    expect(exact.transitions!.p).toEqual(sorted.p);
    for (let r = 0; r < 3000; r++) {
      const row = (a: ArrayLike<number>): string =>
        JSON.stringify(
          Array.from({ length: 20 }, (_, e) => [to[r * 20 + e]!, a === p ? p[r * 20 + e]! : 0]).sort(
            (x, y) => x[0]! - y[0]! || x[1]! - y[1]!,
          ),
        );
      const got = JSON.stringify(
        Array.from({ length: 20 }, (_, e) => [exact.transitions!.to[r * 20 + e]!, exact.transitions!.p[r * 20 + e]!]).sort(
          (x, y) => x[0]! - y[0]! || x[1]! - y[1]!,
        ),
      );
      expect(got).toBe(row(p));
    }
    // The float32 tensors as they were; each residual within half a step of its row's scale
    // (its largest magnitude / 127); each probability within float16's rounding.
    expect(head.bias).toEqual(bias);
    expect(head.recent).toEqual(recent);
    expect(head.transitions!.to).toEqual(exact.transitions!.to);
    for (let r = 0; r < 3000; r++) {
      const row = residual.subarray(r * d, (r + 1) * d);
      const step = Math.max(...row.map(Math.abs)) / 127;
      for (let c = 0; c < d; c++) expect(Math.abs(head.residual![r * d + c]! - row[c]!)).toBeLessThanOrEqual(step / 2 + 1e-7);
    }
    for (let k = 0; k < p.length; k++)
      expect(Math.abs(head.transitions!.p[k]! - sorted.p[k]!)).toBeLessThanOrEqual(sorted.p[k]! * 2 ** -11 + 2 ** -25);
    // Each file listed with the kernel's digest of its bytes, which the loader checks.
    for (const f of manifest.files as { path: string; k64?: string }[])
      expect(f.k64).toBe(kernelDigestNow(readFileSync(join(folder, f.path))));
    const bytes = (m: { files: { path: string; bytes: number }[] }): number => m.files.find((f) => f.path === 'head.bin')!.bytes;
    const exactManifest = JSON.parse(readFileSync(join(exactDir, 'head', 'manifest.json'), 'utf8')) as typeof manifest;
    expect(bytes(manifest)).toBeLessThan(0.6 * bytes(exactManifest));
  });
});

describe('residuals read a row at a time', () => {
  it('align as the residuals decoded first do, int8 rows (compact) and float32 (exact) alike', async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `p${i}`);
    const compact = writeBase(ids, 4);
    const encoder = JSON.parse(readFileSync('models/encoder/manifest.json', 'utf8')) as EncoderManifest;
    const exactDir = mkdtempSync(join(tmpdir(), 'clickwise-base-load-'));
    dirs.push(exactDir);
    const rand = mulberry32(11);
    writeHeadModel(
      join(exactDir, 'head'),
      {
        ...defaultHead(encoder),
        ids,
        bias: new Float32Array(500),
        residual: Float32Array.from({ length: 500 * encoder.dims }, () => rand() - 0.5),
      },
      { exact: true },
    );
    // A catalogue in another order, without a third of the base's items, with one it lacks.
    const catalog = [...ids.filter((_, i) => i % 3 !== 0).reverse(), 'new-1'];
    for (const folder of [compact, join(exactDir, 'head')]) {
      const decoded = await loadHeadModel(defaultFetcher, folder);
      const byRows = await loadHeadModel(defaultFetcher, folder, { withResidual: 'rows', slicer: countingSlicer().slicer });
      expect(byRows.residual).toBeNull();
      expect([byRows.residualRows!.rows, byRows.residualRows!.cols]).toEqual([500, encoder.dims]);
      const a = alignBase(decoded, catalog);
      const b = alignBase(byRows, catalog);
      expect(b.residual).toEqual(a.residual);
      expect(b.bias).toEqual(a.bias);
      expect(b.transitions).toEqual(a.transitions);
      // Not asked for: none made.
      expect(alignBase(byRows, catalog, { withResidual: false }).residual).toBeNull();
    }
    // Residuals listed as one long row (the same bytes, shape [N·d]) cannot be read by rows: refused.
    const manifestPath = join(exactDir, 'head', 'manifest.json');
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { tensors: { name: string; shape: number[] }[] };
    m.tensors.find((t) => t.name === 'residual')!.shape = [500 * encoder.dims];
    writeFileSync(manifestPath, JSON.stringify(m));
    await expect(loadHeadModel(defaultFetcher, join(exactDir, 'head'), { withResidual: 'rows' })).rejects.toThrow(
      /do not match items\.txt/,
    );
  });

  it('reads float16 rows, and rows at offsets that are not aligned, as the decoder does', () => {
    const values = Float32Array.from({ length: 12 }, (_, i) => (i - 5) / 8);
    const halves = Uint16Array.from(values, floatToHalf);
    const f16 = new Uint8Array(2 + halves.byteLength);
    f16.set(new Uint8Array(halves.buffer), 2);
    const int8 = encodeInt8Rows(values, 3);
    // int8 codes then float32 scales at an odd offset: the scales are copied out, the codes read in place.
    const odd = new Uint8Array(1 + int8.length);
    odd.set(int8, 1);
    const specs: [ArrayBuffer, TensorSpec][] = [
      [f16.buffer, { name: 'r', shape: [3, 4], dtype: 'float16', file: 'x', offset: 2, byteLength: 24 }],
      [odd.buffer, { name: 'r', shape: [3, 4], dtype: 'int8', file: 'x', offset: 1, byteLength: int8.length }],
    ];
    for (const [buf, spec] of specs) {
      const whole = decodeTensor(buf, spec);
      const rows = tensorRows(buf, spec);
      const out = new Float32Array(14);
      for (let r = 0; r < 3; r++) rows.row(2 - r, out, 1 + 4 * r);
      for (let r = 0; r < 3; r++) expect(out.subarray(1 + 4 * r, 5 + 4 * r)).toEqual(whole.subarray(4 * (2 - r), 4 * (3 - r)));
    }
    // A tensor whose bytes do not fit its shape is refused, as by the decoder.
    expect(() => tensorRows(f16.buffer, { ...specs[0]![1], byteLength: 22 })).toThrow(/expected 24/);
  });
});

describe('int4 rows', () => {
  it('hold two numbers a byte and a scale a row, each within half a step of its row (its largest magnitude / 7), read whole, in slices or by rows', async () => {
    // Rows of an odd length (the last byte of each holds one number), a row of zeros, a row of one sign.
    const values = Float32Array.from([-1, -0.5, 0, 0.5, 1, 0, 0, 0, 0, 0, 0.3, 0.01, 0.2, 0.15, 0.07]);
    const bytes = encodeInt4Rows(values, 3);
    expect(bytes.length).toBe(3 * 3 + 3 * 4);
    // At an odd offset, as in a file of several tensors.
    const buf = new Uint8Array(1 + bytes.length);
    buf.set(bytes, 1);
    const spec: TensorSpec = { name: 'r', shape: [3, 5], dtype: 'int4', file: 'x', offset: 1, byteLength: bytes.length };
    const whole = decodeTensor(buf.buffer, spec);
    expect(Array.from(whole.subarray(0, 5))).toEqual([-7, -3, 0, 4, 7].map((q) => Math.fround(q * Math.fround(1 / 7))));
    expect(Array.from(whole.subarray(5, 10))).toEqual([0, 0, 0, 0, 0]);
    for (let r = 0; r < 3; r++) {
      const row = values.subarray(r * 5, (r + 1) * 5);
      const step = Math.max(...row.map(Math.abs)) / 7;
      for (let c = 0; c < 5; c++) expect(Math.abs(whole[r * 5 + c]! - row[c]!)).toBeLessThanOrEqual(step / 2 + 1e-7);
    }
    expect(await decodeTensorSliced(buf.buffer, spec, countingSlicer().slicer)).toEqual(whole);
    const rows = tensorRows(buf.buffer, spec);
    const out = new Float32Array(16);
    for (let r = 0; r < 3; r++) rows.row(2 - r, out, 1 + 5 * r);
    for (let r = 0; r < 3; r++) expect(out.subarray(1 + 5 * r, 6 + 5 * r)).toEqual(whole.subarray(5 * (2 - r), 5 * (3 - r)));
    // Bytes that do not fit the shape are refused.
    expect(() => decodeTensor(buf.buffer, { ...spec, byteLength: bytes.length - 1 })).toThrow(/expected 21/);
  });

  it(`hold the residuals of a base that knows ${INT4_RESIDUALS_FROM.toLocaleString('en')} items or more (half the bytes), unless asked for int8`, async () => {
    const encoder = JSON.parse(readFileSync('models/encoder/manifest.json', 'utf8')) as EncoderManifest;
    const d = encoder.dims;
    const write = async (
      n: number,
      residualBits?: 4 | 8,
    ): Promise<{ dtype: string; bytes: number; residual: Float32Array; read: Float32Array }> => {
      const dir = mkdtempSync(join(tmpdir(), 'clickwise-base-load-'));
      dirs.push(dir);
      const rand = mulberry32(n);
      const ids = Array.from({ length: n }, (_, i) => `p${i}`);
      const residual = Float32Array.from({ length: n * d }, () => rand() - 0.5);
      writeHeadModel(join(dir, 'head'), {
        ...defaultHead(encoder),
        ids,
        bias: new Float32Array(n),
        residual,
        ...(residualBits ? { residualBits } : {}),
      });
      const m = JSON.parse(readFileSync(join(dir, 'head', 'manifest.json'), 'utf8')) as { tensors: TensorSpec[] };
      const spec = m.tensors.find((t) => t.name === 'residual')!;
      const read = (await loadHeadModel(defaultFetcher, join(dir, 'head'))).residual!;
      return { dtype: spec.dtype, bytes: spec.byteLength, residual, read };
    };
    const large = await write(INT4_RESIDUALS_FROM);
    expect([large.dtype, large.bytes]).toEqual(['int4', INT4_RESIDUALS_FROM * (d / 2 + 4)]);
    for (let r = 0; r < INT4_RESIDUALS_FROM; r += 997) {
      const row = large.residual.subarray(r * d, (r + 1) * d);
      const step = Math.max(...row.map(Math.abs)) / 7;
      for (let c = 0; c < d; c++) expect(Math.abs(large.read[r * d + c]! - row[c]!)).toBeLessThanOrEqual(step / 2 + 1e-7);
    }
    const asked = await write(INT4_RESIDUALS_FROM, 8);
    expect([asked.dtype, asked.bytes]).toEqual(['int8', INT4_RESIDUALS_FROM * (d + 4)]);
    expect((await write(INT4_RESIDUALS_FROM - 1)).dtype).toBe('int8');
    expect((await write(100, 4)).dtype).toBe('int4');
  });
});

describe('a base aligned in steps', () => {
  it('yields by the transitions it re-indexes, not only by rows: few items with many successors', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `p${i}`);
    const folder = writeBase(ids, 500);
    const head = await loadHeadModel(defaultFetcher, folder);
    // A catalogue in another order, without a quarter of the base's items, with items the base lacks.
    const catalog = [...ids.filter((_, i) => i % 4 !== 1).reverse(), 'new-1', 'new-2'];
    let yields = 0;
    const steps = alignBaseSteps(head, catalog, {}, 1024);
    let step = steps.next();
    for (; !step.done; step = steps.next()) yields++;
    const aligned = step.value;
    // The 150 kept items hold 75,000 entries: a step ends once it has done 1,024 rows and
    // entries, so it holds at most 1,024 + 501 (the row that crossed the mark).
    expect(yields).toBeGreaterThanOrEqual(Math.floor((150 * 501) / (1024 + 501)));
    // Each item's successors, as the base gives them, re-indexed to the catalogue, those it lacks left out.
    const T = head.transitions!;
    const at = new Map(catalog.map((id, i) => [id, i]));
    const expected = new Map<number, [number, number][]>();
    for (let j = 0; j < ids.length; j++) {
      const i = at.get(ids[j]!);
      if (i === undefined) continue;
      const row: [number, number][] = [];
      for (let k = T.ptr[j]!; k < T.ptr[j + 1]!; k++) {
        const c = at.get(ids[T.to[k]!]!);
        if (c !== undefined) row.push([c, T.p[k]!]);
      }
      if (row.length > 0) expected.set(i, row);
    }
    const got = new Map<number, [number, number][]>();
    const A = aligned.transitions!;
    A.rows!.forEach((i, r) => {
      const row: [number, number][] = [];
      for (let k = A.ptr[r]!; k < A.ptr[r + 1]!; k++) row.push([A.to[k]!, A.p[k]!]);
      got.set(i, row);
    });
    expect([...A.rows!]).toEqual([...expected.keys()].sort((a, b) => a - b));
    expect(got).toEqual(expected);
    expect(aligned).toEqual(alignBase(head, catalog));
  });

  it('runs in the slices of a slicer: a yield only where the slice is used up', async () => {
    function* work(n: number): Generator<void, number> {
      for (let i = 0; i < n; i++) yield;
      return n;
    }
    const { slicer, yields } = countingSlicer();
    expect(await runStepsSliced(work(50), slicer)).toBe(50);
    expect(yields()).toBe(50);
    let waited = 0;
    const roomy = new Slicer(60_000, () => {
      waited++;
      return Promise.resolve();
    });
    expect(await runStepsSliced(work(50), roomy)).toBe(runSteps(work(50)));
    expect(waited).toBe(0);
  });
});

describe('successors as delta varints', () => {
  const spec = (bytes: Uint8Array, n: number): TensorSpec => ({
    name: 'transTo',
    shape: [n],
    dtype: 'delta-varint',
    file: 'transitions.bin',
    offset: 0,
    byteLength: bytes.byteLength,
  });
  it('give back every number, at once or in slices, ascending runs in one to three bytes each', async () => {
    const rand = mulberry32(3);
    // Ascending runs of successors (as a base writes them), and numbers at the ends of 32 bits.
    const values = Int32Array.from({ length: 50_000 }, (_, i) => (i % 40) * 2500 + Math.floor(rand() * 2500));
    values.set([0, 2 ** 31 - 1, -(2 ** 31) + 1, 0, 127, 128, -64, 16_383, 16_384], 100);
    const bytes = encodeDeltaVarints(values);
    expect(decodeTensor(bytes.buffer, spec(bytes, values.length))).toEqual(Float32Array.from(values));
    const { slicer, yields } = countingSlicer();
    expect(await decodeTensorSliced(bytes.buffer, spec(bytes, values.length), slicer)).toEqual(Float32Array.from(values));
    expect(yields()).toBeGreaterThanOrEqual(1);
    // Differences of about 2,500 within a run: two bytes each, where float32 took four.
    expect(bytes.byteLength).toBeLessThan(2.2 * values.length);
  });

  it('refuse bytes that end inside a number, bytes left over, and a place that does not fit', () => {
    const bytes = encodeDeltaVarints(Int32Array.of(5, 300, 70_000, 3));
    expect(() => decodeTensor(bytes.slice(0, -1).buffer, spec(bytes.slice(0, -1), 4))).toThrow(/past its bytes|bytes at offset/);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeTensor(longer.buffer, spec(longer, 4))).toThrow(/left after/);
    expect(() => decodeTensor(bytes.buffer, spec(bytes, 40))).toThrow(/bytes at offset/);
    expect(() => encodeDeltaVarints([1.5])).toThrow(RangeError);
  });

  it('a form this version does not read is named, with what to do (not "rebuild the model")', () => {
    const later = { ...spec(new Uint8Array(8), 4), dtype: 'bfloat16' } as unknown as TensorSpec;
    expect(() => decodeTensor(new ArrayBuffer(8), later)).toThrow(
      /dtype "bfloat16", which this version of Clickwise does not read.*later version/,
    );
  });

  it('a head or a model folder of a later version is named so from its manifest, before its files download', async () => {
    const folder = writeBase(['a', 'b', 'c'], 2);
    const manifestPath = join(folder, 'manifest.json');
    const written = JSON.parse(readFileSync(manifestPath, 'utf8')) as HeadManifest;
    const later =
      /which this version of Clickwise does not read: the model was written by a later version\. Publish the page's Clickwise of that version with it/;
    for (const [what, manifest] of [
      ['a later format version', { ...written, formatVersion: 2 }],
      ['a later tensor form', { ...written, tensors: written.tensors.map((t) => (t.name === 'bias' ? { ...t, dtype: 'bfloat16' } : t)) }],
      ['more feature weights than this version has', { ...written, mix: Array.from({ length: MIX_LENGTH + 2 }, () => 1) }],
    ] as const) {
      writeFileSync(manifestPath, JSON.stringify(manifest));
      const asked: string[] = [];
      const fetcher: Fetcher = (location, options) => {
        asked.push(location);
        return defaultFetcher(location, options);
      };
      await expect(loadHeadModel(fetcher, folder), what).rejects.toThrow(later);
      expect(
        asked.filter((x) => x.endsWith('.bin')),
        what,
      ).toEqual([]);
    }
    // The folder's own manifest too: its format version is a later one, not a wrong folder.
    const models = join(folder, '..');
    writeFileSync(
      join(models, 'manifest.json'),
      JSON.stringify({ format: 'clickwise-model', formatVersion: 2, version: 'x', encoder: 'e/', head: 'head/' }),
    );
    await expect(loadModelManifest(defaultFetcher, models)).rejects.toThrow(later);
    // A damaged manifest is still told to be redeployed.
    writeFileSync(manifestPath, JSON.stringify({ ...written, mix: [1, 2, 3] }));
    await expect(loadHeadModel(defaultFetcher, folder)).rejects.toThrow(/Redeploy the head/);
  });

  it('make a base’s transitions file smaller than the float32 indices did', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `p${i}`);
    const folder = writeBase(ids, 38);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { files: { path: string; bytes: number }[] };
    const bytes = manifest.files.find((f) => f.path === 'transitions.bin')!.bytes;
    // Float32 indices and float16 probabilities were 6 bytes a successor (plus the row starts).
    const before = 4000 * 38 * 6 + 4001 * 4;
    expect(bytes).toBeLessThan(0.75 * before);
  });
});
