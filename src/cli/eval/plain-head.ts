/**
 * The incremental head on plain typed arrays, for replaying logs fast in Node (`npm run eval`).
 * It computes exactly what `IncrementalHead` (src/core/head.ts) computes, scores and learning
 * alike, with the same scored sets (`scoredSet`) and history rule (`pushHistory`); a test replays
 * the same events through both and compares every score. Both score through the same item matrix
 * (int8 rows, the WebAssembly kernel); this one learns on typed arrays instead of a few dozen small
 * tensor ops per event, which is what bounds a replay of hundreds of thousands of events.
 */
import type { BaseParams, HeadOptions, LearnInput, Transitions } from '../../core/head.js';
import { DEFAULT_HEAD_OPTIONS, normalisedHistory, pushHistory, scoredSet, transitionVotes, validateHeadOptions } from '../../core/head.js';
import { ItemMatrix, TopK } from '../../core/item-matrix.js';
import type { Likeness } from '../../core/interests.js';
import { MIX_LENGTH, ownPopularity, ShopperMemory } from '../../core/memory.js';
import { BEST_SELLERS_KEPT, bestSellers, freshPlacesFor, launchesIn, sellsNow, sellsNowOf, slottedTop } from '../../core/new-slots.js';
import { ReplayKernel } from './replay-kernel.js';

/** A shopper's ΔW and its sums before their first learning step: all 0, and held by no one (see `PlainState.dW`). */
const NO_DW = new Float64Array(0);

/** One shopper's φ, AdaGrad state and memory; parked and restored as a whole between shoppers. */
export interface PlainState {
  /**
   * ΔW [d × d] and, in `gW`, its AdaGrad sums: empty until the shopper's first learning step, as
   * both are 0 until then. A frozen head's shoppers never take the 2 d² numbers (64 KB at 64
   * dimensions) that every shopper would otherwise hold, scored or not.
   */
  dW: Float64Array;
  du: Float64Array;
  dAlpha: number;
  dMix: Float64Array;
  gW: Float64Array;
  gu: Float64Array;
  gAlpha: number;
  gMix: Float64Array;
  /**
   * Δb (float32, as the head keeps it). A shopper touches few of a large catalogue's items, so
   * Δb is kept for those only, `idx[k]` → `val[k]` for k < `count`: a parked shopper holds
   * nothing the size of the catalogue. While their turn lasts, the head keeps it in a dense array
   * for its hot loops, and writes `val` back when the turn ends. A shopper who has touched more
   * than an eighth of the catalogue keeps a `dense` array of their own instead, which the head
   * then uses as it is: two passes over their items at every turn would cost more than one over
   * the catalogue.
   */
  dB: { idx: Int32Array; val: Float32Array; count: number; dense: Float32Array | null };
  /** Δb's AdaGrad sums, per touched item (its keys are the items of `dB.idx`). */
  gB: Map<number, number>;
  history: { i: number; w: number }[];
  recent: { i: number; t: number }[];
  /** What the sparse features remember (the head's own {@link ShopperMemory}, by index). */
  memory: ShopperMemory<number>;
  clicks: number;
  /** ‖ΔW‖², kept up to date by each step (the gradient's norm needs it). */
  dWsq: number;
}

/** A fresh shopper. */
export function freshState(d: number): PlainState {
  return {
    dW: NO_DW,
    du: new Float64Array(d),
    dAlpha: 0,
    dMix: new Float64Array(MIX_LENGTH),
    gW: NO_DW,
    gu: new Float64Array(d),
    gAlpha: 0,
    gMix: new Float64Array(MIX_LENGTH),
    dB: { idx: new Int32Array(0), val: new Float32Array(0), count: 0, dense: null },
    gB: new Map(),
    history: [],
    recent: [],
    memory: new ShopperMemory(),
    clicks: 0,
    dWsq: 0,
  };
}

