import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadEncoder } from '../src/core/encoder.js';
import type { EncoderInput } from '../src/core/encoder.js';
import { ChecksumError, ModelLoadError } from '../src/core/errors.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { decodeTensor, decodeTensorSliced, defaultFetcher } from '../src/core/model-io.js';
import { Slicer } from '../src/core/slice.js';
import { ngramBuckets, tokenize } from '../src/core/tokenizer.js';
import { MODELS, useBackend } from './helpers.js';

const golden = JSON.parse(readFileSync(resolve(import.meta.dirname, 'fixtures', 'encoder-golden.json'), 'utf8')) as {
  encoderVersion: string;
  dims: number;
  texts: EncoderInput[];
  vectors: number[][];
};

/** Tolerance against the golden vectors: int8 weights are decoded exactly; float32 sums differ by rounding only. */
const GOLDEN_TOL = 1e-4;

beforeAll(async () => {
  await useBackend('cpu');
});

describe('tokenizer', () => {
  it('lower-cases, folds accents and splits on punctuation, dropping nothing', () => {
    expect(tokenize('Café CRÈME bowl, 12-cm!')).toEqual(['cafe', 'creme', 'bowl', '12', 'cm']);
  });
  it('hashes n-grams deterministically into the bucket range', () => {
    const cfg = { ngramMin: 3, ngramMax: 5, buckets: 1000 };
    const a = ngramBuckets('zorbulator', cfg);
    expect(a).toEqual(ngramBuckets('zorbulator', cfg));
    expect(a.every((b) => b >= 0 && b < 1000)).toBe(true);
    expect(ngramBuckets('a', cfg).length).toBeGreaterThan(0);
  });
});

