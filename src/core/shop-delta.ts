/**
 * The shop delta ψ: what the whole shop's order stream teaches, learned on the shop's side by the
 * stream job (`npm run stream`) and fused by every browser as base + ψ + the shopper's φ.
 *
 * ψᵢ = ρᵢ + Σₖ wₖ · log(1 + cₖᵢ(t))
 *
 * cₖᵢ(t) counts item i's events, each weighing 2^(−age / Hₖ), for a short and a long half-life
 * Hₖ: what is selling now. ρᵢ is a free per-item bias. ρ and w are learned by online gradient
 * descent (AdaGrad per coordinate, an L2 pull to 0) on a logistic loss: each event's item against
 * seeded random items of the catalogue, scored bᵢ + ψᵢ on top of the base's biases. How much the
 * recent counts matter (w) is thus learned from each shop's own stream, not fixed.
 *
 * Published, ψ is centred on its median (a shift of every score changes no ranking) and only the
 * `maxItems` entries furthest from it are kept, so the file stays small at any catalogue size.
 * Where the base ships what each item sold lately, the delta also carries those figures brought
 * up to date (`RecentSales`: the `maxItems` best sellers), which a browser's own-popularity
 * feature reads instead of the base's.
 *
 * Pure TypeScript: the stream job (Node), the evaluation and the browser share it.
 */
import { ArgumentError, ChecksumError, ModelLoadError } from './errors.js';
import { Mulberry32 } from './rng.js';
import { ITEMS_PER_STEP, runSteps } from './slice.js';

/**
 * The payload format the stream job writes. Format 2 lists the items the base knows by their row
 * in the base (`items.txt`, which every browser has), as small gaps, and only the others by id:
 * at 5,000 entries a list of 36-character ids is about 100 kB gzipped, their rows about 5 kB.
 * Browsers read formats 1 and 2.
 */
export const SHOP_DELTA_FORMAT = 2;
/** The formats a browser reads. */
const READ_FORMATS: readonly number[] = [1, 2];

/** `delta/manifest.json`: names the current payload, the base it applies to and its checksum. */
export interface ShopDeltaManifest {
  format: 1 | 2;
  /** Version of the base model (models/manifest.json `version`) the delta was learned on. */
  baseVersion: string;
  /** Increases with every publication for one base. */
  seq: number;
  /** Payload file, relative to the delta folder; payload files are never rewritten. */
  path: string;
  sha256: string;
  bytes: number;
  /** Items listed in the payload. */
  items: number;
  /** Events learned since the base. */
  events: number;
  /** Time of the newest event learned (ISO 8601), or null. */
  eventsThrough: string | null;
  publishedAt: string;
  /**
   * The sha256 of the base's `items.txt`, whose rows the payload's `rows` name (format 2). Two
   * bases of one version (a maintenance job run twice with the same cut-off) may list their items
   * in another order: a browser takes rows only from a delta made on its own list.
   */
  baseItems?: string;
}

/**
 * A list of items with a value each, as a format-2 payload writes it: the items the base knows by
 * their rows in the base, ascending, each written as its gap from the row before (the first as
 * the row itself), with their values in that order; the others by id.
 */
export interface DeltaEntries {
  rows: number[];
  rowValues: number[];
  ids: string[];
  values: number[];
}

/** The payload, format 2: ψ for the listed items (every other item has ψ = 0). */
export interface ShopDeltaPayload {
  format: 2;
  baseVersion: string;
  seq: number;
  /** ψᵢ, rounded to 1/1000. */
  psi: DeltaEntries;
  /**
   * What sold lately (log(1 + sales, each weighing 2^(−age / halfLifeDays))), rounded to 1/1000,
   * for the best sellers; every other item 0. Absent where the base ships no `recent`: browsers
   * then keep the base's. A browser that does not know the field ignores it.
   */
  recent?: DeltaEntries & { halfLifeDays: number };
}

/** A payload of format 1 (every item by id), which browsers still read. */
export interface ShopDeltaPayloadV1 {
  format: 1;
  baseVersion: string;
  seq: number;
  ids: string[];
  bias: number[];
  recent?: { halfLifeDays: number; ids: string[]; values: number[] };
}

/**
 * `ids` with `values` as a payload lists them: where `baseRow` gives an item's row in the base,
 * by row (ascending, as gaps), else by id.
 */
export function deltaEntries(
  ids: readonly string[],
  values: readonly number[],
  baseRow: (id: string) => number | undefined = () => undefined,
): DeltaEntries {
  const known: { row: number; value: number }[] = [];
  const out: DeltaEntries = { rows: [], rowValues: [], ids: [], values: [] };
  ids.forEach((id, j) => {
    const row = baseRow(id);
    if (row === undefined) {
      out.ids.push(id);
      out.values.push(values[j]!);
    } else known.push({ row, value: values[j]! });
  });
  known.sort((a, b) => a.row - b.row);
  let last = 0;
  for (const { row, value } of known) {
    out.rows.push(row - last);
    out.rowValues.push(value);
    last = row;
  }
  return out;
}

/** The rows of a list's items the base knows, from their gaps. */
export function absoluteRows(e: DeltaEntries): number[] {
  let row = 0;
  return e.rows.map((gap) => (row += gap));
}