/** What the scoring and the learning step of one moment read about a shopper. */
interface UserContext {
  h: Float64Array;
  q: Float64Array;
  /** h ΔW, the part of q that ΔW gives (the gradient's norm needs it). */
  hdW: Float64Array;
  rep: Map<number, number>;
  /** The features of {@link MEMORY_FEATURES}, in that order. */
  feats: Map<number, number>[];
  ctx: 0 | 1;
}

/** One AdaGrad step of `param` (sums `acc`, read as a₀ + the sums: `initialAccumulator`) along `grad` scaled by `clip`. */
function adagrad(param: Float64Array, acc: Float64Array, grad: Float64Array, clip: number, eta: number, a0: number): void {
  for (let k = 0; k < param.length; k++) {
    const gc = grad[k]! * clip;
    acc[k]! += gc * gc;
    param[k]! -= (eta * gc) / (Math.sqrt(acc[k]! + a0) + 1e-8);
  }
}

/** The arrays of a learning step over up to `m` items, `nf` features and `d` dimensions. */
function stepScratch(
  m: number,
  nf: number,
  d: number,
): {
  m: number;
  nf: number;
  g: Float64Array;
  gB: Float64Array;
  dbS: Float64Array;
  sAll: Float64Array;
  rAll: Float64Array;
  f: Float64Array;
  wF: Float64Array;
  gF: Float64Array;
  gq: Float64Array;
  gu: Float64Array;
  gM: Float64Array;
} {
  return {
    m,
    nf,
    g: new Float64Array(m),
    gB: new Float64Array(m),
    wF: new Float64Array(nf),
    gF: new Float64Array(nf),
    gq: new Float64Array(d),
    gu: new Float64Array(d),
    gM: new Float64Array(MIX_LENGTH),
    dbS: new Float64Array(m),
    sAll: new Float64Array(m),
    rAll: new Float64Array(m),
    f: new Float64Array(m * nf),
  };
}

/** The head's function on typed arrays. One instance serves every shopper in turn. */
export class PlainHead {
  readonly n: number;
  readonly d: number;
  readonly options: HeadOptions;
  /** vᵢ = eᵢ + rᵢ, row-major [n × d], as the head has them (its int8 rows, dequantised). */
  private readonly V: Float32Array;
  /** The same rows as the scoring pass reads them; their bias is bBase + the current shopper's Δb. */
  private readonly matrix: ItemMatrix;
  private readonly alpha0: number;
  /** bᵢ + ψᵢ: the base's biases plus the shop delta's. */
  private readonly bBase: Float32Array;
  /** The base's own biases bᵢ. */
  readonly baseBias: Float32Array;
  /** `BaseParams.recent`: what own popularity reads until the stream publishes its own, or null (then the base's bias). */
  readonly baseRecent: ReadonlyMap<number, number> | null;
  /** What sold lately as the shop's stream last published it (`setRecentSales`), or null. */
  private streamRecent: Float32Array | null = null;
  /** Bumped whenever own popularity's source changes, so no shopper's context outlives it. */
  private recentVersion = 0;
  /** The "sells now" feature as last made, with the version of what sold lately it is of. */
  private sellingNow: { recent: number; map: Map<number, number> } | null = null;
  /** `BaseParams.recentHalfLifeDays`: the stream keeps what sold lately with it; 0 where the base ships none. */
  readonly recentHalfLifeDays: number;
  /** `BaseParams.recentAt`: the time the base's `recent` stands at, or null. */
  readonly recentAt: number | null;
  /** 1 for the items the base knows (`BaseParams.known`), or null where the base gave none. */
  readonly known: Uint8Array | null;
  /** Scratch arrays of a learning step, grown as scored sets need. */
  private scratch: ReturnType<typeof stepScratch> | null = null;
  private readonly mix0: Float64Array;
  /** The weight of the shop delta ψ (the base's `shopDeltaWeight`), and on the items the base does not know. */
  private readonly shopWeight: number;
  private readonly shopWeightNew: number;
  /** `BaseParams.newSlots`: places per ten kept for the items the base does not know while ψ is in force. */
  readonly newSlots: number;
  /** `BaseParams.launchSlots`: places per ten for launches among the shop's best sellers now. */
  readonly launchSlots: number;
  /** The shop's best sellers now, best first, as the stream last published what sells (empty without). */
  private sellers: Int32Array = new Int32Array(0);
  /** Whether a shop delta ψ is fused in (`setShopBias`). */
  private shopDelta = false;
  private readonly T: Transitions | null;
  private current: PlainState;
  /** The current shopper's Δb over the catalogue (0 where they touched nothing), for the hot loops. */
  private dBCur: Float32Array;
  /** The dense array of the shoppers who keep Δb for their touched items only (see `PlainState.dB`). */
  private readonly dBShared: Float32Array;
  /** The d × d loops: projection and the AdaGrad step on ΔW (WebAssembly SIMD, or their plain twins). */
  private readonly kernel: ReplayKernel;
  /**
   * Each shopper's context as last computed, with the click count and visit context it was
   * computed at: a replay scores an event, then learns it at the shopper's next turn, with
   * nothing changed in between, so the step reuses what the scoring computed.
   */
  /** ΔW and its sums of a shopper who has not learned yet: d × d zeros, shared, never written. */
  private readonly zeroW: Float64Array;
  /** Each shopper's own-popularity feature as last made, with the recent sales' version and the counts' size it is of. */
  private readonly popularity = new WeakMap<ShopperMemory<number>, { recent: number; size: number; map: Map<number, number> }>();
  private readonly contexts = new WeakMap<PlainState, { clicks: number; ctx: 0 | 1; recent: number; value: UserContext }>();

