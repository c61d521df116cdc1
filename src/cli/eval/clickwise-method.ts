/**
 * Clickwise as an evaluation method: the head the browser builds (`loadHead`, the same code as
 * `createRecommender`), replayed on typed arrays (`PlainHead`, checked against the tensor head in
 * test/plain-head.test.ts): each scored event is scored as `recommend()` scores, at the event's
 * time, and then learned as a click. One head serves every shopper in turn: a shopper's φ is
 * parked when another shopper's turn comes and restored on theirs, as their own browser would
 * keep it. A frozen head (learning rate 0) keeps the click memory but never moves φ: the base
 * alone.
 */
import type { IncrementalHead } from '../../core/head.js';
import type { BaseParams, HeadOptions } from '../../core/head.js';
import type { ShopLearner } from '../../core/shop-delta.js';
import { densePsi, SHOP_STREAM_KEEP_DAYS, streamCompactionDue, streamWindowStart } from '../../core/shop-delta.js';
import type { ListCandidate } from '../../core/interests.js';
import { candidatesFor, shareAmongInterests } from '../../core/interests.js';
import { TopK } from '../../core/item-matrix.js';
import type { PlainState } from './plain-head.js';
import { freshState, PlainHead } from './plain-head.js';
import type { OnlineMethod, ReplayEvent } from './replay.js';

/** A newer base published by the maintenance job at time `at` (built from events before it). */
export interface Rebase {
  at: number;
  load: () => Promise<PlainHead>;
}

/** The typed-array twin of a loaded head (the tensor head is disposed). */
export async function plainHeadFrom(loaded: { head: IncrementalHead; base: BaseParams }): Promise<PlainHead> {
  return (await plainHeadMaker(loaded))();
}

/**
 * Typed-array twins of a loaded head, each with the head's options and `overrides` on top (the
 * tensor head is disposed): one load serves replays at several settings.
 */
export async function plainHeadMaker(loaded: {
  head: IncrementalHead;
  base: BaseParams;
}): Promise<(overrides?: Partial<HeadOptions>) => PlainHead> {
  const V = Float32Array.from(await loaded.head.itemVectors());
  const { n, dims, options } = loaded.head;
  loaded.head.dispose();
  const base = { ...loaded.base, residual: null };
  return (overrides = {}) => new PlainHead(V, n, dims, base, { ...options, ...overrides });
}

/**
 * The shop's stream job as the evaluation sees it: every event of the log goes to `learner` (the
 * events before the split too, as the job would have been running); at the split the new base
 * takes in what it learned per item (`resetItems`, as `maintain` resets the delta); every
 * `everyMs` of log time a delta is published from the events before that moment, as the browser
 * would download it, and fused into the base.
 */
export interface ShopStream {
  learner: ShopLearner;
  everyMs: number;
  split: number;
  /**
   * With rebases: the stream job's learner on a newer base (`StreamJob.checkBase`). The job then
   * learns its log again (the events of its window, `keepDays`) on the new base's biases, its per-item delta starting again at
   * each base's marker (the split and every earlier rebase), and what sold lately starting from
   * the new base's figures. Without it, rebases keep the first learner.
   */
  learnerOn?: (head: PlainHead) => ShopLearner;
  /**
   * Days of events the job keeps (its `--keep-days`; default `SHOP_STREAM_KEEP_DAYS`): what a
   * rebase learns again is the log as the job compacts it.
   */
  keepDays?: number;
}

/**
 * The list a page shows (`recommend()` with its defaults, or a shop's settings), where the method
 * is to be measured on it rather than on the head's ranking: the items the shopper viewed lately
 * left out unless `includeViewed`, and the list shared among their interests when `diversify`.
 */
export interface PageList {
  includeViewed: boolean;
  diversify: boolean;
  /** An item's department, or undefined where it has none (a click on it makes no interest). */
  category: (i: number) => string | undefined;
  /** Places kept for the shopper's latest departments (`HeadManifest.keepLatestDepartments`); default false. */
  keepLatest?: boolean;
  /** Each interest's places shared among its clicks (`HeadManifest.shareInterestClicks`); default false. */
  shareClicks?: boolean;
}

/**
 * The first `k` items of the list a page would show for `head`'s current shopper, made from this
 * moment's `scores` as `recommend()` makes it from the head's ranking: recently viewed items left
 * out unless asked for; with `diversify` and more than one viewed item, places kept for the
 * shopper's interests ({@link shareAmongInterests}) among the best {@link candidatesFor}
 * candidates; otherwise the best k. Ties go to the lower index; a score that is not a number never
 * ranks.
 */
