/**
 * `start-ranker` and `start-ceiling`: a ranker learned for the start of a shopper's visit, where
 * the last click says nothing (a visit starts after a gap of 30 minutes or more). It scores each
 * product by a weighted sum of what is known of it at that moment:
 *
 * - of the shopper's own products: that they bought it; how often (log(1 + purchases)); in how many
 *   of their visits, and that share of their visits; how many of their visits began with it; that
 *   it was in their latest visit; the days since they last bought it (log(1 + days));
 * - of every product: what the whole shop bought lately (half-lives of 1, 7 and 30 days, updated
 *   from the stream as `recent-popularity` is) and before the split, each log(share + 10⁻⁶);
 * - the shop's transitions before the split from the shopper's latest products (the Markov
 *   baseline's table and votes), log(1 + 1000 · vote).
 *
 * The weights are fitted on visit starts to rank the product bought high among its candidates (the
 * shopper's 100 most bought products, the shop's 200 best sellers of the last week and before the
 * split, and the 100 products their latest products vote for most), by a smooth NDCG ({@link fitSmoothNdcg}) begun at
 * weights that rank as the re-buy rule does.
 *
 * `start-ranker` fits on the visit starts of the `fitDays` before the split: a baseline a shop could
 * run. `start-ceiling` fits on the scored period's own visit starts, the ones it is then scored on:
 * no shop can run it (it knows the answers); it shows how far a weighting of these features reaches
 * at visit starts when it is fitted to the answers (the search's best, not a proven optimum;
 * docs/RESULTS.md, _A ranker learned for visit starts_).
 */
import { forEachTransitionVote, pushRecent } from '../../core/head.js';
import type { Transitions } from '../../core/head.js';
import { buildTransitions } from '../train/mix.js';
import { DecayedCounts, firstInOrder } from './baselines.js';
import type { OnlineMethod, ReplayEvent, VisitItems } from './replay.js';
import { currentVisits, demoteItems, SESSION_GAP_MS, sequencesBeforeSplit } from './replay.js';

const DAY = 86_400_000;

export interface StartRankerOptions {
  /** Days before the split whose visit starts fit `start-ranker`'s weights. */
  fitDays: number;
  /** Full-batch Adam steps of the fit. */
  steps: number;
  /** Where the current visit's items go (see {@link VisitItems}). */
  visit: VisitItems;
  /** The features used (of {@link START_FEATURES}; all when absent): the others weigh 0. */
  features?: readonly string[];
}

/** `fitDays` (28, 56 or 112) and `steps` (100 or 300) chosen on Online Retail's validation weeks (docs/RESULTS.md); the rest set by reasoning. */
export const DEFAULT_START_RANKER: StartRankerOptions = { fitDays: 112, steps: 100, visit: 'last' };

/** The features' names, in order (the report's weights follow it). */
export const START_FEATURES = [
  'bought',
  'purchases',
  'visits',
  'visitShare',
  'visitsBegun',
  'inLatestVisit',
  'daysSince',
  'popular1d',
  'popular7d',
  'popular30d',
  'popularBeforeSplit',
  'transitions',
] as const;
const F = START_FEATURES.length;
const OWN = 7;
const HALF_LIVES = [1, 7, 30];
const POP = HALF_LIVES.length + 1;
const EPS = 1e-6;
/** The Markov baseline's defaults: pairs up to 3 apart, the last 5 distinct items voting at 0.3^i. */
const MARKOV_WINDOW = 3;
const VOTES = { transitionVotes: 5, transitionDecay: 0.3 };
/** Best sellers added to a fitted start's candidates, by each of two popularities. */
const FIT_TOP = 200;
/** The shopper's own products, and those their latest products vote for, kept among a fitted start's candidates. */
const FIT_OWN = 100;

interface Owned {
  count: number;
  visits: number;
  begun: number;
  lastVisit: number;
  lastT: number;
}

interface Shopper {
  last: number;
  visits: number;
  items: Map<number, Owned>;
  recent: number[];
}