  /**
   * @param E content vectors [n × d] as the head receives them (centred, normalised)
   * @param kernel the code of the d × d loops (projection, AdaGrad step on ΔW): the WebAssembly
   *   kernel where it runs (default), or the plain loops
   */
  constructor(
    E: Float32Array,
    n: number,
    d: number,
    base: BaseParams,
    options: Partial<HeadOptions> = {},
    kernel: 'wasm-simd' | 'js' = 'wasm-simd',
  ) {
    this.n = n;
    this.d = d;
    this.options = { ...DEFAULT_HEAD_OPTIONS, ...validateHeadOptions(options) };
    // The head's item rows exactly: int8 with a scale each, scored by the same kernel, and
    // learned from dequantised (rows that are already int8 values come back unchanged).
    this.matrix = new ItemMatrix(n, d);
    this.matrix.setRows(0, base.residual ? Float32Array.from(E, (v, k) => v + base.residual![k]!) : E.subarray(0, n * d));
    this.V = this.matrix.allRows();
    this.alpha0 = base.alpha;
    this.bBase = Float32Array.from(base.bias);
    this.matrix.bias.set(base.bias);
    this.baseBias = Float32Array.from(base.bias);
    this.baseRecent = base.recent ?? null;
    this.recentAt = this.baseRecent ? (base.recentAt ?? null) : null;
    this.recentHalfLifeDays = this.recentAt !== null ? (base.recentHalfLifeDays ?? 0) : 0;
    this.mix0 = Float64Array.from({ length: MIX_LENGTH }, (_, k) => Number(base.mix?.[k] ?? 0));
    this.shopWeight = base.shopDeltaWeight ?? 1;
    this.shopWeightNew = base.shopDeltaWeightNew ?? this.shopWeight;
    this.known = base.known ?? null;
    this.newSlots = base.newSlots ?? 0;
    this.launchSlots = base.launchSlots ?? 0;
    this.T = base.transitions ?? null;
    this.current = freshState(d);
    this.dBShared = new Float32Array(n);
    this.dBCur = this.dBShared;
    this.kernel = new ReplayKernel(d, base.W, { kernel });
    this.zeroW = new Float64Array(d * d);
  }

