/**
 * The incremental head: a base θ that ships with the site, plus a per-shopper delta φ learned on
 * every click by online gradient descent, fused as θ' = θ + φ.
 *
 * Score of item i for a shopper with click history h (decayed mean of the clicked items' vectors):
 *
 *   q   = h (W₀ + ΔW) + Δu                      (d)
 *   sᵢ  = vᵢ · q + bᵢ + Δbᵢ + (α₀ + Δα) · repᵢ    vᵢ = eᵢ + rᵢ (content embedding + base residual)
 *
 * repᵢ is item i's share of the history, so the head can learn how much this shopper re-buys.
 * Seven more features (`MEMORY_FEATURES`, mostly kept by `ShopperMemory`) carry what the shop's log and
 * the shopper's own habits say beyond content, each with its own weight in the middle of a visit
 * and at its start (the shopper's previous click is `sessionGapMs` or more earlier, or there is
 * none), chosen per shop by the maintenance job:
 *
 *   + (β꜀ + Δβ꜀) · transᵢ    transᵢ = Σᵣ decayʳ P(i | r-th most recent distinct item)  (the shop's transitions)
 *   + (γ꜀ + Δγ꜀) · countᵢ    countᵢ = log(1 + times this shopper clicked i)            (re-buys over the long run)
 *   + (δ꜀ + Δδ꜀) · ownᵢ      ownᵢ = Σᵣ decayʳ log(1 + times i came right after the r-th) (the shopper's own order)
 *   + (ε꜀ + Δε꜀) · startᵢ    startᵢ = log(1 + visits this shopper began with i)         (how their visits begin)
 *   + (ζ꜀ + Δζ꜀) · popᵢ      popᵢ = bᵢ where the shopper clicked i, else 0              (their own items by what sells)
 *   + (η꜀ + Δη꜀) · visitᵢ    visitᵢ = 1 where i is of the shopper's latest visit, else 0   (a basket rarely holds a line twice)
 *   + (θ꜀ + Δθ꜀) · nowᵢ      nowᵢ = what i sold lately where it is one of the shop's 100 best sellers now, else 0 (what sells now)
 *
 * φ = (ΔW, Δu, Δα, Δβ, Δγ, Δδ, Δε, Δζ, Δη, Δθ, Δb) starts at 0 and is pulled back toward 0 by an L2 term.
 *
 * Learning on a click of p: a weighted softmax loss, p against the rest of its scored set
 * {p (weight 1), impressions shown but not clicked, the top of the ranking before the click,
 * seeded random negatives}: −sₚ + log Σⱼ wⱼ exp(sⱼ). The ranking's top are the items the head
 * put where p should have been; random items alone are too easy to beat to teach much.
 * Only score differences count, so a base whose scores are not probabilities learns as well as
 * one whose scores are (a logistic loss on each item alone pulled every score toward 0 instead,
 * which on the trained base cost 0.8% of NDCG@10 on validation). Its gradient is written in closed form
 * (see `gradients`) and checked against finite differences in the tests; autodiff is not used
 * because the WebGPU backend lacks some gradient kernels. Each coordinate has its own AdaGrad
 * rate, η / √(a₀ + its sum of squared gradients): a₀ (`initialAccumulator`) sizes a coordinate's
 * first steps by its gradient, so that a random negative's share of one click moves it a little,
 * not by η as the clicked item. Two guards keep a flood of clicks from letting one item take over:
 *   - the gradient is clipped to a global L2 norm of `clipNorm`;
 *   - a click's learning rate is divided by 1 + the number of clicks on the same item in the last
 *     `repeatWindowMs`; past `maxRepeats` such clicks φ is not updated at all (nor ever with a learning rate of 0: a frozen head); |Δb| is bounded
 *     by `maxItemBias`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from './errors.js';
import { halfTable } from './model-io.js';
import { ItemMatrix, TopK } from './item-matrix.js';
import { mixSeed, mulberry32 } from './rng.js';
import { nextTask } from './slice.js';
import { EARLIER_MIX_LENGTHS, MEMORY_FEATURES, MIX_LENGTH, ownPopularity, ShopperMemory } from './memory.js';
import { BEST_SELLERS_KEPT, bestSellers, freshPlacesFor, launchesIn, sellsNow, sellsNowOf } from './new-slots.js';

/** A sparse feature's (index, value) lists, from a map of them. */
const sparseOf = (m: ReadonlyMap<number, number>): { idx: Int32Array; val: Float32Array } => ({
  idx: Int32Array.from(m.keys()),
  val: Float32Array.from(m.values()),
});

/**
 * Rows scored per task (see `IncrementalHead.topScores`): 262,144 int8 rows of 64 are 16 MB,
 * a few ms of the fused pass, so a catalogue of any size never holds the page for long.
 */
export const SCORE_BLOCK_ROWS = 262_144;

/** Tunable settings of the head. Defaults in {@link DEFAULT_HEAD_OPTIONS}. */
export interface HeadOptions {
  /** AdaGrad base learning rate η. */
  learningRate: number;
  /**
   * Where each coordinate's AdaGrad sum of squared gradients starts: its step is
   * η g / √(a₀ + Σ g²). With a₀ = 0 a coordinate's first step is η whatever its gradient's size, so
   * one click moved every random negative's Δb by the whole rate.
   */
  initialAccumulator: number;
  /** L2 pull of φ toward 0. */
  l2: number;
  /** Global gradient clipping norm. */
  clipNorm: number;
  /** Random negatives sampled per click. */
  negatives: number;
  /** Clicks kept in the history. */
  historySize: number;
  /** Per-click decay of history weights. */
  historyDecay: number;
  /** Bound on |Δbᵢ|. */
  maxItemBias: number;
  /** Window in which repeated clicks on one item damp its learning rate. */
  repeatWindowMs: number;
  /** Clicks on one item within the window that still update φ; later ones only join the history. */
  maxRepeats: number;
  /**
   * Total loss weight of the impressions of one click (the positive weighs 1). Shown items are
   * often like the clicked one, so a full weight would push the shopper away from what they like.
   */
  impressionWeight: number;
  /**
   * Items of the page's ranking before a click (best first, `LearnInput.ranked`) that join its
   * scored set as negatives: what the head ranked high and the shopper passed over. 0 (the
   * default): none. On Online Retail 50 lift new products' hit rate by a third but cost re-buys
   * 5%, so a shop of re-buyers loses by them (docs/RESULTS.md, _The top of the ranking as
   * negatives_); a shop turns them on with `npm run maintain -- --ranked-negatives 50`.
   */
  rankedNegatives: number;
  /** Total loss weight of those ranked negatives. */
  rankedWeight: number;
  /** Seed of the negative sampler: the same seed and clicks give the same φ. */
  seed: number;
  /** The shopper's most recent distinct items that vote through the shop's transitions. */
  transitionVotes: number;
  /** Weight of the r-th most recent voter: decayʳ. */
  transitionDecay: number;
  /** A gap this long since the previous click starts a visit (the "start" weights apply). */
  sessionGapMs: number;
  /** Distinct items whose click counts (and visit-start counts) are kept (the least clicked go first). */
  countItems: number;
  /** Pairs (previous click, click) of the shopper's own order whose counts are kept (the least counted go first). */
  pairItems: number;
}

/** Defaults chosen on the validation period of the Online Retail data and on the demo. */
export const DEFAULT_HEAD_OPTIONS: HeadOptions = {
  learningRate: 0.1,
  initialAccumulator: 0.1,
  l2: 0.01,
  clipNorm: 5,
  negatives: 16,
  historySize: 20,
  historyDecay: 0.3,
  maxItemBias: 3,
  repeatWindowMs: 60_000,
  maxRepeats: 5,
  impressionWeight: 0.1,
  rankedNegatives: 0,
  rankedWeight: 10,
  seed: 1,
  transitionVotes: 5,
  transitionDecay: 0.3,
  sessionGapMs: 30 * 60_000,
  countItems: 1000,
  pairItems: 1000,
};

/** The valid range of each option: [min, max, integer?]. */
const OPTION_RANGES: Record<keyof HeadOptions, [number, number, boolean]> = {
  learningRate: [0, 100, false],
  initialAccumulator: [0, 1e6, false],
  l2: [0, 1e6, false],
  clipNorm: [1e-9, 1e9, false],
  negatives: [0, 10_000, true],
  historySize: [1, 10_000, true],
  historyDecay: [0, 1, false],
  maxItemBias: [0, 1e6, false],
  repeatWindowMs: [0, 1e12, false],
  maxRepeats: [0, 1e9, true],
  impressionWeight: [0, 1e6, false],
  rankedNegatives: [0, 10_000, true],
  rankedWeight: [0, 1e6, false],
  seed: [-(2 ** 53), 2 ** 53, true],
  transitionVotes: [0, 100, true],
  transitionDecay: [0, 1, false],
  sessionGapMs: [0, 1e12, false],
  countItems: [0, 1e6, true],
  pairItems: [0, 1e6, true],
};

/**
 * Checks overrides of the head's options and returns them. Throws an `ArgumentError` naming each
 * bad value and its valid range: a NaN learning rate would otherwise silently stop all learning.
 */
export function validateHeadOptions(options: unknown): Partial<HeadOptions> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ArgumentError('options/head', `head must be an object of head options, got ${JSON.stringify(options)}.`);
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    const range = (OPTION_RANGES as Record<string, [number, number, boolean] | undefined>)[key];
    if (!range) {
      problems.push(`unknown option ${JSON.stringify(key)} (valid: ${Object.keys(OPTION_RANGES).join(', ')})`);
      continue;
    }
    const [lo, hi, integer] = range;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi || (integer && !Number.isInteger(value))) {
      problems.push(`${key} must be ${integer ? 'an integer' : 'a finite number'} in [${lo}, ${hi}], got ${String(value)}`);
    }
  }
  if (problems.length) throw new ArgumentError('options/head', `Invalid head options: ${problems.join('; ')}.`);
  return options as Partial<HeadOptions>;
}