/**
 * The `k` rows of `values` (`stride` numbers a row) with the largest `col`-th number, largest first,
 * ties to the lower row: what a sort of every row and its first `k` give ({@link firstInOrder}).
 */
export function topBy(values: Float32Array, stride: number, col: number, k: number): number[] {
  const v = (i: number): number => values[i * stride + col]!;
  return firstInOrder(values.length / stride, k, (a, b) => v(a) > v(b) || (v(a) === v(b) && a < b));
}

/** Product `o`'s own features for shopper `s` at `t` (the first {@link OWN} of {@link START_FEATURES}), written into `row`. */
function ownRow(s: Shopper, o: Owned, t: number, row: Float32Array): Float32Array {
  row[0] = 1;
  row[1] = Math.log1p(o.count);
  row[2] = Math.log1p(o.visits);
  row[3] = o.visits / s.visits;
  row[4] = Math.log1p(o.begun);
  row[5] = o.lastVisit === s.visits ? 1 : 0;
  row[6] = Math.log1p(Math.max(0, t - o.lastT) / DAY);
  return row;
}

/**
 * What is known at a moment of the replay: each shopper's own products, and the shop's popularity
 * over the events strictly before the moment asked about (the lines of one order share its time,
 * so none of them counts for another; the same for the fit and the scoring).
 */
class StartState {
  readonly shoppers = new Map<string, Shopper>();
  /** What the whole shop bought, per half-life. */
  private readonly decayed: DecayedCounts[];
  private readonly pending: ReplayEvent[] = [];
  private applied = 0;
  private readonly before: Float64Array;
  /** [n × POP] row-major: the popularity features at the last refresh. */
  readonly popular: Float32Array;
  private stale = true;
  private tops: number[][] | null = null;
  /** The transitions' votes being summed (0 outside {@link votes}), which products hold one, in the order first voted for, and a mark on each of them. */
  private readonly voteSums: Float64Array;
  private readonly voted: Int32Array;
  private readonly marked: Uint8Array;
  /** One row of the own products' features (see {@link addOwn}). */
  private readonly ownScratch = new Float32Array(OWN);

  constructor(
    readonly n: number,
    events: readonly ReplayEvent[],
    readonly T: Transitions,
  ) {
    this.decayed = HALF_LIVES.map((h) => new DecayedCounts(n, h, events[0]?.t ?? 0));
    this.before = new Float64Array(n);
    for (const e of events) if (!e.scored) this.before[e.item]! += 1;
    this.popular = new Float32Array(n * POP);
    this.voteSums = new Float64Array(n);
    this.voted = new Int32Array(n);
    this.marked = new Uint8Array(n);
  }

  isStart(user: string, t: number): boolean {
    const s = this.shoppers.get(user);
    return !s || t - s.last >= SESSION_GAP_MS;
  }

  observe(e: ReplayEvent): void {
    let s = this.shoppers.get(e.user);
    const start = !s || e.t - s.last >= SESSION_GAP_MS;
    if (!s) this.shoppers.set(e.user, (s = { last: e.t, visits: 0, items: new Map(), recent: [] }));
    if (start) s.visits += 1;
    let o = s.items.get(e.item);
    if (!o) s.items.set(e.item, (o = { count: 0, visits: 0, begun: 0, lastVisit: 0, lastT: e.t }));
    o.count += 1;
    if (o.lastVisit !== s.visits) {
      o.visits += 1;
      o.lastVisit = s.visits;
      if (start) o.begun += 1;
    }
    o.lastT = e.t;
    s.last = e.t;
    pushRecent(s.recent, e.item, VOTES.transitionVotes);
    this.pending.push(e);
  }

  /** Brings the shop's popularity up to the events before `t`. */
  refresh(t: number): void {
    while (this.applied < this.pending.length && this.pending[this.applied]!.t < t) {
      const e = this.pending[this.applied++]!;
      for (const d of this.decayed) d.add(e.item, e.t);
      this.stale = true;
    }
    if (this.applied > 4096) {
      this.pending.splice(0, this.applied);
      this.applied = 0;
    }
    if (!this.stale) return;
    this.stale = false;
    this.tops = null;
    const n = this.n;
    for (const [k, c] of [...this.decayed.map((d) => d.counts), this.before].entries()) {
      let total = 0;
      for (let i = 0; i < n; i++) total += c[i]!;
      const inv = total > 0 ? 1 / total : 0;
      for (let i = 0; i < n; i++) this.popular[i * POP + k] = Math.log(c[i]! * inv + EPS);
    }
  }

