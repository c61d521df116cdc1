/**
 * How much each shop should trust its transitions and its shoppers' re-buys, relative to the
 * content model: the maintenance job builds the shop's transition table from its log and picks
 * the feature weights of the head (`mix` in the head manifest: β for transitions, γ for re-buy
 * counts, each mid-visit and at a visit's start, and α for the short-term re-buy share) by
 * maximising NDCG@10 on the last weeks of the log, held out from the content model's training
 * (the content model shipped is trained again on every day once they are chosen: base.ts `refit`).
 * A shop whose titles say little gets a low content weight relative to the rest, and a grocer
 * whose baskets are mostly re-buys a high γ, without anyone tuning by hand.
 *
 * The scoring here is the head's own function (src/core/head.ts) on typed arrays.
 */
import type { HeadOptions, Transitions } from '../../core/head.js';
import { normalisedHistory, pushHistory, transitionVotes } from '../../core/head.js';
import type { MemoryOptions } from '../../core/memory.js';
import { MEMORY_FEATURES, MIX_LENGTH, ownPopularity, ShopperMemory } from '../../core/memory.js';
import type { ShopLearner } from '../../core/shop-delta.js';
import { densePsi, RecentSales } from '../../core/shop-delta.js';
import { TopK } from '../../core/item-matrix.js';
import { bestSellers, freshPlacesFor, launchesIn, newSlotsFor, sellsNow, slottedTop } from '../../core/new-slots.js';
import type { ReplayEvent } from '../eval/replay.js';

/**
 * Items of each kind (known to the base, new to it) whose base score an example keeps at first,
 * best first: with its features' items and its target, the only items a weighting can lift into
 * its top 10 unless the features push most of them down; then the example keeps four times as
 * many, as often as it takes.
 */
const EXAMPLE_TOPS = 32;

/** Transition pairs (a, b) with b up to this many positions after a count. */
export const TRANSITION_WINDOW = 3;
/**
 * Successors kept per item (the most frequent), by default. Chosen on Online Retail's validation
 * weeks (`npm run eval -- … --split 2011-08-01 --until 2011-10-01 --methods clickwise
 * --base-successors N`, docs/RESULTS.md, _How many successors a base keeps_): 10 ranked as well as
 * 20 and 50 or better (NDCG@10 0.2387 against 0.2383 and 0.2382; session starts 0.1035 against
 * 0.1018 at 50, new products' HR@10 0.2344 against 0.2197), with a quarter of 50's successors; 5
 * ranked worse (0.2377). A shop may choose its own (`npm run maintain -- --successors N`).
 */
export const TRANSITION_TOP = 10;
/** How often the shop's stream job publishes a delta, as the maintenance job and the eval assume. */
export const SHOP_PUBLISH_MINUTES = 15;

/**
 * The shop's transition table: P(b | a) from each shopper's sequence (pairs up to `window`
 * positions apart), the `top` most frequent successors per item, each row normalised.
 */
export function buildTransitions(
  sequences: Iterable<readonly number[]>,
  n: number,
  window = TRANSITION_WINDOW,
  top = TRANSITION_TOP,
): Transitions {
  const rows: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (const seq of sequences) {
    for (let p = 0; p < seq.length; p++) {
      const row = rows[seq[p]!]!;
      for (let q = p + 1; q <= Math.min(seq.length - 1, p + window); q++) row.set(seq[q]!, (row.get(seq[q]!) ?? 0) + 1);
    }
  }
  const ptr = new Int32Array(n + 1);
  const to: number[] = [];
  const prob: number[] = [];
  rows.forEach((row, a) => {
    const kept = [...row.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, top);
    const total = kept.reduce((s, [, c]) => s + c, 0);
    for (const [b, c] of kept) {
      to.push(b);
      prob.push(c / total);
    }
    ptr[a + 1] = to.length;
  });
  return { ptr, to: Int32Array.from(to), p: Float32Array.from(prob) };
}

/**
 * The feature weights: α (short-term re-buy share), the head's `mix` (each feature of
 * `MEMORY_FEATURES` mid-visit, then at a visit's start; {@link MIX_LENGTH} of them), and the
 * score offset of items the base does not know (`fresh`, 0 where not given).
 */
export interface MixWeights {
  alpha: number;
  mix: number[];
  fresh?: number;
  /** The weight of the shop delta ψ (`Example.psi`), 0 where not given. */
  stream?: number;
  /** The weight of ψ on the items the base does not know (where `unknown` is given); default `stream`. */
  streamNew?: number;
}

/** The content model the examples score with: item i's base score is bias[i] + V[i] · q. */
interface ContentModel {
  V: Float32Array;
  bias: Float32Array;
  n: number;
  d: number;
}

/** The shop delta as a browser has it: the published entries of ψ (every other item's is 0). */
interface SparsePsi {
  indices: Int32Array;
  values: Float32Array;
}

/**
 * An example's items that a weighting can rank, for one split of the catalogue into the items the
 * base knows and those it does not (`unknown`): the {@link EXAMPLE_TOPS} best of each kind by base
 * score, the items its features touch and its target, with their base scores. Every other item
 * of a kind scores at most `floor` of that kind plus the kind's offset (−∞: the kind has no other).
 */
