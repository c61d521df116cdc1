/**
 * Places kept for new products. A base knows nothing of the products launched after it was made;
 * the shop's stream tells a browser what sells now, but a weight large enough to lift a new best
 * seller above every shopper's own staples costs the whole ranking (docs/RESULTS.md, _Places for
 * new products_). Instead, new products get the last places of the list: they compete with each
 * other, not with the top of it. Two rules give places, and a list keeps the more of the two:
 *   - fixed places (`newSlots` in the head manifest), where the maintenance job finds that its
 *     held-out weeks call for them: the best new products for this shopper, by the head's score;
 *   - places for launches (`launchSlots`): a new product among the shop's best sellers right
 *     now, as the stream last published what sells (as many of the list's length as there are
 *     places), gets a place, one per such launch up to `launchSlots` per ten. A shop whose
 *     launches never sell that well never gives one; a launch that does reaches every list, as
 *     a list of what sells now would show it, but only its last places.
 */

import { TopK } from './item-matrix.js';

/** Places for new products in a list of `k`: `slots` per ten places, rounded (0 where `slots` is 0). */
export function newSlotsFor(k: number, slots: number): number {
  if (!(slots > 0) || !(k > 0)) return 0;
  return Math.min(k, Math.round((slots * k) / 10));
}

/** Best sellers a head keeps of what the stream says sells now: enough for a list of 100. */
export const BEST_SELLERS_KEPT = 100;

/**
 * The `count` items that sold best by `values` (what sold lately; only values > 0), best first,
 * ties to the lower index.
 */
export function bestSellers(values: ArrayLike<number>, count: number = BEST_SELLERS_KEPT): Int32Array {
  const top = new TopK(Math.max(1, count));
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > 0 && v > top.threshold) top.push(v, i);
  }
  return top.size === 0 ? new Int32Array(0) : Int32Array.from(top.sorted().indices);
}

/**
 * The "sells now" feature (`MEMORY_FEATURES`): the shop's `count` best sellers by what they sold
 * lately (`values`, dense over the catalogue: log(1 + sales, each weighing less with its age)),
 * best first (`sellers`, where the caller has {@link bestSellers} of them), each with that value. The same for every shopper; its weight at a visit's start and
 * in its middle is the shop's own, which the maintenance job chooses.
 */
export function sellsNow(
  values: ArrayLike<number>,
  count: number = BEST_SELLERS_KEPT,
  sellers: ArrayLike<number> = bestSellers(values, count),
): Map<number, number> {
  const out = new Map<number, number>();
  for (let j = 0; j < sellers.length; j++) out.set(sellers[j]!, values[sellers[j]!]!);
  return out;
}

/** {@link sellsNow} of sales kept sparse (item index → what it sold lately) over a catalogue of `n`; none where there are none. */
export function sellsNowOf(sales: ReadonlyMap<number, number> | null, n: number): Map<number, number> {
  if (!sales) return new Map();
  const dense = new Float32Array(n);
  for (const [i, v] of sales) dense[i] = v;
  return sellsNow(dense);
}

/** The launches of a list of `k`: the items among the first `k` of `sellers` (best first) that `known` marks 0, in index order. */
export function launchesIn(sellers: ArrayLike<number>, known: ArrayLike<number>, k: number): Int32Array {
  const out: number[] = [];
  for (let j = 0; j < Math.min(k, sellers.length); j++) if (!known[sellers[j]!]) out.push(sellers[j]!);
  return Int32Array.from(out.sort((a, b) => a - b));
}

/**
 * Places a list of `k` keeps for new products: the fixed places of `newSlots` per ten, or one per
 * launch (of `launches` among the shop's top `k` sellers) up to `launchSlots` per ten, whichever
 * is more.
 */
export function freshPlacesFor(k: number, newSlots: number, launchSlots: number, launches: number): number {
  return Math.max(newSlotsFor(k, newSlots), Math.min(launches, newSlotsFor(k, launchSlots)));
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
 * The list of `k` that a ranking by `scores` (every item's) shows with `m` places for new
 * products: {@link withNewSlots} of the top `k` and the candidates, best first by score (ties to
 * the lower index, as the head's pass keeps them; a score that is not a number never ranks): the
 * `launches` first, then, with `fixed`, every other item `known` marks 0.
 */
export function slottedTop(
  scores: ArrayLike<number>,
  known: ArrayLike<number>,
  k: number,
  m: number,
  launches: ArrayLike<number> = [],
  fixed = true,
): number[] {
  const n = scores.length;
  const top = new TopK(Math.min(k, n));
  const fresh = new TopK(Math.max(1, Math.min(m, n)));
  const wantOthers = m > 0 && fixed;
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (s > top.threshold) top.push(s, i);
    if (wantOthers && !known[i] && s > fresh.threshold) fresh.push(s, i);
  }
  const first = new TopK(Math.max(1, launches.length));
  for (let j = 0; j < launches.length; j++) first.push(scores[launches[j]!]!, launches[j]!);
  const candidates = m > 0 && launches.length > 0 ? Array.from(first.sorted().indices) : [];
  if (wantOthers) for (const i of fresh.sorted().indices) if (!candidates.includes(i)) candidates.push(i);
  return withNewSlots(Array.from(top.sorted().indices), candidates, k, m);
}