  /** Fuses the shop delta ψ into the base exactly as `IncrementalHead.setShopBias` does. */
  setShopBias(psi: Float32Array | null): void {
    if (psi && psi.length !== this.n) throw new RangeError(`shop bias has ${psi.length} entries, the catalogue ${this.n}`);
    const w = this.shopWeight;
    const known = this.known;
    for (let i = 0; i < this.n; i++)
      this.bBase[i] = this.baseBias[i]! + (psi ? (known && !known[i] ? this.shopWeightNew : w) * psi[i]! : 0);
    this.shopDelta = psi !== null;
    this.fuseBias();
  }

  /**
   * Gives `scores` (every item's, as {@link scores} writes them) the ranking a list of `k` shows
   * with the places kept for new products (`withNewSlots`, as the recommender applies it): the
   * list's items are lifted above every other score, in its order. A no-op without places
   * (`IncrementalHead.freshPlaces`), without the base's `known`, or while no shop delta is in force.
   */
  applyNewSlots(scores: Float32Array, k: number): void {
    const known = this.known;
    if (!known || !this.shopDelta) return;
    const launches = this.launchSlots > 0 ? launchesIn(this.sellers, known, k) : new Int32Array(0);
    const m = freshPlacesFor(k, this.newSlots, this.launchSlots, launches.length);
    if (m === 0) return;
    const list = slottedTop(scores, known, k, m, launches, this.newSlots > 0);
    let max = -Infinity;
    for (let i = 0; i < this.n; i++) if (scores[i]! > max) max = scores[i]!;
    list.forEach((i, j) => (scores[i] = max + (list.length - j)));
  }

  /**
   * Own popularity from what the shop's stream says sold lately (`RecentSales.values`), in place
   * of the base's `recent`, exactly as `IncrementalHead.setRecentSales` does; null returns to the base's.
   */
  setRecentSales(values: Float32Array | null): void {
    if (values && values.length !== this.n) throw new RangeError(`recent sales have ${values.length} entries, the catalogue ${this.n}`);
    this.streamRecent = values;
    this.sellers = values ? bestSellers(values) : new Int32Array(0);
    this.recentVersion++;
  }

  /** The shopper whose turn it is (their φ, AdaGrad sums and memory), with all they learned written into it. */
  get state(): PlainState {
    this.kernel.flush();
    return this.current;
  }

  /**
   * Another shopper's turn: only the items either shopper touched change in the scoring pass's
   * bias, and the shopper whose turn ends gets back the ΔW that the kernel holds.
   */
  set state(st: PlainState) {
    if (st === this.current) return;
    this.kernel.flush();
    const { bias } = this.matrix;
    const { dBShared: shared, bBase } = this;
    const old = this.current.dB;
    const now = st.dB;
    this.current = st;
    // The shopper whose turn ends: their values back from the shared array, which is left at 0.
    if (!old.dense) {
      const { idx, val, count } = old;
      for (let k = 0; k < count; k++) {
        const i = idx[k]!;
        val[k] = shared[i]!;
        shared[i] = 0;
      }
    }
    if (now.dense) this.dBCur = now.dense;
    else {
      this.dBCur = shared;
      const { idx, val, count } = now;
      for (let k = 0; k < count; k++) shared[idx[k]!] = val[k]!;
    }
    if (old.dense || now.dense || old.count + now.count > this.n >> 3) {
      this.fuseBias();
      return;
    }
    for (let k = 0; k < old.count; k++) bias[old.idx[k]!] = bBase[old.idx[k]!]!;
    for (let k = 0; k < now.count; k++) bias[now.idx[k]!] = bBase[now.idx[k]!]! + now.val[k]!;
  }

  /**
   * Ends the current shopper's turn, so that their state holds all they learned (their Δb is kept
   * in the head's own array while their turn lasts): before they go on with another head, as at a
   * rebase.
   */
  park(): void {
    this.state = freshState(this.d);
    this.kernel.release();
  }