/** Base parameters θ, aligned with the catalogue's item order. */
export interface BaseParams {
  /** Query transform W₀, row-major d×d. */
  W: Float32Array;
  /** Re-buy weight α₀. */
  alpha: number;
  /**
   * Per-item bias bᵢ (0 for items the logs do not know). The head keeps this array as it is, not
   * a copy (4 MB at 1,000,000 items): it never changes it, and nor may its caller once the head
   * is made.
   */
  bias: Float32Array;
  /** Per-item residual rᵢ, row-major N×d, or null. */
  residual: Float32Array | null;
  /** The shop's transitions P(j | i), rows by catalogue index (CSR), or null when the logs gave none. */
  transitions?: Transitions | null;
  /**
   * Feature weights, each mid-visit then at a visit's start: β (the shop's transitions), γ (the
   * shopper's click counts), δ (the shopper's own order), ε (the items that began their visits),
   * ζ (the base's bias of the items clicked), η (the items of the latest visit), θ (the shop's
   * best sellers now); see {@link MEMORY_FEATURES}. Missing entries are 0 (a base of four weights
   * has no δ, ε, ζ, η or θ; one of eight no ζ, η or θ; one of ten no η or θ; one of twelve no θ).
   */
  mix?: ArrayLike<number>;
  /** The weight of the shop delta ψ in the fused bias bᵢ + weight · ψᵢ; default 1. */
  shopDeltaWeight?: number;
  /** The weight of ψ on the items the base does not know (`known[i]` 0); default `shopDeltaWeight`. */
  shopDeltaWeightNew?: number;
  /**
   * Places per ten of a list kept for the items the base does not know (`known[i]` 0) while a
   * shop delta is in force (see `src/core/new-slots.ts`); default 0.
   */
  newSlots?: number;
  /**
   * Places per ten of a list for launches: products the base does not know that are among the
   * shop's best sellers now, as the stream last published what sells (`setRecentSales`), one
   * place per launch up to this many (see `src/core/new-slots.ts`); default 0.
   */
  launchSlots?: number;
  /** 1 for the catalogue items the base knows; absent: every item is weighed by `shopDeltaWeight`. */
  known?: Uint8Array | null;
  /**
   * What each item sold in the days before the base was made (log(1 + sales, each weighing less
   * with its age), by catalogue index; absent for the items with none): the own-popularity
   * feature's value where the base has it, instead of the bias bᵢ. Null or absent: a base made
   * before it, whose own popularity is bᵢ.
   */
  recent?: ReadonlyMap<number, number> | null;
  /** The half-life, in days, of `recent` (the manifest's `recentHalfLifeDays`); the stream job keeps what sold lately with it. */
  recentHalfLifeDays?: number;
  /** The time (ms) `recent` stands at: the base's cut-off (the manifest's `recentAt`). */
  recentAt?: number;
}

/**
 * A sparse row-stochastic matrix in CSR form over catalogue indices: row i holds the successors
 * of i. With `rows`, only the items that have successors have a row (a catalogue of a million
 * items whose base knows a few thousand keeps a few thousand row starts, not a million).
 */
export interface Transitions {
  /** Row starts: N + 1 of them, or rows.length + 1 with `rows`. */
  ptr: Int32Array;
  to: Int32Array;
  /**
   * Each successor's probability: its number, or its IEEE float16 bits (a page keeps a base's as
   * its file holds them, at half the memory), read through {@link transitionP}.
   */
  p: Float32Array | Uint16Array;
  /** The items that have a row, ascending: row r holds the successors of item rows[r]. */
  rows?: Int32Array;
}

/**
 * A reader of `T.p`'s numbers: the number itself, or the float16 bits' number by {@link halfTable}
 * (the same float32 that decoding them first would give).
 */
export function transitionP(T: Pick<Transitions, 'p'>): (k: number) => number {
  const P = T.p;
  if (P instanceof Uint16Array) {
    // The table is made at the first number read, not before: a list with no voter reads none.
    let table: Float32Array | null = null;
    return (k) => (table ??= halfTable())[P[k]!]!;
  }
  return (k) => P[k]!;
}

/** Where item i's successors lie in `T.to` and `T.p`: [start, end), empty where it has none. */
export function transitionRow(T: Transitions, i: number): [number, number] {
  const { rows, ptr } = T;
  let r = i;
  if (rows) {
    let lo = 0;
    let hi = rows.length - 1;
    r = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = rows[mid]!;
      if (v === i) {
        r = mid;
        break;
      }
      if (v < i) lo = mid + 1;
      else hi = mid - 1;
    }
    if (r < 0) return [0, 0];
  } else if (!(i >= 0 && i + 1 < ptr.length)) return [0, 0];
  return [ptr[r]!, ptr[r + 1]!];
}

/** Checks that `T` fits a catalogue of `n` items (row starts, successors in range, rows in order). */
export function checkTransitions(T: Transitions, n: number): void {
  const rows = T.rows;
  const count = rows ? rows.length : n;
  const ok =
    T.ptr.length === count + 1 &&
    T.to.length === T.p.length &&
    T.ptr[0] === 0 &&
    T.ptr[count] === T.to.length &&
    (!rows || rows.every((x, r) => x >= 0 && x < n && (r === 0 || x > rows[r - 1]!)));
  if (!ok)
    throw new RangeError(`transitions must have ${n + 1} row starts (or one per listed row, in order) and one probability per entry`);
}

/** One learning step's input, in catalogue indices. */
export interface LearnInput {
  item: number;
  impressions: readonly number[];
  /**
   * The page's ranking as it stood before this click, best first (the head's top scores, before
   * any item is left out for showing): its first `rankedNegatives` items but the clicked one are
   * negatives of the click. Missing or empty: none.
   */
  ranked?: readonly number[];
  /** Milliseconds since epoch; used for repeat damping only. */
  time: number;
}

/**
 * φ and the AdaGrad state, serialisable. Per-item entries are keyed by item id. Entries for ids
 * that are not in this page's catalogue (another page of the shop may show other items, on the
 * same store) are carried through `load` and `save` unchanged, so no page drops another's.
 */
export interface HeadState {
  dims: number;
  dW: number[];
  du: number[];
  dAlpha: number;
  dBias: Record<string, number>;
  gW: number[];
  gu: number[];
  gAlpha: number;
  gBias: Record<string, number>;
  history: { id: string; w: number }[];
  recent: { id: string; t: number }[];
  clicks: number;
  /** Δ of the feature weights and their AdaGrad sums (absent in states saved before they existed). */
  dMix?: number[];
  gMix?: number[];
  /** The shopper's most recent distinct items, most recent first. */
  lastItems?: string[];
  /** Click counts per item id. */
  counts?: [string, number][];
  /** [previous id, id, times]: the shopper's own order (absent in states saved before it existed). */
  pairs?: [string, string, number][];
  /** Visits begun with each item id. */
  starts?: [string, number][];
  /** Time of the last click (ms since epoch), or null. */
  lastTime?: number | null;
  /** The latest visit's distinct item ids (absent in states saved before the "this visit" feature). */
  visit?: string[];
}

/** Gradients of the per-click loss, for tests and diagnostics. */
export interface HeadGradients {
  dW: Float32Array;
  du: Float32Array;
  dAlpha: number;
  /** Gradient on Δmix (see `BaseParams.mix`). */
  dMix: Float32Array;
  /** Indices of the scored set and the gradient on their Δb. */
  indices: Int32Array;
  dBias: Float32Array;
  loss: number;
}

/**
 * Adds a click to a history (in place): older weights decay, a repeated item's weight grows but
 * saturates at 2 (so no single item fills the history), and only the `historySize` heaviest stay.
 * Exported so that the offline trainer of the base builds exactly the histories the head builds.
 */
export function pushHistory(
  history: { i: number; w: number; id?: string }[],
  item: number,
  o: Pick<HeadOptions, 'historyDecay' | 'historySize'>,
  foreignId?: string,
): void {
  for (const h of history) h.w *= o.historyDecay;
  const existing = history.find((h) => (foreignId === undefined ? h.i === item : h.id === foreignId));
  if (existing) existing.w = Math.min(existing.w + 1, 2);
  else history.unshift(foreignId === undefined ? { i: item, w: 1 } : { i: -1, w: 1, id: foreignId });
  history.sort((a, b) => b.w - a.w);
  if (history.length > o.historySize) history.length = o.historySize;
}

/**
 * A history's weights normalised to sum to 1 (the weights of h and of the re-buy term). Entries
 * for items not in this catalogue (index -1) are left out.
 */
export function normalisedHistory(history: readonly { i: number; w: number }[]): { i: number; w: number }[] {
  const local = history.filter((h) => h.i >= 0);
  const total = local.reduce((a, h) => a + h.w, 0);
  return local.map((h) => ({ i: h.i, w: total > 0 ? h.w / total : 0 }));
}

/**
 * The transition feature: the shopper's recent distinct items (most recent first; negative
 * indices, items of other catalogues, vote nothing but still take a place) vote for their
 * successors in `T`, the r-th with weight decayʳ. Shared by the head, its typed-array twin and
 * the maintenance job's choice of weights, so all three compute the same feature.
 */
export function transitionVotes(
  T: Transitions,
  recent: ArrayLike<number>,
  o: Pick<HeadOptions, 'transitionVotes' | 'transitionDecay'>,
): Map<number, number> {
  const votes = new Map<number, number>();
  forEachTransitionVote(T, recent, o, (j, v) => votes.set(j, (votes.get(j) ?? 0) + v));
  return votes;
}

/** What {@link IncrementalHead.explain} gives: each clicked item's part in the scores of the items asked about. */
export interface Explanation {
  /** The rows' items: the history's, then the voters it lacks. */
  history: number[];
  /** Each row's weight in the history (0 for a voter it lacks). */
  weights: number[];
  /** [rows, targets]: what each row adds through the content model. */
  contributions: Float32Array;
  /** [rows, targets]: what each row adds by its votes (the shop's transitions, the shopper's own order), weighted. */
  votes: Float32Array;
  /** Each row's decay as a voter (0 for none). */
  voteWeights: number[];
  /**
   * [targets]: what the shop's best sellers now add to each target's score (what it sold lately
   * times the feature's weight in the context of the explained time, φ's part included); 0 for a
   * target that is not one of them. No click of the shopper's is behind it.
   */
  sellsNow: Float32Array;
}