/**
 * Everything a `ShopLearner` has learned, as its own arrays (not copies: read them before the
 * learner learns again). `restore` takes it up again, so that a learner written down and read back
 * goes on exactly as the one written would have (the stream job's checkpoints).
 */
export interface ShopLearnerState {
  rho: Float64Array;
  gRho: Float64Array;
  w: Float64Array;
  gW: Float64Array;
  /** One per half-life. */
  counts: Float64Array[];
  origin: number[];
  /** The negatives' generator (`Mulberry32.state`). */
  rand: number;
  learned: number;
  lastTime: number | null;
  /** What sold lately (`RecentSales.state`), where the learner keeps it. */
  sold: RecentSalesState | null;
}

/** What a `RecentSales` holds: its sums and the times they are relative to. */
export interface RecentSalesState {
  sums: Float64Array;
  origin: number | null;
  from: number;
}

/** A RangeError naming `what` unless `from` is a Float64Array as long as `to`. */
function sameShape(to: Float64Array, from: Float64Array, what: string): void {
  if (!(from instanceof Float64Array) || from.length !== to.length)
    throw new RangeError(`${what} holds ${(from as ArrayLike<number> | undefined)?.length} numbers where the learner has ${to.length}`);
}

/** Settings of the shop's online learner. */
export interface ShopLearnerOptions {
  /** AdaGrad base learning rate. */
  learningRate: number;
  /** L2 pull of ρ and w toward 0. */
  l2: number;
  /** Random items per event that serve as negatives. */
  negatives: number;
  /** Half-lives of the recent-count features, in days. */
  halfLivesDays: readonly number[];
  /** Entries kept in a published payload. */
  maxItems: number;
  seed: number;
  /**
   * Half-life, in days, of what each item sold lately (`RecentSales`), published with ψ so that a
   * browser's own-popularity feature follows what sells now; the base's `recentHalfLifeDays`
   * (the stream job takes it from the base). 0: none is kept or published.
   */
  recentHalfLifeDays: number;
  /**
   * Recent sales of items the base does not know (new products) get weights of their own: the
   * base says nothing of their popularity, so their sales may deserve more trust than those of
   * items it already ranks. Needs `known` in the constructor.
   */
  newItemWeights: boolean;
}

/** Defaults chosen on the validation period of the Online Retail data (docs/RESULTS.md). */
export const DEFAULT_SHOP_LEARNER_OPTIONS: ShopLearnerOptions = {
  learningRate: 0.3,
  l2: 1e-4,
  negatives: 8,
  halfLivesDays: [1, 14],
  maxItems: 5000,
  recentHalfLifeDays: 0,
  seed: 1,
  newItemWeights: true,
};

const DAY = 86_400_000;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * The online learner behind the shop delta. Deterministic: the same seed and events in the same
 * order give the same ψ, which is how the stream job rebuilds its state from its own log.
 */
export class ShopLearner {
  readonly n: number;
  readonly options: ShopLearnerOptions;
  private readonly baseBias: Float32Array;
  private readonly rho: Float64Array;
  private readonly gRho: Float64Array;
  private readonly w: Float64Array;
  private readonly gW: Float64Array;
  /** Per half-life: Σ 2^((tₑ − origin) / H) per item, rescaled now and then. */
  private readonly counts: Float64Array[];
  private readonly origin: number[];
  private readonly rand: Mulberry32;
  /** What each item sold lately, where `recentHalfLifeDays` > 0. */
  private readonly sold: RecentSales | null;
  private learned = 0;
  private lastTime: number | null = null;

  /** 1 for items the base knows; the others' recent sales get weights of their own. */
  private readonly known: Uint8Array | null;

  /** A step's work arrays (`learn`): the event's item and its negatives, the weights' gradient, the features, each item's gradient. */
  private readonly step: { idx: Int32Array; gw: Float64Array; x: Float64Array; g: Float64Array };

  /**
   * @param baseBias the base's per-item biases bᵢ, in catalogue order (0 for items it does not know).
   * @param known 1 for the items the base knows (for `newItemWeights`).
   */
  constructor(baseBias: Float32Array, options: Partial<ShopLearnerOptions> = {}, known: Uint8Array | null = null) {
    this.options = { ...DEFAULT_SHOP_LEARNER_OPTIONS, ...options };
    const o = this.options;
    if (
      !(o.learningRate >= 0) ||
      !(o.l2 >= 0) ||
      !Number.isInteger(o.negatives) ||
      o.negatives < 1 ||
      o.halfLivesDays.some((h) => !(h > 0)) ||
      !(o.recentHalfLifeDays >= 0 && o.recentHalfLifeDays < Infinity)
    ) {
      throw new ArgumentError('options/shop', `Invalid shop learner options: ${JSON.stringify(o)}.`);
    }
    this.n = baseBias.length;
    this.baseBias = baseBias;
    this.rho = new Float64Array(this.n);
    this.gRho = new Float64Array(this.n);
    this.known = o.newItemWeights ? known : null;
    const weights = o.halfLivesDays.length * (this.known ? 2 : 1);
    this.w = new Float64Array(weights);
    this.gW = new Float64Array(weights);
    this.counts = o.halfLivesDays.map(() => new Float64Array(this.n));
    this.origin = o.halfLivesDays.map(() => 0);
    this.rand = new Mulberry32(o.seed);
    this.sold = o.recentHalfLifeDays > 0 ? new RecentSales(this.n, o.recentHalfLifeDays) : null;
    const m = o.negatives + 1;
    this.step = {
      idx: new Int32Array(m),
      gw: new Float64Array(weights),
      x: new Float64Array(m * o.halfLivesDays.length),
      g: new Float64Array(m),
    };
  }

