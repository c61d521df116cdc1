/**
 * How fast browsers learn, chosen per shop by the maintenance job: the head's `learningRate`, the
 * step of a shopper's φ on every click. A shop whose base already says most of what a shopper's
 * clicks say gains little by φ and loses new products by a fast one; a shop with a weak base
 * gains by it. So the job replays its held-out weeks click by click, as `npm run eval` replays a
 * log (test-then-learn, the full catalogue ranked for every scored click), through the head a
 * browser builds on the base of the days before them, once at each candidate rate, and keeps
 * the rate with the best NDCG@10 there.
 *
 * A shopper's φ depends on their own clicks only, so a sample of shoppers, each with all their
 * events, stands for the shop: the replay scores at most `budget` held-out events.
 *
 * The same replay, at the rate chosen, also tells whether the shop's pages should show a shopper
 * the items they viewed lately (`recommend({ includeViewed })`): where the held-out weeks score
 * better with them than with the page's default list, which leaves them out, the shop's shoppers
 * re-buy what they looked at (a grocer, a wholesaler), and the head ships `recommendViewed`.
 * And, where the catalogue names departments, whether its pages keep places for a shopper's
 * latest departments (`shareAmongInterests`): the page's lists are replayed with and without
 * them, and the head ships `keepLatestDepartments: false` where they cost more than
 * {@link LATEST_TOLERANCE} of the lists' NDCG@10 (a grocer, whose baskets go through many aisles).
 */
import type { HeadOptions } from '../../core/head.js';
import { loadHead } from '../../core/recommender.js';
import { mulberry32 } from '../../core/rng.js';
import type { Item } from '../../core/types.js';
import { ownTempFolder } from '../common.js';
import type { PageList } from '../eval/clickwise-method.js';
import { clickwiseMethod, plainHeadMaker } from '../eval/clickwise-method.js';
import type { ReplayEvent } from '../eval/replay.js';
import { replay } from '../eval/replay.js';
import type { HeadModelData } from './head-io.js';

/**
 * The share of the page lists' held-out NDCG@10 that the places for a shopper's latest departments,
 * or an interest's places shared among its clicks, may cost and still be kept: they serve a
 * shopper who browses, which the next click alone does not measure.
 */
export const LATEST_TOLERANCE = 0.01;

export interface RateChoice {
  /** The rate chosen: the candidate with the best NDCG@10 (the first listed of equals). */
  rate: number;
  /** The candidates, in the order replayed, and the NDCG@10 of each on the held-out events. */
  rates: number[];
  ndcg: number[];
  /** Shoppers replayed, and the held-out events scored. */
  shoppers: number;
  scored: number;
  /**
   * With `viewed`: NDCG@10 at the rate chosen of the lists with the items viewed lately left out,
   * and whether the lists with them score better (`ndcg` at that rate higher), so pages should show them.
   */
  hiddenNdcg?: number;
  showViewed?: boolean;
  /**
   * With `departments`: NDCG@10 at the rate chosen of the page's lists (the viewed items as chosen
   * or given) without and with the places for the latest departments, and whether they are kept.
   */
  latestNdcg?: [number, number];
  keepLatest?: boolean;
  /**
   * With `clicks`: NDCG@10 at the rate chosen of the page's lists (no places for the latest
   * departments) without and with each interest's places shared among its clicks, and whether they are.
   */
  clicksNdcg?: [number, number];
  shareClicks?: boolean;
}