/**
 * The votes of {@link transitionVotes} one by one, as `visit(successor, vote, voter)` (a successor
 * of several recent items is visited once for each), for a caller that needs only some of them and
 * need not build the map (the base's sampled softmax), or needs to know who cast each.
 */
export function forEachTransitionVote(
  T: Transitions,
  recent: ArrayLike<number>,
  o: Pick<HeadOptions, 'transitionVotes' | 'transitionDecay'>,
  visit: (successor: number, vote: number, voter: number) => void,
): void {
  let w = 1;
  const p = transitionP(T);
  for (let r = 0; r < Math.min(recent.length, o.transitionVotes); r++) {
    const i = recent[r]!;
    if (i >= 0) {
      const [start, end] = transitionRow(T, i);
      for (let k = start; k < end; k++) visit(T.to[k]!, w * p(k), i);
    }
    w *= o.transitionDecay;
  }
}

/** Moves `item` to the front of a most-recent-first list of distinct entries, keeping at most `keep`. */
export function pushRecent<T>(list: T[], item: T, keep: number, same: (a: T, b: T) => boolean = (a, b) => a === b): void {
  const at = list.findIndex((x) => same(x, item));
  if (at >= 0) list.splice(at, 1);
  list.unshift(item);
  if (list.length > keep) list.length = keep;
}

const finiteArray = (x: unknown, length: number): boolean =>
  Array.isArray(x) && x.length === length && x.every((v) => typeof v === 'number' && Number.isFinite(v));
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
/** Saved mix deltas: {@link MIX_LENGTH}, or as many as a state of an earlier version saved ({@link EARLIER_MIX_LENGTHS}). */
const mixArray = (x: unknown): boolean => [...EARLIER_MIX_LENGTHS, MIX_LENGTH].some((n) => finiteArray(x, n));
/** Saved mix deltas at full length (the features a state did not know start at 0). */
const padMix = (x: readonly number[] | undefined): number[] => Array.from({ length: MIX_LENGTH }, (_, k) => x?.[k] ?? 0);

/** Sets `obj[key]` as an own property, even for keys such as `__proto__`. */
function setOwn(obj: Record<string, number>, key: string, value: number): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The query's small weights, read back from the head's tensors (see `IncrementalHead.queryParams`). */
interface QueryParams {
  /** W₀ + ΔW, [d × d] row-major. */
  W: Float32Array;
  /** Δu, [d]. */
  u: Float32Array;
  /** α₀ + Δα. */
  alpha: number;
  /** mix₀ + Δmix (see `BaseParams.mix`). */
  mix: Float32Array;
}

/** A click's scored set: item indices, labels and loss weights. */
export interface Batch {
  idx: Int32Array;
  y: Float32Array;
  w: Float32Array;
}

/**
 * The scored set of the `clickCount`-th click: the clicked item (label 1, weight 1), the
 * impressions (label 0, `impressionWeight` in total), the first `rankedNegatives` items of the
 * ranking before the click (label 0, `rankedWeight` in total) and seeded random negatives (label
 * 0, 1 in total); the weights are those of the softmax's sum. An item is in the set once, in the
 * first of those roles it has. Shared by the head and the evaluation's typed-array replay, so
 * both draw the same set.
 */
export function scoredSet(input: LearnInput, n: number, options: HeadOptions, clickCount: number): Batch {
  const { item } = input;
  const imps = [...new Set(input.impressions)].filter((i) => i !== item).slice(-32);
  const taken = new Set<number>([item, ...imps]);
  const ranked: number[] = [];
  for (const i of input.ranked ?? []) {
    if (ranked.length >= options.rankedNegatives) break;
    if (!Number.isInteger(i) || i < 0 || i >= n || taken.has(i)) continue;
    taken.add(i);
    ranked.push(i);
  }
  const rand = mulberry32(mixSeed(options.seed, clickCount));
  const negs: number[] = [];
  const want = Math.min(options.negatives, n - taken.size);
  for (let tries = 0; negs.length < want && tries < want * 20; tries++) {
    const j = Math.floor(rand() * n);
    if (!taken.has(j)) {
      taken.add(j);
      negs.push(j);
    }
  }
  const m = 1 + imps.length + ranked.length + negs.length;
  const idx = new Int32Array(m);
  const y = new Float32Array(m);
  const w = new Float32Array(m);
  idx[0] = item;
  y[0] = 1;
  w[0] = 1;
  let at = 1;
  const put = (list: readonly number[], total: number): void => {
    for (const j of list) {
      idx[at] = j;
      w[at++] = total / list.length;
    }
  };
  put(imps, options.impressionWeight);
  put(ranked, options.rankedWeight);
  put(negs, 1);
  return { idx, y, w };
}

/**
 * `t` with the entries at `at` ([m, 1] int32, distinct) set to `values` ([m]): one new tensor,
 * and `t` is left as it was. tfjs's CPU kernel of tensorScatterUpdate writes into its input's
 * values (tfjs 4.22), so on that backend it works on a copy; the others make a new tensor.
 * Inside a tidy.
 */
export function replaceAt(t: tf.Tensor1D, at: tf.Tensor, values: tf.Tensor): tf.Tensor1D {
  return tf.tensorScatterUpdate(tf.getBackend() === 'cpu' ? tf.add(t, 0) : t, at, values) as tf.Tensor1D;
}

/** The first capacity of the per-item AdaGrad sums (`IncrementalHead.gB`), doubled as items are touched. */
export const FIRST_SLOTS = 1024;

/** A variable holding `t`'s values; `t` itself is disposed (tf.variable copies it). */
function own<R extends tf.Rank>(t: tf.Tensor<R>): tf.Variable<R> {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
}

/** The base θ plus the learned φ of one shopper over one catalogue. */
export class IncrementalHead {
  readonly n: number;
  readonly dims: number;
  readonly options: HeadOptions;
  /** Item i's id (the catalogue's own lookup: no array of a million strings kept here). */
  private readonly idOf: (i: number) => string;
  private readonly index: (id: string) => number | undefined;
  /**
   * vᵢ = eᵢ + rᵢ as int8 rows with a scale each, and a copy of the fused bias (`bias` below) that
   * the scoring pass reads; see {@link ItemMatrix}. Learning reads the same rows, dequantised.
   */
  private readonly items: ItemMatrix;
  /**
   * Items whose fused bias bᵢ + w · ψᵢ + Δbᵢ changed since the matrix's copy was last brought up
   * to date ('all' after a change to every entry): the learning step runs on the backend and is
   * read back only when scoring needs it.
   */
  private biasDirty: Set<number> | 'all' = new Set();
  private readonly W0: tf.Tensor2D;
  private readonly alpha0: number;
  /** The base's own biases bᵢ. */
  private readonly baseBias: Float32Array;
  /**
   * w · ψᵢ, the shop delta's part of the fused base bᵢ + w · ψᵢ, at its non-zero entries (see
   * {@link setShopBias}): kept here rather than as an N-long tensor on the backend.
   */
  private psiW = new Map<number, number>();
  private readonly dW: tf.Variable<tf.Rank.R2>;
  private readonly du: tf.Variable<tf.Rank.R1>;
  private readonly dAlpha: tf.Variable<tf.Rank.R1>;
  /**
   * Δbᵢ, the shopper's learned bias of item i, at its slot in `touched` (as `gB`): non-zero only
   * there, so the backend holds no N-long tensor and a click's step copies no N-long one. The
   * scoring pass reads bᵢ + w · ψᵢ + Δbᵢ fused, from the item matrix's copy ({@link syncBias}).
   */
  private dB: tf.Variable<tf.Rank.R1>;
  private readonly gW: tf.Variable<tf.Rank.R2>;
  private readonly gu: tf.Variable<tf.Rank.R1>;
  private readonly gAlpha: tf.Variable<tf.Rank.R1>;
  /**
   * The AdaGrad sums of Δb, only for the items ever in a scored set, at their slot in `touched`
   * (grown by doubling): a catalogue of a million items keeps a few thousand, not a million.
   */
  private gB: tf.Variable<tf.Rank.R1>;
  /** Clicked items, heaviest first; items of other catalogues have i = -1 and keep their id. */
  private history: { i: number; w: number; id?: string }[] = [];
  private recent: { i: number; t: number }[] = [];
  /** Per-item entries of a loaded state whose ids are not in this catalogue, kept for `save`. */
  private foreignBias: { id: string; b: number; g: number }[] = [];
  /** The shop's transitions, re-indexed to the catalogue: null where the base has none, or until {@link setTransitions}. */
  private transitions: Transitions | null;
  private readonly mix0: Float32Array;
  /** What each item sold before the base was made (`BaseParams.recent`), or null: own popularity is then bᵢ. */
  private readonly baseRecent: ReadonlyMap<number, number> | null;
  /** What own popularity reads: what the shop's stream last said sold lately ({@link setRecentSales}), else `baseRecent`. */
  private recentSales: ReadonlyMap<number, number> | null;
  /** The "sells now" feature of `recentSales` (`sellsNow`): made with the stream's best sellers, or from the base's sales when first asked. */
  private sellingNow: { idx: Int32Array; val: Float32Array } | null = null;
  /** The weight of the shop delta ψ (the base's `shopDeltaWeight`). */
  private readonly shopWeight: number;
  /** ψ's weight on the items the base does not know (`shopDeltaWeightNew`), where `known` marks them. */
  private readonly shopWeightNew: number;
  private readonly known: Uint8Array | null;
  /** Places per ten of a list kept for the items the base does not know while a shop delta is in force (`BaseParams.newSlots`). */
  readonly newSlots: number;
  /** Places per ten of a list for launches among the shop's best sellers now (`BaseParams.launchSlots`). */
  readonly launchSlots: number;
  /** The base's `known`, where places are kept; the rows it marks 0, once asked for ({@link topFresh}). */
  private readonly slotKnown: Uint8Array | null;
  private freshRows: Int32Array | null = null;
  /** The shop's best sellers now, best first, as the stream last published what sells (empty without). */
  private sellers: Int32Array = new Int32Array(0);
  /** Whether a shop delta is in force ({@link setShopBias}). */
  private shopDelta = false;
  private readonly dMix: tf.Variable<tf.Rank.R1>;
  private readonly gMix: tf.Variable<tf.Rank.R1>;
  /** What the sparse features remember of the clicks, by item id (items of other catalogues too). */
  private memory = new ShopperMemory<string>();
  /** The items ever in a scored set (Δb may be non-zero only there), each with its slot in `gB`. */
  private readonly touched = new Map<number, number>();
  private clickCount = 0;
  private disposed = false;
  /**
   * The query's small weights as plain numbers, read back once after they change, so that a
   * recommendation computes q = h(W₀+ΔW)+Δu in a few thousand multiply-adds with no tensor op.
   * `paramsGen` counts the changes: a read-back that a change overtook is not kept.
   */
  private params: QueryParams | null = null;
  private paramsGen = 0;