  /** Events learned since the last reset of ρ. */
  get events(): number {
    return this.learned;
  }

  /** Time of the newest event (ms), or null. */
  get newest(): number | null {
    return this.lastTime;
  }

  /** The learned weights of the recent-count features: one per half-life (for known items, then for new ones). */
  get weights(): number[] {
    return Array.from(this.w);
  }

  /** log(1 + cₖᵢ(t)). */
  private feature(k: number, i: number, t: number): number {
    const c = this.counts[k]![i]!;
    return c === 0 ? 0 : Math.log1p(c * this.decayTo(k, t));
  }

  /** What a count of half-life k, kept relative to its origin, is worth at time t. */
  private decayTo(k: number, t: number): number {
    return Math.pow(2, (this.origin[k]! - t) / (this.options.halfLivesDays[k]! * DAY));
  }

  /** Where item i's weights start in w. */
  private offset(i: number): number {
    return this.known && !this.known[i] ? this.counts.length : 0;
  }

  /** One event: a step on ρ and w (before counting it), then the event joins the counts. */
  learn(item: number, t: number): void {
    if (!Number.isInteger(item) || item < 0 || item >= this.n) throw new RangeError(`item index ${item} is outside the catalogue`);
    if (!Number.isFinite(t)) throw new RangeError(`event time ${t} is not a finite number`);
    const o = this.options;
    const m = o.negatives + 1;
    // The step's own arrays, kept from one event to the next: a replay of millions of events made
    // four small arrays an event, whose collection held a long replay's turns.
    const { idx, gw, x, g } = this.step;
    idx[0] = item;
    for (let j = 1; j < m; j++) idx[j] = Math.floor(this.rand.next() * this.n);
    const K = this.counts.length;
    for (let k = 0; k < gw.length; k++) gw[k] = o.l2 * this.w[k]!;
    g.fill(0);
    for (let j = 0; j < m; j++) {
      const i = idx[j]!;
      if (j > 0 && i === item) continue; // the event's own item is no negative
      let s = this.baseBias[i]! + this.rho[i]!;
      const off = this.offset(i);
      for (let k = 0; k < K; k++) {
        x[j * K + k] = this.feature(k, i, t);
        s += this.w[off + k]! * x[j * K + k]!;
      }
      // The positive weighs 1 and the negatives 1 in all, as the head weighs its own.
      g[j] = j === 0 ? sigmoid(s) - 1 : sigmoid(s) / o.negatives;
      for (let k = 0; k < K; k++) gw[off + k]! += g[j]! * x[j * K + k]!;
    }
    const eta = o.learningRate;
    for (let k = 0; k < gw.length; k++) {
      this.gW[k]! += gw[k]! * gw[k]!;
      this.w[k]! -= (eta * gw[k]!) / (Math.sqrt(this.gW[k]!) + 1e-8);
    }
    for (let j = 0; j < m; j++) {
      if (g[j] === 0) continue;
      const i = idx[j]!;
      const gi = g[j]! + o.l2 * this.rho[i]!;
      this.gRho[i]! += gi * gi;
      this.rho[i]! -= (eta * gi) / (Math.sqrt(this.gRho[i]!) + 1e-8);
    }
    for (let k = 0; k < K; k++) {
      const h = o.halfLivesDays[k]! * DAY;
      const c = this.counts[k]!;
      if (this.lastTime === null) this.origin[k] = t;
      // Weights are kept relative to an origin that moves with the stream, far from overflow.
      const age = (t - this.origin[k]!) / h;
      if (age > 256) {
        const scale = Math.pow(2, -age);
        for (let i = 0; i < this.n; i++) c[i]! *= scale;
        this.origin[k] = t;
      }
      c[item]! += Math.pow(2, (t - this.origin[k]!) / h);
    }
    this.sold?.add(item, t);
    this.learned++;
    this.lastTime = this.lastTime === null ? t : Math.max(this.lastTime, t);
  }

  /** Seeds what sold lately from the base's `recent` at its cut-off (see `RecentSales.seed`); no-op without `recentHalfLifeDays`. */
  seedRecent(values: ReadonlyMap<number, number>, at: number): void {
    this.sold?.seed(values, at);
  }

  /** {@link seedRecent} in steps (see `RecentSales.seedSteps`). */
  *seedRecentSteps(values: ReadonlyMap<number, number>, at: number, perStep?: number): Generator<void, void> {
    if (this.sold) yield* this.sold.seedSteps(values, at, perStep);
  }

  /**
   * A new base took in what ρ learned: ρ and its rates start again. The recent counts and the
   * weights w stay (what sells now, and how much that matters in this shop, are still true).
   */
  resetItems(): void {
    this.rho.fill(0);
    this.gRho.fill(0);
    this.learned = 0;
  }