interface Candidates {
  unknown: Uint8Array | undefined;
  /** How many of each kind's best it holds (all of a kind with fewer). */
  size: number;
  items: Int32Array;
  base: Float32Array;
  floor: [number, number];
}

/** One held-out event, reduced to what the weights act on. */
interface Example {
  /**
   * The content model (shared by the examples of one collection) and the example's query: an
   * item's content + bias score (without the weighted features) is `model.bias[i] + model.V[i] · q`.
   * An example holds no score per catalogue item, so a large catalogue keeps every example.
   */
  model: ContentModel;
  q: Float32Array;
  /** The items it can rank, computed when it is first scored (see {@link Candidates}). */
  candidates?: Candidates;
  /** The shop delta ψ a browser would have had at the event (see {@link attachShopDelta}), or null. */
  psi: SparsePsi | null;
  /**
   * The shop's best sellers, best first, as the same delta said what sells (`bestSellers`), where
   * its learner keeps what sold lately; else absent.
   */
  sellers?: Int32Array;
  t: number;
  target: number;
  ctx: 0 | 1;
  /** The tail events this example stands for (its context's sampling stride). */
  weight: number;
  rep: [Int32Array, Float32Array];
  /** The features of `MEMORY_FEATURES`, in that order. */
  feats: [Int32Array, Float32Array][];
  /**
   * Own popularity is what the items sold lately (`recent`), not their bias: a new product has
   * none, where with the bias it has the new-item offset.
   */
  ownFromRecent?: boolean;
}

/** Item i's base score in `ex` (as a float, as the examples always kept it). */
function baseScore(ex: Example, i: number): number {
  const { V, bias, d } = ex.model;
  const q = ex.q;
  let x = bias[i]!;
  const off = i * d;
  for (let k = 0; k < d; k++) x += V[off + k]! * q[k]!;
  return Math.fround(x);
}

/**
 * Every item's base score in `ex`, into `out` (a new array where not given). Four items at a
 * time, each summed in the same order as {@link baseScore} (so to the same float), which keeps
 * four independent sums in flight.
 */
export function baseScores(ex: Example, out: Float32Array = new Float32Array(ex.model.n)): Float32Array {
  const { V, bias, n, d } = ex.model;
  const q = ex.q;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let x0 = bias[i]!;
    let x1 = bias[i + 1]!;
    let x2 = bias[i + 2]!;
    let x3 = bias[i + 3]!;
    const o0 = i * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    for (let k = 0; k < d; k++) {
      const qk = q[k]!;
      x0 += V[o0 + k]! * qk;
      x1 += V[o1 + k]! * qk;
      x2 += V[o2 + k]! * qk;
      x3 += V[o3 + k]! * qk;
    }
    out[i] = x0;
    out[i + 1] = x1;
    out[i + 2] = x2;
    out[i + 3] = x3;
  }
  for (; i < n; i++) out[i] = baseScore(ex, i);
  return out;
}

/**
 * The items `ex` can rank under the split `unknown` (see {@link Candidates}), at least `size` of
 * each kind's best: one pass over the catalogue the first time, kept until another split or more
 * items are asked for. `scratch` holds n floats.
 */
function candidatesOf(ex: Example, unknown: Uint8Array | undefined, scratch: Float32Array, size = EXAMPLE_TOPS): Candidates {
  if (ex.candidates && ex.candidates.unknown === unknown && ex.candidates.size >= size) return ex.candidates;
  const all = baseScores(ex, scratch);
  const n = ex.model.n;
  const tops = [new TopK(size), new TopK(size)];
  const sizes = [0, 0];
  for (let i = 0; i < n; i++) {
    const c = unknown ? unknown[i]! : 0;
    sizes[c]!++;
    tops[c]!.push(all[i]!, i);
  }
  const items = new Set<number>([ex.target]);
  for (const top of tops) for (const i of top.sorted().indices) items.add(i);
  for (const [idx] of [ex.rep, ...ex.feats]) for (const i of idx) items.add(i);
  const list = Int32Array.from(items);
  const floor = tops.map((top, c) => (sizes[c]! > top.size ? top.threshold : -Infinity)) as [number, number];
  ex.candidates = { unknown, size, items: list, base: Float32Array.from(list, (i) => all[i]!), floor };
  return ex.candidates;
}

/** A shopper's running state, as the head keeps it. */
interface Shopper {
  history: { i: number; w: number }[];
  memory: ShopperMemory<number>;
}

const sparse = (m: Map<number, number>): [Int32Array, Float32Array] => [Int32Array.from(m.keys()), Float32Array.from(m.values())];

/**
 * Collects held-out examples: the events at or after `from`, with the shopper's state built from
 * all their earlier events, as the head would have it. Events in the middle of a visit are taken
 * every `stride`-th, up to `max`; visit starts, much rarer and the only examples the start
 * weights act on, every `startStride`-th, up to `maxStarts`. Each example weighs the events it
 * stands for, so the weighted NDCG estimates the tail's own. `V` [n × d], `W` [d × d] and `bias`
 * are the content model's; `recent`, where given, what each item sold before `from`
 * (`recentSales`), which the own-popularity feature then takes instead of `bias`, and whose best
 * sellers are the "sells now" feature (none without it). An example keeps
 * its query into the content model, not a score per item, so a catalogue of any size keeps them all.
 */