  /**
   * @param embeddings content embeddings eᵢ [N, d], as tensors (the head reads them and does not
   *   take ownership, unless `more.adopt`) or as an {@link ItemMatrix} the head takes as its own
   *   (then `base.residual` must already be in it, and be null here).
   * @param ids item ids in catalogue order (for serialising per-item state by id), or item i → its
   *   id (then `more.indexOf` is required).
   * @param more.indexOf id → position in `ids`, when the caller already has such a map.
   * @param more.adopt the head disposes of the `embeddings` tensors once it has read them.
   */
  constructor(
    embeddings: tf.Tensor2D | readonly tf.Tensor2D[] | ItemMatrix,
    ids: readonly string[] | ((i: number) => string),
    base: BaseParams,
    options: Partial<HeadOptions> = {},
    more: { indexOf?: (id: string) => number | undefined; adopt?: boolean } = {},
  ) {
    const { indexOf } = more;
    let items: ItemMatrix;
    if (embeddings instanceof ItemMatrix) {
      if (base.residual) throw new RangeError('an item matrix must hold the residuals already: pass base.residual as null');
      items = embeddings;
    } else {
      const parts = Array.isArray(embeddings) ? (embeddings as readonly tf.Tensor2D[]) : [embeddings as tf.Tensor2D];
      const width = parts[0]!.shape[1];
      if (parts.some((p) => p.shape[1] !== width)) throw new RangeError('embedding blocks must all have the same width');
      if (tf.getBackend() === 'webgpu') {
        throw new RangeError('On WebGPU pass the item vectors as an ItemMatrix: reading tensors back synchronously is not safe there.');
      }
      items = new ItemMatrix(
        parts.reduce((a, p) => a + p.shape[0], 0),
        width,
      );
      let from = 0;
      for (const p of parts) {
        // Tests and Node tools (CPU and WASM backends); a page builds an ItemMatrix from its vectors.
        // eslint-disable-next-line no-restricted-properties
        const rows = Float32Array.from(p.dataSync() as Float32Array);
        if (base.residual) {
          const r = base.residual.subarray(from * width, from * width + rows.length);
          for (let k = 0; k < rows.length; k++) rows[k] = rows[k]! + r[k]!;
        }
        items.setRows(from, rows);
        from += p.shape[0];
      }
      if (more.adopt) parts.forEach((p) => p.dispose());
    }
    const d = items.dims;
    const n = items.n;
    this.items = items;
    this.n = n;
    this.dims = d;
    if (typeof ids === 'function') {
      if (!indexOf) throw new Error('an IncrementalHead given ids as a function needs more.indexOf');
      this.idOf = ids;
    } else {
      const list = ids;
      this.idOf = (i) => list[i]!;
    }
    if (indexOf) this.index = indexOf;
    else {
      const map = new Map((ids as readonly string[]).map((id, i) => [id, i]));
      this.index = (id) => map.get(id);
    }
    this.options = { ...DEFAULT_HEAD_OPTIONS, ...validateHeadOptions(options) };
    this.W0 = tf.tensor2d(base.W, [d, d]);
    this.alpha0 = base.alpha;
    // Kept, not copied (see BaseParams.bias): each copy of an n-long array is a first write to
    // every page of a fresh one, and with the two below it made one task of 50 to 79 ms at
    // 1,000,000 items (`npm run bench:visit-plain -- --items 1000000`).
    this.baseBias = base.bias;
    if (this.baseBias.length !== n) throw new RangeError(`the base has ${this.baseBias.length} biases, the catalogue ${n} items`);
    this.items.bias.set(this.baseBias);
    this.dW = own(tf.zeros([d, d]));
    this.du = own(tf.zeros([d]));
    this.dAlpha = own(tf.zeros([1]));
    this.dB = own(tf.zeros([this.slotsFor(0)]));
    this.gW = own(tf.zeros([d, d]));
    this.gu = own(tf.zeros([d]));
    this.gAlpha = own(tf.zeros([1]));
    this.gB = own(tf.zeros([this.slotsFor(0)]));
    this.transitions = base.transitions ?? null;
    if (this.transitions) checkTransitions(this.transitions, n);
    this.mix0 = Float32Array.from({ length: MIX_LENGTH }, (_, k) => Number(base.mix?.[k] ?? 0));
    this.shopWeight = base.shopDeltaWeight ?? 1;
    this.shopWeightNew = base.shopDeltaWeightNew ?? this.shopWeight;
    this.known = base.known && this.shopWeightNew !== this.shopWeight ? base.known : null;
    this.newSlots = base.newSlots ?? 0;
    this.launchSlots = base.launchSlots ?? 0;
    this.slotKnown = (this.newSlots > 0 || this.launchSlots > 0) && base.known ? base.known : null;
    this.baseRecent = base.recent ?? null;
    this.recentSales = this.baseRecent;
    this.dMix = own(tf.zeros([MIX_LENGTH]));
    this.gMix = own(tf.zeros([MIX_LENGTH]));
  }

  /** 0 in the middle of a visit, 1 at its start (no click yet, or the last one `sessionGapMs` ago). */
  private context(time: number): 0 | 1 {
    return this.memory.context(time, this.options);
  }

  /**
   * The sparse features of the shopper now, in the order of {@link MEMORY_FEATURES}, as (index,
   * value) lists over the catalogue: the transition votes of the last distinct items, the log
   * click counts, the votes of the shopper's own order, the log counts of visits begun, what
   * the items clicked sell, the items of the latest visit, and the shop's best sellers now.
   */
  private features(): { idx: Int32Array; val: Float32Array }[] {
    const m = this.memory;
    const T = this.transitions;
    const trans = T
      ? transitionVotes(
          T,
          m.last.map((id) => this.index(id) ?? -1),
          this.options,
        )
      : new Map<number, number>();
    const local = (byId: Map<string, number>): { idx: Int32Array; val: Float32Array } => {
      const idx: number[] = [];
      const val: number[] = [];
      for (const [id, v] of byId) {
        const i = this.index(id);
        if (i === undefined) continue;
        idx.push(i);
        val.push(v);
      }
      return { idx: Int32Array.from(idx), val: Float32Array.from(val) };
    };
    const recent = this.recentSales;
    const pop = ownPopularity(m.counts, (id) => {
      const i = this.index(id);
      return i === undefined ? 0 : recent ? (recent.get(i) ?? 0) : this.baseBias[i]!;
    });
    return [
      { idx: Int32Array.from(trans.keys()), val: Float32Array.from(trans.values()) },
      ...m.ownFeatures(this.options).map(local),
      local(pop),
      local(m.visitItems()),
      this.sellsNowFeature(),
    ];
  }

  /** The shop's best sellers now with what they sold lately (`sellsNow` of `recentSales`; none without them). */
  private sellsNowFeature(): { idx: Int32Array; val: Float32Array } {
    return (this.sellingNow ??= sparseOf(sellsNowOf(this.recentSales, this.n)));
  }

  /** The weights of the features in force in context `ctx`, [features], inside a tidy. */
  private mixWeights(ctx: 0 | 1): tf.Tensor1D {
    const m = tf.add(tf.tensor1d(this.mix0), this.dMix);
    return tf.gather(
      m,
      tf.tensor1d(
        MEMORY_FEATURES.map((_, f) => 2 * f + ctx),
        'int32',
      ),
    ) as tf.Tensor1D;
  }

  /**
   * Takes the base's transitions where it was made without them (a page ranks its first list
   * before they are read, `loadHead`'s `deferTransitions`): what the head scores and learns from
   * then on uses their votes. Nothing learned changes. A disposed head ignores them.
   */
  setTransitions(T: Transitions | null): void {
    if (this.disposed) return;
    if (T) checkTransitions(T, this.n);
    this.transitions = T;
  }

  /** Whether the head has the shop's transitions (a base without them, or not yet read, has none). */
  get hasTransitions(): boolean {
    return this.transitions !== null;
  }

  /**
   * Whether the shopper's clicks give the shop's transitions votes (the last distinct items
   * clicked): a head made without its transitions scores and learns as with them only while not.
   */
  get votesOnTransitions(): boolean {
    return this.memory.last.length > 0;
  }