  /** What the learner has learned (its own arrays: see `ShopLearnerState`). */
  state(): ShopLearnerState {
    return {
      rho: this.rho,
      gRho: this.gRho,
      w: this.w,
      gW: this.gW,
      counts: this.counts,
      origin: [...this.origin],
      rand: this.rand.state,
      learned: this.learned,
      lastTime: this.lastTime,
      sold: this.sold?.state() ?? null,
    };
  }

  /**
   * Takes up a state another learner with the same catalogue and options wrote: from here on it
   * learns and publishes exactly as that one would have. A state of another shape is a RangeError,
   * and the learner is then left as it was.
   */
  restore(s: ShopLearnerState): void {
    const K = this.counts.length;
    if (s.counts.length !== K || s.origin.length !== K || (s.sold === null) !== (this.sold === null))
      throw new RangeError(`the state is of a learner with other half-lives (${s.counts.length}) or without what sold lately`);
    const pairs: [Float64Array, Float64Array, string][] = [
      [this.rho, s.rho, 'rho'],
      [this.gRho, s.gRho, 'gRho'],
      [this.w, s.w, 'w'],
      [this.gW, s.gW, 'gW'],
      ...this.counts.map((c, k): [Float64Array, Float64Array, string] => [c, s.counts[k]!, `counts ${k}`]),
    ];
    // Every shape checked before anything is taken, so that a bad state changes nothing.
    for (const [to, from, what] of pairs) sameShape(to, from, what);
    if (this.sold && s.sold) this.sold.restore(s.sold);
    for (const [to, from] of pairs) to.set(from);
    this.origin.splice(0, K, ...s.origin);
    this.rand.state = s.rand >>> 0;
    this.learned = s.learned;
    this.lastTime = s.lastTime;
  }

  /**
   * ψ over the catalogue at time t, centred on its median: ψᵢ = ρᵢ + Σₖ wₖ · log(1 + cₖᵢ(t)), the
   * decay of each half-life's counts to t one power for every item, and the median found by
   * selection, not by sorting the catalogue (a publication of a large catalogue, hundreds of which
   * the maintenance job makes as it replays its held-out weeks).
   */
  psi(t: number = this.lastTime ?? 0): Float32Array {
    return runSteps(this.psiSteps(t));
  }

  /** {@link psi} in steps of `perStep` items (the median found in one); the learner must not learn meanwhile. */
  *psiSteps(t: number = this.lastTime ?? 0, perStep = ITEMS_PER_STEP): Generator<void, Float32Array> {
    const n = this.n;
    const K = this.counts.length;
    const decay = this.counts.map((_, k) => this.decayTo(k, t));
    const out = new Float32Array(n);
    for (let a = 0; a < n; a += perStep) {
      for (let i = a; i < Math.min(n, a + perStep); i++) {
        let s = this.rho[i]!;
        const off = this.offset(i);
        for (let k = 0; k < K; k++) {
          const c = this.counts[k]![i]!;
          s += this.w[off + k]! * (c === 0 ? 0 : Math.log1p(c * decay[k]!));
        }
        out[i] = s;
      }
      yield;
    }
    const median = n ? middleValue(out) : 0;
    yield;
    for (let a = 0; a < n; a += perStep) {
      for (let i = a; i < Math.min(n, a + perStep); i++) out[i]! -= median;
      yield;
    }
    return out;
  }

  /**
   * ψ as the browser will see it: the `maxItems` largest |ψᵢ|, rounded to 1/1000, the rest 0;
   * with `recentHalfLifeDays`, also what sold lately in the same form (the `maxItems` best sellers).
   */
  published(t?: number): PublishedDelta {
    return runSteps(this.publishedSteps(t));
  }

  /**
   * {@link published} in steps of `perStep` items, for a caller that runs other work between them
   * on a learner that does not learn meanwhile (a {@link copy}).
   */
  *publishedSteps(t?: number, perStep = ITEMS_PER_STEP): Generator<void, PublishedDelta> {
    const at = t ?? this.lastTime ?? 0;
    const psi = yield* this.psiSteps(at, perStep);
    const out: PublishedDelta = yield* largestEntriesSteps(psi, this.options.maxItems, perStep);
    if (this.sold) {
      const values = yield* this.sold.valuesSteps(at, perStep);
      out.recent = yield* largestEntriesSteps(values, this.options.maxItems, perStep);
    }
    return out;
  }

  /** A learner in this one's state that goes its own way from here (this one is left as it is). */
  copy(): ShopLearner {
    const c = new ShopLearner(this.baseBias, this.options, this.known);
    c.restore(this.state());
    return c;
  }
}

/** What a learner publishes: ψ's largest entries, and what sold lately's, by catalogue index. */
export interface PublishedDelta {
  indices: Int32Array;
  values: number[];
  recent?: { indices: Int32Array; values: number[] };
}

/**
 * The value a sort of `v` would put at its middle (index ⌊n/2⌋), found by selection on a copy in
 * O(n) on average. A zero's sign may differ from the sort's (−0 and +0 compare equal here), which
 * changes no difference from it but a zero's sign; where `v` holds a NaN, the copy is sorted.
 */
