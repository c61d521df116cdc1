/**
 * Sharing a list among a shopper's interests, as `recommend()` does by default (`diversify`): the
 * rule on its own, over plain arrays, so that the page and the offline evaluation make the same
 * list from the same scores.
 */

/** A candidate of the list: item index and score; `group` is the interest it was placed for. */
export interface ListCandidate {
  i: number;
  s: number;
  group?: string;
}

/**
 * A department holding at least this share of the shopper's recent clicks is one of their
 * interests: the largest share that still makes one Toys click among three Garden ones an interest
 * (a lower one would give more departments places, each at the ranking's cost).
 */
export const INTEREST_SHARE = 0.25;
/** Places of a list each interest is sure of (fewer where more interests share a short list). */
export const INTEREST_PLACES = 3;
/**
 * The shopper's latest departments (those of their most recent clicks, distinct) that are sure of
 * {@link LATEST_PLACES} places each where the head's ranking would leave one of them out, with
 * `keepLatest`: a shopper who wanders through five departments, one click each, holds no quarter
 * anywhere, and the ranking, led by the last click, can show that click's department alone, or
 * nine of it and one of the department before.
 */
export const LATEST_DEPARTMENTS = 3;
/** Places each of the {@link LATEST_DEPARTMENTS} latest departments is sure of, where they are kept. */
export const LATEST_PLACES = 2;

/**
 * The candidates a list of `k` is made from, best first: `k` where the list is the ranking's
 * first, more where places may be kept for interests (`recommend()` and the eval's page list).
 */
export function candidatesFor(k: number, diversify: boolean): number {
  return diversify ? Math.max(10 * k, 200) : k;
}

/** The departments of the clicked items `history`, with the shopper's clicks in each. */
function interestsOf(history: readonly number[], category: (i: number) => string | undefined): Map<string, number> {
  const clicks = new Map<string, number>();
  for (const h of history) {
    const g = category(h);
    if (g !== undefined) clicks.set(g, (clicks.get(g) ?? 0) + 1);
  }
  return clicks;
}

/**
 * The list of k from `candidates` (best first by the head's score) that keeps places for the
 * shopper's interests: the head's first k, except that
 * - each department holding at least a quarter of the shopper's recent clicks (`history`, most
 *   recent first), where two or more do, is sure of min(3, k / their number) places;
 * - with `keepLatest`, where the head's first k leave out one or more of the last three
 *   departments clicked, each of those is sure of min(2, k / their number) places;
 *
 * taken by a department's best candidates in place of the list's last items that no department
 * needs. So three clicks in Garden and one in Toys give a list of both, a shopper who wanders
 * through five departments sees the last three, not the last alone, and a shopper whose clicks
 * spread over many departments that the ranking already shows, or a catalogue without
 * departments, keeps the head's ranking. The list stays in the order of the scores; each item of
 * a department with places carries it as `group`.
 *
 * `keepLatest` is the shop's choice (`HeadManifest.keepLatestDepartments`): on a grocer, whose
 * baskets go through many aisles, the ranking's re-buys say more than the aisles clicked last,
 * and on a synthetic one the places cost the lists 7% (docs/RESULTS.md, _A shop with departments_).
 *
 * The rule before these shared every place among all the departments clicked in (D'Hondt, by the
 * square root of their clicks) and ordered each one's items by likeness to its clicks: on a
 * synthetic grocer with departments that list scored 15% of the head's NDCG@10 (docs/RESULTS.md,
 * _The list a page shows_).
 *
 * With `likeness`, an interest's places are also shared among its clicks
 * ({@link shareAmongClicks}): three clicks in Outdoor (a tent, a bottle, a head torch) are not
 * shown as head torches alone. That is the shop's choice too (`HeadManifest.shareInterestClicks`:
 * a page passes no likeness where it is off).
 *
 * @param category an item's department, or undefined where it has none
 * @param likeness how much a click's content alone adds to an item's score
 */
export function shareAmongInterests(
  candidates: readonly ListCandidate[],
  history: readonly number[],
  k: number,
  category: (i: number) => string | undefined,
  keepLatest = false,
  likeness?: Likeness,
): ListCandidate[] {
  const shared = shareAmongDepartments(candidates, history, k, category, keepLatest);
  return likeness ? shareAmongClicks(shared, candidates, history, category, likeness) : shared;
}

