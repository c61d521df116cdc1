/**
 * The baselines of `npm run eval`, the methods a shop would use without Clickwise:
 * - `popularity`: purchase counts before the split, fixed;
 * - `recent-popularity`: counts with an exponential time decay, updated online from the whole
 *   shop's stream (it learns new items as they start to sell);
 * - `item-knn`: item-to-item cosine similarity of who bought what before the split (the shopper's
 *   recent items vote for their neighbours; an item is its own nearest neighbour, so re-buys count).
 */
import type { OnlineMethod, ReplayEvent } from './replay.js';
import { sequencesBeforeSplit } from './replay.js';

const DAY = 86_400_000;

/** Counts before the split. */
export function popularityMethod(events: readonly ReplayEvent[], n: number): OnlineMethod {
  const counts = new Float32Array(n);
  for (const e of events) if (!e.scored) counts[e.item]! += 1;
  return { name: 'popularity', kind: 'online', score: () => counts, observe: () => undefined };
}

/**
 * Exponentially decayed counts over the global stream (half-life `halfLifeDays`). Every event is
 * added with weight 2^((t − t₀)/h), which ranks exactly as decaying every count to "now".
 */
export function recentPopularityMethod(n: number, halfLifeDays: number, t0: number): OnlineMethod {
  const counts = new Float64Array(n);
  const scores = new Float32Array(n);
  let dirty = true;
  const h = halfLifeDays * DAY;
  // Rescaled now and then, so the weights stay far from overflow over years of logs.
  let origin = t0;
  return {
    name: 'recent-popularity',
    kind: 'online',
    score: () => {
      if (dirty) {
        let max = 0;
        for (let i = 0; i < n; i++) max = Math.max(max, counts[i]!);
        for (let i = 0; i < n; i++) scores[i] = max > 0 ? counts[i]! / max : 0;
        dirty = false;
      }
      return scores;
    },
    observe: (e) => {
      const w = Math.pow(2, (e.t - origin) / h);
      counts[e.item]! += w;
      if (w > 1e100) {
        for (let i = 0; i < n; i++) counts[i]! /= w;
        origin = e.t;
      }
      dirty = true;
    },
  };
}

export interface ItemKnnOptions {
  /** Neighbours kept per item. */
  neighbours: number;
  /** The shopper's most recent distinct items that vote. */
  history: number;
  /** Weight of the i-th most recent item: decay^i. */
  decay: number;
}

/** Item-based cosine similarity over the shopper × item matrix of the events before the split. */
export function itemKnnMethod(events: readonly ReplayEvent[], n: number, o: ItemKnnOptions): OnlineMethod {
  // Co-occurrence counts of the items each shopper bought, dense n×n (3,659² floats is 54 MB for
  // Online Retail).
  const co = new Float32Array(n * n);
  for (const seq of sequencesBeforeSplit(events).values()) {
    const items = [...new Set(seq)];
    for (const a of items) for (const b of items) co[a * n + b]! += 1;
  }
  const neighbours: { idx: Int32Array; sim: Float32Array }[] = [];
  const row = new Float32Array(n);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let a = 0; a < n; a++) {
    const ca = co[a * n + a]!;
    for (let b = 0; b < n; b++) {
      const cb = co[b * n + b]!;
      row[b] = ca > 0 && cb > 0 ? co[a * n + b]! / Math.sqrt(ca * cb) : 0;
    }
    const top = Array.from(order)
      .filter((b) => row[b]! > 0)
      .sort((x, y) => row[y]! - row[x]! || x - y)
      .slice(0, o.neighbours);
    neighbours.push({ idx: Int32Array.from(top), sim: Float32Array.from(top, (b) => row[b]!) });
  }
  // Ties (a new shopper, or items no neighbour reaches) are broken by popularity before the split.
  const prior = new Float32Array(n);
  let maxCount = 1;
  for (let i = 0; i < n; i++) maxCount = Math.max(maxCount, co[i * n + i]!);
  for (let i = 0; i < n; i++) prior[i] = (1e-3 * co[i * n + i]!) / maxCount;
  const history = new Map<string, number[]>();
  const scores = new Float32Array(n);
  return {
    name: 'item-knn',
    kind: 'online',
    score: (user) => {
      scores.set(prior);
      const h = history.get(user) ?? [];
      h.forEach((a, r) => {
        const w = Math.pow(o.decay, r);
        const nb = neighbours[a]!;
        for (let j = 0; j < nb.idx.length; j++) scores[nb.idx[j]!]! += w * nb.sim[j]!;
      });
      return scores;
    },
    observe: (e) => {
      const h = history.get(e.user) ?? [];
      const at = h.indexOf(e.item);
      if (at >= 0) h.splice(at, 1);
      h.unshift(e.item);
      if (h.length > o.history) h.length = o.history;
      history.set(e.user, h);
    },
  };
}