export function middleValue(v: Float32Array): number {
  if (v.length === 0) throw new RangeError('an empty array has no middle value');
  const want = v.length >> 1;
  for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i])) return Float32Array.from(v).sort()[want]!;
  const a = Float32Array.from(v);
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    // Hoare's partition around the middle of the range's value.
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const x = a[i]!;
        a[i] = a[j]!;
        a[j] = x;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return a[want]!;
  }
  return a[want]!;
}

/**
 * The `keep` entries furthest from 0 (at least 5e-4; of two as far, the lower index), in index
 * order, rounded to 1/1000. A heap of the `keep` kept so far, its root the nearest to 0, so that a
 * publication of a large catalogue costs n · log(keep), not a sort of every entry (the
 * maintenance job publishes hundreds of times as it replays its held-out weeks).
 */
export function largestEntries(v: Float32Array, keep: number): { indices: Int32Array; values: number[] } {
  return runSteps(largestEntriesSteps(v, keep));
}

/** {@link largestEntries} in steps of `perStep` entries of `v`. */
export function* largestEntriesSteps(
  v: Float32Array,
  keep: number,
  perStep = ITEMS_PER_STEP,
): Generator<void, { indices: Int32Array; values: number[] }> {
  const take = Math.max(0, Math.floor(keep));
  const heap = new Int32Array(take);
  let size = 0;
  /** True where entry a ranks after entry b: nearer to 0, or as near with the higher index. */
  const after = (a: number, b: number): boolean => {
    const x = Math.abs(v[a]!);
    const y = Math.abs(v[b]!);
    return x < y || (x === y && a > b);
  };
  const siftDown = (from: number): void => {
    let at = from;
    for (;;) {
      const l = 2 * at + 1;
      if (l >= size) return;
      const r = l + 1;
      const worst = r < size && after(heap[r]!, heap[l]!) ? r : l;
      if (!after(heap[worst]!, heap[at]!)) return;
      const t = heap[at]!;
      heap[at] = heap[worst]!;
      heap[worst] = t;
      at = worst;
    }
  };
  for (let i = 0; i < v.length && take > 0; i++) {
    if ((i + 1) % perStep === 0) yield;
    if (!(Math.abs(v[i]!) >= 5e-4)) continue;
    if (size < take) {
      // Sift up: the root stays the entry that ranks last.
      let at = size++;
      heap[at] = i;
      while (at > 0) {
        const up = (at - 1) >> 1;
        if (!after(heap[at]!, heap[up]!)) break;
        const t = heap[at]!;
        heap[at] = heap[up]!;
        heap[up] = t;
        at = up;
      }
    } else if (after(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  const indices = heap.slice(0, size).sort();
  return { indices, values: Array.from(indices, (i) => Math.round(v[i]! * 1000) / 1000) };
}

/**
 * What each item sold lately, as the maintenance job ships it with the base (`recent` in the
 * head): log(1 + Σₑ 2^(−age / H)) over the item's events before a time. The stream job keeps it
 * up to date from the order stream, so a browser's own-popularity feature follows what sells now
 * instead of what sold before the base was made. Pure and deterministic.
 */
export class RecentSales {
  readonly n: number;
  readonly halfLifeDays: number;
  /** Σ 2^((tₑ − origin) / H) per item, rescaled now and then. */
  private readonly sums: Float64Array;
  private origin: number | null = null;
  /** Events before this time are in the seed (`seed`) and are not counted again. */
  private from = -Infinity;

  constructor(n: number, halfLifeDays: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`catalogue size ${n} is not a count`);
    if (!(halfLifeDays > 0 && halfLifeDays < Infinity)) {
      throw new ArgumentError('halfLifeDays', `The half-life of recent sales must be a number of days > 0, got ${halfLifeDays}.`);
    }
    this.n = n;
    this.halfLifeDays = halfLifeDays;
    this.sums = new Float64Array(n);
  }

  /**
   * Starts from what the base says sold lately at its cut-off `at` (its `recent`, by catalogue
   * index; absent items sold nothing): a stream job started after the base, whose log lacks the
   * sales before it, still publishes them. Events before `at` are in the seed, so `add` skips them.
   */
  seed(values: ReadonlyMap<number, number>, at: number): void {
    runSteps(this.seedSteps(values, at));
  }

  /** {@link seed} in steps of `perStep` items (a yield between two); not to be used until done. */
  *seedSteps(values: ReadonlyMap<number, number>, at: number, perStep = ITEMS_PER_STEP): Generator<void, void> {
    if (!Number.isFinite(at)) throw new RangeError(`seed time ${at} is not a finite number`);
    for (let a = 0; a < this.n; a += perStep) {
      this.sums.fill(0, a, Math.min(this.n, a + perStep));
      yield;
    }
    let k = 0;
    for (const [i, v] of values) {
      if (!Number.isInteger(i) || i < 0 || i >= this.n) throw new RangeError(`item index ${i} is outside the catalogue`);
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`recent sales of item ${i} are ${v}; each must be a finite number ≥ 0`);
      this.sums[i] = Math.expm1(v);
      if (++k % perStep === 0) yield;
    }
    this.origin = at;
    this.from = at;
  }

  /** One event of `item` at time `t` (ms); events come in time order. Events before a seed's time are skipped. */
  add(item: number, t: number): void {
    if (!Number.isInteger(item) || item < 0 || item >= this.n) throw new RangeError(`item index ${item} is outside the catalogue`);
    if (!Number.isFinite(t)) throw new RangeError(`event time ${t} is not a finite number`);
    if (t < this.from) return;
    const h = this.halfLifeDays * DAY;
    if (this.origin === null) this.origin = t;
    const age = (t - this.origin) / h;
    // Kept relative to an origin that moves with the stream, far from overflow.
    if (age > 256) {
      const scale = Math.pow(2, -age);
      for (let i = 0; i < this.n; i++) this.sums[i]! *= scale;
      this.origin = t;
    }
    this.sums[item]! += Math.pow(2, (t - this.origin) / h);
  }

  /** The sums (its own array) and the times they are relative to. */
  state(): RecentSalesState {
    return { sums: this.sums, origin: this.origin, from: this.from };
  }

  /** Takes up a state of a `RecentSales` of the same catalogue size. */
  restore(s: RecentSalesState): void {
    sameShape(this.sums, s.sums, 'recent sales');
    this.sums.set(s.sums);
    this.origin = s.origin;
    this.from = s.from;
  }

  /** log(1 + what each item sold) at time `at`, over the events added so far. */
  values(at: number): Float32Array {
    return runSteps(this.valuesSteps(at));
  }

  /** {@link values} in steps of `perStep` items. */
  *valuesSteps(at: number, perStep = ITEMS_PER_STEP): Generator<void, Float32Array> {
    const out = new Float32Array(this.n);
    if (this.origin === null) return out;
    const f = Math.pow(2, (this.origin - at) / (this.halfLifeDays * DAY));
    for (let a = 0; a < this.n; a += perStep) {
      for (let i = a; i < Math.min(this.n, a + perStep); i++) out[i] = Math.log1p(this.sums[i]! * f);
      yield;
    }
    return out;
  }
}

/**
 * The learner on a base's biases. Where the base ships what sold lately with its half-life and
 * time (`BaseParams.recent`, `recentHalfLifeDays`, `recentAt`), the learner keeps those figures
 * from that time on and publishes them; else it keeps none.
 */
export function shopLearnerOn(
  base: {
    bias: Float32Array;
    known: Uint8Array | null;
    recent?: ReadonlyMap<number, number> | null;
    recentHalfLifeDays?: number | undefined;
    recentAt?: number | null | undefined;
  },
  options: Partial<ShopLearnerOptions> = {},
): ShopLearner {
  return runSteps(shopLearnerOnSteps(base, options));
}

/** {@link shopLearnerOn} in steps: what sold lately seeded `perStep` items at a time. */
export function* shopLearnerOnSteps(
  base: Parameters<typeof shopLearnerOn>[0],
  options: Partial<ShopLearnerOptions> = {},
  perStep = ITEMS_PER_STEP,
): Generator<void, ShopLearner> {
  const { recent, recentHalfLifeDays: life, recentAt: at } = base;
  const dated = recent && life !== undefined && life > 0 && at !== undefined && at !== null;
  const learner = new ShopLearner(base.bias, { ...options, recentHalfLifeDays: dated ? life : 0 }, base.known);
  if (dated) {
    yield;
    yield* learner.seedRecentSteps(recent, at, perStep);
  }
  return learner;
}

/**
 * Carries what `old` learned over to `next`, a learner fresh from `shopLearnerOn` on the same base
 * aligned to a new catalogue (new products, some gone, another order), with the same options:
 * `from[i]` is item i's index in `old`'s catalogue, or −1 for an item new to it. An item in both
 * keeps its ρ, its rates, its recent counts and what it sold lately; a new item starts from
 * nothing, and from what the base says it sold lately; the weights, the negatives' generator and
 * the times go on. `old` is left as it was.
 */
export function carryOver(old: ShopLearner, next: ShopLearner, from: Int32Array): void {
  runSteps(carryOverSteps(old, next, from));
}

/**
 * {@link carryOver} in steps of `itemsPerStep` items (a yield between two), for a caller that runs
 * other work between them: `old` must not learn meanwhile. `next` takes the state in the last
 * step, and not at all where `from` or the options are wrong (a RangeError).
 */
export function* carryOverSteps(
  old: ShopLearner,
  next: ShopLearner,
  from: Int32Array,
  itemsPerStep = ITEMS_PER_STEP,
): Generator<void, void> {
  if (from.length !== next.n) throw new RangeError(`from has ${from.length} entries for a catalogue of ${next.n}`);
  if (!(Number.isInteger(itemsPerStep) && itemsPerStep > 0))
    throw new RangeError(`itemsPerStep must be a whole number > 0, got ${itemsPerStep}`);
  const was = old.state();
  const fresh = next.state();
  if (canonicalOptions(old.options) !== canonicalOptions(next.options) || (was.sold === null) !== (fresh.sold === null))
    throw new RangeError('the learners must have the same options');
  // A new item's seeded sum is relative to the seed's origin; the old sums to theirs.
  const h = old.options.recentHalfLifeDays * DAY;
  const o = was.sold?.origin ?? null;
  const f = o === null || fresh.sold?.origin === null || fresh.sold?.origin === undefined ? 1 : Math.pow(2, (fresh.sold.origin - o) / h);
  const n = next.n;
  // [what old kept, what next takes] (a new item starts from 0)
  const arrays: [Float64Array, Float64Array][] = [
    [was.rho, new Float64Array(n)],
    [was.gRho, new Float64Array(n)],
    ...was.counts.map((c): [Float64Array, Float64Array] => [c, new Float64Array(n)]),
  ];
  const sold = was.sold && fresh.sold ? new Float64Array(n) : null;
  for (let a = 0; a < n; a += itemsPerStep) {
    const b = Math.min(n, a + itemsPerStep);
    for (let i = a; i < b; i++) {
      const j = from[i]!;
      if (!(j >= -1 && j < old.n && Number.isInteger(j))) throw new RangeError(`from holds ${j}, not an index of the old catalogue or −1`);
    }
    for (const [src, out] of arrays) for (let i = a; i < b; i++) out[i] = from[i]! >= 0 ? src[from[i]!]! : 0;
    if (sold) for (let i = a; i < b; i++) sold[i] = from[i]! >= 0 ? was.sold!.sums[from[i]!]! : fresh.sold!.sums[i]! * f;
    yield;
  }
  const K = was.counts.length;
  next.restore({
    ...was,
    rho: arrays[0]![1],
    gRho: arrays[1]![1],
    w: Float64Array.from(was.w),
    gW: Float64Array.from(was.gW),
    counts: arrays.slice(2, 2 + K).map((x) => x[1]),
    sold: sold ? { sums: sold, origin: o ?? fresh.sold!.origin, from: was.sold!.from } : null,
  });
}

/** Options as one text, keys in order, so that equal options read as equal (a learner's, or as a checkpoint wrote them). */
export function canonicalOptions(o: object): string {
  return JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));
}

