/**
 * The frozen text encoder: tokens → pretrained word vectors (or, for words the vocabulary lacks,
 * the mean of their character n-gram vectors) → frequency-aware weighted pooling → projection to
 * `dims` → L2 normalisation. It runs as one batched gather + matMul on whichever tfjs backend is
 * active, so WebGPU, WASM, WebGL and CPU give the same vectors within float tolerance.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ModelLoadError } from './errors.js';
import { now, SLICE_MS, Slicer } from './slice.js';
import type { Fetcher, ManifestFile, TensorSpec } from './model-io.js';
import { decodeTensorSliced, defaultFetcher, fetchJson, fetchVerified, joinLocation, refuseLaterFormat } from './model-io.js';
import type { TokenizerConfig } from './tokenizer.js';
import { ngramBuckets, tokenize } from './tokenizer.js';
import type { ProgressCallback } from './types.js';

/** `models/encoder/manifest.json`. */
export interface EncoderManifest {
  format: 'clickwise-encoder';
  formatVersion: 1;
  /** Changes whenever the vectors the encoder produces change. Part of every cache key. */
  version: string;
  /** Output dimension d. */
  dims: number;
  /** Dimension of the word / n-gram table rows. */
  wordDims: number;
  vocabSize: number;
  /** Pooling weight of a word the vocabulary lacks (embedded from n-grams). */
  oovWeight: number;
  /** Relative weight of each text field in the pooled vector. */
  fieldWeights: { title: number; category: number; description: number };
  /** At most this many tokens per field are used. */
  maxTokensPerField: number;
  tokenizer: TokenizerConfig;
  files: ManifestFile[];
  tensors: TensorSpec[];
  provenance: Record<string, unknown>;
  coverage?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** The text of one item that the encoder reads. */
export interface EncoderInput {
  title: string;
  category?: string | undefined;
  description?: string | undefined;
}

/** What {@link poolingEntries} needs: the vocabulary and the pooling weights. */
export interface PoolingContext {
  vocab: ReadonlyMap<string, number>;
  /** Frequency-aware (SIF) weight of each vocabulary word. */
  tokenWeight: Float32Array;
  /** Learned multiplicative weight of each table row (words and n-gram buckets), or null. */
  rowScale: Float32Array | null;
  config: Pick<EncoderManifest, 'vocabSize' | 'oovWeight' | 'fieldWeights' | 'maxTokensPerField' | 'tokenizer'>;
}

/** An item's pooling: the table rows it reads and each one's weight (summing to 1 where any). */
export interface PoolingEntry {
  rows: number[];
  weights: number[];
}

/**
 * The table rows an item's text reads and their pooling weights (summing to 1): a vocabulary word
 * reads its own row; any other word reads its n-gram bucket rows, sharing the word's weight. Shared
 * by the runtime encoder and the offline trainer so that both pool exactly alike.
 */
export function poolingEntries(item: EncoderInput, ctx: PoolingContext): PoolingEntry {
  const { config, vocab, tokenWeight, rowScale } = ctx;
  const rows: number[] = [];
  const weights: number[] = [];
  const field = (text: string | undefined, fw: number): void => {
    if (!text || fw <= 0) return;
    for (const t of tokenize(text).slice(0, config.maxTokensPerField)) {
      const k = vocab.get(t);
      if (k !== undefined) {
        rows.push(k);
        weights.push(fw * tokenWeight[k]! * (rowScale ? rowScale[k]! : 1));
      } else {
        const bs = ngramBuckets(t, config.tokenizer);
        for (const b of bs) {
          const row = config.vocabSize + b;
          rows.push(row);
          weights.push(((fw * config.oovWeight) / bs.length) * (rowScale ? rowScale[row]! : 1));
        }
      }
    }
  };
  field(item.title, config.fieldWeights.title);
  field(item.category, config.fieldWeights.category);
  field(item.description, config.fieldWeights.description);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum > 0) for (let i = 0; i < weights.length; i++) weights[i]! /= sum;
  return { rows, weights };
}