  /** Adds item `i` to the items the current shopper touched (see `PlainState.dB`). */
  private touch(i: number): void {
    const dB = this.current.dB;
    dB.count++;
    if (dB.dense) return;
    if (dB.count > this.n >> 3) {
      // Past an eighth of the catalogue: their own dense array, taken from the shared one.
      dB.dense = this.dBShared.slice();
      for (let k = 0; k < dB.count - 1; k++) this.dBShared[dB.idx[k]!] = 0;
      dB.idx = new Int32Array(0);
      dB.val = new Float32Array(0);
      this.dBCur = dB.dense;
      return;
    }
    if (dB.count > dB.idx.length) {
      const size = Math.max(64, 2 * dB.idx.length);
      const idx = new Int32Array(size);
      idx.set(dB.idx);
      dB.idx = idx;
      const val = new Float32Array(size);
      val.set(dB.val);
      dB.val = val;
    }
    dB.idx[dB.count - 1] = i;
  }

  /** The scoring pass's bias: bBase + the current shopper's Δb, so scoring adds Δb for free. */
  private fuseBias(): void {
    const bias = this.matrix.bias;
    for (let i = 0; i < this.n; i++) bias[i] = this.bBase[i]! + this.dBCur[i]!;
  }

  private context(time: number): 0 | 1 {
    return this.current.memory.context(time, this.options);
  }

  /** h, q, and the sparse features of the current shopper (computed once per click and visit context). */
  private userContext(time: number): UserContext {
    const st = this.current;
    const ctx = this.context(time);
    const memo = this.contexts.get(st);
    if (memo && memo.clicks === st.clicks && memo.ctx === ctx && memo.recent === this.recentVersion) return memo.value;
    const { d } = this;
    const hw = normalisedHistory(st.history);
    const h = new Float64Array(d);
    const rep = new Map<number, number>();
    for (const { i, w } of hw) {
      rep.set(i, (rep.get(i) ?? 0) + w);
      for (let k = 0; k < d; k++) h[k]! += w * this.V[i * d + k]!;
    }
    const { q, hdW } = st.dW.length ? this.kernel.project(h, st.dW, st.gW) : this.kernel.project(h, this.zeroW, this.zeroW);
    for (let k = 0; k < d; k++) q[k]! += hdW[k]! + st.du[k]!;
    const m = st.memory;
    const feats = [
      this.T ? transitionVotes(this.T, m.last, this.options) : new Map<number, number>(),
      ...m.ownFeatures(this.options),
      this.ownPopularity(m),
      m.visitItems(),
      this.sellsNowFeature(),
    ];
    const value = { h, q, hdW, rep, feats, ctx };
    this.contexts.set(st, { clicks: st.clicks, ctx, recent: this.recentVersion, value });
    return value;
  }

  /**
   * The shop's best sellers now with what they sold lately, as `IncrementalHead`'s feature is
   * made: `sellsNow` of the stream's recent sales, else of the base's; none where neither is.
   */
  private sellsNowFeature(): Map<number, number> {
    if (this.sellingNow && this.sellingNow.recent === this.recentVersion) return this.sellingNow.map;
    const map = this.streamRecent ? sellsNow(this.streamRecent, BEST_SELLERS_KEPT, this.sellers) : sellsNowOf(this.baseRecent, this.n);
    this.sellingNow = { recent: this.recentVersion, map };
    return map;
  }

  /** What sells, as own popularity reads it: the stream's recent sales, else the base's, else its bias. */
  private sells(i: number): number {
    return this.streamRecent ? this.streamRecent[i]! : this.baseRecent ? (this.baseRecent.get(i) ?? 0) : this.baseBias[i]!;
  }