describe('encoder', () => {
  it.each(['typed', 'tensor'] as const)(
    'gives unit vectors of the stated shape, matching the golden fixture (%s pooling)',
    async (pooling) => {
      const enc = await loadEncoder({ modelUrl: resolve(MODELS, 'encoder'), pooling });
      expect(enc.version).toBe(golden.encoderVersion);
      const t = await enc.encode(golden.texts);
      expect(t.shape).toEqual([golden.texts.length, golden.dims]);
      expect(t.dtype).toBe('float32');
      const rows = (await t.array()) as number[][];
      rows.forEach((row, i) => {
        expect(Math.hypot(...row)).toBeCloseTo(1, 5);
        row.forEach((v, k) => expect(Math.abs(v - golden.vectors[i]![k]!)).toBeLessThan(GOLDEN_TOL));
      });
      t.dispose();
      enc.dispose();
    },
  );

  it.each(['typed', 'tensor'] as const)('is deterministic, batch-size independent, and leaks no tensors (%s pooling)', async (pooling) => {
    const enc = await loadEncoder({ modelUrl: resolve(MODELS, 'encoder'), pooling });
    const before = tf.memory().numTensors;
    const a = await enc.encode(golden.texts, { batchSize: 2 });
    const b = await enc.encode(golden.texts, { batchSize: 64 });
    const [va, vb] = [a.dataSync(), b.dataSync()];
    va.forEach((v, i) => expect(vb[i]).toBeCloseTo(v, 5));
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
    enc.dispose();
  });

  it('pools alike in typed arrays and on the backend where the encoder projects and adds a bias', async () => {
    // A small encoder of another shape: 4 words and 8 n-gram buckets of 5 numbers, projected to 3.
    const [vocabSize, buckets, wordDims, dims] = [4, 8, 5, 3];
    const rows = vocabSize + buckets;
    const rand = (n: number, seed: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 97 + i * 12.9898) * 0.8);
    const parts = [rand(rows * wordDims, 1), rand(vocabSize, 2).map((x) => 0.5 + Math.abs(x)), rand(wordDims * dims, 3), rand(dims, 4)];
    const names = ['table', 'tokenWeight', 'projection', 'projectionBias'];
    const shapes = [[rows, wordDims], [vocabSize], [wordDims, dims], [dims]];
    const weights = Buffer.concat(parts.map((p) => Buffer.from(p.buffer)));
    const vocab = Buffer.from('garden\nchair\nred\ntoy\n');
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    let offset = 0;
    const manifest: EncoderManifest = {
      format: 'clickwise-encoder',
      formatVersion: 1,
      version: 'small',
      dims,
      wordDims,
      vocabSize,
      oovWeight: 0.7,
      fieldWeights: { title: 1, category: 0.5, description: 0.25 },
      maxTokensPerField: 8,
      tokenizer: { ngramMin: 3, ngramMax: 4, buckets },
      files: [
        { path: 'vocab.txt', sha256: sha(vocab), bytes: vocab.length },
        { path: 'weights.bin', sha256: sha(weights), bytes: weights.length },
      ],
      tensors: parts.map((p, i) => {
        const spec = {
          name: names[i]!,
          shape: shapes[i]!,
          dtype: 'float32' as const,
          file: 'weights.bin',
          offset,
          byteLength: p.byteLength,
        };
        offset += p.byteLength;
        return spec;
      }),
      provenance: {},
    };
    const files: Record<string, Buffer> = { 'vocab.txt': vocab, 'weights.bin': weights };
    const fetcher = async (location: string): Promise<ArrayBuffer> => new Uint8Array(files[location.split('/').pop()!]!).buffer;
    const items: EncoderInput[] = [
      { title: 'Red garden chair', category: 'Garden', description: 'a chair for the garden' },
      { title: 'toy', category: 'Toys' },
      { title: 'Unknown words only', category: '' },
      { title: '' },
    ];
    const got: number[][] = [];
    for (const pooling of ['typed', 'tensor'] as const) {
      const enc = await loadEncoder({ modelUrl: 'small', manifest, fetcher, pooling });
      const t = await enc.encode(items, { batchSize: 3 });
      expect(t.shape).toEqual([items.length, dims]);
      got.push(Array.from(await t.data()));
      t.dispose();
      enc.dispose();
    }
    got[0]!.forEach((v, i) => expect(Math.abs(v - got[1]![i]!)).toBeLessThan(1e-5));
    // Not a copy of the bias alone: the items' words moved their vectors apart.
    expect(Math.abs(got[0]![0]! - got[0]![3]!)).toBeGreaterThan(1e-3);
  });

  it('decodes the shipped weights in slices (int8, float16, float32) to the same numbers, giving the page a turn between them', async () => {
    const manifest = JSON.parse(readFileSync(resolve(MODELS, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    const buf = new Uint8Array(readFileSync(resolve(MODELS, 'encoder', 'weights.bin'))).buffer;
    let turns = 0;
    const eager = new Slicer(0, async () => void turns++);
    expect(new Set(manifest.tensors.map((t) => t.dtype))).toEqual(new Set(['int8', 'float16', 'float32']));
    for (const spec of manifest.tensors) {
      turns = 0;
      const sliced = await decodeTensorSliced(buf, spec, eager);
      expect(Buffer.from(sliced.buffer).equals(Buffer.from(decodeTensor(buf, spec).buffer))).toBe(true);
      const size = spec.shape.reduce((a, b) => a * b, 1);
      // The table (1.8 million numbers) is a turn every 65,536 of them; a vector is one slice.
      expect(turns).toBe(spec.shape.length > 1 ? Math.ceil(spec.shape[0]! / Math.floor(65_536 / (size / spec.shape[0]!))) : 1);
    }
    expect(manifest.tensors.find((t) => t.name === 'table')!.shape[0]).toBeGreaterThan(20_000);
  });

  it('embeds words it has never seen, through n-grams, and drops none', async () => {
    const enc = await loadEncoder({ modelUrl: resolve(MODELS, 'encoder') });
    const items = [{ title: 'zorbulator' }, { title: 'zorbulators' }, { title: 'qwxplm' }];
    const cov = enc.coverage(items);
    expect(cov.dropped).toBe(0);
    expect(cov.byNgrams).toBe(3);
    const t = await enc.encode(items);
    const [a, b] = (await t.array()) as number[][];
    // Morphological neighbours share most n-grams, so their vectors are close.
    const cos = a!.reduce((s, v, i) => s + v * b![i]!, 0);
    expect(cos).toBeGreaterThan(0.5);
    t.dispose();
    enc.dispose();
  });

  it('reports a checksum mismatch as a typed error naming the file', async () => {
    const tampered = async (loc: string): Promise<ArrayBuffer> => {
      const buf = await defaultFetcher(loc);
      if (loc.endsWith('weights.bin')) new Uint8Array(buf)[100]! ^= 0xff;
      return buf;
    };
    const err = await loadEncoder({ modelUrl: resolve(MODELS, 'encoder'), fetcher: tampered }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).file).toMatch(/weights\.bin$/);
    expect((err as Error).message).toMatch(/Checksum mismatch for .*weights\.bin.*redeploy/i);
  });

  it('reports a missing model folder clearly', async () => {
    const err = await loadEncoder({ modelUrl: resolve(MODELS, 'nope') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelLoadError);
    expect((err as Error).message).toMatch(/Could not read .*manifest\.json/);
  });
});