export function collectExamples(
  events: readonly ReplayEvent[],
  from: number,
  T: Transitions,
  model: { V: Float32Array; W: Float32Array; bias: Float32Array; recent?: Float32Array | null; n: number; d: number },
  o: Pick<HeadOptions, 'historyDecay' | 'historySize'> & MemoryOptions,
  max = 4000,
  maxStarts = 4000,
  keep?: (e: ReplayEvent) => boolean,
): Example[] {
  const { V, W, bias, n, d } = model;
  const content: ContentModel = { V, bias, n, d };
  const recent = model.recent ?? null;
  // What sells now, as a head whose sales are the base's sees it: the same for every example.
  const now = sparse(recent ? sellsNow(recent) : new Map<number, number>());
  // How many tail events of each context there are (a first pass over the shoppers' times).
  const tail = [0, 0];
  const lastTime = new Map<string, number>();
  for (const e of events) {
    const last = lastTime.get(e.user);
    if (e.t >= from && last !== undefined && (!keep || keep(e))) tail[e.t - last >= o.sessionGapMs ? 1 : 0]! += 1;
    lastTime.set(e.user, e.t);
  }
  const strides = [Math.max(1, Math.ceil(tail[0]! / max)), Math.max(1, Math.ceil(tail[1]! / maxStarts))];
  const seen = [0, 0];
  const shoppers = new Map<string, Shopper>();
  const out: Example[] = [];
  const h = new Float32Array(d);
  const q = new Float32Array(d);
  for (const e of events) {
    let s = shoppers.get(e.user);
    if (!s) shoppers.set(e.user, (s = { history: [], memory: new ShopperMemory() }));
    const ctx = s.memory.context(e.t, o);
    if (e.t >= from && s.history.length > 0 && (!keep || keep(e)) && seen[ctx]!++ % strides[ctx]! === 0) {
      const hw = normalisedHistory(s.history);
      h.fill(0);
      for (const { i, w } of hw) for (let k = 0; k < d; k++) h[k]! += w * V[i * d + k]!;
      q.fill(0);
      for (let a = 0; a < d; a++) {
        const ha = h[a]!;
        if (ha !== 0) for (let k = 0; k < d; k++) q[k]! += ha * W[a * d + k]!;
      }
      const m = s.memory;
      out.push({
        model: content,
        q: Float32Array.from(q),
        psi: null,
        t: e.t,
        target: e.item,
        ctx,
        weight: strides[ctx]!,
        rep: sparse(new Map(hw.map((x) => [x.i, x.w]))),
        // Own popularity from what sold lately where given, else from the biases the examples score
        // with (0 for the items the content model does not know: `ndcgSum` then adds the new items'
        // offset to those, as the head holds it).
        feats: [
          transitionVotes(T, m.last, o),
          ...m.ownFeatures(o),
          ownPopularity(m.counts, (i) => (recent ? recent[i]! : bias[i]!)),
          m.visitItems(),
        ]
          .map(sparse)
          .concat([now]),
        ...(recent ? { ownFromRecent: true } : {}),
      });
    }
    pushHistory(s.history, e.item, o);
    s.memory.note(e.item, e.t, o);
  }
  return out;
}

/**
 * NDCG@k of the examples under weights `x` (ties count against the target), each example
 * weighing `weight`. `unknown` marks the items the content model does not know, which `x.fresh`
 * lifts or lowers.
 */
export function ndcgAt(examples: readonly Example[], x: MixWeights, k = 10, unknown?: Uint8Array): number {
  const { sum, total } = ndcgSum(examples, x, k, unknown);
  return total > 0 ? sum / total : 0;
}

/** Where the click counts and the own popularity lie among an example's features. */
const COUNTS = MEMORY_FEATURES.indexOf('counts');
const POP = MEMORY_FEATURES.indexOf('own popularity');
const VISIT = MEMORY_FEATURES.indexOf('this visit');

/** How weights `x` act on the examples' scores: the new items' offset and ψ's weight per item. */
interface Weighting {
  x: MixWeights;
  unknown: Uint8Array | undefined;
  fresh: number;
  /** The new items' offset per item (0 for the items the content model knows). */
  off: Float64Array;
  /** ψ's weight per item: `streamNew` on the products the base does not know. */
  wPsi: Float64Array;
  useStream: boolean;
}

function weighting(x: MixWeights, n: number, unknown?: Uint8Array): Weighting {
  const fresh = unknown ? (x.fresh ?? 0) : 0;
  const off = new Float64Array(n);
  if (fresh !== 0) for (let i = 0; i < n; i++) if (unknown![i]) off[i] = fresh;
  const stream = x.stream ?? 0;
  const streamNew = unknown ? (x.streamNew ?? stream) : stream;
  const wPsi = new Float64Array(n).fill(stream);
  if (unknown && streamNew !== stream) for (let i = 0; i < n; i++) if (unknown[i]) wPsi[i] = streamNew;
  return { x, unknown, fresh, off, wPsi, useStream: stream !== 0 || streamNew !== 0 };
}

/** How often an example's candidates did not settle its ranking, and it took more (for tests). */
export const heldOutGrowths = { count: 0 };