/** Options of {@link loadEncoder}. */
export interface LoadEncoderOptions {
  /** Folder (URL, or a path in Node) holding `manifest.json`. */
  modelUrl: string;
  fetcher?: Fetcher;
  onProgress?: ProgressCallback;
  onWarning?: (message: string) => void;
  /** `manifest.json`, when the caller has already read it (to learn the version before the weights). */
  manifest?: EncoderManifest;
  /**
   * How each item's rows are pooled: `'tensor'`, a gather and a weighted sum on the backend (for a
   * GPU), or `'typed'`, a loop over the table in this thread's memory (much faster on
   * WASM and CPU, whose gather kernel is slow, and the table never enters the WASM heap). Both
   * give the same vectors. Default: `'typed'` where the active backend is `wasm` or `cpu`.
   */
  pooling?: 'tensor' | 'typed';
}

/** A loaded, frozen encoder. Holds tensors on the active backend until `dispose()`. */
export interface Encoder {
  readonly manifest: EncoderManifest;
  readonly version: string;
  readonly dims: number;
  /**
   * Embeds items into an `[n, dims]` float32 tensor of unit rows, in batches. The caller owns
   * (and disposes) the returned tensor. Without `batchSize`, batches are sized to take about one
   * time slice each and a macrotask is yielded between them, so a page stays responsive.
   */
  encode(items: readonly EncoderInput[], options?: { batchSize?: number; onProgress?: ProgressCallback }): Promise<tf.Tensor2D>;
  /** How the words of these items are covered: by the vocabulary, or by n-grams. */
  coverage(items: readonly EncoderInput[]): { tokens: number; inVocab: number; byNgrams: number; dropped: number };
  dispose(): void;
}

function tensorSpec(m: EncoderManifest, name: string): TensorSpec {
  const t = m.tensors.find((x) => x.name === name);
  if (!t) throw new ModelLoadError('manifest.json', `Encoder manifest lacks tensor "${name}". Rebuild with npm run build:encoder.`);
  return t;
}

/** The most items in one batch of {@link Encoder.encode}. */
const MAX_BATCH = 1024;

/** The smallest adaptive batch, in padded cells (items × rows): a few items of any length. */
const MIN_CELLS = 64;

