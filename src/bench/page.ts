/**
 * The benchmark page (`dist/src/bench/bench.html`), driven by `npm run bench` in headless
 * Chromium. Every figure is measured here, in the page, with the same code the storefront runs:
 * the incremental head, the IndexedDB store and the encoder. It exposes `window.runBench`.
 */
import { READ_WASM_BASE64 } from './kernels/read-wasm.js';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../core/backend.js';
import { loadEncoder } from '../core/encoder.js';
import { IncrementalHead } from '../core/head.js';
import { ItemMatrix, TopK } from '../core/item-matrix.js';
import { gaussian, mulberry32 } from '../core/rng.js';
import type { BackendName, Item } from '../core/types.js';
import { createRecommender } from '../index.js';
import { IndexedDbDeltaStore } from '../storage/idb-store.js';
import { perCallSamples } from './timing.js';

/** What the runner asks for. */
export interface BenchConfig {
  backends: BackendName[];
  sizes: number[];
  clicks: number;
  warmup: number;
  memoryClicks: number;
  encodeItems: number;
  /** Largest N per backend (software WebGPU is too slow for 100,000). */
  maxN: Partial<Record<BackendName, number>>;
}

const D = 64;
const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const round = (x: number): number => Math.round(x * 1000) / 1000;

function synthetic(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const e = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let k = 0; k < D; k++) norm += (e[i * D + k] = gaussian(rand)) ** 2;
    norm = Math.sqrt(norm);
    for (let k = 0; k < D; k++) e[i * D + k]! /= norm;
  }
  return e;
}

function identityBase(n: number): { W: Float32Array; alpha: number; bias: Float32Array; residual: null } {
  const W = new Float32Array(D * D);
  for (let i = 0; i < D; i++) W[i * D + i] = 5;
  return { W, alpha: 0.5, bias: new Float32Array(n), residual: null };
}

/** The same scoring and top-10 as the head, in plain JavaScript over Float32Arrays. */
function plainJsTop10(V: Float32Array, q: Float32Array, b: Float32Array, db: Float32Array, rep: Float32Array, alpha: number): Int32Array {
  const n = b.length;
  const topS = new Float32Array(10).fill(-Infinity);
  const topI = new Int32Array(10).fill(-1);
  for (let i = 0; i < n; i++) {
    let s = b[i]! + db[i]! + alpha * rep[i]!;
    const o = i * D;
    for (let k = 0; k < D; k++) s += V[o + k]! * q[k]!;
    if (s > topS[9]!) {
      let j = 9;
      while (j > 0 && topS[j - 1]! < s) {
        topS[j] = topS[j - 1]!;
        topI[j] = topI[j - 1]!;
        j--;
      }
      topS[j] = s;
      topI[j] = i;
    }
  }
  return topI;
}

/**
 * The read floor of a pass over `bytes` bytes: the median time of a WebAssembly SIMD loop that
 * only sums them (one add per 16 bytes), in ms. What any WebAssembly scan here must at least spend.
 */
async function readFloorMs(bytes: number): Promise<number> {
  const size = Math.ceil(bytes / 64) * 64;
  const memory = new WebAssembly.Memory({ initial: Math.ceil(size / 65536) + 1 });
  const bin = Uint8Array.from(atob(READ_WASM_BASE64), (c) => c.charCodeAt(0));
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(bin), { env: { memory } }).exports as {
    sum: (from: number, to: number) => number;
  };
  new Uint8Array(memory.buffer).fill(1);
  let sink = 0;
  const times = await perCallSamples(() => (sink ^= kernel.sum(0, size)), 9, { minMs: 5 });
  if (sink === 0.5) console.log(sink); // keeps the sums live
  return quantile(times, 0.5);
}

/** Copy bandwidth of this page, bytes per millisecond (read + write counted once each). */
async function copyBandwidth(): Promise<number> {
  const { src, dst } = copyBuffers();
  const times = await perCallSamples(() => dst.set(src), 5, { minMs: 20 });
  return (2 * src.byteLength) / quantile(times, 0.5);
}

let copyPair: { src: Float32Array; dst: Float32Array } | null = null;

/** The 64 MiB source and destination the copy floor is measured with (made once). */
function copyBuffers(): { src: Float32Array; dst: Float32Array } {
  copyPair ??= { src: new Float32Array(16 * 1024 * 1024).fill(1), dst: new Float32Array(16 * 1024 * 1024) };
  return copyPair;
}

