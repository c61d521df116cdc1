/**
 * The test-then-learn replay behind `npm run eval`. Every event of the log is visited once, in
 * time order. An event at or after the split is first scored (each method scores the full
 * catalogue for that shopper; the harness, never the method, looks up where the true item landed)
 * and only then fed to the method. Events before the split are fed without scoring, so a
 * shopper's earlier history is known, as their browser would already have learned it.
 *
 * Methods see the true item only through `observe`, after scoring: a method cannot rank an item
 * it has not been told about, which the tests check with an item that exists only in the future.
 */
import { createHash } from 'node:crypto';
import { mulberry32 } from '../../core/rng.js';
import type { LogEvent } from '../data.js';
import { isGuest } from '../data.js';
import { RankMetrics } from './metrics.js';

/** One event in catalogue indices. */
export interface ReplayEvent {
  user: string;
  item: number;
  t: number;
  /** At or after the split: scored. */
  scored: boolean;
}

/** A method that scores one shopper at a time, then learns the event (online). */
export interface OnlineMethod {
  name: string;
  kind: 'online';
  /** Scores of every catalogue item for this shopper, now (higher is better). */
  score(user: string, t: number): Promise<Float32Array> | Float32Array;
  /** Learns an event (called after scoring it, or without scoring before the split). */
  observe(e: ReplayEvent): Promise<void> | void;
  /** What its fit did, where it has one, copied into the report. */
  training?: Record<string, unknown>;
  /**
   * Called by `replay` once this method's replay is over, before the next method's starts: what
   * it keeps of each shopper may go then (a log of 100,000 shoppers would otherwise hold every
   * method's shoppers at once until the end of the run).
   */
  done?(): void;
  dispose?(): void;
}

/**
 * A method whose model does not change during the replay (batch-trained), so its queries can be
 * scored in batches: each query is the shopper's item history strictly before the scored event.
 */
export interface StaticMethod {
  name: string;
  kind: 'static';
  /** Scores for each history (oldest item first), [histories.length × N] row-major. */
  scoreBatch(histories: readonly (readonly number[])[]): Promise<Float32Array>;
  /** What its training did (epochs, held-out scores), copied into the report. */
  training?: Record<string, unknown>;
  /** Where its list puts the current visit's items (see {@link VisitItems}); `keep` when absent. */
  visit?: VisitItems;
  dispose?(): void;
}

export type Method = OnlineMethod | StaticMethod;

/** Per-method metrics, as in the report. */
export interface MethodReport {
  name: string;
  hr: number;
  ndcg: number;
  mrr: number;
  events: number;
  eventsPerSecond: number;
  coldItems: ReturnType<RankMetrics['summary']>;
  newShoppers: ReturnType<RankMetrics['summary']>;
  /** Events whose shopper's previous event is at least 30 minutes earlier, or who has none. */
  sessionStarts: ReturnType<RankMetrics['summary']>;
  /** Session starts on an item the shopper had bought before: where a shopper's history can name the item. */
  sessionStartRebuys: ReturnType<RankMetrics['summary']>;
  /** Every event on an item the shopper had bought before (re-buys). */
  rebuys: ReturnType<RankMetrics['summary']>;
  /** Every other event: on a product new to the shopper (the scored events less the re-buys). */
  newToShopper: ReturnType<RankMetrics['summary']>;
  /**
   * The same events, each ranked among the products new to its shopper only (the products they
   * had an event on before left out of the list): how well a method orders what a shopper has not
   * bought, apart from the places it gives their own products.
   */
  newAmongNew: ReturnType<RankMetrics['summary']>;
  /** Events of guests' orders (read as shoppers of one visit where the log gives their `session_id`). */
  guests: ReturnType<RankMetrics['summary']>;
  /**
   * The scored events by how many events their shopper had before them (the log before the split
   * included), in the bands of {@link SHOPPER_EVENT_BANDS}: where what a browser learns of a
   * shopper has more to learn from. `to` is null for the last, open band.
   */
  byShopperEvents: (ReturnType<RankMetrics['summary']> & { from: number; to: number | null })[];
  /** What a batch-trained method's training did, where it says. */
  training?: Record<string, unknown>;
  /** NDCG@k per week from the split: [week start (ISO date), ndcg, events]. */
  weekly: [string, number, number][];
  seconds: number;
  /**
   * The first 16 hex digits of the sha256 of every scored event's rank (int32, little-endian) in
   * the log's order: two reports of a method with the same digest ranked every event alike, which
   * their rounded figures alone cannot say (a change meant to leave the rankings as they were, a
   * faster replay, is checked by it).
   */
  rankDigest: string;
}