  /** The {@link FIT_TOP} best sellers of the last week and before the split (ties to the lower index). */
  best(): number[][] {
    if (!this.tops) {
      this.tops = [1, POP - 1].map((k) => topBy(this.popular, POP, k, FIT_TOP));
    }
    return this.tops;
  }

  /** The shopper's own products' features (the first {@link OWN}), by product. */
  own(user: string, t: number): Map<number, Float32Array> {
    const out = new Map<number, Float32Array>();
    const s = this.shoppers.get(user);
    if (!s) return out;
    for (const [i, o] of s.items) out.set(i, ownRow(s, o, t, new Float32Array(OWN)));
    return out;
  }

  /**
   * What the shopper's own products add to each one's score under `weights` (their first
   * {@link OWN}), into `scores`: the rows of {@link own}, weighed, each written into one scratch row.
   */
  addOwn(user: string, t: number, weights: ArrayLike<number>, scores: Float32Array): void {
    const s = this.shoppers.get(user);
    if (!s) return;
    const row = this.ownScratch;
    for (const [i, o] of s.items) {
      ownRow(s, o, t, row);
      let v = 0;
      for (let k = 0; k < OWN; k++) v += weights[k]! * row[k]!;
      scores[i]! += v;
    }
  }

  /**
   * The transitions' feature, by product voted for (in the order first voted for): the votes of
   * `transitionVotes`, summed in the same order in an array of the catalogue's length.
   */
  votes(user: string): Map<number, number> {
    const s = this.shoppers.get(user);
    const out = new Map<number, number>();
    if (!s) return out;
    const sums = this.voteSums;
    const { voted, marked } = this;
    let m = 0;
    forEachTransitionVote(this.T, s.recent, VOTES, (j, v) => {
      if (!marked[j]) {
        marked[j] = 1;
        voted[m++] = j;
      }
      sums[j]! += v;
    });
    for (let k = 0; k < m; k++) {
      const j = voted[k]!;
      out.set(j, Math.log1p(1000 * sums[j]!));
      sums[j] = 0;
      marked[j] = 0;
    }
    return out;
  }
}

/** The fitted starts: each one's candidates' feature rows, the bought product's row first. */
interface FitSet {
  rows: Float32Array[];
  skipped: number;
}

function candidateRows(state: StartState, user: string, t: number, target: number): Float32Array | null {
  const own = state.own(user, t);
  const votes = state.votes(user);
  const pop = state.popular;
  // The shopper's most bought products (the most recent first among equals) and the most voted
  // for: a product further down either list is not near the top of any ranking the fit tries.
  const ownFirst = [...own].sort(([a, x], [b, y]) => y[1]! - x[1]! || x[6]! - y[6]! || a - b).slice(0, FIT_OWN);
  const votedFirst = [...votes].sort(([a, x], [b, y]) => y - x || a - b).slice(0, FIT_OWN);
  const chosen = new Set<number>([...ownFirst.map(([i]) => i), ...votedFirst.map(([i]) => i), ...state.best().flat()]);
  if (!chosen.has(target)) return null;
  const list = [target, ...[...chosen].filter((i) => i !== target)];
  const rows = new Float32Array(list.length * F);
  list.forEach((i, r) => {
    const o = own.get(i);
    if (o) rows.set(o, r * F);
    for (let k = 0; k < POP; k++) rows[r * F + OWN + k] = pop[i * POP + k]!;
    rows[r * F + OWN + POP] = votes.get(i) ?? 0;
  });
  return rows;
}