/**
 * Scores examples under one weighting: what the weights add to each item beyond its base score
 * (`extra`, the items the example's features and ψ touch), and the base scores of the items the
 * ranking needs, from the example's candidates or worked out from its query.
 */
class Scorer {
  readonly g: Weighting;
  private readonly extra: Float64Array;
  private readonly scratch: Float32Array<ArrayBuffer>;
  /** The base score of item i in the example being scored, where `mark[i]` is `stamp`. */
  private readonly baseAt: Float64Array;
  private readonly mark: Uint32Array;
  private stamp = 0;
  /** Item i is one of the candidates taken last, where `inCand[i]` is `candStamp`. */
  private readonly inCand: Uint32Array;
  private candStamp = 0;
  private ex: Example | null = null;
  cand: Candidates | null = null;

  constructor(g: Weighting, n: number) {
    this.g = g;
    this.extra = new Float64Array(n);
    this.scratch = new Float32Array(n);
    this.baseAt = new Float64Array(n);
    this.mark = new Uint32Array(n);
    this.inCand = new Uint32Array(n);
  }

  /** Starts on `ex`: its candidates' base scores and what the weights add. */
  begin(ex: Example): void {
    this.ex = ex;
    if (++this.stamp === 0xffffffff) {
      this.mark.fill(0);
      this.stamp = 1;
    }
    this.take(candidatesOf(ex, this.g.unknown, this.scratch));
    addWeighted(ex, this.g, this.extra);
  }

  private take(cand: Candidates): void {
    this.cand = cand;
    if (++this.candStamp === 0xffffffff) {
      this.inCand.fill(0);
      this.candStamp = 1;
    }
    for (let j = 0; j < cand.items.length; j++) {
      const i = cand.items[j]!;
      this.mark[i] = this.stamp;
      this.inCand[i] = this.candStamp;
      this.baseAt[i] = cand.base[j]!;
    }
  }

  /** Where the candidates did not settle a ranking: four times as many of each kind's best (kept by the example). */
  grow(): void {
    heldOutGrowths.count++;
    this.take(candidatesOf(this.ex!, this.g.unknown, this.scratch, 4 * this.cand!.size));
  }

  /** Ends the example: `extra` back to 0. */
  end(): void {
    clearWeighted(this.ex!, this.g, this.extra);
    this.ex = null;
  }

  /** What the weights add to item i's base score. */
  extraAt(i: number): number {
    return this.extra[i]!;
  }

  /** Whether item i is one of the example's candidates. */
  isCandidate(i: number): boolean {
    return this.inCand[i] === this.candStamp;
  }

  /** Item i's whole score under the weights. */
  score(i: number): number {
    if (this.mark[i] !== this.stamp) {
      this.mark[i] = this.stamp;
      this.baseAt[i] = baseScore(this.ex!, i);
    }
    return this.baseAt[i]! + this.extra[i]! + this.g.off[i]!;
  }

  /** The most an item outside the candidates and ψ's entries can score: its kind's floor and offset. */
  outsideBound(i: number): number {
    const c = this.g.unknown ? this.g.unknown[i]! : 0;
    return this.cand!.floor[c]! + this.g.off[i]!;
  }

  /** The most any item outside the candidates and ψ's entries can score, per kind (known, unknown). */
  outsideMax(): [number, number] {
    const f = this.cand!.floor;
    return [f[0], f[1] + this.g.fresh];
  }

  /** ψ's entries where the weights use it, else none. */
  psiItems(): Int32Array | null {
    return this.ex!.psi && this.g.useStream ? this.ex!.psi.indices : null;
  }

  /**
   * The target's place among the example's other items (ties count against it), up to `k`: the
   * candidates and ψ's entries, and more candidates where they do not settle it.
   */
  rank(k: number): number {
    for (;;) {
      const rank = this.rankAmongCandidates(k);
      if (rank !== null) return rank;
      this.grow();
    }
  }

  /** {@link rank} where the candidates settle it, else null. */
  private rankAmongCandidates(k: number): number | null {
    const ex = this.ex!;
    const target = ex.target;
    const t = this.score(target);
    const items = this.cand!.items;
    let rank = 0;
    for (let j = 0; j < items.length && rank < k; j++) {
      const i = items[j]!;
      if (i !== target && this.score(i) >= t) rank++;
    }
    const psi = this.psiItems();
    if (psi) {
      for (let j = 0; j < psi.length && rank < k; j++) {
        const i = psi[j]!;
        if (i === target || this.isCandidate(i)) continue;
        // Outside the candidates an item's base score is at most its kind's floor.
        if (this.outsideBound(i) + this.extra[i]! < t) continue;
        if (this.score(i) >= t) rank++;
      }
    }
    if (rank >= k) return rank;
    // Items outside the candidates may reach the target where their kind's floor does.
    const [known, fresh] = this.outsideMax();
    return known < t && fresh < t ? rank : null;
  }
}