/** Turns log events into catalogue indices, dropping events of items the catalogue lacks. */
export function toReplay(
  events: readonly LogEvent[],
  ids: readonly string[],
  split: number,
  until = Infinity,
): { events: ReplayEvent[]; unknownItems: number } {
  const index = new Map(ids.map((id, i) => [id, i]));
  const out: ReplayEvent[] = [];
  let unknownItems = 0;
  for (const e of events) {
    if (e.t >= until) break;
    const i = index.get(e.item);
    if (i === undefined) {
      unknownItems++;
      continue;
    }
    out.push({ user: e.user, item: i, t: e.t, scored: e.t >= split });
  }
  return { events: out, unknownItems };
}

/** Each shopper's items before the split, in time order (what batch-trained methods learn from). */
export function sequencesBeforeSplit(events: readonly ReplayEvent[]): Map<string, number[]> {
  const seqs = new Map<string, number[]>();
  for (const e of events) {
    if (e.scored) break;
    const s = seqs.get(e.user) ?? [];
    s.push(e.item);
    seqs.set(e.user, s);
  }
  return seqs;
}

/**
 * A fixed random order of the items, drawn from the seed, used to break ties: among items with
 * the same score, the one earlier in this order ranks higher. Ties are thus neither lucky nor
 * unlucky for the true item, whatever the catalogue order.
 */
export function tieOrder(n: number, seed: number): Uint32Array {
  const rand = mulberry32(seed);
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const prio = new Uint32Array(n);
  perm.forEach((item, pos) => (prio[item] = pos));
  return prio;
}

/** 0-based rank of `target` among `scores` (offset into a larger array), ties broken by `prio`. */
export function rankOf(scores: Float32Array, target: number, prio: Uint32Array, offset = 0, n = scores.length): number {
  const ts = scores[offset + target]!;
  const tp = prio[target]!;
  let rank = 0;
  for (let j = 0; j < n; j++) {
    const s = scores[offset + j]!;
    if (s > ts || (s === ts && prio[j]! < tp)) rank++;
  }
  // A NaN score for the true item must not count as a hit.
  return Number.isNaN(ts) ? n : rank;
}

const WEEK = 7 * 86_400_000;
/** A gap this long between two events of a shopper starts a new session (the `sessionStarts` subset). */
export const SESSION_GAP_MS = 30 * 60_000;

/**
 * Where a method's list puts the items of the shopper's current visit (their clicks since the
 * last gap of 30 minutes or more, in the middle of a visit): `keep`, where the method ranks them;
 * `last`, after every other item, since a basket rarely holds a line twice. At a visit's start
 * there is no current visit, so `last` changes nothing there.
 */
export type VisitItems = 'keep' | 'last';

/** Below any score a method gives: what `last` takes from the current visit's items. */
const VISIT_DEMOTION = 1e6;
const NO_ITEMS: ReadonlySet<number> = new Set();

/** Puts `items` last in the row of `scores` that starts at `offset` (see {@link VisitItems}). */
export function demoteItems(items: Iterable<number>, scores: Float32Array, offset = 0): void {
  for (const i of items) scores[offset + i]! -= VISIT_DEMOTION;
}