/**
 * Fits weights that rank each start's bought product (its first row) high, by full-batch Adam on a
 * smooth NDCG (ApproxNDCG): the bought product's rank is taken as 1 + Σ σ(s_j − s_0) over the other
 * candidates, and 1 / log2(1 + rank) is raised, features standardised over every row. The fit starts
 * from `start` (raw weights), so that it begins where the re-buy rule's ranking is. Returns the raw
 * weights and the smooth NDCG reached.
 */
export function fitSmoothNdcg(
  sets: readonly Float32Array[],
  features: number,
  steps: number,
  start: ArrayLike<number>,
  rate = 0.02,
): { weights: Float64Array; ndcg: number } {
  const mean = new Float64Array(features);
  const sd = new Float64Array(features);
  let rowsAll = 0;
  for (const x of sets) {
    for (let r = 0; r < x.length / features; r++) for (let k = 0; k < features; k++) mean[k]! += x[r * features + k]!;
    rowsAll += x.length / features;
  }
  for (let k = 0; k < features; k++) mean[k]! /= Math.max(1, rowsAll);
  for (const x of sets)
    for (let r = 0; r < x.length / features; r++) for (let k = 0; k < features; k++) sd[k]! += (x[r * features + k]! - mean[k]!) ** 2;
  for (let k = 0; k < features; k++) sd[k] = Math.sqrt(sd[k]! / Math.max(1, rowsAll)) || 1;
  // Standardised once; a raw weight w is w·sd on the standardised feature.
  const z = sets.map((x) => Float64Array.from(x, (v, j) => (v - mean[j % features]!) / sd[j % features]!));
  const w = Float64Array.from({ length: features }, (_, k) => (start[k] ?? 0) * sd[k]!);
  const m = new Float64Array(features);
  const v = new Float64Array(features);
  const grad = new Float64Array(features);
  const local = new Float64Array(features);
  let ndcg = 0;
  for (let step = 1; step <= steps; step++) {
    grad.fill(0);
    ndcg = 0;
    for (const x of z) {
      const rows = x.length / features;
      let s0 = 0;
      for (let k = 0; k < features; k++) s0 += x[k]! * w[k]!;
      let rank = 1;
      local.fill(0);
      for (let r = 1; r < rows; r++) {
        const o = r * features;
        let d = -s0;
        for (let k = 0; k < features; k++) d += x[o + k]! * w[k]!;
        if (d < -30) continue;
        const p = 1 / (1 + Math.exp(-d));
        rank += p;
        // ∂rank/∂w = Σ σ'(d) (z_r − z_0).
        const dp = p * (1 - p);
        if (dp < 1e-12) continue;
        for (let k = 0; k < features; k++) local[k]! += dp * (x[o + k]! - x[k]!);
      }
      const lg = Math.log2(1 + rank);
      ndcg += 1 / lg;
      // ∂(1/log2(1 + rank))/∂rank = −1 / ((1 + rank) ln 2 · log2(1 + rank)²); ascent: minus it.
      const scale = 1 / ((1 + rank) * Math.LN2 * lg * lg);
      for (let k = 0; k < features; k++) grad[k]! += scale * local[k]!;
    }
    const count = Math.max(1, sets.length);
    ndcg /= count;
    for (let k = 0; k < features; k++) {
      const g = grad[k]! / count;
      m[k] = 0.9 * m[k]! + 0.1 * g;
      v[k] = 0.999 * v[k]! + 0.001 * g * g;
      const mh = m[k]! / (1 - 0.9 ** step);
      const vh = v[k]! / (1 - 0.999 ** step);
      w[k]! -= (rate * mh) / (Math.sqrt(vh) + 1e-8);
    }
  }
  return { weights: w.map((x, k) => x / sd[k]!), ndcg };
}

/**
 * NDCG@`k` of each start's bought product (its first row) among its candidates under raw weights
 * `w`, ties counted against it: the measure the fit ends on.
 */
