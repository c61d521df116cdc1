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
 * What the head says of its history (`IncrementalHead.explain`): the history's items, their
 * weights, and the contribution of each to each candidate's score, `[history × columns]`
 * row-major, the candidates' columns first.
 */
export interface Explained {
  history: readonly number[];
  weights: readonly number[];
  contributions: Float32Array;
}

/** The shopper's interests: the departments of the clicked items `history`, with their clicks there. */
export function interestsOf(history: readonly number[], category: (i: number) => string | undefined): Map<string, number> {
  const clicks = new Map<string, number>();
  for (const h of history) {
    const g = category(h);
    if (g !== undefined) clicks.set(g, (clicks.get(g) ?? 0) + 1);
  }
  return clicks;
}

/**
 * Shares k places among the shopper's interests: the departments they clicked in (`category`).
 * An interest's weight is the square root of the shopper's recent clicks in it (so three clicks in
 * Garden and one in Toys share the list about 63:37, not 100:0). Each candidate of a clicked
 * department belongs to it; another belongs to the department of the clicked item it is most like
 * (its content contribution, before the recency weighting). Places go by the largest-average rule
 * (D'Hondt), each interest taking its candidates in turn, best first by their likeness to the
 * clicks of that interest. Candidates like no clicked item fill what is left. With fewer than two
 * departments clicked the list is the candidates' first k: clicks on items without a department
 * make no interest, since sharing a list among the clicked items themselves spreads it over every
 * one of them (on a catalogue without departments it cost 38% of NDCG@10, docs/RESULTS.md).
 *
 * @param category an item's department, or undefined where it has none
 */
export function shareAmongInterests(
  candidates: readonly ListCandidate[],
  explained: Explained,
  columns: number,
  k: number,
  category: (i: number) => string | undefined,
): ListCandidate[] {
  const { history, weights, contributions } = explained;
  const clicks = interestsOf(history, category);
  if (clicks.size < 2) return candidates.slice(0, k);
  // Each interest's candidates, best first by their likeness to the clicks of that interest.
  const queues = new Map<string, { c: ListCandidate; sim: number }[]>([...clicks.keys()].map((g) => [g, []]));
  const rest: ListCandidate[] = [];
  candidates.forEach((c, col) => {
    const simTo = (row: number): number => contributions[row * columns + col]! / Math.max(weights[row]!, 1e-6);
    // An item of a department the shopper clicked in belongs to it; another goes to the click it is most like.
    const own = category(c.i);
    let group: string | null = own !== undefined && clicks.has(own) ? own : null;
    let sim = group === null ? 0 : -Infinity;
    history.forEach((h, row) => {
      const of = category(h);
      if (of === undefined || (group !== null && of !== group)) return;
      const x = simTo(row);
      if (x > sim) {
        sim = x;
        if (own === undefined || !clicks.has(own)) group = of;
      }
    });
    if (group === null || sim <= 0) rest.push(c);
    else queues.get(group)!.push({ c, sim });
  });
  for (const q of queues.values()) q.sort((a, b) => b.sim - a.sim || b.c.s - a.c.s);
  const out: ListCandidate[] = [];
  const taken = new Map<string, number>();
  while (out.length < k) {
    let pick: string | null = null;
    let bestQuota = -1;
    for (const [g, q] of queues) {
      if (q.length === 0) continue;
      const quota = Math.sqrt(clicks.get(g)!) / ((taken.get(g) ?? 0) + 1);
      // Ties go to the interest whose next candidate scores higher (the latest one, usually).
      if (quota > bestQuota + 1e-12 || (Math.abs(quota - bestQuota) <= 1e-12 && pick !== null && q[0]!.c.s > queues.get(pick)![0]!.c.s)) {
        bestQuota = quota;
        pick = g;
      }
    }
    if (pick === null) break;
    out.push({ ...queues.get(pick)!.shift()!.c, group: pick });
    taken.set(pick, (taken.get(pick) ?? 0) + 1);
  }
  for (const c of rest) if (out.length < k) out.push(c);
  return out;
}
