/**
 * What a shopper's clicks leave behind for the head's sparse features, besides the weighted
 * history: the most recent distinct items (they vote through the shop's transitions), how often
 * each item was clicked (re-buys), which item followed which in this shopper's own clicks (their
 * own order of buying: a shop's regulars often re-order a list in the same order), which items
 * began their visits, and the items of the latest visit (a basket rarely holds a line twice).
 * Keyed by item id in the browser's head and by catalogue index in the offline tools (the eval's
 * typed-array head, the maintenance job's choice of weights), which run this same code so that
 * all of them compute the same features.
 */

/** The bounds and the visit rule a memory follows (a subset of the head's options). */
export interface MemoryOptions {
  /** The most recent distinct items kept (they vote through transitions). */
  transitionVotes: number;
  /** Weight of the r-th most recent voter: decayʳ. */
  transitionDecay: number;
  /** Distinct items whose click counts (and visit-start counts) are kept. */
  countItems: number;
  /** (previous click, click) pairs whose counts are kept. */
  pairItems: number;
  /** A gap this long since the previous click starts a visit. */
  sessionGapMs: number;
}

/**
 * The sparse features of a shopper, in the order of the head's mix weights. A memory gives the
 * second to fourth ({@link ShopperMemory.ownFeatures}) and the sixth
 * ({@link ShopperMemory.visitItems}); the caller computes the first from `last` through the shop's
 * transitions, the fifth from `counts` through what sold lately or the base's biases
 * ({@link ownPopularity}), and the last, the shop's best sellers now with what they sold lately,
 * the same for every shopper (`sellsNow` in `new-slots.ts`; none where the base ships no sales).
 * "this visit" is 1 for each item of the shopper's latest visit: in the middle of a visit the items
 * already taken in it, at a visit's start those of the visit before.
 */
export const MEMORY_FEATURES = ['transitions', 'counts', 'own order', 'visit starts', 'own popularity', 'this visit', 'sells now'] as const;
/** Mix weights: each feature of {@link MEMORY_FEATURES} in the middle of a visit, then at its start. */
export const MIX_LENGTH = 2 * MEMORY_FEATURES.length;
/**
 * The lengths a mix of an earlier version has: 4 (before the own order and visit starts), 8
 * (before own popularity), 10 (before this visit) and 12 (before sells now); the features it lacks
 * weigh 0.
 */
export const EARLIER_MIX_LENGTHS: readonly number[] = [4, 8, 10, 12];

/**
 * Adds one to `key`'s count. Past `limit` keys, the least counted key other than `key` goes (the
 * first such in insertion order), so a long-time shopper's memory stays bounded. `logs`, when
 * given, is kept equal to log(1 + count) per key.
 */
export function bumpCount<K>(counts: Map<K, number>, key: K, limit: number, logs?: Map<K, number>): void {
  const c = (counts.get(key) ?? 0) + 1;
  counts.set(key, c);
  logs?.set(key, Math.log1p(c));
  if (counts.size <= limit) return;
  let least: K | undefined;
  let min = Infinity;
  for (const [k, c] of counts) {
    if (k !== key && c < min) {
      least = k;
      min = c;
    }
  }
  if (min < Infinity) {
    counts.delete(least as K);
    logs?.delete(least as K);
  }
}

/**
 * The own-popularity feature: for each item the shopper clicked, how well it sells in the whole
 * shop, as the base's bias bᵢ says (`biasOf`; entries of 0 are left out). Weighted, it orders a
 * shopper's own items by what sells, as the repeat-then-popularity rule does, where the content
 * model would order them by likeness to the last visit: a shop of regulars, at the start of their
 * visits, gets a weight for it from its own log.
 */
export function ownPopularity<K>(counts: ReadonlyMap<K, number>, biasOf: (key: K) => number): Map<K, number> {
  const out = new Map<K, number>();
  for (const k of counts.keys()) {
    const b = biasOf(k);
    if (b !== 0 && Number.isFinite(b)) out.set(k, b);
  }
  return out;
}

/** The saved form of a memory (item ids), as `HeadState` carries it. */
export interface SavedMemory<K> {
  lastItems: K[];
  counts: [K, number][];
  pairs: [K, K, number][];
  starts: [K, number][];
  lastTime: number | null;
  /** The latest visit's distinct items, in the order first taken (absent in memories saved before it). */
  visit?: K[];
}

/** One shopper's memory of their clicks (see the module's comment). */
export class ShopperMemory<K> {
  /** Most recent distinct items, most recent first. */
  last: K[] = [];
  counts = new Map<K, number>();
  /** pairs.get(a).get(b): how often this shopper clicked b right after a (a ≠ b). */
  pairs = new Map<K, Map<K, number>>();
  /** Number of (a, b) entries in `pairs`. */
  pairCount = 0;
  /** Visits begun with each item. */
  starts = new Map<K, number>();
  /** Time of the last click (ms since epoch), or null. */
  lastTime: number | null = null;
  /** The latest visit's distinct items (each 1), in the order first taken: the "this visit" feature. */
  readonly visit = new Map<K, number>();
  /** log(1 + count) of `counts` and of `starts`, kept up to date with them (the features' values). */
  readonly countLogs = new Map<K, number>();
  readonly startLogs = new Map<K, number>();

  /** 0 in the middle of a visit, 1 at its start (no click yet, or the last one `sessionGapMs` ago). */
  context(time: number, o: Pick<MemoryOptions, 'sessionGapMs'>): 0 | 1 {
    return this.lastTime === null || time - this.lastTime >= o.sessionGapMs ? 1 : 0;
  }