export function candidatesNdcg(sets: readonly Float32Array[], features: number, w: ArrayLike<number>, k = 10): number {
  let sum = 0;
  for (const x of sets) {
    const rows = x.length / features;
    const score = (r: number): number => {
      let dot = 0;
      for (let f = 0; f < features; f++) dot += x[r * features + f]! * w[f]!;
      return dot;
    };
    const s0 = score(0);
    let rank = 1;
    for (let r = 1; r < rows && rank <= k; r++) if (score(r) >= s0) rank += 1;
    if (rank <= k) sum += 1 / Math.log2(1 + rank);
  }
  return sets.length ? sum / sets.length : 0;
}

/**
 * Coordinate search on the exact NDCG@`k` from `w`: each weight in turn is moved by the steps tried
 * (fractions of its size), kept where the NDCG rises, until a round changes nothing or `rounds`
 * pass. Each set's scores are kept, so a move costs one pass over the rows, not over every feature.
 */
export function coordinateSearch(sets: readonly Float32Array[], features: number, w: Float64Array, rounds = 4, k = 10): number {
  const scores = sets.map((x) => {
    const rows = x.length / features;
    const s = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let f = 0; f < features; f++) s[r]! += x[r * features + f]! * w[f]!;
    return s;
  });
  /** The NDCG with weight `f` moved by `delta`. */
  const ndcgMoved = (f: number, delta: number): number => {
    let sum = 0;
    sets.forEach((x, i) => {
      const s = scores[i]!;
      const s0 = s[0]! + delta * x[f]!;
      let rank = 1;
      for (let r = 1; r < s.length && rank <= k; r++) if (s[r]! + delta * x[r * features + f]! >= s0) rank += 1;
      if (rank <= k) sum += 1 / Math.log2(1 + rank);
    });
    return sets.length ? sum / sets.length : 0;
  };
  let best = ndcgMoved(0, 0);
  for (let round = 0; round < rounds; round++) {
    let moved = false;
    for (let f = 0; f < features; f++) {
      const scale = Math.max(Math.abs(w[f]!), 0.1);
      let kept = 0;
      for (const d of [-1, -0.5, -0.25, -0.1, 0.1, 0.25, 0.5, 1, 2]) {
        const got = ndcgMoved(f, d * scale);
        if (got > best + 1e-9) {
          best = got;
          kept = d * scale;
          moved = true;
        }
      }
      if (kept === 0) continue;
      w[f]! += kept;
      sets.forEach((x, i) => {
        const s = scores[i]!;
        for (let r = 0; r < s.length; r++) s[r]! += kept * x[r * features + f]!;
      });
    }
    if (!moved) break;
  }
  return best;
}

/** Where the fit starts: close to the re-buy rule (the shopper's products first, by purchases, then what sold in the last week). */
const RULE_LIKE_WEIGHTS: Partial<Record<(typeof START_FEATURES)[number], number>> = { bought: 10, purchases: 2, popular7d: 0.1 };
const RULE_LIKE: readonly number[] = START_FEATURES.map((f) => RULE_LIKE_WEIGHTS[f] ?? 0);

/** Checks the rankers' settings (a RangeError naming the flag), before anything is read. */
export function validateStartRanker(o: StartRankerOptions): void {
  if (!(o.fitDays > 0 && o.fitDays < Infinity)) throw new RangeError(`--start-fit-days must be a number of days > 0, got ${o.fitDays}.`);
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new RangeError(`--start-steps must be a whole number ≥ 1, got ${o.steps}.`);
  const unknown = (o.features ?? []).filter((f) => !(START_FEATURES as readonly string[]).includes(f));
  if (unknown.length || o.features?.length === 0)
    throw new RangeError(`--start-features must name some of ${START_FEATURES.join(', ')}; got ${(o.features ?? []).join(',') || 'none'}.`);
}

/**
 * `start-ranker` (`fit: 'before'`) or `start-ceiling` (`fit: 'scored'`): see the file's comment.
 * `split` is the first scored event's time (the fit window ends there).
 */
