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
 * φ = (ΔW, Δu, Δα, Δb) starts at 0 and is pulled back toward 0 by an L2 term.
 *
 * Learning on a click of p: a weighted logistic loss over {p (label 1), impressions shown but not
 * clicked (label 0), seeded random negatives (label 0)}. Its gradient is written in closed form
 * (see `gradients`) and checked against finite differences in the tests; autodiff is not used
 * because the WebGPU backend lacks some gradient kernels. Each coordinate has its own AdaGrad
 * rate. Two guards keep a flood of clicks from letting one item take over:
 *   - the gradient is clipped to a global L2 norm of `clipNorm`;
 *   - a click's learning rate is divided by 1 + the number of clicks on the same item in the last
 *     `repeatWindowMs`; past `maxRepeats` such clicks φ is not updated at all (nor ever with a learning rate of 0: a frozen head); |Δb| is bounded
 *     by `maxItemBias`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError } from './errors.js';
import { mixSeed, mulberry32 } from './rng.js';

/** Tunable settings of the head. Defaults in {@link DEFAULT_HEAD_OPTIONS}. */
export interface HeadOptions {
  /** AdaGrad base learning rate η. */
  learningRate: number;
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
  /** Seed of the negative sampler: the same seed and clicks give the same φ. */
  seed: number;
}

/** Defaults chosen on the validation period of the Online Retail data and on the demo. */
export const DEFAULT_HEAD_OPTIONS: HeadOptions = {
  learningRate: 0.1,
  l2: 0.01,
  clipNorm: 5,
  negatives: 16,
  historySize: 20,
  historyDecay: 0.1,
  maxItemBias: 3,
  repeatWindowMs: 60_000,
  maxRepeats: 5,
  impressionWeight: 0.1,
  seed: 1,
};

/** The valid range of each option: [min, max, integer?]. */
const OPTION_RANGES: Record<keyof HeadOptions, [number, number, boolean]> = {
  learningRate: [0, 100, false],
  l2: [0, 1e6, false],
  clipNorm: [1e-9, 1e9, false],
  negatives: [0, 10_000, true],
  historySize: [1, 10_000, true],
  historyDecay: [0, 1, false],
  maxItemBias: [0, 1e6, false],
  repeatWindowMs: [0, 1e12, false],
  maxRepeats: [0, 1e9, true],
  impressionWeight: [0, 1e6, false],
  seed: [-(2 ** 53), 2 ** 53, true],
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
  /** Per-item bias bᵢ (0 for items the logs do not know). */
  bias: Float32Array;
  /** Per-item residual rᵢ, row-major N×d, or null. */
  residual: Float32Array | null;
}

/** One learning step's input, in catalogue indices. */
export interface LearnInput {
  item: number;
  impressions: readonly number[];
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
}

/** Gradients of the per-click loss, for tests and diagnostics. */
export interface HeadGradients {
  dW: Float32Array;
  du: Float32Array;
  dAlpha: number;
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

const finiteArray = (x: unknown, length: number): boolean =>
  Array.isArray(x) && x.length === length && x.every((v) => typeof v === 'number' && Number.isFinite(v));
const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Sets `obj[key]` as an own property, even for keys such as `__proto__`. */
function setOwn(obj: Record<string, number>, key: string, value: number): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

interface Batch {
  idx: Int32Array;
  y: Float32Array;
  w: Float32Array;
}

/** The base θ plus the learned φ of one shopper over one catalogue. */
export class IncrementalHead {
  readonly n: number;
  readonly dims: number;
  readonly options: HeadOptions;
  private readonly ids: readonly string[];
  private readonly index: (id: string) => number | undefined;
  /** vᵢ = eᵢ + rᵢ, [N, d]. */
  private readonly V: tf.Tensor2D;
  private readonly W0: tf.Tensor2D;
  private readonly alpha0: number;
  private readonly bBase: tf.Tensor1D;
  private readonly dW: tf.Variable<tf.Rank.R2>;
  private readonly du: tf.Variable<tf.Rank.R1>;
  private readonly dAlpha: tf.Variable<tf.Rank.R1>;
  private readonly dB: tf.Variable<tf.Rank.R1>;
  private readonly gW: tf.Variable<tf.Rank.R2>;
  private readonly gu: tf.Variable<tf.Rank.R1>;
  private readonly gAlpha: tf.Variable<tf.Rank.R1>;
  private readonly gB: tf.Variable<tf.Rank.R1>;
  /** Clicked items, heaviest first; items of other catalogues have i = -1 and keep their id. */
  private history: { i: number; w: number; id?: string }[] = [];
  private recent: { i: number; t: number }[] = [];
  /** Per-item entries of a loaded state whose ids are not in this catalogue, kept for `save`. */
  private foreignBias: { id: string; b: number; g: number }[] = [];
  private readonly touched = new Set<number>();
  private clickCount = 0;
  private disposed = false;