/** Dense ψ over a catalogue from a sparse published form. */
export function densePsi(n: number, indices: ArrayLike<number>, values: ArrayLike<number>): Float32Array {
  const out = new Float32Array(n);
  for (let j = 0; j < indices.length; j++) out[indices[j]!] = values[j]!;
  return out;
}

/** Checks a manifest's shape; throws a `ModelLoadError` that says what is wrong. */
export function parseShopDeltaManifest(text: string, location: string): ShopDeltaManifest {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError(location, `The shop delta manifest ${location} is not JSON.`, { cause });
  }
  const r = m as Partial<ShopDeltaManifest> | null;
  if (
    !r ||
    !READ_FORMATS.includes(r.format as number) ||
    typeof r.baseVersion !== 'string' ||
    !Number.isInteger(r.seq) ||
    typeof r.path !== 'string' ||
    !/^[A-Za-z0-9._-]+$/.test(r.path) ||
    typeof r.sha256 !== 'string' ||
    !/^[0-9a-f]{64}$/.test(r.sha256)
  ) {
    throw new ModelLoadError(
      location,
      `The shop delta manifest ${location} is not a manifest of format ${READ_FORMATS.join(' or ')} with baseVersion, seq, path and sha256.`,
    );
  }
  return r as ShopDeltaManifest;
}