/** Loads and verifies the encoder in `modelUrl` (a folder with `manifest.json`). */
export async function loadEncoder(options: LoadEncoderOptions): Promise<Encoder> {
  const fetcher = options.fetcher ?? defaultFetcher;
  const base = options.modelUrl;
  const manifest = options.manifest ?? (await fetchJson<EncoderManifest>(fetcher, joinLocation(base, 'manifest.json')));
  refuseLaterFormat(manifest, 'clickwise-encoder', joinLocation(base, 'manifest.json'), 'an encoder');
  if (manifest.format !== 'clickwise-encoder' || manifest.formatVersion !== 1) {
    throw new ModelLoadError(
      joinLocation(base, 'manifest.json'),
      `${joinLocation(base, 'manifest.json')} is not a Clickwise encoder manifest of format version 1 (format=${String(manifest.format)}, formatVersion=${String(manifest.formatVersion)}). Point modelUrl at models/encoder.`,
    );
  }
  const buffers = new Map<string, ArrayBuffer>();
  let done = 0;
  const total = manifest.files.reduce((a, f) => a + f.bytes, 0);
  for (const f of manifest.files) {
    buffers.set(f.path, await fetchVerified(fetcher, base, f));
    done += f.bytes;
    options.onProgress?.({ phase: 'download', done, total });
  }
  // Building the vocabulary and decoding each tensor are tasks of their own where a slice is used
  // up: together they held a slow machine's main thread for over 100 ms.
  const slicer = new Slicer();
  const vocabBuf = buffers.get('vocab.txt');
  if (!vocabBuf)
    throw new ModelLoadError(joinLocation(base, 'vocab.txt'), 'Encoder manifest lists no vocab.txt. Rebuild with npm run build:encoder.');
  const words = new TextDecoder()
    .decode(vocabBuf)
    .split('\n')
    .filter((w) => w.length > 0);
  if (words.length !== manifest.vocabSize) {
    throw new ModelLoadError(
      joinLocation(base, 'vocab.txt'),
      `vocab.txt has ${words.length} words, manifest says ${manifest.vocabSize}. Rebuild the encoder.`,
    );
  }
  const vocab = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    vocab.set(words[i]!, i);
    if ((i & 1023) === 1023) await slicer.maybeYield();
  }
  await slicer.maybeYield();

  const read = async (name: string): Promise<{ data: Float32Array; spec: TensorSpec }> => {
    const spec = tensorSpec(manifest, name);
    const buf = buffers.get(spec.file);
    if (!buf) throw new ModelLoadError(spec.file, `Tensor ${name} refers to ${spec.file}, which the manifest does not list.`);
    const data = await decodeTensorSliced(buf, spec, slicer);
    await slicer.maybeYield();
    return { data, spec };
  };
  const has = (name: string): boolean => manifest.tensors.some((t) => t.name === name);
  const tableT = await read('table');
  const tokenWeight = (await read('tokenWeight')).data;
  const projT = has('projection') ? await read('projection') : null;
  const rows = manifest.vocabSize + manifest.tokenizer.buckets;
  if (tableT.spec.shape[0] !== rows || tableT.spec.shape[1] !== manifest.wordDims) {
    throw new ModelLoadError('weights.bin', `table has shape [${tableT.spec.shape.join(',')}], expected [${rows},${manifest.wordDims}].`);
  }
  const biasData = has('projectionBias') ? (await read('projectionBias')).data : null;
  const rowScale = has('rowScale') ? (await read('rowScale')).data : null;
  const typed = (options.pooling ?? (['wasm', 'cpu'].includes(tf.getBackend()) ? 'typed' : 'tensor')) === 'typed';
  let table: tf.Tensor2D | null = null;
  let projection: tf.Tensor2D | null = null;
  let bias: tf.Tensor1D | null = null;
  if (!typed) {
    // Moving the table into the backend is a task of its own (megabytes copied, a heap grown).
    await slicer.yield();
    table = tf.tensor2d(tableT.data, [rows, manifest.wordDims]);
    // A table stored already projected (wordDims === dims) needs no projection at run time.
    projection = projT ? tf.tensor2d(projT.data, [manifest.wordDims, manifest.dims]) : null;
    bias = biasData ? tf.tensor1d(biasData) : null;
    await slicer.yield();
  }
  const pool = typed ? typedPooling(tableT.data, projT?.data ?? null, biasData, manifest.wordDims, manifest.dims) : null;
  const ctx: PoolingContext = { vocab, tokenWeight, rowScale, config: manifest };
  const entries = (item: EncoderInput): PoolingEntry => poolingEntries(item, ctx);

  let disposed = false;
  const encoder: Encoder = {
    manifest,
    version: manifest.version,
    dims: manifest.dims,
    async encode(items, opts = {}) {
      if (disposed) throw new ModelLoadError('encoder', 'This encoder was disposed.');
      const fixed = opts.batchSize;
      // Adaptive batches: a batch's cost is its padded size (items × the longest item's rows),
      // so batches are sized in those cells, to take about one slice each: a batch of long
      // descriptions is fewer items. It starts small and at most doubles from one batch to the
      // next, so one quick batch cannot make the next a long task.
      let cells = 512;
      const slicer = new Slicer();
      const parts: tf.Tensor2D[] = [];
      // The next item's entries, made while the batch before was filled but not taken by it.
      let pending: PoolingEntry | null = null;
      try {
        for (let start = 0; start < items.length;) {
          const t0 = now();
          const batch: PoolingEntry[] = [];
          let width = 1;
          while (start + batch.length < items.length && batch.length < (fixed ?? MAX_BATCH)) {
            const e: PoolingEntry = pending ?? entries(items[start + batch.length]!);
            pending = null;
            const wider = Math.max(width, e.rows.length);
            if (fixed === undefined && batch.length > 0 && (batch.length + 1) * wider > cells) {
              pending = e;
              break;
            }
            batch.push(e);
            width = wider;
          }
          if (pool) {
            parts.push(tf.tensor2d(pool(batch), [batch.length, manifest.dims]));
          } else {
            const idx = new Int32Array(batch.length * width);
            const w = new Float32Array(batch.length * width);
            batch.forEach((e, i) => {
              idx.set(e.rows, i * width);
              w.set(e.weights, i * width);
            });
            parts.push(tensorPooling(table!, projection, bias, idx, w, batch.length, width, manifest.wordDims));
          }
          // Waits for a GPU backend; on WASM and CPU this is only a microtask, hence the yield below.
          await parts[parts.length - 1]!.data();
          start += batch.length;
          opts.onProgress?.({ phase: 'encode', done: start, total: items.length });
          if (fixed === undefined) {
            const ms = Math.max(0.5, now() - t0);
            const done = batch.length * width;
            cells = Math.max(MIN_CELLS, Math.min(2 * Math.max(cells, done), Math.round((done * SLICE_MS) / ms)));
          }
          if (start < items.length) await slicer.yield();
        }
        if (parts.length === 0) return tf.zeros([0, manifest.dims]) as tf.Tensor2D;
        return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
      } finally {
        if (parts.length > 1) parts.forEach((p) => p.dispose());
      }
    },
    coverage(items) {
      let tokens = 0;
      let inVocab = 0;
      for (const it of items) {
        for (const text of [it.title, it.category, it.description]) {
          if (!text) continue;
          for (const t of tokenize(text).slice(0, manifest.maxTokensPerField)) {
            tokens++;
            if (vocab.has(t)) inVocab++;
          }
        }
      }
      return { tokens, inVocab, byNgrams: tokens - inVocab, dropped: 0 };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      table?.dispose();
      projection?.dispose();
      bias?.dispose();
    },
  };
  return encoder;
}