  /**
   * @param embeddings content embeddings eᵢ [N, d]; the head copies what it needs and does not
   *   take ownership.
   * @param ids item ids in catalogue order (for serialising per-item state by id).
   */
  constructor(embeddings: tf.Tensor2D, ids: readonly string[], base: BaseParams, options: Partial<HeadOptions> = {}) {
    const [n, d] = embeddings.shape;
    this.n = n;
    this.dims = d;
    this.ids = ids;
    const map = new Map(ids.map((id, i) => [id, i]));
    this.index = (id) => map.get(id);
    this.options = { ...DEFAULT_HEAD_OPTIONS, ...validateHeadOptions(options) };
    this.V = tf.tidy(() => (base.residual ? tf.add(embeddings, tf.tensor2d(base.residual, [n, d])) : tf.clone(embeddings)));
    this.W0 = tf.tensor2d(base.W, [d, d]);
    this.alpha0 = base.alpha;
    this.bBase = tf.tensor1d(base.bias);
    this.dW = tf.variable(tf.zeros([d, d]), false);
    this.du = tf.variable(tf.zeros([d]), false);
    this.dAlpha = tf.variable(tf.zeros([1]), false);
    this.dB = tf.variable(tf.zeros([n]), false);
    this.gW = tf.variable(tf.zeros([d, d]), false);
    this.gu = tf.variable(tf.zeros([d]), false);
    this.gAlpha = tf.variable(tf.zeros([1]), false);
    this.gB = tf.variable(tf.zeros([n]), false);
  }

  /** Number of clicks learned. */
  get clicks(): number {
    return this.clickCount;
  }

  /** The item vectors vᵢ = eᵢ + rᵢ the head scores with, [N × d] row-major (for offline training). */
  async itemVectors(): Promise<Float32Array> {
    this.assertAlive();
    return (await this.V.data()) as Float32Array;
  }

  /** Item indices in the history, most recent first, with their normalised weights. */
  historyWeights(): { i: number; w: number }[] {
    return normalisedHistory(this.history);
  }

  /** h (d) and rep (N) as tensors. Must be called inside a tidy. */
  private userContext(): { h: tf.Tensor1D; rep: tf.Tensor1D } {
    const hw = this.historyWeights();
    if (hw.length === 0) return { h: tf.zeros([this.dims]), rep: tf.zeros([this.n]) };
    const idx = tf.tensor1d(Int32Array.from(hw.map((x) => x.i)), 'int32');
    const w = tf.tensor1d(Float32Array.from(hw.map((x) => x.w)));
    const h = tf.squeeze(tf.matMul(tf.reshape(w, [1, -1]), tf.gather(this.V, idx))) as tf.Tensor1D;
    const rep = tf.scatterND(tf.reshape(idx, [-1, 1]), w, [this.n]) as tf.Tensor1D;
    return { h: tf.reshape(h, [this.dims]), rep };
  }

  /** q = h(W₀+ΔW)+Δu, inside a tidy. */
  private query(h: tf.Tensor1D): tf.Tensor1D {
    const W = tf.add(this.W0, this.dW);
    return tf.add(tf.reshape(tf.matMul(tf.reshape(h, [1, this.dims]), W), [this.dims]), this.du) as tf.Tensor1D;
  }

