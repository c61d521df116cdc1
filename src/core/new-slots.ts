/**
 * Places kept for new products. A base knows nothing of the products launched after it was made;
 * the shop's stream tells a browser what sells now, but a weight large enough to lift a new best
 * seller above every shopper's own staples costs the whole ranking (docs/RESULTS.md, _Places for
 * new products_). Instead, where the maintenance job finds that its held-out weeks call for it
 * (`newSlots` in the head manifest), the best new products for this shopper, by the head's own
 * score, get the last places of the list: they compete with each other, not with the top of it.
 */

import { TopK } from './item-matrix.js';

/** Places for new products in a list of `k`: `slots` per ten places, rounded (0 where `slots` is 0). */
export function newSlotsFor(k: number, slots: number): number {
  if (!(slots > 0) || !(k > 0)) return 0;
  return Math.min(k, Math.round((slots * k) / 10));
}

/**
 * The top `k` of `ranked` (best first) with the first `m` of `fresh` (new products, best first)
 * in it: those already in the top keep their places; the others take the last places, in their
 * own order, from the lowest-ranked of the rest. Both lists hold distinct item indices.
 */
export function withNewSlots(ranked: readonly number[], fresh: readonly number[], k: number, m: number): number[] {
  const top = ranked.slice(0, k);
  const chosen = fresh.slice(0, Math.max(0, Math.min(m, k)));
  if (chosen.length === 0) return top;
  const inTop = new Set(top);
  const chosenSet = new Set(chosen);
  const missing = chosen.filter((i) => !inTop.has(i));
  const chosenInTop = chosen.length - missing.length;
  let room = k - chosenInTop - missing.length;
  const out: number[] = [];
  for (const i of top) {
    if (chosenSet.has(i)) out.push(i);
    else if (room > 0) {
      out.push(i);
      room--;
    }
  }
  out.push(...missing);
  return out;
}

/**
 * The list of `k` that a ranking by `scores` (every item's) shows with `m` places for the items
 * `known` marks 0: {@link withNewSlots} of the top `k` and the best `m` of those items, each
 * found in one pass (ties to the lower index, as the head's pass keeps them; a score that is
 * not a number never ranks).
 */
export function slottedTop(scores: ArrayLike<number>, known: ArrayLike<number>, k: number, m: number): number[] {
  const n = scores.length;
  const top = new TopK(Math.min(k, n));
  const fresh = new TopK(Math.max(1, Math.min(m, n)));
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s > top.threshold) top.push(s, i);
    if (m > 0 && !known[i] && s > fresh.threshold) fresh.push(s, i);
  }
  return withNewSlots(Array.from(top.sorted().indices), m > 0 ? Array.from(fresh.sorted().indices) : [], k, m);
}