/**
 * `fn`'s time ÷ the copy floor of `bytes`, measured in alternation: each round times the copy,
 * then `fn`, so that both see the same moment of a shared machine. The median and the range of
 * the rounds' ratios.
 */
async function pairedRatioToFloor(fn: () => unknown, bytes: number, rounds: number): Promise<{ p50: number; min: number; max: number }> {
  const { src, dst } = copyBuffers();
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [copy] = await perCallSamples(() => dst.set(src), 1, { minMs: 20 });
    const [t] = await perCallSamples(fn, 1, { minMs: 5 });
    ratios.push(t! / ((bytes * copy!) / (2 * src.byteLength)));
  }
  return { p50: round(quantile(ratios, 0.5)), min: round(Math.min(...ratios)), max: round(Math.max(...ratios)) };
}

async function caseFor(backend: BackendName, n: number, cfg: BenchConfig, bandwidth: number): Promise<Record<string, unknown>> {
  const ids = Array.from({ length: n }, (_, i) => `s${i}`);
  const data = synthetic(n, n);
  // The item matrix as the recommender makes it: int8 rows, quantised in blocks (one N × d
  // tensor of 1,000,000 rows would be a 256 MB copy on top of this one).
  const matrix = new ItemMatrix(n, D);
  for (let from = 0; from < n; from += 65_536) matrix.setRows(from, data.subarray(from * D, Math.min(n, from + 65_536) * D));
  const head = new IncrementalHead(matrix, ids, identityBase(n));
  const store = await IndexedDbDeltaStore.open({ namespace: `bench-${backend}-${n}-${Date.now()}` });
  const rand = mulberry32(7);
  const click = async (i: number): Promise<void> => {
    const item = Math.floor(rand() * n);
    await store.append({ type: 'click', itemId: ids[item]!, t: i, impressions: [] });
    head.learnOne({ item, impressions: [Math.floor(rand() * n)], time: i * 1000 });
  };
  // What recommend() runs: the fused pass over the item matrix, keeping the top 10 as it goes.
  const top10 = async (): Promise<void> => {
    await head.topScores(10);
  };
  // The first click on a head just built: where the backend first makes the learning step's tensors.
  let firstClickMs = 0;
  for (let i = 0; i < cfg.warmup; i++) {
    const t0 = performance.now();
    await click(i);
    await top10();
    if (i === 0) firstClickMs = performance.now() - t0;
  }
  const clickTimes: number[] = [];
  for (let i = 0; i < cfg.clicks; i++) {
    const t0 = performance.now();
    await click(cfg.warmup + i);
    await top10();
    clickTimes.push(performance.now() - t0);
  }
  // Each sample repeats the call until 5 ms have passed: at small N one call reads 0 on a coarse clock.
  const recTimes = await perCallSamples(top10, Math.max(9, Math.round(cfg.clicks / 10)), { minMs: 5 });
  // Plain-JS reference over the same data.
  const q = new Float32Array(D).map((_, k) => data[k]!);
  // The fused pass alone (what the bandwidth floor bounds), without the query's computation and
  // read-back that recommend() adds: the item matrix scanned for a top 10.
  const passTimes = await perCallSamples(() => matrix.scanTop(q, new TopK(10)), Math.max(9, Math.round(cfg.clicks / 10)), { minMs: 5 });
  const b = new Float32Array(n);
  const db = new Float32Array(n);
  const rep = new Float32Array(n);
  const jsTimes = await perCallSamples(() => plainJsTop10(data, q, b, db, rep, 0.5), 9, { minMs: 10 });
  // recommend() and the pass against the copy floor, each round beside its own copy.
  const rounds = Math.max(5, Math.round(cfg.clicks / 20));
  const pairedRecommend = await pairedRatioToFloor(top10, n * (D + 8), rounds);
  const pairedPass = await pairedRatioToFloor(() => matrix.scanTop(q, new TopK(10)), n * (D + 8), rounds);
  const scoring = head.scoringKernel;
  const itemBytes = head.itemBytes;
  head.dispose();
  store.close();
  // Bytes the rescoring must read: the int8 rows, a scale and the fused bias per item (n × (d + 8)).
  const bytes = n * (D + 8);
  const floor = bytes / bandwidth;
  const readFloor = await readFloorMs(bytes);
  // The same for the float32 form the plain-JS loop reads (n × d float32 and three n-long vectors).
  const floatFloor = (n * D * 4 + 3 * n * 4) / bandwidth;
  const c50 = quantile(clickTimes, 0.5);
  const r50 = quantile(recTimes, 0.5);
  const js50 = quantile(jsTimes, 0.5);
  return {
    backend,
    n,
    clickToTop10: { p50: round(c50), p95: round(quantile(clickTimes, 0.95)), p99: round(quantile(clickTimes, 0.99)) },
    firstClickMs: round(firstClickMs),
    recommend: { p50: round(r50), p95: round(quantile(recTimes, 0.95)) },
    plainJs: { p50: round(js50) },
    scoring,
    itemBytes,
    bandwidthFloorMs: round(floor),
    float32FloorMs: round(floatFloor),
    pass: { p50: round(quantile(passTimes, 0.5)) },
    passRatioToFloor: round(quantile(passTimes, 0.5) / floor),
    readFloorMs: round(readFloor),
    passRatioToReadFloor: round(quantile(passTimes, 0.5) / readFloor),
    ratioToReadFloor: round(r50 / readFloor),
    ratioToPlainJs: round(r50 / js50),
    ratioToFloor: round(r50 / floor),
    // The same two ratios with the floor measured beside each sample (median and range of the rounds).
    pairedRatioToFloor: pairedRecommend,
    pairedPassRatioToFloor: pairedPass,
    clickRatioToPlainJs: round(c50 / js50),
    clickRatioToFloor: round(c50 / floor),
    clicks: cfg.clicks,
  };
}