export function pageList(head: PlainHead, scores: Float32Array, k: number, page: PageList): number[] {
  const viewed = head.historyWeights().map((h) => h.i);
  const excl = new Set(page.includeViewed ? [] : viewed);
  const diversify = page.diversify && viewed.length > 1;
  const target = candidatesFor(k, diversify);
  const top = new TopK(Math.min(head.n, target + excl.size));
  for (let i = 0; i < head.n; i++) {
    const v = scores[i]!;
    if (v > top.threshold && Number.isFinite(v)) top.push(v, i);
  }
  const best = top.sorted();
  const picked: ListCandidate[] = [];
  for (let j = 0; j < best.indices.length && picked.length < target; j++) {
    const i = best.indices[j]!;
    if (!excl.has(i)) picked.push({ i, s: best.values[j]! });
  }
  const list =
    diversify && picked.length > k
      ? shareAmongInterests(
          picked,
          viewed,
          k,
          page.category,
          page.keepLatest === true,
          // Read lazily: nothing is computed unless a department holds a quarter of the clicks.
          page.shareClicks === true ? head.likeness() : undefined,
        )
      : picked.slice(0, k);
  return list.map((p) => p.i);
}

/**
 * @param rebases newer bases in time order: from `at` on, shoppers are scored on that base. Their
 *   φ is kept across (a base of the same encoder is published as compatible, as `maintain` does).
 * @param shop with a shop stream, the method is `clickwise-live`: base + shop delta ψ + φ.
 * @param forgetAfterMs with it, a shopper's whole state (φ and the click memory) is dropped at
 *   every gap this long between two of their events: each visit starts as a stranger's
 *   (`clickwise-visit`, what a page that keeps nothing of a shopper between visits would give).
 * @param k the length of the list the metrics look at: a base's places for new products
 *   (`newSlots`) are kept in a list of this length, as the recommender keeps them in its list.
 * @param page with it, the method is measured on the list the page shows ({@link pageList}):
 *   its k items lead the scores in their order, and the viewed items it leaves out come last.
 */
