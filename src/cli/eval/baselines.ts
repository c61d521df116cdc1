/**
 * The baselines of `npm run eval`, the methods a shop would use without Clickwise:
 * - `popularity`: purchase counts before the split, fixed;
 * - `recent-popularity`: counts with an exponential time decay, updated online from the whole
 *   shop's stream (it learns new items as they start to sell);
 * - `item-knn`: item-to-item cosine similarity of who bought what before the split (the shopper's
 *   recent items vote for their neighbours; an item is its own nearest neighbour, so re-buys count).
 */
import { pushRecent, transitionVotes } from '../../core/head.js';
import { TopK } from '../../core/item-matrix.js';
import { buildTransitions } from '../train/mix.js';
import type { OnlineMethod, ReplayEvent, VisitItems } from './replay.js';
import { currentVisits, demoteItems, SESSION_GAP_MS, sequencesBeforeSplit } from './replay.js';

const DAY = 86_400_000;

/** Counts before the split. */
export function popularityMethod(events: readonly ReplayEvent[], n: number): OnlineMethod {
  const counts = new Float32Array(n);
  for (const e of events) if (!e.scored) counts[e.item]! += 1;
  return { name: 'popularity', kind: 'online', score: () => counts, observe: () => undefined };
}

/**
 * Counts of a stream with an exponential time decay (half-life `halfLifeDays`): every event is
 * added with weight 2^((t − origin)/h), which ranks, and shares out, exactly as decaying every
 * count to "now". Rescaled now and then, so the weights stay far from overflow over years of logs.
 */
export class DecayedCounts {
  readonly counts: Float64Array;
  private readonly h: number;

  constructor(
    n: number,
    halfLifeDays: number,
    private origin: number,
  ) {
    this.counts = new Float64Array(n);
    this.h = halfLifeDays * DAY;
  }

  add(item: number, t: number): void {
    const w = Math.pow(2, (t - this.origin) / this.h);
    this.counts[item]! += w;
    if (w > 1e100) {
      for (let i = 0; i < this.counts.length; i++) this.counts[i]! /= w;
      this.origin = t;
    }
  }
}

/**
 * The first `k` of 0, …, `count` − 1 in the order `before` (a strict total order: `before(a, b)`
 * where a comes first), first first: what a sort of all of them and its first `k` give, by
 * insertion into a list of at most `k`.
 */
export function firstInOrder(count: number, k: number, before: (a: number, b: number) => boolean): number[] {
  const order: number[] = [];
  if (k <= 0) return order;
  for (let c = 0; c < count; c++) {
    if (order.length === k && !before(c, order[k - 1]!)) continue;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(order[mid]!, c)) lo = mid + 1;
      else hi = mid;
    }
    order.splice(lo, 0, c);
    if (order.length > k) order.length = k;
  }
  return order;
}