async function encodeThroughput(items: Item[]): Promise<number> {
  const enc = await loadEncoder({ modelUrl: '../../models/encoder/' });
  const warm = await enc.encode(items.slice(0, 64));
  warm.dispose();
  // Repeat until at least 100 ms have passed: a small catalogue can encode within the timer's
  // resolution, which would make the rate infinite.
  let done = 0;
  const t0 = performance.now();
  do {
    const out = await enc.encode(items, { batchSize: 256 });
    await out.data();
    out.dispose();
    done += items.length;
  } while (performance.now() - t0 < 100);
  const ms = performance.now() - t0;
  enc.dispose();
  return Math.round((done / ms) * 1000);
}

async function memoryAfterClicks(clicks: number): Promise<Record<string, number>> {
  const n = 10_000;
  const ids = Array.from({ length: n }, (_, i) => `m${i}`);
  const E = tf.tensor2d(synthetic(n, 3), [n, D]);
  const head = new IncrementalHead(E, ids, identityBase(n));
  E.dispose();
  const heap = (): number => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? 0;
  for (let i = 0; i < 100; i++) head.learnOne({ item: i, impressions: [], time: i });
  await head.deltaNorm();
  const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: heap(), slots: head.sumSlots };
  for (let i = 0; i < clicks; i++) {
    head.learnOne({ item: (i * 7919) % n, impressions: [(i * 31) % n], time: i * 10 });
    if (i % 100 === 0) await head.deltaNorm();
  }
  await head.deltaNorm();
  const after = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: heap(), slots: head.sumSlots };
  head.dispose();
  return {
    clicks,
    tensorsBefore: before.tensors,
    tensorsAfter: after.tensors,
    tensorBytesBefore: before.bytes,
    tensorBytesAfter: after.bytes,
    // The per-item AdaGrad sums grow with the items learning touches (4 bytes a slot).
    sumSlotsBefore: before.slots,
    sumSlotsAfter: after.slots,
    jsHeapBefore: before.heap,
    jsHeapAfter: after.heap,
  };
}

async function firstRecommendation(catalog: Item[], namespace: string): Promise<number> {
  const t0 = performance.now();
  const rec = await createRecommender({ catalog, modelUrl: '../../models/', backend: 'wasm', namespace, wasmPaths: '../../tfjs/' });
  await rec.recommend({ k: 10 });
  const ms = performance.now() - t0;
  rec.dispose();
  return Math.round(ms);
}

/** The longest main-thread task while 200 clicks are fired as fast as possible at a real recommender. */
async function longestTaskDuringBurst(catalog: Item[]): Promise<number> {
  const rec = await createRecommender({
    catalog,
    modelUrl: '../../models/',
    backend: 'wasm',
    namespace: `burst-${Date.now()}`,
    wasmPaths: '../../tfjs/',
  });
  let longest = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longest = Math.max(longest, e.duration);
  });
  obs.observe({ type: 'longtask', buffered: false });
  // And the scripts of long animation frames: the Long Tasks API does not report work that goes on
  // after `scheduler.yield()` (see long-tasks.ts).
  const frames = new PerformanceObserver((list) => {
    for (const f of list.getEntries() as (PerformanceEntry & { scripts?: { duration: number }[] })[]) {
      for (const script of f.scripts ?? []) longest = Math.max(longest, script.duration);
    }
  });
  try {
    frames.observe({ type: 'long-animation-frame', buffered: false });
  } catch {
    // a browser without the API: the Long Tasks API's entries only
  }
  await Promise.all(Array.from({ length: 200 }, (_, i) => rec.click(catalog[(i * 17) % catalog.length]!.id)));
  await rec.recommend({ k: 10 });
  await new Promise((r) => setTimeout(r, 100));
  obs.disconnect();
  frames.disconnect();
  rec.dispose();
  return Math.round(longest);
}