export function clickwiseMethod(
  name: string,
  first: PlainHead,
  rebases: readonly Rebase[] = [],
  shop?: ShopStream,
  forgetAfterMs?: number,
  k = 10,
  page?: PageList,
): OnlineMethod {
  let head = first;
  let next = 0;
  /**
   * Events the shop's job has received; those from `shopQueueStart` on are not yet learned
   * (learned when a delta is published). Where a rebase relearns the log, all are kept.
   */
  const shopQueue: ReplayEvent[] = [];
  let shopQueueStart = 0;
  const keepLog = shop?.learnerOn !== undefined && rebases.length > 0;
  /** The stream job's learner: the one given, then one on each newer base (`learnerOn`). */
  let learner = shop?.learner;
  let published = -Infinity;
  /** The bases' markers in the job's log, where the per-item delta starts again: the split, then each rebase so far. */
  const markers = shop ? [shop.split] : [];
  /** Markers the learner has passed. */
  let passed = 0;
  /** Learns the queue's events `from` ≤ j < `to`, starting the per-item delta again at each marker passed. */
  const learnRange = (into: ShopLearner, from: number, to: number): void => {
    for (let j = from; j < to; j++) {
      const e = shopQueue[j]!;
      for (; passed < markers.length && e.t >= markers[passed]!; passed++) into.resetItems();
      into.learn(e.item, e.t);
    }
  };
  const publish = (t: number): void => {
    if (!shop || !learner) return;
    const at = Math.floor(t / shop.everyMs) * shop.everyMs;
    if (at <= published) return;
    published = at;
    let j = shopQueueStart;
    while (j < shopQueue.length && shopQueue[j]!.t < at) j++;
    learnRange(learner, shopQueueStart, j);
    shopQueueStart = j;
    if (!keepLog && shopQueueStart > 65_536) {
      shopQueue.splice(0, shopQueueStart);
      shopQueueStart = 0;
    }
    // The job's log loses its events from before its window as the job compacts it (the events
    // come in time order here: the oldest first, the newest last).
    const keepDays = shop.keepDays ?? SHOP_STREAM_KEEP_DAYS;
    const newest = shopQueue[shopQueue.length - 1]?.t;
    if (keepLog && newest !== undefined && streamCompactionDue(keepDays, shopQueue[0]!.t, newest, t)) {
      const start = streamWindowStart(keepDays, newest, t);
      let drop = 0;
      while (drop < shopQueueStart && shopQueue[drop]!.t < start) drop++;
      shopQueue.splice(0, drop);
      shopQueueStart -= drop;
    }
    for (; passed < markers.length && at >= markers[passed]!; passed++) learner.resetItems();
    const p = learner.published(at);
    head.setShopBias(densePsi(head.n, p.indices, p.values));
    // What sold lately, where the learner keeps it: own popularity follows it, as in a browser.
    if (p.recent) head.setRecentSales(densePsi(head.n, p.recent.indices, p.recent.values));
  };
  const states = new Map<string, PlainState>();
  /** Events learned lazily, when the shopper is next scored (the order within a shopper is kept). */
  const pending = new Map<string, ReplayEvent[]>();
  /** Each shopper's last learned event's time (kept only where the method forgets between visits). */
  const lastSeen = new Map<string, number>();
  const out = new Float32Array(first.n);
  /**
   * The ranking a shopper's page had when their next click came (`LearnInput.ranked`): a page
   * ranks on every load and after every click, so each learned event gets the ranking at its own
   * time, before it is learned. A scored event's is taken from its scores.
   */
  const rankedAt = new WeakMap<PlainState, { clicks: number; t: number; ranked: number[] }>();
  /** How many items of the ranking a click learns from (0 for a frozen head: it learns nothing). */
  const rankedWanted = (): number => (head.options.learningRate > 0 ? head.options.rankedNegatives : 0);
  const ranking = (st: PlainState, t: number): number[] => {
    const k = rankedWanted();
    if (k < 1) return [];
    const memo = rankedAt.get(st);
    if (memo && memo.clicks === st.clicks && memo.t === t) return memo.ranked;
    return head.ranking(t, k);
  };
  return {
    name,
    kind: 'online',
    async score(user, t) {
      while (next < rebases.length && t >= rebases[next]!.at) {
        // The shopper whose turn it was takes all they learned on the old base with them.
        head.park();
        const { at, load } = rebases[next++]!;
        head = await load();
        if (shop?.learnerOn) {
          // The job's learner on the new base: the log so far learned again, a marker at the rebase.
          markers.push(at);
          learner = shop.learnerOn(head);
          passed = 0;
          learnRange(learner, 0, shopQueueStart);
          published = -Infinity;
        }
      }
      publish(t);
      let st = states.get(user);
      if (!st) states.set(user, (st = freshState(head.d)));
      head.state = st;
      /** A new visit from `at` on, where the method forgets between visits: the state starts afresh. */
      const visit = (at: number): void => {
        const before = lastSeen.get(user);
        if (forgetAfterMs === undefined || before === undefined || at - before < forgetAfterMs) return;
        states.set(user, (st = freshState(head.d)));
        head.state = st;
      };
      const queue = pending.get(user);
      if (queue) {
        for (const e of queue) {
          visit(e.t);
          head.learnOne({ item: e.item, impressions: [], ranked: ranking(st, e.t), time: e.t });
          if (forgetAfterMs !== undefined) lastSeen.set(user, e.t);
        }
        pending.delete(user);
      }
      visit(t);
      head.scores(t, out);
      const wanted = rankedWanted();
      if (wanted > 0) rankedAt.set(st, { clicks: st.clicks, t, ranked: head.ranking(t, wanted, out) });
      if (page) {
        // The page's list leads, in its order; the viewed items it leaves out come last.
        const list = pageList(head, out, k, page);
        if (!page.includeViewed) for (const h of head.historyWeights()) out[h.i] = -Infinity;
        let top = -Infinity;
        for (let i = 0; i < out.length; i++) if (out[i]! > top) top = out[i]!;
        if (!Number.isFinite(top)) top = 0;
        list.forEach((i, j) => (out[i] = top + k - j));
      }
      // The list's last places for new products, where the base keeps some (after the ranking
      // a click learns from, which is the head's own, as in the browser).
      head.applyNewSlots(out, k);
      return out;
    },
    observe(e) {
      if (shop) shopQueue.push(e);
      const q = pending.get(e.user) ?? [];
      q.push(e);
      pending.set(e.user, q);
    },
    done() {
      // Every shopper's φ and click memory, and the stream job's queue: 64 KB and more a shopper who learned.
      states.clear();
      pending.clear();
      lastSeen.clear();
      shopQueue.length = 0;
      shopQueueStart = 0;
      head.park();
    },
  };
}