/** Adds what the weights give an example's items beyond its base score into `extra` (all 0 on entry; see {@link clearWeighted}). */
function addWeighted(ex: Example, g: Weighting, extra: Float64Array): void {
  const { x, unknown, fresh } = g;
  const add = ([idx, val]: [Int32Array, Float32Array], w: number): void => {
    if (w === 0) return;
    for (let j = 0; j < idx.length; j++) extra[idx[j]!]! += w * val[j]!;
  };
  add(ex.rep, x.alpha);
  ex.feats.forEach((f, k) => add(f, x.mix[2 * k + ex.ctx] ?? 0));
  // A head holds the new-item offset as the bias of the products its base does not know, so
  // their own-popularity value is that offset (the examples hold 0 for them); not where it is
  // what the items sold lately, which the base gives a product it does not know none of.
  const wPop = ex.ownFromRecent ? 0 : (x.mix[2 * POP + ex.ctx] ?? 0);
  if (wPop !== 0 && fresh !== 0) for (const i of ex.feats[COUNTS]![0]) if (unknown![i]) extra[i]! += wPop * fresh;
  const psi = ex.psi;
  if (psi && g.useStream) {
    const { indices, values } = psi;
    for (let j = 0; j < indices.length; j++) extra[indices[j]!]! += g.wPsi[indices[j]!]! * values[j]!;
  }
}

/** Sets `extra` back to 0 after {@link addWeighted}. */
function clearWeighted(ex: Example, g: Weighting, extra: Float64Array): void {
  for (const [idx] of [ex.rep, ...ex.feats]) for (let j = 0; j < idx.length; j++) extra[idx[j]!] = 0;
  if (ex.psi && g.useStream) for (const i of ex.psi.indices) extra[i] = 0;
}

/** The weighted sum of NDCG@k over the examples and the sum of their weights (see {@link ndcgAt}). */
function ndcgSum(examples: readonly Example[], x: MixWeights, k: number, unknown?: Uint8Array): { sum: number; total: number } {
  let sum = 0;
  let total = 0;
  if (examples.length === 0) return { sum, total };
  const n = examples[0]!.model.n;
  const scorer = new Scorer(weighting(x, n, unknown), n);
  for (const ex of examples) {
    scorer.begin(ex);
    const rank = scorer.rank(k);
    scorer.end();
    if (rank < k) sum += ex.weight / Math.log2(rank + 2);
    total += ex.weight;
  }
  return { sum, total };
}

/**
 * The most places per ten a base keeps for new products, and the most NDCG@10 (a share of its
 * value without them) that the places may cost on the held-out weeks.
 */
export const NEW_SLOTS_MAX = 3;
export const NEW_SLOTS_MAX_COST = 0.05;
/** Held-out events on new products (with the shop delta) needed before places are kept for them. */
export const NEW_SLOTS_MIN_EXAMPLES = 20;

/**
 * How often a list of what sells now (the whole shop's sales with a `halfLifeDays` half-life, up
 * to each sale) has a young product in its top `k` when it sells: over the sales in `events` of
 * products first sold at most `windowMs` before (leaving out those on sale when the log begins,
 * which are not launches), every one or, past `max`, an even spread of them. A shop whose
 * launches become best sellers scores high; one whose new lines sell slowly, near 0.
 */
export function launchTrendRate(
  events: readonly ReplayEvent[],
  n: number,
  halfLifeDays: number,
  windowMs: number,
  k = 10,
  max = 2000,
): { rate: number; sales: number } {
  if (events.length === 0) return { rate: 0, sales: 0 };
  const begin = events[0]!.t;
  const first = new Float64Array(n).fill(Infinity);
  const young = (e: ReplayEvent): boolean => first[e.item]! >= begin + windowMs && e.t - first[e.item]! <= windowMs;
  let sales = 0;
  for (const e of events) {
    if (first[e.item] === Infinity) first[e.item] = e.t;
    if (young(e)) sales++;
  }
  const stride = Math.max(1, Math.ceil(sales / max));
  const sold = new RecentSales(n, halfLifeDays);
  let seen = 0;
  let hits = 0;
  let asked = 0;
  for (const e of events) {
    if (young(e) && seen++ % stride === 0) {
      const v = sold.values(e.t);
      const t = v[e.item]!;
      let rank = 0;
      // Ties count against the product, as in `ndcgAt`.
      for (let i = 0; i < n && rank < k; i++) if (v[i]! >= t && i !== e.item) rank++;
      if (rank < k) hits++;
      asked++;
    }
    sold.add(e.item, e.t);
  }
  return { rate: asked > 0 ? hits / asked : 0, sales };
}

/**
 * The list of `k` each held-out example would show under weights `x` (`unknown` marks the products
 * the base does not know), as the recommender makes it: the top `k`, then the places for new
 * products. `placeOf(ex, m, launches, fixed)` is where it holds the example's target (-1: not in
 * it), with `m` places (`slottedTop`); `measure` gives the NDCG@k of `examples` and how often
 * `cold` are found for each way of placing a list.
 */