/** Exponentially decayed counts over the global stream (half-life `halfLifeDays`; {@link DecayedCounts}). */
export function recentPopularityMethod(n: number, halfLifeDays: number, t0: number): OnlineMethod {
  const decayed = new DecayedCounts(n, halfLifeDays, t0);
  const scores = new Float32Array(n);
  let dirty = true;
  return {
    name: 'recent-popularity',
    kind: 'online',
    score: () => {
      if (dirty) {
        const counts = decayed.counts;
        let max = 0;
        for (let i = 0; i < n; i++) max = Math.max(max, counts[i]!);
        for (let i = 0; i < n; i++) scores[i] = max > 0 ? counts[i]! / max : 0;
        dirty = false;
      }
      return scores;
    },
    observe: (e) => {
      decayed.add(e.item, e.t);
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
  /** Where the current visit's items go (see {@link VisitItems}); `keep` when absent. */
  visit?: VisitItems;
}

/**
 * Item-based cosine similarity over the shopper × item matrix of the events before the split:
 * cos(a, b) = shoppers who bought both / √(shoppers of a · shoppers of b), each item keeping its
 * `neighbours` most alike (ties to the lower index).
 */
export function itemKnnMethod(events: readonly ReplayEvent[], n: number, o: ItemKnnOptions): OnlineMethod {
  // Each shopper's distinct items, and each item's shoppers (CSR). An item's row of co-occurrence
  // counts is gathered from its shoppers' items when its turn comes, so memory grows with the
  // purchases, not with n² (a table of every pair passes the longest typed array past 65,535 items).
  const baskets = [...sequencesBeforeSplit(events).values()].map((seq) => Int32Array.from(new Set(seq)));
  const buyers = new Int32Array(n);
  for (const b of baskets) for (const i of b) buyers[i]! += 1;
  const from = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) from[i + 1] = from[i]! + buyers[i]!;
  const who = new Int32Array(from[n]!);
  const fill = from.slice(0, n);
  baskets.forEach((b, s) => {
    for (const i of b) who[fill[i]!++] = s;
  });
  const neighbours: { idx: Int32Array; sim: Float32Array }[] = [];
  const co = new Float64Array(n);
  const touched: number[] = [];
  for (let a = 0; a < n; a++) {
    for (let k = from[a]!; k < from[a + 1]!; k++) {
      for (const b of baskets[who[k]!]!) {
        if (co[b] === 0) touched.push(b);
        co[b]! += 1;
      }
    }
    const top = new TopK(Math.max(1, o.neighbours));
    for (const b of touched) {
      // Rounded as the kept similarity is, so that equal similarities tie and the lower index wins.
      top.push(Math.fround(co[b]! / Math.sqrt(buyers[a]! * buyers[b]!)), b);
      co[b] = 0;
    }
    touched.length = 0;
    const { values, indices } = o.neighbours > 0 ? top.sorted() : { values: new Float32Array(0), indices: new Int32Array(0) };
    neighbours.push({ idx: indices, sim: values });
  }
  // Ties (a new shopper, or items no neighbour reaches) are broken by popularity before the split.
  const prior = new Float32Array(n);
  let maxCount = 1;
  for (let i = 0; i < n; i++) maxCount = Math.max(maxCount, buyers[i]!);
  for (let i = 0; i < n; i++) prior[i] = (1e-3 * buyers[i]!) / maxCount;
  const history = new Map<string, number[]>();
  const scores = new Float32Array(n);
  return withVisitItems(
    {
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
    },
    o.visit ?? 'keep',
  );
}

/** Purchase counts before the split, scaled into [0, ε]: the tie-breaker of the methods below. */
function popularityPrior(events: readonly ReplayEvent[], n: number, eps = 1e-3): Float32Array {
  const counts = new Float32Array(n);
  for (const e of events) if (!e.scored) counts[e.item]! += 1;
  let max = 1;
  for (let i = 0; i < n; i++) max = Math.max(max, counts[i]!);
  return counts.map((c) => (eps * c) / max);
}

/** An online method that scores and learns at once (no promise). */
type SyncMethod = Omit<OnlineMethod, 'score' | 'observe'> & { score(user: string, t: number): Float32Array; observe(e: ReplayEvent): void };

/** `method` with its list's current-visit items put where `visit` says. */
function withVisitItems(method: SyncMethod, visit: VisitItems): OnlineMethod {
  if (visit === 'keep') return method;
  const visits = currentVisits(SESSION_GAP_MS);
  return {
    ...method,
    score: (user, t) => {
      const scores = method.score(user, t);
      demoteItems(visits.current(user, t), scores);
      return scores;
    },
    observe: (e) => {
      method.observe(e);
      visits.observe(e);
    },
  };
}

export interface MarkovOptions {
  /** Pairs (a, b) with b up to this many positions after a in a shopper's sequence count (1: plain first order). */
  window: number;
  /** The shopper's last distinct items that vote (1: only the last item). */
  votes: number;
  /** Weight of the i-th most recent voter: decay^i (0.5: halving). */
  decay: number;
  /** Where the current visit's items go (see {@link VisitItems}). */
  visit: VisitItems;
}

/**
 * Markov chain over each shopper's sequence before the split: P(b | a) from how often b followed a
 * (within `window` positions), each row normalised. The shopper's last `votes` distinct items vote
 * with weights decay^i; popularity before the split breaks ties. `window 1, votes 1` is the plain
 * first-order chain.
 */
export function markovMethod(events: readonly ReplayEvent[], n: number, o: MarkovOptions): OnlineMethod {
  // The same table the maintenance job ships (mix.ts), with every successor kept.
  const T = buildTransitions(sequencesBeforeSplit(events).values(), n, o.window, Infinity);
  const prior = popularityPrior(events, n);
  const history = new Map<string, number[]>();
  const scores = new Float32Array(n);
  return withVisitItems(
    {
      name: 'markov',
      kind: 'online',
      score: (user) => {
        scores.set(prior);
        for (const [i, v] of transitionVotes(T, history.get(user) ?? [], { transitionVotes: o.votes, transitionDecay: o.decay }))
          scores[i]! += v;
        return scores;
      },
      observe: (e) => {
        const h = history.get(e.user) ?? [];
        pushRecent(h, e.item, o.votes);
        history.set(e.user, h);
      },
    },
    o.visit,
  );
}

export interface RepeatOptions {
  /** Weight of a past purchase i events ago: recency^i (1: plain counts). */
  recency: number;
  /**
   * The popularity that ranks every other item and breaks ties: null, the counts before the
   * split; a number of days, counts of the whole stream so far decayed with that half-life
   * (`recent-popularity`'s, updated online).
   */
  priorHalfLifeDays: number | null;
  /** Where the current visit's items go (see {@link VisitItems}). */
  visit: VisitItems;
}

/**
 * Repeat-then-popularity: the shopper's past items by how often they bought them (optionally
 * weighting recent purchases more), popularity breaking their ties, then every other item by
 * popularity. The strongest simple rule where shoppers re-buy.
 */
export function repeatThenPopularityMethod(events: readonly ReplayEvent[], n: number, o: RepeatOptions): OnlineMethod {
  const h = o.priorHalfLifeDays;
  if (h !== null && !(h > 0 && h < Infinity)) {
    throw new Error(`The repeat baseline's popularity half-life must be a number of days > 0, or 'split', got ${String(h)}.`);
  }
  // The prior lies in [0, 0.5]: below any bought item's score.
  const fixed = h === null ? popularityPrior(events, n, 0.5) : null;
  const recent = h === null ? null : recentPopularityMethod(n, h, events[0]?.t ?? 0);
  const tie = o.recency < 1 ? 1e-3 : 1;
  const counts = new Map<string, Map<number, number>>();
  const scores = new Float32Array(n);
  return withVisitItems(
    {
      name: 'repeat-then-popularity',
      kind: 'online',
      score: (user, t) => {
        if (fixed) scores.set(fixed);
        else {
          const r = recent!.score(user, t) as Float32Array;
          for (let i = 0; i < n; i++) scores[i] = 0.5 * r[i]!;
        }
        // Counts are ≥ 1 where bought (after rescaling, so the largest is 1 + counts), the prior
        // ≤ 0.5. Between items bought equally often the better seller leads: the prior is added
        // where counts are whole purchases, and a thousandth of it where recency makes them
        // fractions, so that it only breaks ties.
        for (const [i, c] of counts.get(user) ?? []) scores[i] = 1 + c + tie * scores[i]!;
        return scores;
      },
      observe: (e) => {
        recent?.observe(e);
        let m = counts.get(e.user);
        if (!m) counts.set(e.user, (m = new Map()));
        if (o.recency < 1) for (const [i, c] of m) m.set(i, c * o.recency);
        m.set(e.item, (m.get(e.item) ?? 0) + 1);
      },
    },
    o.visit,
  );
}

export interface SessionKnnOptions {
  /** Neighbour sessions used per query. */
  neighbours: number;
  /** Candidate sessions considered per query (the most recent ones sharing an item). */
  sample: number;
  /** Items of the current session that count (the most recent ones). */
  sessionLength: number;
  /** A gap this long starts a new session. */
  gapMinutes: number;
  /** Weight neighbours' items by inverse document frequency (the IDF variant of V-SKNN). */
  idf: boolean;
  /**
   * Divide each neighbour's similarity by the square root of its number of items (a cosine): a
   * long session then does not outvote short ones for sharing more items by its length alone.
   */
  cosine?: boolean;
  /** Where the current visit's items go (see {@link VisitItems}). */
  visit: VisitItems;
}

/**
 * Session-based kNN in the style of V-SKNN (Ludewig and Jannach): the sessions before the split
 * (a shopper's events split at gaps of `gapMinutes`) are the memory. The current session's items,
 * weighted linearly by position (the most recent weighs most), are compared with the most recent
 * `sample` sessions that share an item; the `neighbours` most similar vote for their items with
 * their similarity. At a session start (no current session yet) the shopper's last session is the
 * query. Popularity before the split breaks ties.
 */
export function sessionKnnMethod(events: readonly ReplayEvent[], n: number, o: SessionKnnOptions): OnlineMethod {
  const gap = o.gapMinutes * 60_000;
  const sessions: Int32Array[] = [];
  const open = new Map<string, { items: number[]; last: number }>();
  const close = (s: { items: number[] }): void => {
    if (s.items.length) sessions.push(Int32Array.from(new Set(s.items)));
  };
  for (const e of events) {
    if (e.scored) break;
    const s = open.get(e.user);
    if (s && e.t - s.last < gap) {
      s.items.push(e.item);
      s.last = e.t;
    } else {
      if (s) close(s);
      open.set(e.user, { items: [e.item], last: e.t });
    }
  }
  for (const s of open.values()) close(s);
  // Sessions are in order of their first event; posting lists keep that order (most recent last).
  const postings: number[][] = Array.from({ length: n }, () => []);
  sessions.forEach((s, id) => s.forEach((i) => postings[i]!.push(id)));
  const idf = new Float32Array(n).map((_, i) => (postings[i]!.length ? Math.log(sessions.length / postings[i]!.length) : 0));
  const prior = popularityPrior(events, n);
  const current = new Map<string, { items: number[]; last: number; previous: number[] }>();
  const scores = new Float32Array(n);
  // Each query item's position weight, by item (0 elsewhere; the query's entries are reset after each use).
  const weight = new Float64Array(n);
  // Which query a session was last taken as a candidate for (a count of queries), and the candidates' ids and similarities.
  const takenFor = new Int32Array(sessions.length);
  let queries = 0;
  const ids = new Int32Array(o.sample + n);
  const sim = new Float64Array(o.sample + n);
  return withVisitItems(
    {
      name: 'session-knn',
      kind: 'online',
      score: (user, t) => {
        scores.set(prior);
        const c = current.get(user);
        if (!c) return scores;
        const query = (t - c.last < gap ? c.items : c.previous.length ? c.previous : c.items).slice(-o.sessionLength);
        if (query.length === 0) return scores;
        // Position weights: the most recent item weighs 1, the first 1/|s| (an item met twice, its latest place).
        const distinct: number[] = [];
        query.forEach((i, p) => {
          if (weight[i] === 0) distinct.push(i);
          weight[i] = (p + 1) / query.length;
        });
        // Candidates: the most recent sessions that share an item with the query.
        queries += 1;
        let m = 0;
        const lists = distinct.map((i) => postings[i]!);
        for (let back = 1; m < o.sample; back++) {
          let any = false;
          for (const l of lists) {
            if (back <= l.length) {
              const id = l[l.length - back]!;
              if (takenFor[id] !== queries) {
                takenFor[id] = queries;
                ids[m++] = id;
              }
              any = true;
            }
          }
          if (!any) break;
        }
        for (let c = 0; c < m; c++) {
          let s = 0;
          const items = sessions[ids[c]!]!;
          for (const i of items) s += weight[i]!;
          sim[c] = o.cosine ? s / Math.sqrt(items.length) : s;
        }
        for (const i of distinct) weight[i] = 0;
        // The most similar first; ties: the more recent session (ids are distinct, so the order is total).
        const order = firstInOrder(m, o.neighbours, (a, b) => sim[a]! > sim[b]! || (sim[a] === sim[b] && ids[a]! > ids[b]!));
        for (const c of order) {
          const s = sim[c]!;
          for (const i of sessions[ids[c]!]!) scores[i]! += s * (o.idf ? idf[i]! : 1);
        }
        return scores;
      },
      observe: (e) => {
        const c = current.get(e.user);
        if (!c) current.set(e.user, { items: [e.item], last: e.t, previous: [] });
        else if (e.t - c.last >= gap) current.set(e.user, { items: [e.item], last: e.t, previous: c.items });
        else {
          c.items.push(e.item);
          if (c.items.length > 4 * o.sessionLength) c.items.splice(0, c.items.length - o.sessionLength);
          c.last = e.t;
        }
      },
    },
    o.visit,
  );
}