export function startRankerMethod(
  events: readonly ReplayEvent[],
  n: number,
  o: StartRankerOptions,
  fit: 'before' | 'scored',
  split: number,
): OnlineMethod & { training: Record<string, unknown> } {
  validateStartRanker(o);
  const used = START_FEATURES.map((f) => !o.features || o.features.includes(f));
  const T = buildTransitions(sequencesBeforeSplit(events).values(), n, MARKOV_WINDOW, Infinity);
  const from = split - o.fitDays * DAY;
  // The starts fitted before the split vote through transitions counted before them, as the
  // scored ones do, not through a table that holds their own answers.
  // Popularity "before the split" is likewise before the fitted weeks there.
  const fitView = fit === 'scored' ? events : events.map((e) => (e.t >= from ? { ...e, scored: true } : e));
  const fitT = fit === 'scored' ? T : buildTransitions(sequencesBeforeSplit(fitView).values(), n, MARKOV_WINDOW, Infinity);
  const fitted = (e: ReplayEvent): boolean => (fit === 'scored' ? e.scored : !e.scored && e.t >= from);
  const began = performance.now();
  const fitState = new StartState(n, fitView, fitT);
  const set: FitSet = { rows: [], skipped: 0 };
  for (const e of events) {
    if (fit === 'before' && e.scored) break;
    if (fitted(e) && fitState.isStart(e.user, e.t)) {
      fitState.refresh(e.t);
      const rows = candidateRows(fitState, e.user, e.t, e.item);
      if (rows) {
        // A feature left out is 0 in every row: no fit can give it weight.
        for (let k = 0; k < F; k++) if (!used[k]) for (let r = k; r < rows.length; r += F) rows[r] = 0;
        set.rows.push(rows);
      } else set.skipped += 1;
    }
    fitState.observe(e);
  }
  const searchedAt = performance.now();
  const start = RULE_LIKE.map((w, k) => (used[k] ? w : 0));
  const smooth = fitSmoothNdcg(set.rows, F, o.steps, start);
  const weights = smooth.weights;
  const ruleLike = candidatesNdcg(set.rows, F, start);
  const afterSmooth = candidatesNdcg(set.rows, F, weights);
  const ndcg = coordinateSearch(set.rows, F, weights);
  const fittedStarts = set.rows.length;
  const candidates = set.rows.reduce((sum, x) => sum + x.length / F, 0) / Math.max(1, fittedStarts);
  const collected = (searchedAt - began) / 1000;
  set.rows.length = 0;

  const state = new StartState(n, events, T);
  const scores = new Float32Array(n);
  const base = new Float32Array(n);
  let baseAt = -Infinity;
  const visits = o.visit === 'last' ? currentVisits(SESSION_GAP_MS) : null;
  const name = fit === 'scored' ? 'start-ceiling' : 'start-ranker';
  return {
    name,
    kind: 'online',
    training: {
      fit: fit === 'scored' ? 'the scored visit starts (in-sample)' : `the visit starts of the ${o.fitDays} days before the split`,
      ...(o.features ? { features: [...o.features] } : {}),
      fittedStarts,
      skipped: set.skipped,
      meanCandidates: Math.round(candidates),
      seconds: { collect: Number(collected.toFixed(1)), fit: Number(((performance.now() - searchedAt) / 1000).toFixed(1)) },
      smoothNdcg: Number(smooth.ndcg.toFixed(4)),
      fittedNdcg: { ruleLike: Number(ruleLike.toFixed(4)), smooth: Number(afterSmooth.toFixed(4)), searched: Number(ndcg.toFixed(4)) },
      weights: Object.fromEntries(START_FEATURES.map((f, k) => [f, Number(weights[k]!.toPrecision(4))])),
    },
    score: (user, t) => {
      state.refresh(t);
      if (baseAt !== t) {
        const pop = state.popular;
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let k = 0; k < POP; k++) s += weights[OWN + k]! * pop[i * POP + k]!;
          base[i] = s;
        }
        baseAt = t;
      }
      scores.set(base);
      for (const [i, f] of state.votes(user)) scores[i]! += weights[OWN + POP]! * f;
      state.addOwn(user, t, weights, scores);
      if (visits) demoteItems(visits.current(user, t), scores);
      return scores;
    },
    observe: (e) => {
      state.observe(e);
      visits?.observe(e);
    },
  };
}