/** Each shopper's current visit (see {@link VisitItems}). */
export function currentVisits(gapMs: number): {
  observe(e: ReplayEvent): void;
  /** The items of `user`'s visit at `t` (none at a visit's start); live, so copy it to keep it. */
  current(user: string, t: number): ReadonlySet<number>;
} {
  const visits = new Map<string, { last: number; items: Set<number> }>();
  return {
    observe: (e) => {
      const v = visits.get(e.user);
      if (!v || e.t - v.last >= gapMs) visits.set(e.user, { last: e.t, items: new Set([e.item]) });
      else {
        v.last = e.t;
        v.items.add(e.item);
      }
    },
    current: (user, t) => {
      const v = visits.get(user);
      return v && t - v.last < gapMs ? v.items : NO_ITEMS;
    },
  };
}

/** The bands of a shopper's earlier events in `byShopperEvents`: [from, to], the last open. */
export const SHOPPER_EVENT_BANDS: readonly (readonly [number, number])[] = [
  [0, 0],
  [1, 9],
  [10, 49],
  [50, 199],
  [200, 999],
  [1000, Infinity],
];

/** The band of `SHOPPER_EVENT_BANDS` that holds `count`. */
function bandOf(count: number): number {
  let b = 0;
  while (b < SHOPPER_EVENT_BANDS.length - 1 && count > SHOPPER_EVENT_BANDS[b]![1]) b++;
  return b;
}

/** What every method's tally shares: the tie order and the cold-item / new-shopper subsets. */
interface Subsets {
  prio: Uint32Array;
  /** Items that occur before the split. */
  seenItems: Uint8Array;
  /** Shoppers with an event before the split. */
  knownUsers: ReadonlySet<string>;
  /** Events that start a session: the shopper's previous event is ≥ 30 minutes earlier, or none. */
  sessionStarts: WeakSet<ReplayEvent>;
  /** Events on an item the shopper had an event on before. */
  rebuys: WeakSet<ReplayEvent>;
  /** Each scored event's band of `SHOPPER_EVENT_BANDS` (its shopper's events before it). */
  band: WeakMap<ReplayEvent, number>;
  /** Each shopper's products in the order of their first event on each. */
  own: Map<string, number[]>;
  /** For each scored event on a product new to its shopper, how many of `own` they had before it. */
  ownBefore: WeakMap<ReplayEvent, number>;
}