  /** Scores of every item, [N]. The caller owns the tensor. */
  scores(): tf.Tensor1D {
    this.assertAlive();
    return tf.tidy(() => {
      const { h, rep } = this.userContext();
      const q = this.query(h);
      const s = tf.reshape(tf.matMul(this.V, tf.reshape(q, [this.dims, 1])), [this.n]);
      const alpha = tf.add(tf.scalar(this.alpha0), this.dAlpha);
      return tf.add(tf.add(tf.add(s, this.bBase), this.dB), tf.mul(alpha, rep)) as tf.Tensor1D;
    });
  }

  /** The contribution of each history item j to the score of items `targets`: [H, |targets|]. */
  async explain(targets: readonly number[]): Promise<{ history: number[]; contributions: Float32Array }> {
    this.assertAlive();
    const hw = this.historyWeights();
    if (hw.length === 0 || targets.length === 0) return { history: [], contributions: new Float32Array(0) };
    const t = tf.tidy(() => {
      const hidx = tf.tensor1d(Int32Array.from(hw.map((x) => x.i)), 'int32');
      const w = tf.tensor2d(Float32Array.from(hw.map((x) => x.w)), [hw.length, 1]);
      const Hq = tf.mul(w, tf.matMul(tf.gather(this.V, hidx), tf.add(this.W0, this.dW)));
      const T = tf.gather(this.V, tf.tensor1d(Int32Array.from(targets), 'int32'));
      return tf.matMul(Hq, T, false, true);
    });
    const contributions = (await t.data()) as Float32Array;
    t.dispose();
    return { history: hw.map((x) => x.i), contributions };
  }

  /** The scored set of a click: p, impressions, seeded random negatives. */
  private batch(input: LearnInput): Batch {
    const { item } = input;
    const imps = [...new Set(input.impressions)].filter((i) => i !== item).slice(-32);
    const taken = new Set<number>([item, ...imps]);
    const rand = mulberry32(mixSeed(this.options.seed, this.clickCount));
    const negs: number[] = [];
    const want = Math.min(this.options.negatives, this.n - taken.size);
    for (let tries = 0; negs.length < want && tries < want * 20; tries++) {
      const j = Math.floor(rand() * this.n);
      if (!taken.has(j)) {
        taken.add(j);
        negs.push(j);
      }
    }
    const m = 1 + imps.length + negs.length;
    const idx = new Int32Array(m);
    const y = new Float32Array(m);
    const w = new Float32Array(m);
    idx[0] = item;
    y[0] = 1;
    w[0] = 1;
    imps.forEach((j, k) => {
      idx[1 + k] = j;
      w[1 + k] = this.options.impressionWeight / imps.length;
    });
    negs.forEach((j, k) => {
      idx[1 + imps.length + k] = j;
      w[1 + imps.length + k] = 1 / negs.length;
    });
    return { idx, y, w };
  }

  /** Closed-form gradients of the per-click loss. Tensors, inside a tidy. */
  private gradTensors(b: Batch): {
    loss: tf.Scalar;
    gW: tf.Tensor2D;
    gu: tf.Tensor1D;
    gA: tf.Tensor1D;
    gB: tf.Tensor1D;
    idx: tf.Tensor1D;
  } {
    const { h, rep } = this.userContext();
    const idx = tf.tensor1d(b.idx, 'int32');
    const y = tf.tensor1d(b.y);
    const w = tf.tensor1d(b.w);
    const VS = tf.gather(this.V, idx) as tf.Tensor2D;
    const repS = tf.gather(rep, idx);
    const dBS = tf.gather(this.dB, idx);
    const alpha = tf.add(tf.scalar(this.alpha0), this.dAlpha);
    const q = this.query(h);
    const s = tf.add(
      tf.add(tf.add(tf.reshape(tf.matMul(VS, tf.reshape(q, [this.dims, 1])), [-1]), tf.gather(this.bBase, idx)), dBS),
      tf.mul(alpha, repS),
    );
    const lam = this.options.l2;
    // loss = Σ wⱼ (softplus(sⱼ) − yⱼ sⱼ) + λ/2 (‖ΔW‖² + ‖Δu‖² + Δα² + Σ_{j∈S} Δbⱼ²)
    const reg = tf.mul(
      lam / 2,
      tf.addN([tf.sum(tf.square(this.dW)), tf.sum(tf.square(this.du)), tf.sum(tf.square(this.dAlpha)), tf.sum(tf.square(dBS))]),
    );
    const loss = tf.add(tf.sum(tf.mul(w, tf.sub(tf.softplus(s), tf.mul(y, s)))), reg) as tf.Scalar;
    // ∂loss/∂sⱼ = wⱼ (σ(sⱼ) − yⱼ)
    const g = tf.mul(w, tf.sub(tf.sigmoid(s), y));
    const gq = tf.reshape(tf.matMul(tf.reshape(g, [1, -1]), VS), [this.dims]) as tf.Tensor1D; // Σ gⱼ vⱼ
    const gu = tf.add(gq, tf.mul(lam, this.du)) as tf.Tensor1D;
    const gW = tf.add(tf.outerProduct(h, gq), tf.mul(lam, this.dW)) as tf.Tensor2D;
    const gA = tf.add(tf.reshape(tf.sum(tf.mul(g, repS)), [1]), tf.mul(lam, this.dAlpha)) as tf.Tensor1D;
    const gB = tf.add(g, tf.mul(lam, dBS)) as tf.Tensor1D;
    return { loss, gW, gu, gA, gB, idx };
  }

