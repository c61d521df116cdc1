/** Writing head models (`models/head/`, or a published base's `head-<digest>/`) and the top-level `models/manifest.json`. */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EncoderManifest } from '../../core/encoder.js';
import type { TensorSpec } from '../../core/model-io.js';
import { encodeDeltaVarints, encodeInt4Rows, encodeInt8Rows, floatToHalf } from '../../core/model-io.js';
import type { HeadManifest, ModelManifest } from '../../core/model.js';
import { manifestFile, sha256Bytes } from '../common.js';

/** Everything a head model holds. */
export interface HeadModelData {
  version: string;
  encoderVersion: string;
  dims: number;
  alpha: number;
  W: Float32Array;
  ids: string[];
  bias: Float32Array;
  residual: Float32Array | null;
  /** The shop's transitions over `ids` (CSR), or absent. */
  transitions?: { ptr: Int32Array; to: Int32Array; p: Float32Array } | null;
  /** Feature weights: each of `MEMORY_FEATURES` mid-visit, then at a visit's start (`MIX_LENGTH` of them; see `HeadManifest.mix`). */
  mix?: number[];
  /** The bias of catalogue items the base does not know (default 0, the known items' average). */
  newItemBias?: number;
  /** The weight of the shop delta ψ in the browser (default 1). */
  shopDeltaWeight?: number;
  /** The weight of ψ on the products the base does not know (default `shopDeltaWeight`). */
  shopDeltaWeightNew?: number;
  /**
   * How the residuals are written: int8 rows, or int4 rows (half the bytes, each number within
   * half of a fourteenth of its row's largest); absent, int4 where the base knows
   * {@link INT4_RESIDUALS_FROM} items or more. Unused where written `exact`.
   */
  residualBits?: 4 | 8;
  /** Places per ten kept for the products the base does not know (default 0). */
  newSlots?: number;
  /** Places per ten for launches among the shop's best sellers now (default 0). */
  launchSlots?: number;
  /** What each of `ids` sold in the days before the cut-off (see `BaseParams.recent`), or absent. */
  recent?: Float32Array | null;
  /** The half-life, in days, `recent` was computed with, and the time (ms) it stands at (written with it). */
  recentHalfLifeDays?: number;
  recentAt?: number;
  /** Whether pages show a shopper the items they viewed lately, as the job chose (`HeadManifest.recommendViewed`); absent: they do not. */
  recommendViewed?: boolean;
  /** Whether pages keep places for a shopper's latest departments, as the job chose (`HeadManifest.keepLatestDepartments`); absent: they do. */
  keepLatestDepartments?: boolean;
  /** Whether pages share each interest's places among its clicks, as the job chose (`HeadManifest.shareInterestClicks`); absent: they do. */
  shareInterestClicks?: boolean;
  deltaCompatibleWith: string[];
  headOptions?: Record<string, number>;
  provenance: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/**
 * A base that knows this many items or more writes its residuals as int4 rows unless told
 * otherwise: its int8 rows would pass 1.3 MB (64 dims), which a page downloads before its first
 * list, and on Online Retail's validation weeks int4 residuals cost `clickwise` 0.1% of NDCG@10
 * (docs/RESULTS.md, _How the residuals are written_). A smaller base keeps int8 rows, whose
 * bytes matter less than that 0.1%.
 */
export const INT4_RESIDUALS_FROM = 20_000;

/**
 * Writes a head folder with its manifest (sha256 of every file). With `versionFromContent`, the
 * version given is suffixed with 12 hex digits of a sha256 over everything the head scores with
 * (its tensors, ids, weights and options), so two heads that score alike share a version and two
 * that do not never do, whatever their cut-off: browsers rebase and the stream job starts again
 * exactly when the base changed. The residuals are written as int8 rows and the transitions'
 * probabilities as float16 unless `exact`.
 */
export function writeHeadModel(
  dir: string,
  h: HeadModelData,
  { versionFromContent = false, exact = false }: { versionFromContent?: boolean; exact?: boolean } = {},
): HeadManifest {
  mkdirSync(dir, { recursive: true });
  const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  // Two files: `head.bin` with what a page ranks with from its first list (W, the biases, what
  // sold lately, the residuals) and `transitions.bin` with the shop's transitions, most of a large
  // base's bytes, which a page needs only once the shopper has clicked and so fetches after its
  // first list (a loader of an earlier version reads every file the manifest lists, as before).
  // In each, the float32 tensors first (a loader reads them in place where their offset is a
  // multiple of 4), then the residuals as int8 rows with a scale each and the transitions'
  // probabilities as float16 (unless `exact`): half the bytes a page downloads for a large base,
  // at a precision the page's own item matrix (int8 rows) does not keep anyway.
  type Part = { name: string; shape: number[]; dtype: TensorSpec['dtype']; bytes: Uint8Array };
  const parts: Part[] = [
    { name: 'W', shape: [h.dims, h.dims], dtype: 'float32', bytes: bytesOf(h.W) },
    { name: 'bias', shape: [h.ids.length], dtype: 'float32', bytes: bytesOf(h.bias) },
  ];
  if (h.recent) parts.push({ name: 'recent', shape: [h.ids.length], dtype: 'float32', bytes: bytesOf(h.recent) });
  if (h.residual) {
    const int4 = (h.residualBits ?? (h.ids.length >= INT4_RESIDUALS_FROM ? 4 : 8)) === 4;
    parts.push(
      exact
        ? { name: 'residual', shape: [h.ids.length, h.dims], dtype: 'float32', bytes: bytesOf(h.residual) }
        : int4
          ? { name: 'residual', shape: [h.ids.length, h.dims], dtype: 'int4', bytes: encodeInt4Rows(h.residual, h.ids.length) }
          : { name: 'residual', shape: [h.ids.length, h.dims], dtype: 'int8', bytes: encodeInt8Rows(h.residual, h.ids.length) },
    );
  }
  const transParts: Part[] = [];
  if (h.transitions) {
    // Each item's successors in ascending order (every reader sums a successor's votes whatever
    // their order), so that the successors are written as their differences, most of them one to
    // three bytes where float32 took four (`delta-varint`); the row starts as float32 (exact up to
    // 2^24 items).
    const { to, p } = successorsAscending(h.transitions);
    transParts.push(
      { name: 'transPtr', shape: [h.ids.length + 1], dtype: 'float32', bytes: bytesOf(Float32Array.from(h.transitions.ptr)) },
      { name: 'transTo', shape: [to.length], dtype: 'delta-varint', bytes: encodeDeltaVarints(to) },
      exact
        ? { name: 'transP', shape: [p.length], dtype: 'float32', bytes: bytesOf(p) }
        : { name: 'transP', shape: [p.length], dtype: 'float16', bytes: new Uint8Array(Uint16Array.from(p, floatToHalf).buffer) },
    );
  }
  const tensors: TensorSpec[] = [];
  /** The file of `list`, its tensors listed as they lie in it. */
  const fileOf = (file: string, list: Part[]): Uint8Array => {
    const bin = new Uint8Array(list.reduce((s, p) => s + p.bytes.byteLength, 0));
    let offset = 0;
    for (const p of list) {
      bin.set(p.bytes, offset);
      tensors.push({ name: p.name, shape: p.shape, dtype: p.dtype, file, offset, byteLength: p.bytes.byteLength });
      offset += p.bytes.byteLength;
    }
    return bin;
  };
  const bin = fileOf('head.bin', parts);
  const transBin = transParts.length > 0 ? fileOf('transitions.bin', transParts) : null;
  const items = new TextEncoder().encode(h.ids.map((id) => `${id}\n`).join(''));
  writeFileSync(join(dir, 'head.bin'), bin);
  if (transBin) writeFileSync(join(dir, 'transitions.bin'), transBin);
  else rmSync(join(dir, 'transitions.bin'), { force: true });
  writeFileSync(join(dir, 'items.txt'), items);
  // What the browser scores with: the files, and the manifest's fields that are not provenance.
  const scoring = {
    encoderVersion: h.encoderVersion,
    dims: h.dims,
    alpha: h.alpha,
    ...(h.headOptions ? { headOptions: h.headOptions } : {}),
    ...(h.mix ? { mix: h.mix } : {}),
    ...(h.newItemBias ? { newItemBias: h.newItemBias } : {}),
    ...(h.shopDeltaWeight !== undefined ? { shopDeltaWeight: h.shopDeltaWeight } : {}),
    ...(h.shopDeltaWeightNew !== undefined ? { shopDeltaWeightNew: h.shopDeltaWeightNew } : {}),
    ...(h.newSlots ? { newSlots: h.newSlots } : {}),
    ...(h.launchSlots ? { launchSlots: h.launchSlots } : {}),
    ...(h.recommendViewed !== undefined ? { recommendViewed: h.recommendViewed } : {}),
    ...(h.keepLatestDepartments !== undefined ? { keepLatestDepartments: h.keepLatestDepartments } : {}),
    ...(h.shareInterestClicks !== undefined ? { shareInterestClicks: h.shareInterestClicks } : {}),
    ...(h.recent && h.recentHalfLifeDays !== undefined ? { recentHalfLifeDays: h.recentHalfLifeDays } : {}),
    ...(h.recent && h.recentAt !== undefined ? { recentAt: new Date(h.recentAt).toISOString() } : {}),
  };
  // The files as listed, with the kernel's digest too, which the version leaves out (the same
  // content keeps its version whether or not a digest was written).
  const listed = [
    manifestFile('head.bin', bin),
    ...(transBin ? [manifestFile('transitions.bin', transBin)] : []),
    manifestFile('items.txt', items),
  ];
  const files = listed.map(({ path, sha256, bytes }) => ({ path, sha256, bytes }));
  const content = versionFromContent
    ? `-${sha256Bytes(new TextEncoder().encode(JSON.stringify({ scoring, tensors, files }))).slice(0, 12)}`
    : '';
  const { encoderVersion, dims, alpha, ...options } = scoring;
  const manifest: HeadManifest = {
    format: 'clickwise-head',
    formatVersion: 1,
    version: h.version + content,
    encoderVersion,
    dims,
    alpha,
    items: h.ids.length,
    deltaCompatibleWith: h.deltaCompatibleWith,
    ...options,
    files: listed,
    tensors,
    provenance: h.provenance,
    ...(h.metrics ? { metrics: h.metrics } : {}),
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** The base every catalogue starts from when there are no logs: W₀ = τ·I, no per-item terms. */
export function defaultHead(encoder: EncoderManifest, temperature = 5): HeadModelData {
  const d = encoder.dims;
  const W = new Float32Array(d * d);
  for (let i = 0; i < d; i++) W[i * d + i] = temperature;
  return {
    version: `base-identity-${encoder.version}`,
    encoderVersion: encoder.version,
    dims: d,
    alpha: 0,
    W,
    ids: [],
    bias: new Float32Array(0),
    residual: null,
    deltaCompatibleWith: [],
    provenance: { builtBy: 'npm run build:encoder', kind: `content-only base: W0 = ${temperature}·I, no per-item parameters` },
  };
}

/**
 * Writes `models/manifest.json` (atomically) pointing at the encoder and head folders (`encoder/`
 * and `head/` unless given); its version names both.
 */
export function writeModelManifest(
  modelsDir: string,
  o: { delta?: boolean; head?: string; encoder?: string; previous?: ModelManifest['previous'] } = {},
): ModelManifest {
  const encoder = o.encoder ?? 'encoder/';
  const headDir = o.head ?? 'head/';
  const enc = JSON.parse(readFileSync(join(modelsDir, encoder, 'manifest.json'), 'utf8')) as EncoderManifest;
  const head = JSON.parse(readFileSync(join(modelsDir, headDir, 'manifest.json'), 'utf8')) as HeadManifest;
  const m: ModelManifest = {
    format: 'clickwise-model',
    formatVersion: 1,
    version: `${enc.version}+${head.version}`,
    encoder,
    head: headDir,
  };
  // Catalogue vectors made with this encoder stay valid across bases: they depend on the text only.
  const vectors = join(modelsDir, 'vectors', 'manifest.json');
  if (existsSync(vectors) && (JSON.parse(readFileSync(vectors, 'utf8')) as { encoderVersion?: string }).encoderVersion === enc.version) {
    m.vectors = 'vectors/';
  }
  // A shop delta in the folder (the stream job's) is named, so browsers look for it.
  if (o.delta || existsSync(join(modelsDir, 'delta', 'manifest.json'))) m.delta = 'delta/';
  if (o.previous) m.previous = o.previous;
  writeAtomically(join(modelsDir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
  return m;
}

/**
 * Writes a file so that a reader sees the old content or the new, never a torn one: a temporary
 * file, fsynced, then renamed over the old one.
 */
export function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Each row's successors (and their probabilities with them) in ascending order of successor. */
export function successorsAscending(T: { ptr: Int32Array; to: Int32Array; p: Float32Array }): { to: Int32Array; p: Float32Array } {
  const to = new Int32Array(T.to.length);
  const p = new Float32Array(T.p.length);
  const order: number[] = [];
  for (let r = 0; r + 1 < T.ptr.length; r++) {
    const start = T.ptr[r]!;
    const end = T.ptr[r + 1]!;
    order.length = 0;
    for (let k = start; k < end; k++) order.push(k);
    order.sort((a, b) => T.to[a]! - T.to[b]! || a - b);
    order.forEach((k, e) => {
      to[start + e] = T.to[k]!;
      p[start + e] = T.p[k]!;
    });
  }
  return { to, p };
}