  /**
   * The own-popularity feature of `m` (`ownPopularity`), kept from click to click rather than
   * made afresh over every item the shopper clicked: a click adds at most its own item (see
   * {@link learnOne}); the whole is made again where what sells changed or an item was forgotten.
   * The map's order differs from a fresh one's, which no sum depends on (each item once).
   */
  private ownPopularity(m: ShopperMemory<number>): Map<number, number> {
    const kept = this.popularity.get(m);
    if (kept && kept.recent === this.recentVersion && kept.size === m.counts.size) return kept.map;
    const map = ownPopularity(m.counts, (i) => this.sells(i));
    this.popularity.set(m, { recent: this.recentVersion, size: m.counts.size, map });
    return map;
  }

  /**
   * The current shopper's likeness of items to each clicked item, as the page reads it from its
   * head's explanation (`Likeness` in `src/core/interests.ts`): v_click (W₀ + ΔW) · vᵢ.
   */
  likeness(): Likeness {
    const { d, V } = this;
    const st = this.current;
    const byClick = new Map<number, Float64Array>();
    return (click, i) => {
      let q = byClick.get(click);
      if (!q) {
        const h = Float64Array.from(V.subarray(click * d, (click + 1) * d));
        const p = st.dW.length ? this.kernel.project(h, st.dW, st.gW) : this.kernel.project(h, this.zeroW, this.zeroW);
        q = p.q.map((v, k) => v + p.hdW[k]!);
        byClick.set(click, q);
      }
      let v = 0;
      for (let k = 0, at = i * d; k < d; k++, at++) v += q[k]! * V[at]!;
      return v;
    };
  }

  /** Scores of every item at `time`, written into `out`. */
  scores(time: number, out: Float32Array = new Float32Array(this.n)): Float32Array {
    const { q, rep, feats, ctx } = this.userContext(time);
    // The hot loop of a replay, in the head's own scoring kernel: bBase + Δb + V q for every item.
    this.matrix.dense(q, out);
    this.addSparse(out, rep, feats, ctx);
    return out;
  }

  /**
   * The shopper's sparse terms (re-buys, the features of `MEMORY_FEATURES`), each as `visit(item,
   * value)`: the re-buys first, then each feature in turn (the order a score's float32 sum takes them).
   */
  private forEachSparse(rep: Map<number, number>, feats: Map<number, number>[], ctx: 0 | 1, visit: (i: number, v: number) => void): void {
    const st = this.current;
    const alpha = this.alpha0 + st.dAlpha;
    for (const [i, w] of rep) visit(i, alpha * w);
    for (let k = 0; k < feats.length; k++) {
      const wf = this.mix0[2 * k + ctx]! + st.dMix[2 * k + ctx]!;
      if (wf !== 0) for (const [i, w] of feats[k]!) visit(i, wf * w);
    }
  }

  /** The shopper's sparse terms as a patch of the scoring pass's bias. */
  private sparsePatch(rep: Map<number, number>, feats: Map<number, number>[], ctx: 0 | 1): { idx: number[]; val: number[] } {
    const idx: number[] = [];
    const val: number[] = [];
    this.forEachSparse(rep, feats, ctx, (i, v) => {
      idx.push(i);
      val.push(v);
    });
    return { idx, val };
  }

  /** The shopper's sparse terms, added to `out`. */
  private addSparse(out: Float32Array, rep: Map<number, number>, feats: Map<number, number>[], ctx: 0 | 1): void {
    this.forEachSparse(rep, feats, ctx, (i, v) => (out[i]! += v));
  }

  /**
   * The first `k` items of the ranking at `time`, best first (ties to the lower index, a score
   * that is not a number never ranks), as a page's `recommend()` ranks before leaving any out:
   * what the page had ranked when the shopper's next click came (`LearnInput.ranked`).
   * `scored`: this moment's scores where the caller already has them.
   */
  ranking(time: number, k: number, scored?: Float32Array): number[] {
    const n = this.n;
    if (k < 1 || n === 0) return [];
    const top = new TopK(Math.min(k, n));
    if (scored) {
      for (let i = 0; i < n; i++) if (scored[i]! > top.threshold) top.push(scored[i]!, i);
    } else {
      // The head's own fused pass (as a page's topScores): no catalogue-long scores are made.
      const { q, rep, feats, ctx } = this.userContext(time);
      this.matrix.scanTop(q, top, 0, n, this.sparsePatch(rep, feats, ctx));
    }
    return Array.from(top.sorted().indices);
  }