export function heldOutLists(x: MixWeights, unknown: Uint8Array, k: number) {
  const n = unknown.length;
  const scorer = new Scorer(weighting(x, n, unknown), n);
  const known = Uint8Array.from(unknown, (u) => 1 - u);
  /** The `r`-th best of `values` (−∞ where there are fewer). */
  const nth = (values: number[], r: number): number => (values.length < r ? -Infinity : values.sort((a, b) => b - a)[r - 1]!);
  /** The list of an example begun in `scorer`, where its candidates settle it; else null. */
  const listOf = (m: number, launches: ArrayLike<number>, fixed: boolean): number[] | null => {
    const wantOthers = m > 0 && fixed;
    // The list is made from the candidates, the launches and those of ψ's entries that could
    // enter it: an entry whose best possible score is under the k-th best candidate's (and, for a
    // new product, under the m-th best new candidate's) cannot.
    const items = new Set<number>(scorer.cand!.items);
    for (let j = 0; j < launches.length; j++) items.add(launches[j]!);
    const kth = nth(
      Array.from(items, (i) => scorer.score(i)),
      k,
    );
    const mth = wantOthers
      ? nth(
          Array.from(items)
            .filter((i) => unknown[i])
            .map((i) => scorer.score(i)),
          m,
        )
      : Infinity;
    const psi = scorer.psiItems();
    if (psi) {
      for (const i of psi) {
        if (items.has(i)) continue;
        const bound = scorer.outsideBound(i) + scorer.extraAt(i);
        if (bound >= kth || (unknown[i] && bound >= mth)) items.add(i);
      }
    }
    // Ascending, as slottedTop breaks ties by the lower index.
    const list = Int32Array.from(items).sort();
    const scores = Float64Array.from(list, (i) => scorer.score(i));
    // The list's top k (and its m best new products) are the whole catalogue's where that many
    // score above anything outside it.
    const [outKnown, outFresh] = scorer.outsideMax();
    const outside = Math.max(outKnown, outFresh);
    let above = 0;
    let freshAbove = 0;
    for (let j = 0; j < list.length; j++) {
      if (scores[j]! > outside) above++;
      if (unknown[list[j]!] && scores[j]! > outFresh) freshAbove++;
    }
    if (!((outside === -Infinity || above >= k) && (!wantOthers || outFresh === -Infinity || freshAbove >= m))) return null;
    const at = new Map(Array.from(list, (i, j) => [i, j]));
    const listKnown = Uint8Array.from(list, (i) => known[i]!);
    const places = slottedTop(
      scores,
      listKnown,
      k,
      m,
      Array.from(launches, (i) => at.get(i)!),
      fixed,
    );
    return places.map((j) => list[j]!);
  };
  const placeOf = (ex: Example, m: number, launches: ArrayLike<number> = [], fixed = true): number => {
    scorer.begin(ex);
    let top = listOf(m, launches, fixed);
    while (top === null) {
      scorer.grow();
      top = listOf(m, launches, fixed);
    }
    scorer.end();
    return top.indexOf(ex.target);
  };
  const measure = (
    examples: readonly Example[],
    cold: readonly Example[],
    place: (ex: Example) => number,
  ): { ndcg: number; coldHit: number } => {
    let sum = 0;
    let total = 0;
    for (const ex of examples) {
      const at = place(ex);
      if (at >= 0) sum += ex.weight / Math.log2(at + 2);
      total += ex.weight;
    }
    let hits = 0;
    let all = 0;
    for (const ex of cold) {
      if (place(ex) >= 0) hits += ex.weight;
      all += ex.weight;
    }
    return { ndcg: total > 0 ? sum / total : 0, coldHit: all > 0 ? hits / all : 0 };
  };
  return { known, placeOf, measure };
}

/**
 * How many places per ten to keep for new products (`newSlots`; `src/core/new-slots.ts`), under
 * weights `x`, from held-out examples with the shop delta (`attachShopDelta`): what each choice
 * costs the whole ranking on `examples`, and how often it finds the products the base does not
 * know (`unknown`) on `cold` (the held-out events on them, rare, so collected apart: see
 * `collectExamples`' `keep`), against how often a list of what sells now finds products as young
 * over the whole log (`launchTrendRate` over `events`, with `windowMs` the held-out weeks'
 * length). A launch that becomes a best seller is rare and comes in bursts, so a few held-out
 * weeks say little of how often a shop's launches do; the log says more. None where the ranking
 * finds new products as often as that list; else the fewest places that do, at a cost of at most
 * {@link NEW_SLOTS_MAX_COST}; where none does, the choice within that cost that finds them most
 * often. A shop whose new products sell slowly, or whose shoppers find them through their
 * content already, keeps none.
 */