function shareAmongDepartments(
  candidates: readonly ListCandidate[],
  history: readonly number[],
  k: number,
  category: (i: number) => string | undefined,
  keepLatest: boolean,
): ListCandidate[] {
  const list = candidates.slice(0, k);
  const clicks = interestsOf(history, category);
  const total = history.length;
  // The places each department is sure of: interests first, most clicked first (ties: the
  // department met first in the history), then the latest departments, most recent first.
  const places = new Map<string, number>();
  const interests = [...clicks].filter(([, c]) => c >= INTEREST_SHARE * total).sort((a, b) => b[1] - a[1]);
  if (interests.length >= 2) for (const [g] of interests) places.set(g, Math.min(INTEREST_PLACES, Math.floor(k / interests.length)));
  const latest = [...clicks.keys()].slice(0, LATEST_DEPARTMENTS);
  const shown = new Set(list.map((c) => category(c.i)));
  if (keepLatest && latest.length >= 2 && latest.some((g) => !shown.has(g))) {
    for (const g of latest) places.set(g, Math.max(places.get(g) ?? 0, Math.min(LATEST_PLACES, Math.floor(k / latest.length))));
  }
  if (places.size === 0) return list;
  const held = (g: string): number => list.filter((c) => category(c.i) === g).length;
  const inList = new Set(list.map((c) => c.i));
  for (const [g, sure] of places) {
    const own = candidates.filter((c) => !inList.has(c.i) && category(c.i) === g);
    for (const c of own) {
      if (held(g) >= sure) break;
      if (list.length < k) {
        list.push({ ...c, group: g });
        inList.add(c.i);
        continue;
      }
      // The list's last item that no department needs: of none with places, or of one holding more than its places.
      let out = -1;
      for (let j = list.length - 1; j >= 0; j--) {
        const of = category(list[j]!.i);
        if (of === undefined || !places.has(of) || held(of) > places.get(of)!) {
          out = j;
          break;
        }
      }
      if (out < 0) break;
      inList.delete(list[out]!.i);
      list.splice(out, 1);
      list.push({ ...c, group: g });
      inList.add(c.i);
    }
  }
  // Every item of a department with places is there for it (its `because` cites that department's clicks).
  return list
    .map((c) => {
      const of = category(c.i);
      return c.group === undefined && of !== undefined && places.has(of) ? { ...c, group: of } : c;
    })
    .sort((a, b) => b.s - a.s);
}

/**
 * How much the clicked item `click`'s content alone adds to item `i`'s score, at the click's
 * full weight (the head's v_click (W₀ + ΔW) · vᵢ): which of a shopper's clicks an item is for.
 */
export type Likeness = (click: number, i: number) => number;

/**
 * The clicks of each department holding a quarter or more of the recent clicks whose items a list
 * shares out ({@link shareAmongClicks}): its latest distinct clicks, up to {@link INTEREST_PLACES},
 * where it has two or more. Empty where no department has: the list then needs no likeness.
 */
export function clicksToShare(history: readonly number[], category: (i: number) => string | undefined): Map<string, number[]> {
  const clicks = interestsOf(history, category);
  const out = new Map<string, number[]>();
  for (const [g, c] of clicks) {
    if (c < INTEREST_SHARE * history.length) continue;
    const own = [...new Set(history.filter((h) => category(h) === g))].slice(0, INTEREST_PLACES);
    if (own.length >= 2) out.set(g, own);
  }
  return out;
}

/**
 * `list` with each interest's latest distinct clicks ({@link clicksToShare}) each owning one of its
 * items: an item is owned by the click of its department whose content adds most to it
 * (`likeness`). A ranking led by the last click can give all of a department's places to it (a
 * tent, a bottle, then a head torch: every Outdoor item a head torch); a click that owns none gets
 * its department's best candidate that it owns, in place of the department's last item whose
 * owner has more than one, so no other click loses its item. The list stays in the order of the
 * scores; an item put in for a click carries its department as `group`.
 */
export function shareAmongClicks(
  list: readonly ListCandidate[],
  candidates: readonly ListCandidate[],
  history: readonly number[],
  category: (i: number) => string | undefined,
  likeness: Likeness,
): ListCandidate[] {
  const out = [...list];
  for (const [g, own] of clicksToShare(history, category)) {
    const ownerOf = (i: number): number => {
      let best = own[0]!;
      let top = -Infinity;
      for (const h of own) {
        const v = likeness(h, i);
        if (v > top) [best, top] = [h, v];
      }
      return best;
    };
    const inList = new Set(out.map((c) => c.i));
    const owners = new Map<number, number>();
    for (const c of out) if (category(c.i) === g) owners.set(c.i, ownerOf(c.i));
    const count = (h: number): number => [...owners.values()].filter((o) => o === h).length;
    for (const h of own) {
      if (count(h) > 0) continue;
      const add = candidates.find((c) => !inList.has(c.i) && category(c.i) === g && ownerOf(c.i) === h);
      if (!add) continue;
      // The department's lowest-scored item whose owner keeps another.
      let drop = -1;
      for (let j = 0; j < out.length; j++) {
        const o = owners.get(out[j]!.i);
        if (o !== undefined && count(o) > 1 && (drop < 0 || out[j]!.s < out[drop]!.s)) drop = j;
      }
      if (drop < 0) continue;
      owners.delete(out[drop]!.i);
      inList.delete(out[drop]!.i);
      out.splice(drop, 1, { ...add, group: g });
      owners.set(add.i, h);
      inList.add(add.i);
    }
  }
  return out.sort((a, b) => b.s - a.s);
}
