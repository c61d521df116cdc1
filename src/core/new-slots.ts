/**
 * Places kept for new products. A base knows nothing of the products launched after it was made;
 * the shop's stream tells a browser what sells now, but a weight large enough to lift a new best
 * seller above every shopper's own staples costs the whole ranking (docs/RESULTS.md, _Places for
 * new products_). Instead, where the maintenance job finds that its held-out weeks call for it
 * (`newSlots` in the head manifest), the best new products for this shopper, by the head's own
 * score, get the last places of the list: they compete with each other, not with the top of it.
 */

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