/** See `MethodReport.rankDigest`. */
export function rankDigest(ranks: Int32Array): string {
  const bytes = new Uint8Array(ranks.length * 4);
  const view = new DataView(bytes.buffer);
  ranks.forEach((r, k) => view.setInt32(4 * k, r, true));
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** One method's metrics: ranks the true item of each scored event and adds it everywhere it counts. */
class Tally {
  onRank: ((e: ReplayEvent, rank: number) => void) | undefined;
  readonly all: RankMetrics;
  readonly cold: RankMetrics;
  readonly fresh: RankMetrics;
  readonly starts: RankMetrics;
  readonly startRebuys: RankMetrics;
  readonly rebuys: RankMetrics;
  readonly newToShopper: RankMetrics;
  readonly newAmongNew: RankMetrics;
  readonly guests: RankMetrics;
  readonly bands: RankMetrics[];
  readonly weeks = new Map<number, RankMetrics>();
  seconds = 0;
  /** Every scored event's rank, in the order scored. */
  private readonly ranks: number[] = [];
  constructor(
    readonly k: number,
    readonly split: number,
    readonly n: number,
    private readonly subsets: Subsets,
  ) {
    this.all = new RankMetrics(k);
    this.cold = new RankMetrics(k);
    this.fresh = new RankMetrics(k);
    this.starts = new RankMetrics(k);
    this.startRebuys = new RankMetrics(k);
    this.rebuys = new RankMetrics(k);
    this.newToShopper = new RankMetrics(k);
    this.newAmongNew = new RankMetrics(k);
    this.guests = new RankMetrics(k);
    this.bands = SHOPPER_EVENT_BANDS.map(() => new RankMetrics(k));
  }
  /** Records event `e` given the scores of the full catalogue, at `offset` in `scores`. */
  score(e: ReplayEvent, scores: Float32Array, offset = 0): void {
    const rank = rankOf(scores, e.item, this.subsets.prio, offset, this.n);
    this.onRank?.(e, rank);
    this.ranks.push(rank);
    this.all.add(rank);
    if (!this.subsets.seenItems[e.item]) this.cold.add(rank);
    if (!this.subsets.knownUsers.has(e.user)) this.fresh.add(rank);
    if (isGuest(e.user)) this.guests.add(rank);
    const start = this.subsets.sessionStarts.has(e);
    const rebuy = this.subsets.rebuys.has(e);
    if (start) this.starts.add(rank);
    if (rebuy) this.rebuys.add(rank);
    else {
      this.newToShopper.add(rank);
      this.newAmongNew.add(rank - this.ownAbove(e, scores, offset));
    }
    if (start && rebuy) this.startRebuys.add(rank);
    const band = this.subsets.band.get(e);
    if (band === undefined) throw new Error(`A scored event of ${e.user} at ${e.t} is not one of the replayed events.`);
    this.bands[band]!.add(rank);
    const w = Math.floor((e.t - this.split) / WEEK);
    let m = this.weeks.get(w);
    if (!m) this.weeks.set(w, (m = new RankMetrics(this.k)));
    m.add(rank);
  }
  /** How many of the shopper's own products (before `e`) rank above `e`'s item in `scores`. */
  private ownAbove(e: ReplayEvent, scores: Float32Array, offset: number): number {
    const own = this.subsets.own.get(e.user);
    const count = this.subsets.ownBefore.get(e);
    if (!own || count === undefined) throw new Error(`A scored event of ${e.user} at ${e.t} is not one of the replayed events.`);
    const prio = this.subsets.prio;
    const ts = scores[offset + e.item]!;
    const tp = prio[e.item]!;
    let above = 0;
    for (let i = 0; i < count; i++) {
      const j = own[i]!;
      const s = scores[offset + j]!;
      if (s > ts || (s === ts && prio[j]! < tp)) above++;
    }
    return above;
  }
  report(name: string): MethodReport {
    const s = this.all.summary();
    return {
      name,
      ...s,
      eventsPerSecond: Math.round(s.events / Math.max(this.seconds, 1e-9)),
      coldItems: this.cold.summary(),
      newShoppers: this.fresh.summary(),
      sessionStarts: this.starts.summary(),
      sessionStartRebuys: this.startRebuys.summary(),
      rebuys: this.rebuys.summary(),
      newToShopper: this.newToShopper.summary(),
      newAmongNew: this.newAmongNew.summary(),
      guests: this.guests.summary(),
      byShopperEvents: SHOPPER_EVENT_BANDS.map(([from, to], b) => ({
        from,
        to: to === Infinity ? null : to,
        ...this.bands[b]!.summary(),
      })),
      weekly: [...this.weeks.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([w, m]) => [new Date(this.split + w * WEEK).toISOString().slice(0, 10), m.summary().ndcg, m.events]),
      seconds: Math.round(this.seconds * 10) / 10,
      rankDigest: rankDigest(Int32Array.from(this.ranks)),
    };
  }
}

export interface ReplayOptions {
  n: number;
  split: number;
  k: number;
  seed: number;
  /** Called now and then with the number of events visited, per method. */
  onProgress?: (method: string, done: number, total: number) => void;
  /** Called with every scored event's rank (tests use it to compare runs event by event). */
  onRank?: (method: string, event: ReplayEvent, rank: number) => void;
}

/** Replays the events through every method and returns one report per method, in order. */
export async function replay(events: readonly ReplayEvent[], methods: readonly Method[], o: ReplayOptions): Promise<MethodReport[]> {
  const seenItems = new Uint8Array(o.n);
  const knownUsers = new Set<string>();
  for (const e of events) {
    if (e.scored) break;
    seenItems[e.item] = 1;
    knownUsers.add(e.user);
  }
  const sessionStarts = new WeakSet<ReplayEvent>();
  const rebuys = new WeakSet<ReplayEvent>();
  const lastSeen = new Map<string, number>();
  const bought = new Map<string, Set<number>>();
  const own = new Map<string, number[]>();
  const ownBefore = new WeakMap<ReplayEvent, number>();
  const band = new WeakMap<ReplayEvent, number>();
  const before = new Map<string, number>();
  for (const e of events) {
    const count = before.get(e.user) ?? 0;
    if (e.scored) band.set(e, bandOf(count));
    before.set(e.user, count + 1);
    const prev = lastSeen.get(e.user);
    if (prev === undefined || e.t - prev >= SESSION_GAP_MS) sessionStarts.add(e);
    lastSeen.set(e.user, e.t);
    let items = bought.get(e.user);
    let list = own.get(e.user);
    if (!items || !list) {
      bought.set(e.user, (items = new Set()));
      own.set(e.user, (list = []));
    }
    if (items.has(e.item)) rebuys.add(e);
    else {
      if (e.scored) ownBefore.set(e, list.length);
      items.add(e.item);
      list.push(e.item);
    }
  }
  const subsets: Subsets = { prio: tieOrder(o.n, o.seed), seenItems, knownUsers, sessionStarts, rebuys, band, own, ownBefore };
  const out: MethodReport[] = [];
  for (const m of methods) {
    const tally = new Tally(o.k, o.split, o.n, subsets);
    if (o.onRank) tally.onRank = (e, r) => o.onRank!(m.name, e, r);
    const t0 = performance.now();
    if (m.kind === 'online') {
      await replayOnline(events, m, tally, o);
      m.done?.();
    } else await replayStatic(events, m, tally, o);
    tally.seconds = (performance.now() - t0) / 1000;
    const report = tally.report(m.name);
    out.push(m.training ? { ...report, training: m.training } : report);
  }
  return out;
}

async function replayOnline(events: readonly ReplayEvent[], m: OnlineMethod, tally: Tally, o: ReplayOptions): Promise<void> {
  let done = 0;
  for (const e of events) {
    if (e.scored) {
      const s = await m.score(e.user, e.t);
      if (s.length !== o.n) throw new Error(`${m.name} returned ${s.length} scores for a catalogue of ${o.n}.`);
      tally.score(e, s);
    }
    await m.observe(e);
    if (++done % 5000 === 0) o.onProgress?.(m.name, done, events.length);
  }
  o.onProgress?.(m.name, events.length, events.length);
}

async function replayStatic(events: readonly ReplayEvent[], m: StaticMethod, tally: Tally, o: ReplayOptions): Promise<void> {
  const history = new Map<string, number[]>();
  const visits = m.visit === 'last' ? currentVisits(SESSION_GAP_MS) : null;
  // Each query with the items of the shopper's visit at that moment, where they go last.
  const batch: { e: ReplayEvent; h: number[]; visit: number[] }[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const s = await m.scoreBatch(batch.map((b) => b.h));
    if (s.length !== batch.length * o.n) throw new Error(`${m.name} returned ${s.length} scores for ${batch.length} queries.`);
    batch.forEach((b, r) => {
      demoteItems(b.visit, s, r * o.n);
      tally.score(b.e, s, r * o.n);
    });
    batch.length = 0;
  };
  let done = 0;
  for (const e of events) {
    const h = history.get(e.user) ?? [];
    // The query is a copy of the history as it stands before this event.
    if (e.scored) batch.push({ e, h: h.slice(-200), visit: visits ? [...visits.current(e.user, e.t)] : [] });
    if (batch.length >= 256) await flush();
    h.push(e.item);
    visits?.observe(e);
    if (h.length > 400) h.splice(0, h.length - 200);
    history.set(e.user, h);
    if (++done % 5000 === 0) o.onProgress?.(m.name, done, events.length);
  }
  await flush();
  o.onProgress?.(m.name, events.length, events.length);
}
