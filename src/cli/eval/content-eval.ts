/**
 * Next-item retrieval from content alone, on the evaluation period: before each event, every
 * item of the full catalogue is scored by its cosine similarity to the mean of the shopper's last
 * `historyLength` distinct items, and the true item's rank is recorded. Reported overall and for
 * cold-start items (never seen before the split).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LogEvent } from '../data.js';
import { RankMetrics } from './metrics.js';

/** A scorer: unit item vectors [N×d], or 'popularity' (counts before the split). */
export type ContentMethod = { kind: 'vectors'; vectors: Float32Array; dims: number } | { kind: 'popularity' };

export interface ContentEvalResult {
  all: ReturnType<RankMetrics['summary']>;
  coldItems: ReturnType<RankMetrics['summary']>;
}

interface Query {
  history: number[];
  target: number;
  cold: boolean;
}

/** Builds the evaluation queries once; they are shared by every method. */
export function contentQueries(events: readonly LogEvent[], ids: readonly string[], split: number, historyLength = 5): Query[] {
  const index = new Map(ids.map((id, i) => [id, i]));
  const seenBeforeSplit = new Set<number>();
  const hist = new Map<string, number[]>();
  const out: Query[] = [];
  for (const e of events) {
    const i = index.get(e.item);
    if (i === undefined) continue;
    const h = hist.get(e.user) ?? [];
    if (e.t >= split && h.length > 0) out.push({ history: [...h], target: i, cold: !seenBeforeSplit.has(i) });
    if (e.t < split) seenBeforeSplit.add(i);
    const j = h.indexOf(i);
    if (j >= 0) h.splice(j, 1);
    h.unshift(i);
    if (h.length > historyLength) h.length = historyLength;
    hist.set(e.user, h);
  }
  return out;
}

/** Popularity counts of the period before the split. */
export function popularity(events: readonly LogEvent[], ids: readonly string[], split: number): Float32Array {
  const index = new Map(ids.map((id, i) => [id, i]));
  const c = new Float32Array(ids.length);
  for (const e of events) {
    if (e.t >= split) break;
    const i = index.get(e.item);
    if (i !== undefined) c[i]! += 1;
  }
  return c;
}

/** Evaluates one method on the queries. Uses the active tfjs backend for the scoring. */
export async function evaluateContent(
  queries: readonly Query[],
  method: ContentMethod,
  counts: Float32Array,
  k = 10,
): Promise<ContentEvalResult> {
  const all = new RankMetrics(k);
  const cold = new RankMetrics(k);
  const record = (q: Query, rank: number): void => {
    all.add(rank);
    if (q.cold) cold.add(rank);
  };
  if (method.kind === 'popularity') {
    // Rank = items strictly more popular (ties go to the true item: an upper bound for popularity).
    const sorted = Float32Array.from(counts).sort();
    const greater = (v: number): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]! <= v) lo = mid + 1;
        else hi = mid;
      }
      return sorted.length - lo;
    };
    for (const q of queries) record(q, greater(counts[q.target]!));
    return { all: all.summary(), coldItems: cold.summary() };
  }
  const { vectors, dims } = method;
  const n = vectors.length / dims;
  // Transposed once: a plain matMul is several times faster than a transposed one on wasm.
  const Et = tf.tidy(() => tf.transpose(tf.tensor2d(vectors, [n, dims])));
  const batch = 2048;
  for (let start = 0; start < queries.length; start += batch) {
    const qs = queries.slice(start, start + batch);
    const Q = new Float32Array(qs.length * dims);
    qs.forEach((q, r) => {
      for (const h of q.history) for (let k2 = 0; k2 < dims; k2++) Q[r * dims + k2]! += vectors[h * dims + k2]! / q.history.length;
    });
    const S = tf.tidy(() => tf.matMul(tf.tensor2d(Q, [qs.length, dims]), Et));
    const scores = await S.data();
    S.dispose();
    qs.forEach((q, r) => {
      // Rank = items scored strictly higher than the true item.
      const ts = scores[r * n + q.target]!;
      let rank = 0;
      for (let j = 0; j < n; j++) if (scores[r * n + j]! > ts) rank++;
      record(q, rank);
    });
  }
  Et.dispose();
  return { all: all.summary(), coldItems: cold.summary() };
}