  /** The per-click loss at the current φ (for finite-difference checks). */
  async loss(input: LearnInput): Promise<number> {
    this.assertAlive();
    const b = this.batch(input);
    const t = tf.tidy(() => this.gradTensors(b).loss);
    const v = (await t.data())[0]!;
    t.dispose();
    return v;
  }

  /** Closed-form gradients at the current φ, unclipped (for tests and diagnostics). */
  async gradients(input: LearnInput): Promise<HeadGradients> {
    this.assertAlive();
    const b = this.batch(input);
    const out = tf.tidy(() => {
      const r = this.gradTensors(b);
      return [r.gW, r.gu, r.gA, r.gB, r.loss] as tf.Tensor[];
    });
    const [gW, gu, gA, gB, loss] = (await Promise.all(out.map((t) => t.data()))) as Float32Array[];
    out.forEach((t) => t.dispose());
    return { dW: gW!, du: gu!, dAlpha: gA![0]!, indices: b.idx, dBias: gB!, loss: loss![0]! };
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
    if (repeats < o.maxRepeats && eta > 0) this.step(b, eta);
    for (const j of b.idx) this.touched.add(j);
    this.pushHistory(input.item);
    // Keep, per item, only the clicks that can still count as repeats: the window is pruned
    // above, and more than maxRepeats + 1 per item never change a decision.
    this.recent.push({ i: input.item, t: input.time });
    const mine = this.recent.filter((r) => r.i === input.item);
    if (mine.length > o.maxRepeats + 1) this.recent.splice(this.recent.indexOf(mine[0]!), 1);
    if (this.recent.length > 4096) this.recent.splice(0, this.recent.length - 4096);
    this.clickCount++;
  }

  /** One clipped AdaGrad step on φ for a scored set. */
  private step(b: Batch, eta: number): void {
    const o = this.options;
    tf.tidy(() => {
      const { gW, gu, gA, gB, idx } = this.gradTensors(b);
      const sq = tf.addN([tf.sum(tf.square(gW)), tf.sum(tf.square(gu)), tf.sum(tf.square(gA)), tf.sum(tf.square(gB))]);
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
        param.assign(tf.sub(param, tf.div(tf.mul(eta, gc), tf.add(tf.sqrt(a), 1e-8))));
      };
      step(this.dW, this.gW, gW);
      step(this.du, this.gu, gu);
      step(this.dAlpha, this.gAlpha, gA);
      // Δb is sparse: update only the scored coordinates, then scatter the change back.
      const gc = tf.where(ok, tf.mul(gB, clip), tf.zerosLike(gB));
      const accOld = tf.gather(this.gB, idx);
      const accNew = tf.add(accOld, tf.square(gc));
      const bOld = tf.gather(this.dB, idx);
      const bNew = tf.clipByValue(tf.sub(bOld, tf.div(tf.mul(eta, gc), tf.add(tf.sqrt(accNew), 1e-8))), -o.maxItemBias, o.maxItemBias);
      const at = tf.reshape(idx, [-1, 1]);
      this.gB.assign(tf.add(this.gB, tf.scatterND(at, tf.sub(accNew, accOld), [this.n])) as tf.Tensor1D);
      this.dB.assign(tf.add(this.dB, tf.scatterND(at, tf.sub(bNew, bOld), [this.n])) as tf.Tensor1D);
    });
  }