  /** The current shopper's history as the head weighs it (`IncrementalHead.historyWeights`): what the page calls viewed. */
  historyWeights(): { i: number; w: number }[] {
    return normalisedHistory(this.current.history);
  }

  /** Learns one click exactly as `IncrementalHead.learnOne` does. */
  learnOne(input: LearnInput): void {
    const o = this.options;
    const st = this.current;
    if (!Number.isInteger(input.item) || input.item < 0 || input.item >= this.n)
      throw new RangeError(`item index ${input.item} is outside the catalogue`);
    const windowStart = input.time - o.repeatWindowMs;
    st.recent = st.recent.filter((r) => r.t >= windowStart && r.t <= input.time);
    const repeats = st.recent.filter((r) => r.i === input.item).length;
    const eta = o.learningRate / (1 + repeats);
    const b = scoredSet(input, this.n, o, st.clicks);
    if (repeats < o.maxRepeats && eta > 0) this.step(b, eta, input.time);
    pushHistory(st.history, input.item, o);
    const counted = st.memory.counts.size;
    const known = st.memory.counts.has(input.item);
    st.memory.note(input.item, input.time, o);
    const pop = this.popularity.get(st.memory);
    if (pop && !known) {
      // A new item: its popularity joins the kept feature, unless it pushed another item out.
      if (st.memory.counts.size === counted + 1) {
        const b = this.sells(input.item);
        if (b !== 0 && Number.isFinite(b)) pop.map.set(input.item, b);
        pop.size++;
      } else this.popularity.delete(st.memory);
    }
    st.recent.push({ i: input.item, t: input.time });
    const mine = st.recent.filter((r) => r.i === input.item);
    if (mine.length > o.maxRepeats + 1) st.recent.splice(st.recent.indexOf(mine[0]!), 1);
    if (st.recent.length > 4096) st.recent.splice(0, st.recent.length - 4096);
    st.clicks++;
  }