async function idbBytes(clicks: number): Promise<number | null> {
  const estimate = async (): Promise<number | null> => (await navigator.storage?.estimate?.())?.usage ?? null;
  const n = 1000;
  const ids = Array.from({ length: n }, (_, i) => `b${i}`);
  const E = tf.tensor2d(synthetic(n, 5), [n, D]);
  const head = new IncrementalHead(E, ids, identityBase(n));
  E.dispose();
  const before = await estimate();
  const store = await IndexedDbDeltaStore.open({ namespace: `bytes-${Date.now()}` });
  for (let i = 1; i <= clicks; i++) {
    const item = (i * 37) % n;
    const e = await store.append({ type: 'click', itemId: ids[item]!, t: i, impressions: [ids[(i * 11) % n]!, ids[(i * 13) % n]!] });
    head.learnOne({ item, impressions: [(i * 11) % n, (i * 13) % n], time: i * 1000 });
    if (e.seq % 50 === 0) await store.saveSnapshot({ seq: e.seq, modelVersion: 'bench', state: await head.save(), savedAt: 0 });
  }
  store.close();
  head.dispose();
  const after = await estimate();
  return before === null || after === null ? null : after - before;
}

declare global {
  interface Window {
    runBench(cfg: BenchConfig): Promise<Record<string, unknown>>;
    firstRecommendation(): Promise<number>;
    encodeOn(backend: BackendName, n: number): Promise<{ backend: string; shape: number[]; vectors: number[] }>;
  }
}

/** The shipped encoder's vectors for the first `n` demo items on `backend` (for cross-backend checks). */
window.encodeOn = async (backend: BackendName, n: number) => {
  const choice = await initBackend(backend, { wasmPaths: '../../tfjs/' });
  const catalog = (await (await fetch('../../catalog.json')).json()) as Item[];
  const enc = await loadEncoder({ modelUrl: '../../models/encoder/' });
  const t = await enc.encode(catalog.slice(0, n), { batchSize: 64 });
  const out = { backend: choice.name, shape: t.shape, vectors: Array.from(await t.data()) };
  t.dispose();
  enc.dispose();
  return out;
};

/** Time from `createRecommender` to the first list, on the demo catalogue (run first in a fresh context for "cold"). */
window.firstRecommendation = async () => {
  const catalog = (await (await fetch('../../catalog.json')).json()) as Item[];
  return firstRecommendation(catalog, `first-${Date.now()}-${Math.random()}`);
};

window.runBench = async (cfg) => {
  const catalog = (await (await fetch('../../catalog.json')).json()) as Item[];
  const bandwidth = await copyBandwidth();
  const cases: Record<string, unknown>[] = [];
  const encode: { backend: string; itemsPerSecond: number }[] = [];
  const chosen: Record<string, string> = {};
  const encodeItems = Array.from({ length: cfg.encodeItems }, (_, i) => catalog[i % catalog.length]!);
  for (const backend of cfg.backends) {
    const choice = await initBackend(backend, { wasmPaths: '../../tfjs/' });
    if (choice.name !== backend) continue;
    chosen[backend] = choice.reason;
    for (const n of cfg.sizes.filter((x) => x <= (cfg.maxN[backend] ?? Infinity))) cases.push(await caseFor(backend, n, cfg, bandwidth));
    encode.push({ backend, itemsPerSecond: await encodeThroughput(encodeItems) });
  }
  await initBackend('wasm', { wasmPaths: '../../tfjs/' });
  const memory = await memoryAfterClicks(cfg.memoryClicks);
  const longestTaskMs = await longestTaskDuringBurst(catalog);
  const idbBytesPerShopper = await idbBytes(Math.min(1000, cfg.memoryClicks));
  return {
    browser: navigator.userAgent,
    backends: chosen,
    copyBandwidthGBps: round(bandwidth / 1e6),
    cases,
    encode,
    memory,
    idbBytesPerShopper,
    longestTaskDuringBurstMs: longestTaskMs,
  };
};