export function fitNewSlots(
  examples: readonly Example[],
  cold: readonly Example[],
  x: MixWeights,
  unknown: Uint8Array,
  events: readonly ReplayEvent[],
  halfLifeDays: number,
  windowMs: number,
  k = 10,
): { slots: number; coldExamples: number; trendHit: number; coldHit: number[]; ndcg: number[] } {
  const withPsi = examples.filter((e) => e.psi !== null);
  const coldPsi = cold.filter((e) => e.psi !== null && unknown[e.target] === 1);
  const none = { slots: 0, coldExamples: coldPsi.length, trendHit: 0, coldHit: [], ndcg: [] };
  if (coldPsi.length < NEW_SLOTS_MIN_EXAMPLES || withPsi.length === 0) return none;
  const trendHit = launchTrendRate(events, unknown.length, halfLifeDays, windowMs, k).rate;
  // Each choice's list, as the recommender makes it: the top k, then new products' places.
  const { placeOf, measure } = heldOutLists(x, unknown, k);
  const ndcg: number[] = [];
  const coldHit: number[] = [];
  for (let slots = 0; slots <= NEW_SLOTS_MAX; slots++) {
    const m = newSlotsFor(k, slots);
    const r = measure(withPsi, coldPsi, (ex) => placeOf(ex, m));
    ndcg.push(r.ndcg);
    coldHit.push(r.coldHit);
  }
  let slots = 0;
  if (coldHit[0]! < trendHit) {
    const affordable = Array.from({ length: NEW_SLOTS_MAX }, (_, j) => j + 1).filter(
      (m) => ndcg[m]! >= (1 - NEW_SLOTS_MAX_COST) * ndcg[0]!,
    );
    const reaching = affordable.find((m) => coldHit[m]! >= trendHit);
    if (reaching !== undefined) slots = reaching;
    else for (const m of affordable) if (coldHit[m]! > coldHit[slots]! + 1e-9) slots = m;
  }
  return { slots, coldExamples: coldPsi.length, trendHit, coldHit, ndcg };
}

/**
 * Coordinate ascent on NDCG@10 over each weight in turn (a grid around the current value and a
 * fixed log grid), a few passes. With `unknown` (the items the content model does not know, as
 * new products are unknown to a base), the offset of those items is chosen too: how far this
 * shop's new products should rank above or below what their content alone says. Returns the
 * weights and the NDCG before and after.
 */