  /**
   * What sold lately as the shop's stream job last published it with the shop delta (log(1 +
   * sales, each weighing less with its age), dense over the catalogue; 0 for the items it does not
   * list): the own-popularity feature reads it instead of the base's `recent`, which is as old as
   * the base. Null returns to the base's. Values must be finite and ≥ 0.
   */
  setRecentSales(values: Float32Array | null): void {
    if (values && values.length !== this.n) throw new RangeError(`recent sales have ${values.length} entries, the catalogue ${this.n}`);
    if (!values) {
      this.recentSales = this.baseRecent;
      this.sellers = new Int32Array(0);
      this.sellingNow = null;
      return;
    }
    const next = new Map<number, number>();
    for (let i = 0; i < this.n; i++) {
      const v = values[i]!;
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`recent sales hold ${v} at item ${i}: each must be a finite number ≥ 0`);
      if (v > 0) next.set(i, v);
    }
    this.recentSales = next;
    this.sellers = bestSellers(values);
    this.sellingNow = sparseOf(sellsNow(values, BEST_SELLERS_KEPT, this.sellers));
  }

  /**
   * Fuses the shop delta ψ (per-item biases published by the shop's stream job) into the base:
   * bᵢ + w · ψᵢ replaces bᵢ (w: the base's `shopDeltaWeight`, or its `shopDeltaWeightNew` for an
   * item the base does not know), and the shopper's Δb stays as it
   * was. `null` removes the shop delta.
   * Nothing of φ is replayed: the shopper's learning is a delta on top of whatever base is in force.
   */
  setShopBias(psi: Float32Array | null): void {
    if (psi && psi.length !== this.n) throw new RangeError(`shop bias has ${psi.length} entries, the catalogue ${this.n}`);
    if (psi && !psi.every(Number.isFinite)) throw new RangeError('shop bias holds a value that is not finite');
    const w = this.shopWeight;
    const known = this.known;
    const next = new Map<number, number>();
    if (psi) {
      for (let i = 0; i < this.n; i++) {
        const v = (known && !known[i] ? this.shopWeightNew : w) * psi[i]!;
        if (v !== 0) next.set(i, v);
      }
    }
    // Only the entries of the old delta or the new one change (Δb stays as it was).
    const at = Int32Array.from(new Set([...this.psiW.keys(), ...next.keys()]));
    this.psiW = next;
    this.shopDelta = psi !== null;
    if (at.length > 0) this.markBias(at);
  }

  /** bᵢ + w · ψᵢ: the base's bias of item i with the shop delta fused in, as a float32. */
  private fusedBase(i: number): number {
    const v = this.psiW.get(i);
    return v === undefined ? this.baseBias[i]! : Math.fround(this.baseBias[i]! + v);
  }

  /** {@link fusedBase} of items `idx`, as a tensor (inside a tidy). */
  private fusedAt(idx: ArrayLike<number>): tf.Tensor1D {
    return tf.tensor1d(Float32Array.from(idx, (i) => this.fusedBase(i)));
  }

  /** bᵢ + w · ψᵢ for every item, written into `out` (a new array by default). */
  private fusedAll(out: Float32Array = new Float32Array(this.n)): Float32Array {
    out.set(this.baseBias);
    for (const i of this.psiW.keys()) out[i] = this.fusedBase(i);
    return out;
  }

  /** Number of clicks learned. */
  get clicks(): number {
    return this.clickCount;
  }

  /**
   * Slots of the per-item AdaGrad sums for `count` items: {@link FIRST_SLOTS}, doubled until they
   * hold them, never more than one a catalogue item (what an N-long tensor held), at least one.
   */
  private slotsFor(count: number): number {
    let cap = FIRST_SLOTS;
    while (cap < count) cap *= 2;
    return Math.max(1, count, Math.min(cap, this.n));
  }

  /**
   * Slots of the per-item state (Δb and its AdaGrad sum): they grow (by doubling, up to one per
   * catalogue item) as learning touches more items, so the head's tensor bytes grow by 8 bytes a
   * slot and no more.
   */
  get sumSlots(): number {
    return this.gB.shape[0];
  }

  /** The item vectors vᵢ = eᵢ + rᵢ the head scores with, [N × d] row-major (for offline training). */
  async itemVectors(): Promise<Float32Array> {
    this.assertAlive();
    return this.items.allRows();
  }

  /** Which code scores the catalogue: the WebAssembly SIMD kernel or the plain loop. */
  get scoringKernel(): 'wasm-simd' | 'js' {
    return this.items.kernel;
  }

  /** Bytes of the item vectors and per-item terms the scoring pass reads (outside tfjs). */
  get itemBytes(): number {
    return this.items.bytes;
  }

  /** Item indices in the history, most recent first, with their normalised weights. */
  historyWeights(): { i: number; w: number }[] {
    return normalisedHistory(this.history);
  }

  /**
   * Whether the shopper clicked the item with this id before: one of their click counts (the
   * `countItems` they clicked most) or their history (the last `historySize` distinct) holds it.
   */
  clickedBefore(id: string): boolean {
    if (this.memory.countLogs.has(id)) return true;
    const i = this.index(id);
    return i !== undefined && this.history.some((h) => h.i === i);
  }

  /**
   * α·rep plus each weighted feature as one dense [N] vector, made by one scatter of their few
   * non-zero entries (duplicates add up). Inside a tidy.
   */
  private sparseTerms(time: number): tf.Tensor1D {
    const { idx, rep, feats } = this.sparseEntries();
    if (idx.length === 0) return tf.zeros([this.n]);
    const alpha = tf.add(tf.scalar(this.alpha0), this.dAlpha);
    const w = this.mixWeights(this.context(time));
    const vals = tf.concat([tf.mul(alpha, tf.tensor1d(rep)), ...feats.map((f, k) => tf.mul(tf.slice(w, [k], [1]), tf.tensor1d(f)))]);
    return tf.scatterND(tf.tensor2d(idx, [idx.length, 1], 'int32'), vals, [this.n]) as tf.Tensor1D;
  }

  /**
   * The items of the sparse terms, in one list (re-buy shares, then each feature of
   * {@link MEMORY_FEATURES}; an item may appear more than once), and each term's values before
   * its weight.
   */
  private sparseEntries(hw = this.historyWeights()): { idx: Int32Array; rep: Float32Array; feats: Float32Array[] } {
    const f = this.features();
    const idx = new Int32Array(hw.length + f.reduce((a, x) => a + x.idx.length, 0));
    hw.forEach((x, j) => (idx[j] = x.i));
    let at = hw.length;
    for (const x of f) {
      idx.set(x.idx, at);
      at += x.idx.length;
    }
    return { idx, rep: Float32Array.from(hw, (x) => x.w), feats: f.map((x) => x.val) };
  }

  /** h = Σ wⱼ vⱼ over the history (d), inside a tidy. */
  private historyVector(): tf.Tensor1D {
    const hw = this.historyWeights();
    if (hw.length === 0) return tf.zeros([this.dims]);
    const w = tf.tensor1d(Float32Array.from(hw.map((x) => x.w)));
    return tf.reshape(tf.matMul(tf.reshape(w, [1, -1]), this.rows(Int32Array.from(hw, (x) => x.i))), [this.dims]) as tf.Tensor1D;
  }

  /** q = h(W₀+ΔW)+Δu, inside a tidy. */
  private query(h: tf.Tensor1D): tf.Tensor1D {
    const W = tf.add(this.W0, this.dW);
    return tf.add(tf.reshape(tf.matMul(tf.reshape(h, [1, this.dims]), W), [this.dims]), this.du) as tf.Tensor1D;
  }

  /**
   * Scores of every item, [N], at `time` (ms since epoch; it decides whether this is the start of
   * a visit), in float32 tensor ops on the dequantised rows: the reference that {@link topScores}
   * (an int16 query over int8 rows) agrees with to about 1e-4 of the query's scale. It makes an
   * N × d tensor: for tests and offline tools; pages use {@link topScores}. The caller owns the tensor.
   */
  scores(time: number = Date.now()): tf.Tensor1D {
    this.assertAlive();
    return tf.tidy(() => {
      const V = tf.tensor2d(this.items.allRows(), [this.n, this.dims]);
      const s = tf.reshape(tf.matMul(V, tf.reshape(this.query(this.historyVector()), [this.dims, 1])), [this.n]);
      return tf.addN([s, this.biasTensor(), this.sparseTerms(time)]) as tf.Tensor1D;
    });
  }

  /** Rows `idx` of V, [|idx|, d], in that order. Inside a tidy. */
  private rows(at: Int32Array): tf.Tensor2D {
    return tf.tensor2d(this.items.rows(at), [at.length, this.dims]);
  }

  /** Marks the query's small weights (ΔW, Δu, Δα, Δmix) as changed since they were read back. */
  private markParams(): void {
    this.params = null;
    this.paramsGen++;
  }

  /** W₀+ΔW, Δu, α and the mix weights as numbers: the copy, or one read-back when they changed. */
  private async queryParams(): Promise<QueryParams> {
    if (this.params) return this.params;
    const d = this.dims;
    const gen = this.paramsGen;
    // One tensor made now, so that what is read is φ as it stands at the call.
    const t = tf.tidy(() =>
      tf.concat([tf.reshape(tf.add(this.W0, this.dW), [-1]), this.du, this.dAlpha, tf.add(tf.tensor1d(this.mix0), this.dMix)]),
    );
    try {
      const v = (await t.data()) as Float32Array;
      const p: QueryParams = {
        W: v.slice(0, d * d),
        u: v.slice(d * d, d * d + d),
        alpha: Math.fround(this.alpha0 + v[d * d + d]!),
        mix: v.slice(d * d + d + 1, d * d + d + 1 + MIX_LENGTH),
      };
      if (gen === this.paramsGen && !this.disposed) this.params = p;
      return p;
    } finally {
      t.dispose();
    }
  }

  /** q = h(W₀+ΔW)+Δu in plain arithmetic, h = Σ wⱼ vⱼ over the history: {@link query}'s values. */
  private queryJs(p: QueryParams, hw: readonly { i: number; w: number }[]): Float64Array {
    const d = this.dims;
    const h = new Float64Array(d);
    if (hw.length) {
      const rows = this.items.rows(Int32Array.from(hw, (x) => x.i));
      hw.forEach((x, j) => {
        for (let k = 0; k < d; k++) h[k]! += x.w * rows[j * d + k]!;
      });
    }
    const q = Float64Array.from(p.u);
    for (let k = 0; k < d; k++) {
      const hk = h[k]!;
      if (hk === 0) continue;
      const row = k * d;
      for (let c = 0; c < d; c++) q[c]! += hk * p.W[row + c]!;
    }
    return q;
  }

  /** Marks entries of `bias` as changed since the matrix's copy was made. */
  private markBias(idx: ArrayLike<number> | 'all'): void {
    if (idx === 'all') this.biasDirty = 'all';
    else if (this.biasDirty !== 'all') for (let j = 0; j < idx.length; j++) this.biasDirty.add(idx[j]!);
  }

  /**
   * Brings the matrix's copy of the fused bias bᵢ + w · ψᵢ + Δbᵢ up to date, reading back Δb only
   * at the changed entries (all the touched ones after a change to every entry).
   */
  private async syncBias(): Promise<void> {
    const dirty = this.biasDirty;
    if (dirty !== 'all' && dirty.size === 0) return;
    this.biasDirty = new Set();
    const idx = dirty === 'all' ? Int32Array.from(this.touched.keys()) : Int32Array.from(dirty);
    // A copy is read, not the variable itself: a step may assign the variable meanwhile.
    const t = tf.tidy(() => this.deltaAt(idx));
    try {
      const v = (await t.data()) as Float32Array;
      if (this.disposed) return;
      const out = this.items.bias;
      if (dirty === 'all') this.fusedAll(out);
      else idx.forEach((i) => (out[i] = this.fusedBase(i)));
      idx.forEach((i, j) => (out[i] = Math.fround(out[i]! + v[j]!)));
    } finally {
      t.dispose();
    }
  }

  /**
   * Δb at items `idx` (0 where an item was never touched), inside a tidy: a gather from the
   * slots, and no N-long tensor.
   */
  private deltaAt(idx: ArrayLike<number>): tf.Tensor1D {
    const m = idx.length;
    if (m === 0) return tf.zeros([0]);
    const slot = new Int32Array(m);
    const mask = new Float32Array(m);
    let all = true;
    for (let j = 0; j < m; j++) {
      const at = this.touched.get(idx[j]!);
      if (at === undefined) all = false;
      else {
        slot[j] = at;
        mask[j] = 1;
      }
    }
    const got = tf.gather(this.dB, tf.tensor1d(slot, 'int32'));
    return all ? got : tf.mul(got, tf.tensor1d(mask));
  }

  /** bᵢ + w · ψᵢ + Δbᵢ over the catalogue, [N], inside a tidy: for {@link scores} (tests and offline tools). */
  private biasTensor(): tf.Tensor1D {
    const touched = Int32Array.from(this.touched.keys());
    const base = tf.tensor1d(this.fusedAll());
    if (touched.length === 0) return base;
    return tf.add(base, tf.scatterND(tf.tensor2d(touched, [touched.length, 1], 'int32'), this.deltaAt(touched), [this.n]));
  }

  /**
   * The `want` best scores and their items, best first: the ranking of {@link scores}, computed
   * by one fused pass over the item matrix that keeps the best as it goes (no N-long score vector
   * is made), in chunks of {@link SCORE_BLOCK_ROWS} rows with a macrotask between them, so that
   * scoring a catalogue of any size never holds the page for long. The shopper's few sparse
   * terms (re-buys, transitions, counts) are added to the bias of their items for the pass only.
   * A score that is not a number never ranks.
   */
  async topScores(want: number, time: number = Date.now()): Promise<{ values: Float32Array; indices: Int32Array }> {
    return this.scan(want, time, null);
  }

  /**
   * Places a list of `k` keeps now for the products the base does not know (`freshPlacesFor`):
   * none without a shop delta in force (it is what tells a browser how they sell); else the
   * base's fixed `newSlots` per ten, or one per launch among the shop's top `k` sellers up to
   * `launchSlots` per ten, whichever is more.
   */
  freshPlaces(k: number): number {
    if (!this.slotKnown || !this.shopDelta) return 0;
    return freshPlacesFor(k, this.newSlots, this.launchSlots, this.launchesNow(k).length);
  }

  /**
   * The launches of a list of `k` now: the products the base does not know among the shop's top
   * `k` sellers, in index order; none where the base keeps no places for them or no shop delta is
   * in force.
   */
  launchesNow(k: number): Int32Array {
    if (!this.slotKnown || !this.shopDelta || this.launchSlots === 0) return new Int32Array(0);
    return launchesIn(this.sellers, this.slotKnown, k);
  }

  /**
   * The candidates for the places a list of `k` keeps for new products (`src/core/new-slots.ts`),
   * as {@link topScores} scores them, best first: the launches among the shop's top `k` sellers,
   * then, where the base keeps fixed places, the `want` best of every product it does not know
   * (none where {@link freshPlaces} is 0).
   */
  async topFresh(want: number, k: number, time: number = Date.now()): Promise<{ values: Float32Array; indices: Int32Array }> {
    const known = this.freshPlaces(k) > 0 ? this.slotKnown : null;
    const none = { values: new Float32Array(0), indices: new Int32Array(0) };
    if (!known) return none;
    const launches = this.launchesNow(k);
    const first = launches.length > 0 ? await this.scan(launches.length, time, launches) : none;
    if (this.newSlots === 0) return first;
    if (!this.freshRows) {
      const rows: number[] = [];
      for (let i = 0; i < this.n; i++) if (!known[i]) rows.push(i);
      this.freshRows = Int32Array.from(rows);
    }
    const rest = await this.scan(want, time, this.freshRows);
    const values = Array.from(first.values);
    const indices = Array.from(first.indices);
    rest.indices.forEach((i, j) => {
      if (indices.includes(i)) return;
      indices.push(i);
      values.push(rest.values[j]!);
    });
    return { values: Float32Array.from(values), indices: Int32Array.from(indices) };
  }

  /** {@link topScores} over every row, or over `rows` only. */
  private async scan(want: number, time: number, rows: Int32Array | null): Promise<{ values: Float32Array; indices: Int32Array }> {
    this.assertAlive();
    const count = rows ? rows.length : this.n;
    if (count === 0 || want < 1) return { values: new Float32Array(0), indices: new Int32Array(0) };
    const ctx = this.context(time);
    // The history and its sparse terms as they stand at the call (a click may land while this waits).
    const hw = this.historyWeights();
    const sparse = this.sparseEntries(hw);
    const [p] = await Promise.all([this.queryParams(), this.syncBias()]);
    const q = this.queryJs(p, hw);
    // The sparse terms, weighted, added to their items' bias for the pass only.
    const { idx, rep, feats } = sparse;
    const val = new Float32Array(idx.length);
    rep.forEach((x, j) => (val[j] = p.alpha * x));
    let at = rep.length;
    feats.forEach((f, k) => {
      const w = p.mix[2 * k + ctx]!;
      f.forEach((x, j) => (val[at + j] = w * x));
      at += f.length;
    });
    const patch = { idx, val };
    const top = new TopK(Math.min(want, count));
    // A subset is scored by the plain loop, slower per row than the kernel: smaller blocks.
    const block = rows ? SCORE_BLOCK_ROWS / 4 : SCORE_BLOCK_ROWS;
    for (let from = 0; from < count; from += block) {
      if (from > 0) await nextTask();
      if (this.disposed) break;
      const to = Math.min(count, from + block);
      if (rows) this.items.scanTopAt(q, top, rows.subarray(from, to), patch);
      else this.items.scanTop(q, top, from, to, patch);
    }
    return top.sorted();
  }

  /**
   * What each clicked item adds to the scores of items `targets` at `time`, as [rows,
   * |targets|] arrays over the rows of `history`: through the content model (`contributions`,
   * the history's rows, by its `weights`) and through the votes it casts as one of the last
   * distinct clicks (`votes`: the shop's transitions and the shopper's own order, each at its
   * weight in the context of `time`; `voteWeights`, each row's decay as a voter, 0 for none).
   * `history` lists the history's items, then the voters it lacks.
   */
  async explain(targets: readonly number[], time: number = Date.now()): Promise<Explanation> {
    this.assertAlive();
    const hw = this.historyWeights();
    const history = hw.map((x) => x.i);
    const weights = hw.map((x) => x.w);
    const cols = targets.length;
    const ctx = this.context(time);
    // The votes, by feature, before their weights: read now, as the history is.
    const column = new Map(targets.map((t, c) => [t, c]));
    const rowOf = new Map(history.map((i, r) => [i, r]));
    const voteWeights: number[] = history.map(() => 0);
    const rowFor = (i: number): number => {
      let r = rowOf.get(i);
      if (r === undefined) {
        r = history.length;
        rowOf.set(i, r);
        history.push(i);
        weights.push(0);
        voteWeights.push(0);
      }
      return r;
    };
    const last = this.memory.last.map((id) => this.index(id) ?? -1);
    let w = 1;
    for (let r = 0; r < Math.min(last.length, this.options.transitionVotes); r++) {
      if (last[r]! >= 0) voteWeights[rowFor(last[r]!)] = w;
      w *= this.options.transitionDecay;
    }
    const cast: { row: number; col: number; v: number }[][] = [[], []];
    if (this.transitions)
      forEachTransitionVote(this.transitions, last, this.options, (j, v, voter) => {
        const col = column.get(j);
        if (col !== undefined) cast[0]!.push({ row: rowFor(voter), col, v });
      });
    this.memory.forEachOwnVote(this.options, (a, b, v) => {
      const i = this.index(a);
      const col = this.index(b);
      const c = col === undefined ? undefined : column.get(col);
      if (i !== undefined && c !== undefined) cast[1]!.push({ row: rowFor(i), col: c, v });
    });
    const contributions = new Float32Array(history.length * cols);
    if (hw.length > 0 && cols > 0) {
      const t = tf.tidy(() => {
        const hwT = tf.tensor2d(
          Float32Array.from(hw, (x) => x.w),
          [hw.length, 1],
        );
        const Hq = tf.mul(hwT, tf.matMul(this.rows(Int32Array.from(hw, (x) => x.i)), tf.add(this.W0, this.dW)));
        return tf.matMul(Hq, this.rows(Int32Array.from(targets)), false, true);
      });
      contributions.set((await t.data()) as Float32Array);
      t.dispose();
    }
    const votes = new Float32Array(history.length * cols);
    // The shop's best sellers now among the targets, by column, with what they sold lately.
    const selling: { col: number; v: number }[] = [];
    const now = this.sellsNowFeature();
    for (let j = 0; j < now.idx.length; j++) {
      const col = column.get(now.idx[j]!);
      if (col !== undefined) selling.push({ col, v: now.val[j]! });
    }
    const sellsNow = new Float32Array(cols);
    if (cast[0]!.length + cast[1]!.length + selling.length > 0) {
      const { mix } = await this.queryParams();
      const weight = (f: (typeof MEMORY_FEATURES)[number]): number => mix[2 * MEMORY_FEATURES.indexOf(f) + ctx]!;
      [weight('transitions'), weight('own order')].forEach((m, f) => {
        for (const { row, col, v } of cast[f]!) votes[row * cols + col]! += m * v;
      });
      const m = weight('sells now');
      for (const { col, v } of selling) sellsNow[col] = m * v;
    }
    return { history, weights, contributions, votes, voteWeights, sellsNow };
  }

  /** The scored set of a click: p, impressions, seeded random negatives. */
  private batch(input: LearnInput): Batch {
    return scoredSet(input, this.n, this.options, this.clickCount);
  }

  /** Closed-form gradients of the per-click loss. Tensors, inside a tidy. */
  private gradTensors(
    b: Batch,
    time: number,
  ): {
    loss: tf.Scalar;
    gW: tf.Tensor2D;
    gu: tf.Tensor1D;
    gA: tf.Tensor1D;
    gM: tf.Tensor1D;
    gB: tf.Tensor1D;
    /** Δb at the scored items. */
    dB: tf.Tensor1D;
  } {
    const h = this.historyVector();
    const ctx = this.context(time);
    const mixW = this.mixWeights(ctx);
    const y = tf.tensor1d(b.y);
    const w = tf.tensor1d(b.w);
    const VS = this.rows(b.idx);
    // The sparse features at the scored items only, summed in JS: no pass over the catalogue.
    const at = new Map<number, number>();
    b.idx.forEach((i, j) => at.set(i, j));
    const atScored = (pairs: Iterable<[number, number]>): tf.Tensor1D => {
      const v = new Float32Array(b.idx.length);
      for (const [i, x] of pairs) {
        const j = at.get(i);
        if (j !== undefined) v[j]! += x;
      }
      return tf.tensor1d(v);
    };
    const repS = atScored(this.historyWeights().map((x) => [x.i, x.w]));
    // [features, |scored|]: each feature's values at the scored items.
    const featS = tf.stack(this.features().map((f) => atScored(Array.from(f.idx, (i, k) => [i, f.val[k]!]))));
    const dBS = this.deltaAt(b.idx);
    const biasS = tf.add(this.fusedAt(b.idx), dBS);
    const alpha = tf.add(tf.scalar(this.alpha0), this.dAlpha);
    const q = this.query(h);
    const s = tf.add(
      tf.add(tf.reshape(tf.matMul(VS, tf.reshape(q, [this.dims, 1])), [-1]), biasS),
      tf.add(tf.mul(alpha, repS), tf.reshape(tf.matMul(tf.reshape(mixW, [1, -1]), featS), [-1])),
    );
    const lam = this.options.l2;
    // loss = log Σⱼ wⱼ exp(sⱼ) − Σⱼ yⱼ sⱼ + λ/2 (‖ΔW‖² + ‖Δu‖² + Δα² + ‖Δmix‖² + Σ_{j∈S} Δbⱼ²):
    // the clicked item's weighted softmax against the others of the scored set.
    const reg = tf.mul(
      lam / 2,
      tf.addN([
        tf.sum(tf.square(this.dW)),
        tf.sum(tf.square(this.du)),
        tf.sum(tf.square(this.dAlpha)),
        tf.sum(tf.square(this.dMix)),
        tf.sum(tf.square(dBS)),
      ]),
    );
    const top = tf.max(s);
    const e = tf.mul(w, tf.exp(tf.sub(s, top)));
    const z = tf.sum(e);
    const loss = tf.add(tf.sub(tf.add(tf.log(z), top), tf.sum(tf.mul(y, s))), reg) as tf.Scalar;
    // ∂loss/∂sⱼ = wⱼ exp(sⱼ) / Σₖ wₖ exp(sₖ) − yⱼ
    const g = tf.sub(tf.div(e, z), y);
    const gq = tf.reshape(tf.matMul(tf.reshape(g, [1, -1]), VS), [this.dims]) as tf.Tensor1D; // Σ gⱼ vⱼ
    const gu = tf.add(gq, tf.mul(lam, this.du)) as tf.Tensor1D;
    const gW = tf.add(tf.outerProduct(h, gq), tf.mul(lam, this.dW)) as tf.Tensor2D;
    const gA = tf.add(tf.reshape(tf.sum(tf.mul(g, repS)), [1]), tf.mul(lam, this.dAlpha)) as tf.Tensor1D;
    const gB = tf.add(g, tf.mul(lam, dBS)) as tf.Tensor1D;
    // Only the weights of the current context get a gradient: Σⱼ gⱼ fⱼ per feature, at 2f + ctx.
    const gF = tf.reshape(tf.matMul(featS, tf.reshape(g, [-1, 1])), [-1]);
    const slots = tf.tensor2d(
      MEMORY_FEATURES.map((_, f) => 2 * f + ctx),
      [MEMORY_FEATURES.length, 1],
      'int32',
    );
    const gM = tf.add(tf.scatterND(slots, gF, [MIX_LENGTH]), tf.mul(lam, this.dMix)) as tf.Tensor1D;
    return { loss, gW, gu, gA, gM, gB, dB: dBS as tf.Tensor1D };
  }

  /** The per-click loss at the current φ (for finite-difference checks). */
  async loss(input: LearnInput): Promise<number> {
    this.assertAlive();
    const b = this.batch(input);
    const t = tf.tidy(() => this.gradTensors(b, input.time).loss);
    const v = (await t.data())[0]!;
    t.dispose();
    return v;
  }

  /** Closed-form gradients at the current φ, unclipped (for tests and diagnostics). */
  async gradients(input: LearnInput): Promise<HeadGradients> {
    this.assertAlive();
    const b = this.batch(input);
    const out = tf.tidy(() => {
      const r = this.gradTensors(b, input.time);
      return [r.gW, r.gu, r.gA, r.gB, r.loss, r.gM] as tf.Tensor[];
    });
    const [gW, gu, gA, gB, loss, gM] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    out.forEach((t) => t.dispose());
    return { dW: gW!, du: gu!, dAlpha: gA![0]!, dMix: gM!, indices: b.idx, dBias: gB!, loss: loss![0]! };
  }

  /**
   * Learns one click: one clipped AdaGrad step on φ, then the click joins the history. Runs as
   * tensor ops on the active backend; nothing is read back to the CPU.
   */
  learnOne(input: LearnInput): void {
    this.assertAlive();
    if (!Number.isInteger(input.item) || input.item < 0 || input.item >= this.n) {
      throw new RangeError(`item index ${input.item} is outside the catalogue [0, ${this.n})`);
    }
    const o = this.options;
    const windowStart = input.time - o.repeatWindowMs;
    this.recent = this.recent.filter((r) => r.t >= windowStart && r.t <= input.time);
    const repeats = this.recent.filter((r) => r.i === input.item).length;
    const eta = o.learningRate / (1 + repeats);
    const b = this.batch(input);
    // Past `maxRepeats` clicks on one item within the window, a click still joins the history
    // (and is counted and stored) but no longer moves φ.
    // Every scored item is touched (gets a slot), whether or not φ moves.
    const slots = this.slotsOf(b.idx);
    if (repeats < o.maxRepeats && eta > 0) this.step(b, slots, eta, input.time);
    this.pushHistory(input.item);
    this.noteClick(this.idOf(input.item), input.time);
    // Keep, per item, only the clicks that can still count as repeats: the window is pruned
    // above, and more than maxRepeats + 1 per item never change a decision.
    this.recent.push({ i: input.item, t: input.time });
    const mine = this.recent.filter((r) => r.i === input.item);
    if (mine.length > o.maxRepeats + 1) this.recent.splice(this.recent.indexOf(mine[0]!), 1);
    if (this.recent.length > 4096) this.recent.splice(0, this.recent.length - 4096);
    this.clickCount++;
  }

  /**
   * The slots in `gB` of items `idx`, giving the items not yet touched the next free ones (their
   * sums start at 0) and growing `gB` when it is full.
   */
  private slotsOf(idx: Int32Array): Int32Array {
    const out = new Int32Array(idx.length);
    idx.forEach((i, j) => {
      let at = this.touched.get(i);
      if (at === undefined) this.touched.set(i, (at = this.touched.size));
      out[j] = at;
    });
    const cap = this.gB.shape[0];
    if (this.touched.size > cap) {
      const next = this.slotsFor(this.touched.size);
      const [oldG, oldB] = [this.gB, this.dB];
      this.gB = own(tf.tidy(() => tf.concat([oldG, tf.zeros([next - cap])])));
      this.dB = own(tf.tidy(() => tf.concat([oldB, tf.zeros([next - cap])])));
      oldG.dispose();
      oldB.dispose();
    }
    return out;
  }

  /** One clipped AdaGrad step on φ for a scored set. */
  private step(b: Batch, slots: Int32Array, eta: number, time: number): void {
    const o = this.options;
    const a0 = o.initialAccumulator;
    tf.tidy(() => {
      const { gW, gu, gA, gM, gB, dB: bOld } = this.gradTensors(b, time);
      const sq = tf.addN([
        tf.sum(tf.square(gW)),
        tf.sum(tf.square(gu)),
        tf.sum(tf.square(gA)),
        tf.sum(tf.square(gM)),
        tf.sum(tf.square(gB)),
      ]);
      // A gradient that is not finite (a corrupt vector somewhere) must not poison φ: skip the step.
      const ok = tf.isFinite(sq);
      const clip = tf.where(
        ok,
        tf.minimum(1, tf.div(o.clipNorm, tf.add(tf.sqrt(tf.where(ok, sq, tf.zerosLike(sq))), 1e-12))),
        tf.zerosLike(sq),
      );
      const step = <T extends tf.Tensor>(param: tf.Variable, acc: tf.Variable, grad: T): void => {
        const gc = tf.mul(grad, clip);
        const a = tf.add(acc, tf.square(gc));
        acc.assign(a);
        param.assign(tf.sub(param, tf.div(tf.mul(eta, gc), tf.add(tf.sqrt(tf.add(a, a0)), 1e-8))));
      };
      step(this.dW, this.gW, gW);
      step(this.du, this.gu, gu);
      step(this.dAlpha, this.gAlpha, gA);
      step(this.dMix, this.gMix, gM);
      this.markParams();
      // Δb is sparse: update only the scored coordinates, then scatter the change back.
      const gc = tf.where(ok, tf.mul(gB, clip), tf.zerosLike(gB));
      const slotAt = tf.tensor1d(slots, 'int32');
      const accOld = tf.gather(this.gB, slotAt);
      const accNew = tf.add(accOld, tf.square(gc));
      const bNew = tf.clipByValue(
        tf.sub(bOld, tf.div(tf.mul(eta, gc), tf.add(tf.sqrt(tf.add(accNew, a0)), 1e-8))),
        -o.maxItemBias,
        o.maxItemBias,
      );
      // Each made as the old one with the scored entries' slots replaced: nothing N-long.
      const at = tf.reshape(slotAt, [-1, 1]);
      this.gB.assign(replaceAt(this.gB, at, accNew));
      this.dB.assign(replaceAt(this.dB, at, bNew));
    });
    this.markBias(b.idx);
  }

  private pushHistory(item: number): void {
    pushHistory(this.history, item, this.options);
  }

  /** Updates what the features remember of a click (see {@link ShopperMemory}). */
  private noteClick(id: string, time: number | null): void {
    this.memory.note(id, time, this.options);
  }

  /**
   * Records a click on an item this catalogue does not have (another page of the shop shows it):
   * it joins the history by id, so the pages that know it keep it, but φ does not move here.
   */
  learnForeign(id: string, time: number | null = null): void {
    this.assertAlive();
    pushHistory(this.history, -1, this.options, id);
    this.noteClick(id, time);
    this.clickCount++;
  }

  /** ‖φ‖₂: how far this shopper has moved from the base. */
  async deltaNorm(): Promise<number> {
    const t = tf.tidy(() =>
      tf.sqrt(
        tf.addN([
          tf.sum(tf.square(this.dW)),
          tf.sum(tf.square(this.du)),
          tf.sum(tf.square(this.dAlpha)),
          tf.sum(tf.square(this.dMix)),
          // Δb is 0 in every slot no item has taken.
          tf.sum(tf.square(this.dB)),
        ]),
      ),
    );
    const v = (await t.data())[0]!;
    t.dispose();
    return v;
  }

  /** Serialises φ, the AdaGrad state and the history. Per-item entries are keyed by id. */
  async save(): Promise<HeadState> {
    this.assertAlive();
    const touched = [...this.touched.keys()].sort((a, b) => a - b);
    const tb = tf.tidy(() => this.deltaAt(touched));
    const tg = tf.tidy(() =>
      touched.length
        ? tf.gather(
            this.gB,
            tf.tensor1d(
              Int32Array.from(touched, (i) => this.touched.get(i)!),
              'int32',
            ),
          )
        : tf.zeros([0]),
    );
    // Asynchronous reads only: synchronous GPU readback is slow everywhere and broken on some WebGPU stacks.
    const [bv, gv, dW, du, dA, gW, gu, gA, dM, gM] = await Promise.all(
      [tb, tg, this.dW, this.du, this.dAlpha, this.gW, this.gu, this.gAlpha, this.dMix, this.gMix].map(
        (t) => t.data() as Promise<Float32Array>,
      ),
    );
    tb.dispose();
    tg.dispose();
    const dBias: Record<string, number> = {};
    const gBias: Record<string, number> = {};
    for (const f of this.foreignBias) {
      setOwn(dBias, f.id, f.b);
      setOwn(gBias, f.id, f.g);
    }
    touched.forEach((i, k) => {
      setOwn(dBias, this.idOf(i), bv![k]!);
      setOwn(gBias, this.idOf(i), gv![k]!);
    });
    return {
      dims: this.dims,
      dW: Array.from(dW!),
      du: Array.from(du!),
      dAlpha: dA![0]!,
      dBias,
      gW: Array.from(gW!),
      gu: Array.from(gu!),
      gAlpha: gA![0]!,
      gBias,
      history: this.history.map((h) => ({ id: h.i >= 0 ? this.idOf(h.i) : h.id!, w: h.w })),
      recent: this.recent.map((r) => ({ id: this.idOf(r.i), t: r.t })),
      clicks: this.clickCount,
      dMix: Array.from(dM!),
      gMix: Array.from(gM!),
      ...this.memory.save(),
    };
  }

  /**
   * Restores a saved state. Entries for ids not in this catalogue are kept aside, unchanged, and
   * written back by `save` (and counted in `foreignIds`). Throws a RangeError when the dimensions
   * differ or a value is not a finite number: such a state cannot be kept and must be rebuilt by
   * replaying events. Nothing changes when it throws.
   */
  load(state: HeadState): { foreignIds: number } {
    this.assertAlive();
    const d = this.dims;
    if (
      state.dims !== d ||
      !Array.isArray(state.dW) ||
      state.dW.length !== d * d ||
      state.du?.length !== d ||
      state.gW?.length !== d * d ||
      state.gu?.length !== d
    ) {
      throw new RangeError(`saved head state has dims ${state.dims}, this head has ${d}`);
    }
    if (
      !finiteArray(state.dW, d * d) ||
      !finiteArray(state.du, d) ||
      !finiteArray(state.gW, d * d) ||
      !finiteArray(state.gu, d) ||
      !finite(state.dAlpha) ||
      !finite(state.gAlpha) ||
      typeof state.dBias !== 'object' ||
      state.dBias === null ||
      typeof state.gBias !== 'object' ||
      state.gBias === null ||
      !Object.values(state.dBias).every(finite) ||
      !Object.values(state.gBias).every(finite) ||
      !Array.isArray(state.history) ||
      !state.history.every((h) => typeof h?.id === 'string' && finite(h.w)) ||
      !Array.isArray(state.recent) ||
      !state.recent.every((r) => typeof r?.id === 'string' && finite(r.t)) ||
      !Number.isSafeInteger(state.clicks) ||
      state.clicks < 0 ||
      (state.dMix !== undefined && !mixArray(state.dMix)) ||
      (state.gMix !== undefined && !mixArray(state.gMix)) ||
      (state.lastItems !== undefined && !(Array.isArray(state.lastItems) && state.lastItems.every((x) => typeof x === 'string'))) ||
      (state.counts !== undefined &&
        !(Array.isArray(state.counts) && state.counts.every((c) => Array.isArray(c) && typeof c[0] === 'string' && finite(c[1])))) ||
      (state.pairs !== undefined &&
        !(
          Array.isArray(state.pairs) &&
          state.pairs.every((c) => Array.isArray(c) && typeof c[0] === 'string' && typeof c[1] === 'string' && finite(c[2]))
        )) ||
      (state.starts !== undefined &&
        !(Array.isArray(state.starts) && state.starts.every((c) => Array.isArray(c) && typeof c[0] === 'string' && finite(c[1])))) ||
      (state.lastTime !== undefined && state.lastTime !== null && !finite(state.lastTime)) ||
      (state.visit !== undefined && !(Array.isArray(state.visit) && state.visit.every((x) => typeof x === 'string')))
    ) {
      throw new RangeError('saved head state holds values that are not finite numbers');
    }
    const foreign: { id: string; b: number; g: number }[] = [];
    const bIdx: number[] = [];
    const bVal: number[] = [];
    const gVal: number[] = [];
    for (const [id, v] of Object.entries(state.dBias)) {
      const g = Object.hasOwn(state.gBias, id) ? state.gBias[id]! : 0;
      const i = this.index(id);
      if (i === undefined) {
        foreign.push({ id, b: v, g });
        continue;
      }
      bIdx.push(i);
      bVal.push(v);
      gVal.push(g);
    }
    tf.tidy(() => {
      this.dW.assign(tf.tensor2d(state.dW, [d, d]));
      this.du.assign(tf.tensor1d(state.du));
      this.dAlpha.assign(tf.tensor1d([state.dAlpha]));
      this.gW.assign(tf.tensor2d(state.gW, [d, d]));
      this.gu.assign(tf.tensor1d(state.gu));
      this.gAlpha.assign(tf.tensor1d([state.gAlpha]));
      this.dMix.assign(tf.tensor1d(padMix(state.dMix)));
      this.gMix.assign(tf.tensor1d(padMix(state.gMix)));
      this.markParams();
    });
    // The saved items take the first slots, with their Δb and their sums.
    const cap = this.slotsFor(bIdx.length);
    const slotted = (v: number[]): tf.Variable<tf.Rank.R1> =>
      own(tf.tidy(() => (v.length ? tf.concat([tf.tensor1d(v), tf.zeros([cap - v.length])]) : tf.zeros([cap]))));
    const [oldG, oldB] = [this.gB, this.dB];
    this.gB = slotted(gVal);
    this.dB = slotted(bVal);
    oldG.dispose();
    oldB.dispose();
    this.markBias('all');
    this.touched.clear();
    bIdx.forEach((i, slot) => this.touched.set(i, slot));
    this.foreignBias = foreign;
    this.history = state.history.map((h) => {
      const i = this.index(h.id);
      return i === undefined ? { i: -1, w: h.w, id: h.id } : { i, w: h.w };
    });
    this.recent = state.recent.flatMap((r) => {
      const i = this.index(r.id);
      return i === undefined ? [] : [{ i, t: r.t }];
    });
    this.clickCount = state.clicks;
    this.memory = ShopperMemory.restore(state);
    return { foreignIds: foreign.length };
  }

  /** φ and its AdaGrad sums: everything a reset zeroes. */
  private learned(): tf.Variable[] {
    return [this.dW, this.du, this.dAlpha, this.dMix, this.dB, this.gW, this.gu, this.gAlpha, this.gMix, this.gB];
  }

  /** Forgets φ, AdaGrad state and history: back to the base. */
  reset(): void {
    this.assertAlive();
    tf.tidy(() => {
      for (const v of this.learned()) v.assign(tf.zerosLike(v));
      this.markParams();
    });
    this.markBias('all');
    this.history = [];
    this.recent = [];
    this.foreignBias = [];
    this.memory = new ShopperMemory();
    this.touched.clear();
    this.clickCount = 0;
  }

  /** Frees every tensor the head holds. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [this.W0, ...this.learned()]) t.dispose();
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('This head was disposed.');
  }
}