/**
 * Checks a payload against its manifest (checksum, base version, shape, finite values) and returns
 * it, a payload of format 1 in the form of format 2 (every item by id). `sha256` is the payload's
 * digest as computed by the caller, or null where none can be.
 */
export function parseShopDeltaPayload(
  bytes: ArrayBuffer,
  sha256: string | null,
  manifest: ShopDeltaManifest,
  location: string,
): ShopDeltaPayload {
  if (sha256 !== null && sha256 !== manifest.sha256) {
    throw new ChecksumError(location, manifest.sha256, sha256);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new ModelLoadError(location, `The shop delta ${location} is not JSON.`, { cause });
  }
  const p = raw as Record<string, unknown> | null;
  const bad = (): ModelLoadError =>
    new ModelLoadError(
      location,
      `The shop delta ${location} is not a payload of format ${READ_FORMATS.join(' or ')} for base ${manifest.baseVersion}, seq ${manifest.seq}, with one finite bias per item listed (rows as whole gaps, the first ≥ 0 and the others > 0; and, where it has recent sales, a half-life > 0 and one finite value ≥ 0 per item).`,
    );
  if (!p || typeof p !== 'object' || p['baseVersion'] !== manifest.baseVersion || p['seq'] !== manifest.seq) throw bad();
  const base = { format: 2 as const, baseVersion: manifest.baseVersion, seq: manifest.seq };
  if (p['format'] === 1) {
    // Format 1: every item by id.
    const v1 = p as Partial<ShopDeltaPayloadV1>;
    const psi = { rows: [], rowValues: [], ids: v1.ids, values: v1.bias };
    const r = v1.recent;
    const recent = r && typeof r === 'object' ? { halfLifeDays: r.halfLifeDays, rows: [], rowValues: [], ids: r.ids, values: r.values } : r;
    if (!validEntries(psi, false) || (recent !== undefined && !validRecent(recent))) throw bad();
    return { ...base, psi, ...(recent ? { recent } : {}) };
  }
  if (p['format'] !== 2 || !validEntries(p['psi'], false) || (p['recent'] !== undefined && !validRecent(p['recent']))) throw bad();
  return p as unknown as ShopDeltaPayload;
}