  /**
   * Remembers a click on `item` at `time` (null: a click whose time is not known, which starts a
   * visit only when no click came before it).
   */
  note(item: K, time: number | null, o: MemoryOptions): void {
    // As `context` says at the click's time; a click of unknown time begins a visit only as the first.
    const start = time !== null ? this.context(time, o) === 1 : this.last.length === 0;
    const prev = this.last[0];
    if (prev !== undefined && prev !== item) this.addPair(prev, item, o.pairItems);
    if (start) {
      bumpCount(this.starts, item, o.countItems, this.startLogs);
      this.visit.clear();
    }
    if (!this.visit.has(item)) {
      this.visit.set(item, 1);
      // A visit of more distinct items than the counts keep forgets its first.
      if (this.visit.size > Math.max(1, o.countItems)) this.visit.delete(this.visit.keys().next().value as K);
    }
    const at = this.last.indexOf(item);
    if (at >= 0) this.last.splice(at, 1);
    this.last.unshift(item);
    if (this.last.length > Math.max(1, o.transitionVotes)) this.last.length = Math.max(1, o.transitionVotes);
    bumpCount(this.counts, item, o.countItems, this.countLogs);
    if (time !== null) this.lastTime = time;
  }

  private addPair(a: K, b: K, limit: number): void {
    let row = this.pairs.get(a);
    if (!row) this.pairs.set(a, (row = new Map()));
    const had = row.get(b);
    row.set(b, (had ?? 0) + 1);
    if (had !== undefined) return;
    this.pairCount++;
    if (this.pairCount <= limit) return;
    // Past the bound the least counted pair goes (the first such), never the one just added.
    let least: [K, K] | null = null;
    let min = Infinity;
    for (const [x, r] of this.pairs) {
      for (const [y, c] of r) {
        if (c < min && !(x === a && y === b)) {
          least = [x, y];
          min = c;
        }
      }
    }
    if (!least) return;
    const r = this.pairs.get(least[0])!;
    r.delete(least[1]);
    if (r.size === 0) this.pairs.delete(least[0]);
    this.pairCount--;
  }

  /**
   * The features this memory gives by its own keys, in the order of {@link MEMORY_FEATURES} after
   * the first (the shop's transitions, which the caller computes from `last` through its table):
   * log click counts, own-order votes, log counts of visits begun.
   */
  ownFeatures(o: Pick<MemoryOptions, 'transitionVotes' | 'transitionDecay'>): Map<K, number>[] {
    return [this.countLogs, this.ownVotes(o), this.startLogs];
  }

  /**
   * The own-order feature: the recent distinct items (most recent first) vote for what followed
   * them in this shopper's own clicks, the r-th with weight decayʳ, each vote log(1 + times).
   */
  ownVotes(o: Pick<MemoryOptions, 'transitionVotes' | 'transitionDecay'>): Map<K, number> {
    const votes = new Map<K, number>();
    this.forEachOwnVote(o, (_, b, v) => votes.set(b, (votes.get(b) ?? 0) + v));
    return votes;
  }

  /** The votes of {@link ownVotes} one by one, as `visit(voter, item, vote)`, for a caller that needs to know who cast each. */
  forEachOwnVote(o: Pick<MemoryOptions, 'transitionVotes' | 'transitionDecay'>, visit: (voter: K, item: K, vote: number) => void): void {
    let w = 1;
    for (let r = 0; r < Math.min(this.last.length, o.transitionVotes); r++) {
      const a = this.last[r]!;
      const row = this.pairs.get(a);
      if (row) for (const [b, c] of row) visit(a, b, w * Math.log1p(c));
      w *= o.transitionDecay;
    }
  }

  /** The "this visit" feature: 1 for each item of the latest visit (see {@link MEMORY_FEATURES}). */
  visitItems(): Map<K, number> {
    return this.visit;
  }

  /** log(1 + count) per item: of clicks (`counts`) or of visits begun (`starts`). */
  private static logged<K>(m: Map<K, number>, out: Map<K, number>): void {
    out.clear();
    for (const [k, c] of m) out.set(k, Math.log1p(c));
  }

  save(): SavedMemory<K> {
    const pairs: [K, K, number][] = [];
    for (const [a, row] of this.pairs) for (const [b, c] of row) pairs.push([a, b, c]);
    return {
      lastItems: [...this.last],
      counts: [...this.counts],
      pairs,
      starts: [...this.starts],
      lastTime: this.lastTime,
      visit: [...this.visit.keys()],
    };
  }

  /** A memory from its saved form (checked by the caller). */
  static restore<K>(s: Partial<SavedMemory<K>>): ShopperMemory<K> {
    const m = new ShopperMemory<K>();
    m.last = [...(s.lastItems ?? [])];
    m.counts = new Map(s.counts ?? []);
    ShopperMemory.logged(m.counts, m.countLogs);
    for (const [a, b, c] of s.pairs ?? []) {
      let row = m.pairs.get(a);
      if (!row) m.pairs.set(a, (row = new Map()));
      if (!row.has(b)) m.pairCount++;
      row.set(b, c);
    }
    m.starts = new Map(s.starts ?? []);
    ShopperMemory.logged(m.starts, m.startLogs);
    m.lastTime = s.lastTime ?? null;
    for (const k of s.visit ?? []) m.visit.set(k, 1);
    return m;
  }
}