/** A batch's vectors pooled on the backend: gather the rows, weight and sum them, project, normalise. */
function tensorPooling(
  table: tf.Tensor2D,
  projection: tf.Tensor2D | null,
  bias: tf.Tensor1D | null,
  idx: Int32Array,
  w: Float32Array,
  n: number,
  width: number,
  wordDims: number,
): tf.Tensor2D {
  return tf.tidy(() => {
    const vecs = tf.reshape(tf.gather(table, tf.tensor1d(idx, 'int32')), [n, width, wordDims]);
    const pooled = tf.sum(tf.mul(vecs, tf.tensor3d(w, [n, width, 1])), 1) as tf.Tensor2D;
    let out: tf.Tensor2D = projection ? tf.matMul(pooled, projection) : pooled;
    if (bias) out = tf.add(out, bias);
    const norm = tf.maximum(tf.norm(out, 'euclidean', 1, true), 1e-8);
    return tf.div(out, norm) as tf.Tensor2D;
  });
}

/**
 * The same pooling over the table in this thread's memory: each item's rows weighted and summed,
 * projected ([wordDims × dims], row-major), the bias added, the row scaled to unit length.
 * Returns the batch's vectors, row-major.
 */
function typedPooling(
  table: Float32Array,
  projection: Float32Array | null,
  bias: Float32Array | null,
  wordDims: number,
  dims: number,
): (batch: readonly PoolingEntry[]) => Float32Array {
  const pooled = new Float64Array(wordDims);
  const projected = new Float64Array(dims);
  return (batch) => {
    const out = new Float32Array(batch.length * dims);
    batch.forEach((e, i) => {
      pooled.fill(0);
      for (let j = 0; j < e.rows.length; j++) {
        const w = e.weights[j]!;
        const at = e.rows[j]! * wordDims;
        for (let k = 0; k < wordDims; k++) pooled[k]! += w * table[at + k]!;
      }
      for (let o = 0; o < dims; o++) {
        let v = bias ? bias[o]! : 0;
        if (projection) for (let k = 0; k < wordDims; k++) v += pooled[k]! * projection[k * dims + o]!;
        else v += pooled[o]!;
        projected[o] = v;
      }
      let sq = 0;
      for (let o = 0; o < dims; o++) sq += projected[o]! * projected[o]!;
      const norm = Math.max(Math.sqrt(sq), 1e-8);
      for (let o = 0; o < dims; o++) out[i * dims + o] = projected[o]! / norm;
    });
    return out;
  };
}