/** Whether `e` is a well-formed list: rows whole gaps (the first ≥ 0, the others > 0), one finite value per item (≥ 0 with `nonNegative`). */
function validEntries(e: unknown, nonNegative: boolean): e is DeltaEntries {
  const x = e as Partial<DeltaEntries> | null;
  const value = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && (!nonNegative || v >= 0);
  return (
    !!x &&
    Array.isArray(x.rows) &&
    Array.isArray(x.rowValues) &&
    Array.isArray(x.ids) &&
    Array.isArray(x.values) &&
    x.rows.length === x.rowValues.length &&
    x.ids.length === x.values.length &&
    x.rows.every((g, k) => Number.isSafeInteger(g) && (k === 0 ? g >= 0 : g > 0)) &&
    x.ids.every((id) => typeof id === 'string') &&
    x.rowValues.every(value) &&
    x.values.every(value)
  );
}

function validRecent(r: unknown): boolean {
  const x = r as Partial<NonNullable<ShopDeltaPayload['recent']>> | null;
  return !!x && typeof x.halfLifeDays === 'number' && Number.isFinite(x.halfLifeDays) && x.halfLifeDays > 0 && validEntries(x, true);
}

/** Where a payload's items are in this page's catalogue. */
export interface DeltaTarget {
  /** Items in the catalogue. */
  size: number;
  indexOf(id: string): number | undefined;
  /**
   * The catalogue index of the item on the base's row `row` (its line of `items.txt`), or
   * undefined where the base has no such row or the catalogue lacks its item.
   */
  baseIndex?(row: number): number | undefined;
  /**
   * Resolves once `baseIndex` can answer (a page's base is aligned with its catalogue while the
   * delta downloads): a payload's rows are read after it.
   */
  ready?: Promise<unknown>;
  /** The sha256 of the base's `items.txt` (a delta's rows are taken only where it names the same). */
  baseItems?: string;
}

/** Whether a payload's rows (if it has any) name rows of this page's base's item list. */
export function rowsFit(payload: ShopDeltaPayload, manifest: ShopDeltaManifest, target: DeltaTarget): boolean {
  const rows = payload.psi.rows.length + (payload.recent?.rows.length ?? 0);
  return rows === 0 || (target.baseIndex !== undefined && manifest.baseItems !== undefined && manifest.baseItems === target.baseItems);
}

/**
 * A list spread over a catalogue of `target.size` items: `known` counts the items this
 * catalogue has; the others (and rows the base lacks) are skipped.
 */
function spread(e: DeltaEntries, target: DeltaTarget): { dense: Float32Array; known: number } {
  const dense = new Float32Array(target.size);
  let known = 0;
  const put = (i: number | undefined, value: number): void => {
    if (i === undefined) return;
    dense[i] = value;
    known++;
  };
  absoluteRows(e).forEach((row, k) => put(target.baseIndex?.(row), e.rowValues[k]!));
  e.ids.forEach((id, k) => put(target.indexOf(id), e.values[k]!));
  return { dense, known };
}

/**
 * ψ over a catalogue from a payload, and what sold lately where the payload has it (else null):
 * items this catalogue lacks are skipped, and those of ψ counted (`unknown`); `items` and
 * `recentItems` count this catalogue's items of each list.
 */
export function alignShopDelta(
  payload: ShopDeltaPayload,
  target: DeltaTarget,
): { psi: Float32Array; recent: Float32Array | null; items: number; unknown: number; recentItems: number } {
  const psi = spread(payload.psi, target);
  const recent = payload.recent ? spread(payload.recent, target) : null;
  return {
    psi: psi.dense,
    recent: recent?.dense ?? null,
    items: psi.known,
    unknown: payload.psi.rows.length + payload.psi.ids.length - psi.known,
    recentItems: recent?.known ?? 0,
  };
}

/**
 * Days of events the shop's stream job keeps by default (its `--keep-days`): its log, the event
 * ids by which it knows a retry, and what a new base replays, hold the events of this many days
 * before the newest, so that none of them grows with the job's age. Its recent counts' half-lives
 * (1 and 14 days) leave under 2% of their weight to older events.
 */
export const SHOP_STREAM_KEEP_DAYS = 90;

/**
 * The start of the stream job's window of `keepDays` days: `keepDays` before the newest event
 * time, or before `now` where an event claims a later time (a clock far ahead would otherwise
 * push every true event out). −∞ where every event is kept (`keepDays` infinite) or none came.
 */
export function streamWindowStart(keepDays: number, newest: number, now: number): number {
  if (!(keepDays > 0)) throw new RangeError(`keepDays must be a number of days > 0, got ${keepDays}`);
  if (keepDays === Infinity || newest === -Infinity) return -Infinity;
  return Math.min(newest, now) - keepDays * DAY;
}

/**
 * Whether a log whose oldest event is at `oldest` is due to lose its events before the window's
 * start: once they span a quarter of the window, so that each rewrite of the log drops a good
 * part of it (the log holds at most 1¼ windows).
 */
export function streamCompactionDue(keepDays: number, oldest: number, newest: number, now: number): boolean {
  const start = streamWindowStart(keepDays, newest, now);
  return start !== -Infinity && oldest < start - (keepDays * DAY) / 4;
}