export function fitMix(
  examples: readonly Example[],
  start: MixWeights,
  passes = 3,
  unknown?: Uint8Array,
): Required<MixWeights> & { ndcgBefore: number; ndcgAfter: number } {
  const mix = Array.from({ length: MIX_LENGTH }, (_, k) => start.mix[k] ?? 0);
  const x: Required<MixWeights> = {
    alpha: start.alpha,
    mix,
    fresh: start.fresh ?? 0,
    stream: start.stream ?? 0,
    streamNew: start.streamNew ?? start.stream ?? 0,
  };
  // Parameter p: 0 is α, 1 … MIX_LENGTH the mix weights, MIX_LENGTH + 1 the new items' offset.
  const FRESH = MIX_LENGTH + 1;
  const get = (p: number): number => (p === 0 ? x.alpha : p === FRESH ? x.fresh : x.mix[p - 1]!);
  const set = (p: number, v: number): void => {
    if (p === 0) x.alpha = v;
    else if (p === FRESH) x.fresh = v;
    else x.mix[p - 1] = v;
  };
  // A mix weight acts on the examples of its context only (2f + ctx): a change to it scores
  // those again and keeps the other context's sum.
  const byCtx = [examples.filter((e) => e.ctx === 0), examples.filter((e) => e.ctx === 1)];
  const sums = byCtx.map((ex) => ndcgSum(ex, x, 10, unknown));
  const total = sums[0]!.total + sums[1]!.total;
  const score = (p?: number): number => {
    const ctxs = p !== undefined && p >= 1 && p <= MIX_LENGTH ? [(p - 1) % 2] : [0, 1];
    for (const c of ctxs) sums[c] = ndcgSum(byCtx[c]!, x, 10, unknown);
    return total > 0 ? (sums[0]!.sum + sums[1]!.sum) / total : 0;
  };
  const before = score();
  let best = before;
  const grid = [0, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
  // An offset may be negative: a shop whose new lines rarely sell ranks them lower.
  const freshGrid = [-8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8];
  // So may the weight of the latest visit's items: a shop whose baskets never hold a line twice
  // ranks what is already in the basket lower, one whose shoppers come back to it higher.
  const signedGrid = [...grid.slice(1).map((v) => -v), ...grid];
  const signed = (p: number): boolean => p >= 1 && p <= MIX_LENGTH && (p - 1) >> 1 === VISIT;
  // At a visit's start the latest visit is the one before: its weight there is left to each
  // shopper's φ (on validation the shop's own choice of it cost the visit starts, docs/RESULTS.md).
  const VISIT_AT_START = 1 + 2 * VISIT + 1;
  const params = unknown && unknown.some((u) => u === 1) ? FRESH + 1 : FRESH;
  for (let pass = 0; pass < passes; pass++) {
    let moved = false;
    for (let p = 0; p < params; p++) {
      if (p === VISIT_AT_START) continue;
      const cur = get(p);
      let bestV = cur;
      for (const v of new Set([...(p === FRESH ? freshGrid : signed(p) ? signedGrid : grid), cur * 0.5, cur * 0.75, cur * 1.5, cur * 2])) {
        if (v === cur) continue;
        set(p, v);
        const s = score(p);
        if (s > best + 1e-6) {
          best = s;
          bestV = v;
          moved = true;
        }
      }
      set(p, bestV);
      // The sums as they stand at the value kept.
      score(p);
    }
    if (!moved) break;
  }
  return { ...x, ndcgBefore: before, ndcgAfter: score() };
}

/**
 * Whether to keep places for launches (`launchSlots`; `src/core/new-slots.ts`), under weights `x`
 * and the fixed places `newSlots` already chosen, from held-out examples with the shop delta and
 * its best sellers (`attachShopDelta` with a learner that keeps what sold lately): NDCG@k of
 * `examples` and how often `cold` (the events on products the base does not know) are found,
 * without and with one place per ten. Kept unless they cost the held-out weeks' NDCG@k anything:
 * where no launch sold among the shop's best in those weeks they cost nothing, and are kept for
 * the weeks when one does; a shop whose ranking already finds its new products, so that a
 * launch's place only pushes out what its shoppers buy, keeps none.
 */
export function fitLaunchSlots(
  examples: readonly Example[],
  cold: readonly Example[],
  x: MixWeights,
  unknown: Uint8Array,
  newSlots: number,
  k = 10,
): { slots: number; examples: number; withLaunch: number; ndcg: number[]; coldHit: number[] } {
  const withPsi = examples.filter((e) => e.psi !== null);
  const coldPsi = cold.filter((e) => e.psi !== null && unknown[e.target] === 1);
  const { known, placeOf, measure } = heldOutLists(x, unknown, k);
  /** Where the list of an example with `launchSlots` places for launches holds its target (-1: not in it). */
  const placeWith = (ex: Example, launchSlots: number): number => {
    const launches = launchSlots > 0 && ex.sellers ? launchesIn(ex.sellers, known, k) : new Int32Array(0);
    return placeOf(ex, freshPlacesFor(k, newSlots, launchSlots, launches.length), launches, newSlots > 0);
  };
  const ndcg: number[] = [];
  const coldHit: number[] = [];
  for (const slots of [0, 1]) {
    const r = measure(withPsi, coldPsi, (ex) => placeWith(ex, slots));
    ndcg.push(r.ndcg);
    coldHit.push(r.coldHit);
  }
  const withLaunch = withPsi.filter((ex) => ex.sellers && launchesIn(ex.sellers, known, k).length > 0).length;
  return { slots: ndcg[1]! >= ndcg[0]! - 1e-12 ? 1 : 0, examples: withPsi.length, withLaunch, ndcg, coldHit };
}

/**
 * Gives each example the shop delta ψ a browser would have had at its moment, from the shop's
 * stream job as `npm run stream` runs it: `learner` takes every event in time order (those before
 * `from` too, as the job would have been running); at `from` a new base takes in what it learned
 * per item (`resetItems`); every `everyMs` of log time a delta is published from the events
 * before that moment, as the browser downloads it. Examples of one publication share one array.
 */
export function attachShopDelta(
  examples: readonly Example[],
  events: readonly ReplayEvent[],
  from: number,
  learner: ShopLearner,
  everyMs: number,
): void {
  let next = 0;
  let reset = false;
  let publishedAt = -Infinity;
  let psi: SparsePsi | null = null;
  let sellers: Int32Array | undefined;
  for (const ex of [...examples].sort((a, b) => a.t - b.t)) {
    const at = Math.floor(ex.t / everyMs) * everyMs;
    if (at > publishedAt) {
      for (; next < events.length && events[next]!.t < at; next++) {
        const e = events[next]!;
        if (!reset && e.t >= from) {
          reset = true;
          learner.resetItems();
        }
        learner.learn(e.item, e.t);
      }
      if (!reset && at >= from) {
        reset = true;
        learner.resetItems();
      }
      const p = learner.published(at);
      psi = { indices: Int32Array.from(p.indices), values: Float32Array.from(p.values) };
      sellers = p.recent ? bestSellers(densePsi(learner.n, p.recent.indices, p.recent.values)) : undefined;
      publishedAt = at;
    }
    ex.psi = psi;
    if (sellers) ex.sellers = sellers;
    else delete ex.sellers;
  }
}

/**
 * How far browsers should trust the shop delta: the weight w of ψ that ranks the examples best,
 * from 0 (the examples' own score, so a shop whose stream would not help loses nothing) up to 2;
 * then, where `unknown` marks the products the base does not know, a weight of its own for ψ on
 * them (up to 16). The stream is all a browser learns of a new product's sales, and in a shop
 * whose launches sell at once it says more there than on the products the base has figures for;
 * in one whose new products sell slowly, less. Without `unknown`, `weightNew` is `weight`.
 */
export function fitShopDeltaWeight(
  examples: readonly Example[],
  x: MixWeights,
  unknown?: Uint8Array,
): { weight: number; weightNew: number; ndcgWithout: number; ndcgWith: number } {
  const at = (w: number, wNew = w): number => ndcgAt(examples, { ...x, stream: w, streamNew: wNew }, 10, unknown);
  const without = at(0);
  let best = { weight: 0, ndcg: without };
  for (const w of [0.125, 0.25, 0.5, 0.75, 1, 1.5, 2]) {
    const s = at(w);
    if (s > best.ndcg + 1e-6) best = { weight: w, ndcg: s };
  }
  let chosen = { weightNew: best.weight, ndcg: best.ndcg };
  if (unknown && unknown.some((u) => u === 1)) {
    for (const wNew of [0, 0.25, 0.5, 1, 2, 4, 8, 16]) {
      if (wNew === best.weight) continue;
      const s = at(best.weight, wNew);
      if (s > chosen.ndcg + 1e-6) chosen = { weightNew: wNew, ndcg: s };
    }
  }
  return { weight: best.weight, weightNew: chosen.weightNew, ndcgWithout: without, ndcgWith: chosen.ndcg };
}