  private step(b: { idx: Int32Array; y: Float32Array; w: Float32Array }, eta: number, time: number): void {
    const { d, V, bBase } = this;
    const bias = this.matrix.bias;
    const o = this.options;
    const st = this.current;
    const lam = o.l2;
    const { h, q, hdW, rep, feats, ctx } = this.userContext(time);
    if (!st.dW.length) {
      // The shopper's first step: ΔW and its sums of their own (the context above read them as 0s).
      st.dW = new Float64Array(d * d);
      st.gW = new Float64Array(d * d);
    }
    const m = b.idx.length;
    const nf = feats.length;
    // Items new to the shopper first: the array Δb lives in may change as they are taken in.
    for (let j = 0; j < m; j++) {
      const i = b.idx[j]!;
      if (!st.gB.has(i)) {
        st.gB.set(i, 0);
        this.touch(i);
      }
    }
    const dBv = this.dBCur;
    const alpha = this.alpha0 + st.dAlpha;
    // Scratch of this step (the hot path of a replay: nothing allocated per event).
    if (!this.scratch || this.scratch.m < m || this.scratch.nf !== nf)
      this.scratch = stepScratch(Math.max(m, 2 * (this.scratch?.m ?? 0)), nf, d);
    const { g, dbS, sAll, rAll, wF, gF, gq, gu, gM, gB } = this.scratch;
    const fAll = this.scratch.f;
    for (let f = 0; f < nf; f++) wF[f] = this.mix0[2 * f + ctx]! + st.dMix[2 * f + ctx]!;
    gq.fill(0);
    gF.fill(0);
    let gA = lam * st.dAlpha;
    let top = -Infinity;
    // The hot loop of learning (every event of a replay): plain indexed loops, no closures.
    for (let j = 0; j < m; j++) {
      const i = b.idx[j]!;
      const row = i * d;
      let s = bBase[i]!;
      for (let k = 0; k < d; k++) s += V[row + k]! * q[k]!;
      const db = dBv[i]!;
      dbS[j] = db;
      const r = (rAll[j] = rep.get(i) ?? 0);
      s += db + alpha * r;
      for (let f = 0; f < nf; f++) {
        const x = feats[f]!.get(i) ?? 0;
        fAll[j * nf + f] = x;
        s += wF[f]! * x;
      }
      sAll[j] = s;
      if (s > top) top = s;
    }
    // The softmax's gradient: ∂loss/∂sⱼ = wⱼ exp(sⱼ) / Σₖ wₖ exp(sₖ) − yⱼ.
    let z = 0;
    for (let j = 0; j < m; j++) z += g[j] = b.w[j]! * Math.exp(sAll[j]! - top);
    for (let j = 0; j < m; j++) {
      const row = b.idx[j]! * d;
      const gj = (g[j] = g[j]! / z - b.y[j]!);
      for (let k = 0; k < d; k++) gq[k]! += gj * V[row + k]!;
      gA += gj * rAll[j]!;
      for (let f = 0; f < nf; f++) gF[f]! += gj * fAll[j * nf + f]!;
    }
    for (let k = 0; k < d; k++) gu[k] = gq[k]! + lam * st.du[k]!;
    for (let k = 0; k < MIX_LENGTH; k++) gM[k] = (k % 2 === ctx ? gF[k >> 1]! : 0) + lam * st.dMix[k]!;
    for (let j = 0; j < m; j++) gB[j] = g[j]! + lam * dbS[j]!;
    // ∂/∂ΔW = h ⊗ gq + λ ΔW is d × d: it is never stored. Its squared norm is
    // ‖h‖²‖gq‖² + 2λ (hΔW)·gq + λ²‖ΔW‖², from vectors already at hand and ‖ΔW‖² kept by the step.
    const dW = st.dW;
    let hh = 0;
    let gg = 0;
    let cross = 0;
    for (let k = 0; k < d; k++) {
      hh += h[k]! * h[k]!;
      gg += gq[k]! * gq[k]!;
      cross += hdW[k]! * gq[k]!;
    }
    let sq = gA * gA + Math.max(0, hh * gg + 2 * lam * cross + lam * lam * st.dWsq);
    for (let k = 0; k < d; k++) sq += gu[k]! * gu[k]!;
    for (let k = 0; k < MIX_LENGTH; k++) sq += gM[k]! * gM[k]!;
    for (let j = 0; j < m; j++) sq += gB[j]! * gB[j]!;
    if (!Number.isFinite(sq)) return; // a corrupt value somewhere: skip the step, as the head does
    const clip = Math.min(1, o.clipNorm / (Math.sqrt(sq) + 1e-12));
    const a0 = o.initialAccumulator;
    st.dWsq = this.kernel.step(dW, st.gW, h, gq, lam, clip, eta, a0);
    adagrad(st.du, st.gu, gu, clip, eta, a0);
    const gac = gA * clip;
    st.gAlpha += gac * gac;
    st.dAlpha -= (eta * gac) / (Math.sqrt(st.gAlpha + a0) + 1e-8);
    adagrad(st.dMix, st.gMix, gM, clip, eta, a0);
    for (let j = 0; j < m; j++) {
      const i = b.idx[j]!;
      const gc = gB[j]! * clip;
      const acc = st.gB.get(i)! + gc * gc;
      st.gB.set(i, acc);
      dBv[i] = Math.max(-o.maxItemBias, Math.min(o.maxItemBias, dBv[i]! - (eta * gc) / (Math.sqrt(acc + a0) + 1e-8)));
      bias[i] = bBase[i]! + dBv[i]!;
    }
  }
}