export interface RateChoiceInput {
  /** The head a browser would have had at the held-out weeks' start (only what was known then). */
  head: HeadModelData;
  items: readonly Item[];
  /** The source model folder (the encoder). */
  models: string;
  /** Every event before the cut-off, in time order; those at or after `from` are held out. */
  events: readonly ReplayEvent[];
  from: number;
  /** Candidate rates, each ≥ 0. */
  rates: readonly number[];
  /** Held-out events scored at most. */
  budget: number;
  /** Also choose whether pages show the items viewed lately (`RateChoice.showViewed`); a single rate is then replayed too. */
  viewed?: boolean;
  /**
   * Also choose whether pages keep places for the shopper's latest departments
   * (`RateChoice.keepLatest`; for a catalogue whose items name departments). The lists replayed
   * show the viewed items as chosen with `viewed`, else as `includeViewed` says.
   */
  departments?: boolean;
  /**
   * Also choose whether pages share each interest's places among its clicks
   * (`RateChoice.shareClicks`; for a catalogue whose items name departments).
   */
  clicks?: boolean;
  includeViewed?: boolean;
  seed: number;
  /**
   * Writes `head` as a model folder into `dir` (base.ts's `writeModelFolder`, passed in because
   * base.ts imports this module). `dir` is a temporary folder of this process's own, removed at the end.
   */
  writeModel: (dir: string, head: HeadModelData) => void;
  /** Called now and then with the events replayed so far, of all the rates' replays together. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Replays the held-out events at each candidate rate and returns the best, or null where nothing
 * is held out (the browser's default rate then stands).
 */
export async function chooseLearningRate(o: RateChoiceInput): Promise<RateChoice | null> {
  if (o.rates.length === 0) throw new RangeError('chooseLearningRate needs at least one candidate rate.');
  for (const r of o.rates)
    if (!(r >= 0 && r <= 100)) throw new RangeError(`a candidate learning rate must be a number from 0 to 100, got ${r}`);
  if (o.rates.length === 1 && !o.viewed && !o.departments && !o.clicks)
    return { rate: o.rates[0]!, rates: [...o.rates], ndcg: [], shoppers: 0, scored: 0 };
  // Shoppers with held-out events, in a seeded order; taken until the budget is spent.
  const heldOut = new Map<string, number>();
  for (const e of o.events) if (e.t >= o.from) heldOut.set(e.user, (heldOut.get(e.user) ?? 0) + 1);
  if (heldOut.size === 0) return null;
  const order = [...heldOut.keys()].sort();
  const rand = mulberry32(o.seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const picked = new Set<string>();
  let scored = 0;
  for (const user of order) {
    if (scored > 0 && scored + heldOut.get(user)! > o.budget) continue;
    picked.add(user);
    scored += heldOut.get(user)!;
    if (scored >= o.budget) break;
  }
  const events = o.events.filter((e) => picked.has(e.user)).map((e) => ({ ...e, scored: e.t >= o.from }));
  const folder = ownTempFolder('clickwise-rate-');
  try {
    o.writeModel(folder.path, o.head);
    const make = await plainHeadMaker(
      await loadHead({ catalog: [...o.items], modelUrl: folder.path, seed: o.seed, warn: () => undefined }),
    );
    const ndcg: number[] = [];
    // The page lists' replays: one without the places chosen here, then one with each.
    const runs = o.rates.length + (o.viewed ? 1 : 0) + (o.departments || o.clicks ? 1 : 0) + (o.departments ? 1 : 0) + (o.clicks ? 1 : 0);
    const total = runs * events.length;
    /** NDCG@10 of the held-out events at `rate`, replay `k` of the runs; with `page`, on the lists a page shows. */
    const replayAt = async (k: number, rate: number, page?: PageList): Promise<number> => {
      const head = make({ learningRate: rate } satisfies Partial<HeadOptions>);
      const [report] = await replay(events, [clickwiseMethod(`rate ${rate}`, head, [], undefined, undefined, 10, page)], {
        n: head.n,
        split: o.from,
        k: 10,
        seed: o.seed,
        ...(o.onProgress ? { onProgress: (_: string, done: number) => o.onProgress!(k * events.length + done, total) } : {}),
      });
      return report!.ndcg;
    };
    for (const [k, rate] of o.rates.entries()) ndcg.push(await replayAt(k, rate));
    let best = 0;
    for (let k = 1; k < ndcg.length; k++) if (ndcg[k]! > ndcg[best]!) best = k;
    const choice: RateChoice = { rate: o.rates[best]!, rates: [...o.rates], ndcg, shoppers: picked.size, scored };
    if (o.viewed) {
      // The head's ranking with the items viewed lately left out, as a page's default list has it
      // (not shared among departments: that is the same either way, and not what is chosen here).
      const hidden = await replayAt(o.rates.length, choice.rate, { includeViewed: false, diversify: false, category: () => undefined });
      choice.hiddenNdcg = hidden;
      choice.showViewed = ndcg[best]! > hidden;
    }
    if (o.departments || o.clicks) {
      // The page's lists, shared among interests, without the places chosen here, then with each.
      const includeViewed = choice.showViewed ?? o.includeViewed ?? false;
      const category = (i: number): string | undefined => o.items[i]!.category;
      let next = o.rates.length + (o.viewed ? 1 : 0);
      const page = { includeViewed, diversify: true, category };
      const without = await replayAt(next++, choice.rate, { ...page, keepLatest: false, shareClicks: false });
      if (o.departments) {
        const withLatest = await replayAt(next++, choice.rate, { ...page, keepLatest: true, shareClicks: false });
        choice.latestNdcg = [without, withLatest];
        choice.keepLatest = withLatest >= (1 - LATEST_TOLERANCE) * without;
      }
      if (o.clicks) {
        const withClicks = await replayAt(next++, choice.rate, { ...page, keepLatest: false, shareClicks: true });
        choice.clicksNdcg = [without, withClicks];
        choice.shareClicks = withClicks >= (1 - LATEST_TOLERANCE) * without;
      }
    }
    return choice;
  } finally {
    folder.remove();
  }
}