  private pushHistory(item: number): void {
    pushHistory(this.history, item, this.options);
  }

  /**
   * Records a click on an item this catalogue does not have (another page of the shop shows it):
   * it joins the history by id, so the pages that know it keep it, but φ does not move here.
   */
  learnForeign(id: string): void {
    this.assertAlive();
    pushHistory(this.history, -1, this.options, id);
    this.clickCount++;
  }

  /** ‖φ‖₂: how far this shopper has moved from the base. */
  async deltaNorm(): Promise<number> {
    const t = tf.tidy(() =>
      tf.sqrt(
        tf.addN([tf.sum(tf.square(this.dW)), tf.sum(tf.square(this.du)), tf.sum(tf.square(this.dAlpha)), tf.sum(tf.square(this.dB))]),
      ),
    );
    const v = (await t.data())[0]!;
    t.dispose();
    return v;
  }

  /** Serialises φ, the AdaGrad state and the history. Per-item entries are keyed by id. */
  async save(): Promise<HeadState> {
    this.assertAlive();
    const touched = [...this.touched].sort((a, b) => a - b);
    const tb = tf.tidy(() => (touched.length ? tf.gather(this.dB, tf.tensor1d(Int32Array.from(touched), 'int32')) : tf.zeros([0])));
    const tg = tf.tidy(() => (touched.length ? tf.gather(this.gB, tf.tensor1d(Int32Array.from(touched), 'int32')) : tf.zeros([0])));
    // Asynchronous reads only: synchronous GPU readback is slow everywhere and broken on some WebGPU stacks.
    const [bv, gv, dW, du, dA, gW, gu, gA] = await Promise.all(
      [tb, tg, this.dW, this.du, this.dAlpha, this.gW, this.gu, this.gAlpha].map((t) => t.data() as Promise<Float32Array>),
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
      setOwn(dBias, this.ids[i]!, bv![k]!);
      setOwn(gBias, this.ids[i]!, gv![k]!);
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
      history: this.history.map((h) => ({ id: h.i >= 0 ? this.ids[h.i]! : h.id!, w: h.w })),
      recent: this.recent.map((r) => ({ id: this.ids[r.i]!, t: r.t })),
      clicks: this.clickCount,
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
      state.clicks < 0
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
      if (bIdx.length) {
        const at = tf.tensor2d(Int32Array.from(bIdx), [bIdx.length, 1], 'int32');
        this.dB.assign(tf.scatterND(at, tf.tensor1d(bVal), [this.n]) as tf.Tensor1D);
        this.gB.assign(tf.scatterND(at, tf.tensor1d(gVal), [this.n]) as tf.Tensor1D);
      } else {
        this.dB.assign(tf.zeros([this.n]));
        this.gB.assign(tf.zeros([this.n]));
      }
    });
    this.touched.clear();
    bIdx.forEach((i) => this.touched.add(i));
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
    return { foreignIds: foreign.length };
  }

  /** Forgets φ, AdaGrad state and history: back to the base. */
  reset(): void {
    this.assertAlive();
    tf.tidy(() => {
      for (const v of [this.dW, this.du, this.dAlpha, this.dB, this.gW, this.gu, this.gAlpha, this.gB] as tf.Variable[]) {
        v.assign(tf.zerosLike(v));
      }
    });
    this.history = [];
    this.recent = [];
    this.foreignBias = [];
    this.touched.clear();
    this.clickCount = 0;
  }

  /** Frees every tensor the head holds. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [this.V, this.W0, this.bBase, this.dW, this.du, this.dAlpha, this.dB, this.gW, this.gu, this.gAlpha, this.gB])
      t.dispose();
  }

  private assertAlive(): void {
    if (this.disposed) throw new Error('This head was disposed.');
  }
}
