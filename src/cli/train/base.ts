/**
 * Retraining the base θ from event logs: shared by `npm run maintain` (which writes it as a model
 * folder) and `npm run eval` (which evaluates Clickwise on a base retrained at the split).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EncoderManifest } from '../../core/encoder.js';
import type { HeadManifest, ModelManifest } from '../../core/model.js';
import type { Item } from '../../core/types.js';
import type { LogEvent } from '../data.js';
import { DEFAULT_HEAD_OPTIONS, transitionP } from '../../core/head.js';
import { MIX_LENGTH } from '../../core/memory.js';
import { loadHead } from '../../core/recommender.js';
import type { HeadModelData } from './head-io.js';
import { sequencesBeforeSplit, toReplay } from '../eval/replay.js';
import { ShopLearner } from '../../core/shop-delta.js';
import {
  attachShopDelta,
  buildTransitions,
  collectExamples,
  fitMix,
  fitLaunchSlots,
  fitNewSlots,
  fitShopDeltaWeight,
  SHOP_PUBLISH_MINUTES,
  TRANSITION_TOP,
  TRANSITION_WINDOW,
} from './mix.js';
import { trainBaseParams } from './train-base.js';
import { chooseLearningRate } from './learning-rate.js';
import { defaultHead, writeAtomically, writeHeadModel, writeModelManifest } from './head-io.js';

const DAY = 86_400_000;

export interface BaseOptions {
  /** Half-life of the recency weighting of popularity, in days. */
  halfLifeDays: number;
  /** Scale of the log-popularity biases (the content scores span about ±τ = ±5). */
  biasScale: number;
  /**
   * Epochs of training W₀, residuals, biases and α₀ on next-item prediction (train-base.ts);
   * 0 keeps W₀ = τ·I and the popularity biases.
   */
  epochs: number;
  learningRate: number;
  l2: number;
  batchSize: number;
  seed: number;
  /**
   * The last this many days before the cut-off are held out from the content model's training
   * and used to choose the feature weights (mix.ts); the transition table uses every day, and so
   * does the content model shipped where `refit` is on.
   */
  mixTailDays: number;
  /**
   * Trains the content model again once the feature weights are chosen, on every day before the
   * cut-off (the held-out days too), and ships that one with the weights chosen: the model the
   * weights were chosen beside never saw the shop's latest weeks. false ships the model trained
   * without them (half the training time).
   */
  refit: boolean;
  /**
   * Trains the content model beside the shop's transition feature (train-base.ts), so that it
   * learns what transitions miss. Each fold of the shoppers (`transitionFolds`) is trained with a
   * transition table built from the other folds.
   */
  jointTransitions: boolean;
  /** Folds of shoppers for `jointTransitions`: each fold's table is built from the others'. */
  transitionFolds: number;
  /**
   * Successors each item keeps in the shop's transitions (the most frequent; `TRANSITION_TOP`):
   * in the tables the base trains with and in the one it ships.
   */
  successors: number;
  /**
   * Half-life, in days, of the sales the base ships as what each item sold lately (`recent`:
   * log(1 + Σ 2^(−age / half-life)) at the cut-off), which the own-popularity feature ranks a
   * shopper's own items by. 0 ships none: own popularity is then the bias.
   */
  recentHalfLifeDays: number;
  /**
   * The content model's softmax runs over every known item up to this many; above, over a sample
   * of `sampledNegatives` of them per batch (train-base.ts), so that training a large catalogue's
   * base costs the sample, not the catalogue.
   */
  fullSoftmaxUpTo: number;
  sampledNegatives: number;
  /**
   * Places per ten of each list kept for new products while a shop delta is in force
   * (`newSlots`); null: chosen on the held-out weeks (`fitNewSlots`).
   */
  newSlots: number | null;
  /**
   * Places per ten of each list for launches (`launchSlots`): products the base does not know
   * that are among the shop's best sellers now, as the stream job publishes what sells. null:
   * chosen on the held-out weeks (`fitLaunchSlots`): one, unless it costs those weeks' NDCG@10
   * anything (a launch that sells that well is rare and comes in bursts, and where none does the
   * place is never given, so it is kept for the weeks when one does).
   */
  launchSlots: number | null;
  /**
   * How fast browsers learn (the head's `learningRate`): the candidates replayed on the held-out
   * weeks, of which the best is shipped (learning-rate.ts). One value ships it as it is (replayed
   * only where `showViewed` is `auto`, to choose that).
   */
  headLearningRates: number[];
  /** Held-out events those replays score at most (a sample of shoppers, each with every event). */
  rateBudget: number;
  /**
   * Browsers learn each click against the first this many items of the ranking they showed before
   * it (the head's `rankedNegatives`, shipped in its options; 0: none, the head's default). The
   * replays that choose the learning rate learn so too.
   */
  rankedNegatives: number;
  /**
   * Whether the shop's pages show a shopper the items they viewed lately (`HeadManifest.recommendViewed`):
   * `auto` chooses on the held-out weeks, by the replay at the learning rate shipped (yes where
   * the lists with them score better than the page's default lists without them: a shop of
   * re-buyers); `yes` and `no` ship the shop's own answer. A page's own setting wins either way.
   */
  showViewed: 'auto' | 'yes' | 'no';
  /**
   * Whether the shop's pages keep places for a shopper's last three departments where the ranking
   * leaves one of them out (`HeadManifest.keepLatestDepartments`): `auto` chooses on the held-out
   * weeks where the catalogue names departments (kept unless they cost the page's lists more than
   * 1% of their NDCG@10); `yes` and `no` ship the shop's own answer. A page's own setting wins.
   */
  keepLatest: 'auto' | 'yes' | 'no';
  /**
   * Whether the shop's pages share the places of each department holding a quarter of a shopper's
   * recent clicks among its last three distinct clicks (`HeadManifest.shareInterestClicks`): `auto`
   * chooses on the held-out weeks where the catalogue names departments (shared unless it costs the
   * page's lists more than 1% of their NDCG@10); `yes` and `no` ship the shop's own answer. A
   * page's own setting wins.
   */
  shareClicks: 'auto' | 'yes' | 'no';
}

export const DEFAULT_BASE_OPTIONS: BaseOptions = {
  halfLifeDays: 60,
  biasScale: 0.5,
  epochs: 2,
  learningRate: 0.005,
  l2: 1e-4,
  batchSize: 512,
  seed: 42,
  mixTailDays: 28,
  refit: true,
  jointTransitions: true,
  transitionFolds: 2,
  successors: TRANSITION_TOP,
  recentHalfLifeDays: 7,
  fullSoftmaxUpTo: 50_000,
  sampledNegatives: 1024,
  newSlots: null,
  launchSlots: null,
  headLearningRates: [0.01, 0.03, 0.1, 0.3],
  rateBudget: 20_000,
  rankedNegatives: 0,
  showViewed: 'auto',
  keepLatest: 'auto',
  shareClicks: 'auto',
};

/** Throws a RangeError naming the first setting that training cannot run with. */
export function validateBaseOptions(o: BaseOptions): void {
  if (!(Number.isInteger(o.epochs) && o.epochs >= 0)) throw new RangeError(`epochs must be a whole number ≥ 0, got ${o.epochs}`);
  // A half-life ≤ 0 would weigh older sales more (or divide by 0).
  if (!(o.halfLifeDays > 0 && o.halfLifeDays < Infinity)) {
    throw new RangeError(`halfLifeDays must be a number of days > 0, got ${o.halfLifeDays}`);
  }
  const k = o.transitionFolds;
  if (o.jointTransitions && (!Number.isInteger(k) || k < 2 || k > 255)) {
    throw new RangeError(`transitionFolds must be a whole number from 2 to 255, got ${k}`);
  }
  if (!(o.recentHalfLifeDays >= 0 && o.recentHalfLifeDays < Infinity)) {
    throw new RangeError(`recentHalfLifeDays must be a number of days ≥ 0 (0: none), got ${o.recentHalfLifeDays}`);
  }
  if (o.newSlots !== null && !(Number.isInteger(o.newSlots) && o.newSlots >= 0 && o.newSlots <= 10)) {
    throw new RangeError(`newSlots must be a whole number from 0 to 10, or null (chosen), got ${o.newSlots}`);
  }
  if (o.launchSlots !== null && !(Number.isInteger(o.launchSlots) && o.launchSlots >= 0 && o.launchSlots <= 10)) {
    throw new RangeError(`launchSlots must be a whole number from 0 to 10, or null (chosen), got ${o.launchSlots}`);
  }
  if (!(Number.isInteger(o.fullSoftmaxUpTo) && o.fullSoftmaxUpTo >= 0)) {
    throw new RangeError(`fullSoftmaxUpTo must be a whole number of items ≥ 0, got ${o.fullSoftmaxUpTo}`);
  }
  const rates = o.headLearningRates;
  if (!(Array.isArray(rates) && rates.length > 0 && rates.every((r) => typeof r === 'number' && r >= 0 && r <= 100))) {
    throw new RangeError(`headLearningRates must be one or more numbers from 0 to 100, got ${JSON.stringify(rates)}`);
  }
  if (!(o.l2 >= 0 && o.l2 < Infinity)) throw new RangeError(`l2 must be a number ≥ 0, got ${o.l2}`);
  if (!(Number.isInteger(o.successors) && o.successors >= 1 && o.successors <= 10_000)) {
    throw new RangeError(`successors must be a whole number from 1 to 10,000, got ${o.successors}`);
  }
  if (!(Number.isInteger(o.rankedNegatives) && o.rankedNegatives >= 0 && o.rankedNegatives <= 10_000)) {
    throw new RangeError(`rankedNegatives must be a whole number from 0 to 10,000, got ${o.rankedNegatives}`);
  }
  for (const name of ['showViewed', 'keepLatest', 'shareClicks'] as const) {
    if (!['auto', 'yes', 'no'].includes(o[name])) throw new RangeError(`${name} must be auto, yes or no, got ${JSON.stringify(o[name])}`);
  }
  if (!(Number.isInteger(o.rateBudget) && o.rateBudget >= 1)) {
    throw new RangeError(`rateBudget must be a whole number of events ≥ 1, got ${o.rateBudget}`);
  }
  if (!(Number.isInteger(o.sampledNegatives) && o.sampledNegatives >= 1)) {
    throw new RangeError(`sampledNegatives must be a whole number ≥ 1, got ${o.sampledNegatives}`);
  }
}

/**
 * What each of `n` catalogue items sold before `at`: log(1 + Σ 2^(−age / half-life)) over its
 * events (`BaseParams.recent`), or null for a half-life of 0.
 */
export function recentSales(
  events: readonly { item: number; t: number }[],
  n: number,
  at: number,
  halfLifeDays: number,
): Float32Array | null {
  if (!(halfLifeDays > 0)) return null;
  const h = halfLifeDays * DAY;
  const sum = new Float64Array(n);
  for (const e of events) if (e.t < at) sum[e.item]! += Math.pow(2, -(at - e.t) / h);
  return Float32Array.from(sum, (s) => Math.log1p(s));
}

/** What a retrained base holds besides the shipped encoder. */
export interface TrainedBase {
  head: HeadModelData;
  repeatShare: number;
}

/**
 * Fits the base on the events before `until`: recency-weighted log-popularity biases (centred),
 * and a re-buy weight α₀ from the share of purchases that repeat an earlier one. With
 * `o.epochs` > 0 these start the training of W₀, residuals, biases and α₀ (train-base.ts);
 * otherwise W₀ stays τ·I.
 */
export async function trainBase(
  events: readonly LogEvent[],
  items: readonly Item[],
  until: number,
  models: string,
  o: BaseOptions = DEFAULT_BASE_OPTIONS,
  onProgress?: (done: number, total: number) => void,
  /** Progress of the replays that choose how fast browsers learn (after the feature weights). */
  onRateProgress?: (done: number, total: number) => void,
  /** Progress of choosing the feature weights, the shop delta's weight and the places on the held-out weeks (after the training). */
  onChoiceProgress?: (done: number, total: number) => void,
  /** Progress of training the content model again on every day (`o.refit`; after the choices). */
  onRefitProgress?: (done: number, total: number) => void,
): Promise<TrainedBase> {
  validateBaseOptions(o);
  const encoder = readEncoderManifest(models);
  const ids = items.map((i) => i.id);
  // Every event of a catalogue item before `until`, none of them scored.
  const past = toReplay(events, ids, until, until).events;
  const halfLife = o.halfLifeDays * DAY;
  const weight = new Float64Array(ids.length);
  const seen = new Map<string, Set<number>>();
  let repeats = 0;
  let counted = 0;
  const used = past.length;
  for (const e of past) {
    const i = e.item;
    weight[i]! += Math.pow(0.5, (until - e.t) / halfLife);
    const s = seen.get(e.user) ?? new Set<number>();
    if (s.size > 0) {
      counted++;
      if (s.has(i)) repeats++;
    }
    s.add(i);
    seen.set(e.user, s);
  }
  if (used === 0) throw new Error(`No events of catalogue items before ${new Date(until).toISOString().slice(0, 10)}.`);
  const known = ids.map((_, i) => i).filter((i) => weight[i]! > 0);
  const total = known.reduce((a, i) => a + weight[i]!, 0);
  const logp = known.map((i) => Math.log(weight[i]! / total));
  const mean = logp.reduce((a, b) => a + b, 0) / Math.max(1, logp.length);
  const bias = Float32Array.from(logp, (v) => o.biasScale * (v - mean));
  const repeatShare = counted ? repeats / counted : 0;
  const untilDay = new Date(until).toISOString().slice(0, 10);
  const base = defaultHead(encoder);
  const head: HeadModelData = {
    ...base,
    version: `base-${untilDay}-${encoder.version}`,
    alpha: Number((5 * repeatShare).toFixed(4)),
    ids: known.map((i) => ids[i]!),
    bias,
    provenance: {
      kind: 'recency-weighted log-popularity biases and a re-buy weight on the content-only base',
      until: untilDay,
      ...o,
    },
    metrics: { eventsUsed: used, itemsWithBias: known.length, repeatShare: Number(repeatShare.toFixed(4)) },
  };
  const { head: content } = await loadHead({ catalog: items, modelUrl: models, contentOnly: true, warn: () => undefined });
  const E = await content.itemVectors();
  content.dispose();
  const d = encoder.dims;
  const n = ids.length;
  const bias0 = new Float32Array(n);
  known.forEach((i, k) => (bias0[i] = bias[k]!));
  // The content model is trained on the days before the held-out tail; the weights of the
  // transition and re-buy features are then chosen on the tail (mix.ts), so neither sees the other's data.
  const tailStart = until - o.mixTailDays * DAY;
  const fitting = past.filter((e) => e.t < tailStart);
  const fittingSequences = sequencesBeforeSplit(fitting);
  // Every day's: the transitions shipped, and the content model of every day (`refit`, or no tail).
  const everyDaySequences = sequencesBeforeSplit(past);
  const fittingKnown = new Uint8Array(ids.length);
  for (const e of fitting) fittingKnown[e.item] = 1;
  /** The shop's transitions of `sequences`, each item keeping its `o.successors` most frequent. */
  const transitionsOf = (sequences: Iterable<readonly number[]>): ReturnType<typeof buildTransitions> =>
    buildTransitions(sequences, n, TRANSITION_WINDOW, o.successors);
  const withMix = async (trained: HeadModelData, model: { V: Float32Array; W: Float32Array; bias: Float32Array }): Promise<TrainedBase> => {
    const h: HeadModelData =
      o.rankedNegatives > 0 ? { ...trained, headOptions: { ...trained.headOptions, rankedNegatives: o.rankedNegatives } } : trained;
    const catIndex = new Map(ids.map((id, i) => [id, i]));
    /** A transition table over catalogue indices, as rows of the head items `headIds` (a head's CSR). */
    const overHead = (all: ReturnType<typeof buildTransitions>, headIds: readonly string[]): NonNullable<HeadModelData['transitions']> => {
      const rowOf = new Map(headIds.map((id, r) => [id, r]));
      const ptr = new Int32Array(headIds.length + 1);
      const to: number[] = [];
      const pr: number[] = [];
      const pOf = transitionP(all);
      headIds.forEach((id, r) => {
        const i = catIndex.get(id)!;
        for (let k = all.ptr[i]!; k < all.ptr[i + 1]!; k++) {
          const row = rowOf.get(ids[all.to[k]!]!);
          if (row !== undefined) {
            to.push(row);
            pr.push(pOf(k));
          }
        }
        ptr[r + 1] = to.length;
      });
      return { ptr, to: Int32Array.from(to), p: Float32Array.from(pr) };
    };
    // Shipped transitions: every day before the cut-off, over the head's own items.
    const transitions = overHead(transitionsOf(everyDaySequences.values()), h.ids);
    // What each of the head's items sold lately, at the cut-off: a browser's own popularity.
    const sold = recentSales(past, n, until, o.recentHalfLifeDays);
    const recent = sold ? Float32Array.from(h.ids, (id) => sold[catIndex.get(id)!]!) : null;
    const tailEvents = past.length - fitting.length;
    if (fitting.length === 0 || tailEvents === 0)
      return {
        repeatShare,
        head: {
          ...h,
          transitions,
          recent,
          recentHalfLifeDays: o.recentHalfLifeDays,
          recentAt: until,
          mix: new Array<number>(MIX_LENGTH).fill(0),
          // Nothing held out to choose by: one rate the shop named is shipped, else the browser's default stands.
          ...(o.headLearningRates.length === 1 ? { headOptions: { ...h.headOptions, learningRate: o.headLearningRates[0]! } } : {}),
          ...(o.showViewed !== 'auto' ? { recommendViewed: o.showViewed === 'yes' } : {}),
          ...(o.keepLatest !== 'auto' ? { keepLatestDepartments: o.keepLatest === 'yes' } : {}),
          ...(o.shareClicks !== 'auto' ? { shareInterestClicks: o.shareClicks === 'yes' } : {}),
          ...(o.newSlots ? { newSlots: o.newSlots } : {}),
          ...((o.launchSlots ?? 1) > 0 && o.recentHalfLifeDays > 0 ? { launchSlots: o.launchSlots ?? 1 } : {}),
        },
      };
    const T = transitionsOf(fittingSequences.values());
    // On the tail, an item first sold there is what a new product is to the shipped base: the
    // content model never saw it. Its bias is taken as 0 (the biases start from popularity over
    // every day, tail included, and those of items the training never saw did not move), so the
    // examples score it as a browser would score a product the base does not know.
    const unknown = new Uint8Array(n);
    for (let i = 0; i < n; i++) unknown[i] = fittingKnown[i] ? 0 : 1;
    const tailBias = Float32Array.from(model.bias, (b, i) => (unknown[i] ? 0 : b));
    // The held-out weeks rank a shopper's own items by what sold before them, as a browser ranks
    // them by what sold before its base was made.
    const tailRecent = recentSales(past, n, tailStart, o.recentHalfLifeDays);
    const tailModel = { ...model, bias: tailBias, recent: tailRecent, n, d };
    const CHOICE_STEPS = 5;
    onChoiceProgress?.(0, CHOICE_STEPS);
    const examples = collectExamples(past, tailStart, T, tailModel, DEFAULT_HEAD_OPTIONS);
    onChoiceProgress?.(1, CHOICE_STEPS);
    const fit = fitMix(examples, { alpha: h.alpha, mix: [] }, 3, unknown);
    onChoiceProgress?.(2, CHOICE_STEPS);
    // How far browsers should trust the shop's stream job: its learner run over the same weeks
    // on this base's biases (a new product at the new-item bias, as a browser has it), with the
    // other weights as chosen without it, so that a shop without a stream job loses nothing.
    const streamLearner = (): ShopLearner =>
      new ShopLearner(
        Float32Array.from(tailBias, (b, i) => (unknown[i] ? fit.fresh : b)),
        // What sold lately too, where the base ships it, as the stream job keeps it: the places for launches follow it.
        { seed: o.seed, recentHalfLifeDays: o.recentHalfLifeDays },
        Uint8Array.from(unknown, (u) => 1 - u),
      );
    attachShopDelta(examples, past, tailStart, streamLearner(), SHOP_PUBLISH_MINUTES * 60_000);
    const trust = fitShopDeltaWeight(examples, fit, unknown);
    onChoiceProgress?.(3, CHOICE_STEPS);
    // Places for new products, where browsers take the delta in (it is what ranks them). The
    // held-out events on new products are rare, so they are collected apart, every one up to a
    // bound, each with the delta a browser would have had (a learner of its own over the log).
    let places: ReturnType<typeof fitNewSlots> | null = null;
    let cold: ReturnType<typeof collectExamples> = [];
    if (trust.weight > 0 || trust.weightNew > 0) {
      cold = collectExamples(past, tailStart, T, tailModel, DEFAULT_HEAD_OPTIONS, 2000, 2000, (e) => unknown[e.item] === 1);
      attachShopDelta(cold, past, tailStart, streamLearner(), SHOP_PUBLISH_MINUTES * 60_000);
      const weights = { ...fit, stream: trust.weight, streamNew: trust.weightNew };
      places = fitNewSlots(examples, cold, weights, unknown, past, o.recentHalfLifeDays || 7, o.mixTailDays * DAY);
    }
    const r4 = (x: number): number => Number(x.toFixed(4));
    // A shop's own number of places, where it gave one; else the held-out weeks' choice.
    const newSlots = o.newSlots ?? places?.slots ?? 0;
    // Places for launches, where browsers learn what sells now (the delta's figures, kept where
    // the base ships what sold lately): the shop's own number, else the held-out weeks' choice.
    onChoiceProgress?.(4, CHOICE_STEPS);
    const launch =
      o.recentHalfLifeDays > 0
        ? fitLaunchSlots(examples, cold, { ...fit, stream: trust.weight, streamNew: trust.weightNew }, unknown, newSlots)
        : null;
    const launchSlots = o.recentHalfLifeDays > 0 ? (o.launchSlots ?? launch?.slots ?? 0) : 0;
    onChoiceProgress?.(CHOICE_STEPS, CHOICE_STEPS);
    const shipped: HeadModelData = {
      ...h,
      alpha: r4(fit.alpha),
      transitions,
      recent,
      recentHalfLifeDays: o.recentHalfLifeDays,
      recentAt: until,
      mix: fit.mix.map(r4),
      newItemBias: r4(fit.fresh),
      shopDeltaWeight: trust.weight,
      ...(trust.weightNew !== trust.weight ? { shopDeltaWeightNew: trust.weightNew } : {}),
      ...(newSlots > 0 ? { newSlots } : {}),
      ...(launchSlots > 0 ? { launchSlots } : {}),
      provenance: {
        ...h.provenance,
        mix: `feature weights chosen on ${examples.length} held-out events of the last ${o.mixTailDays} days`,
      },
      metrics: {
        ...h.metrics,
        mixExamples: examples.length,
        mixNdcgBefore: r4(fit.ndcgBefore),
        mixNdcgAfter: r4(fit.ndcgAfter),
        mixNewItems: unknown.reduce((a, u) => a + u, 0),
        mixShopDeltaNdcg: r4(trust.ndcgWith),
        ...(places && places.coldHit.length > 0
          ? {
              newSlotsColdExamples: places.coldExamples,
              newSlotsTrendHit: r4(places.trendHit),
              newSlotsColdHit: places.coldHit.map(r4),
              newSlotsNdcg: places.ndcg.map(r4),
            }
          : {}),
        ...(launch
          ? {
              launchSlotsExamples: launch.withLaunch,
              launchSlotsNdcg: launch.ndcg.map(r4),
              ...(cold.length > 0 ? { launchSlotsColdHit: launch.coldHit.map(r4) } : {}),
            }
          : {}),
        transitions: transitions.to.length,
      },
    };
    // How fast browsers learn (learning-rate.ts): the held-out weeks replayed at each candidate
    // rate, through the head a browser would have had at their start. It knows only the items,
    // the transitions and the sales of the days before them; the rest is the base's.
    const keptRows: number[] = [];
    shipped.ids.forEach((id, r) => {
      if (fittingKnown[catIndex.get(id)!]) keptRows.push(r);
    });
    const tailIds = keptRows.map((r) => shipped.ids[r]!);
    // One rate the shop named comes back as it is (replayed only to choose whether pages show the viewed items).
    const rate = await chooseLearningRate({
      head: {
        ...shipped,
        ids: tailIds,
        bias: Float32Array.from(keptRows, (r) => shipped.bias[r]!),
        residual: shipped.residual ? gatherRows(shipped.residual, keptRows, d) : null,
        transitions: overHead(T, tailIds),
        recent: tailRecent ? Float32Array.from(tailIds, (id) => tailRecent[catIndex.get(id)!]!) : null,
        recentAt: tailStart,
      },
      items,
      models,
      events: past,
      from: tailStart,
      rates: o.headLearningRates,
      budget: o.rateBudget,
      seed: o.seed,
      writeModel: (dir, head) => writeModelFolder(dir, models, head),
      viewed: o.showViewed === 'auto',
      departments: o.keepLatest === 'auto' && items.some((it) => it.category !== undefined),
      clicks: o.shareClicks === 'auto' && items.some((it) => it.category !== undefined),
      ...(o.showViewed !== 'auto' ? { includeViewed: o.showViewed === 'yes' } : {}),
      ...(onRateProgress ? { onProgress: onRateProgress } : {}),
    });
    const recommendViewed = o.showViewed === 'auto' ? rate?.showViewed : o.showViewed === 'yes';
    const keepLatestDepartments = o.keepLatest === 'auto' ? rate?.keepLatest : o.keepLatest === 'yes';
    const shareInterestClicks = o.shareClicks === 'auto' ? rate?.shareClicks : o.shareClicks === 'yes';
    return {
      repeatShare,
      head: {
        ...shipped,
        ...(rate ? { headOptions: { ...shipped.headOptions, learningRate: rate.rate } } : {}),
        ...(recommendViewed !== undefined ? { recommendViewed } : {}),
        ...(keepLatestDepartments !== undefined ? { keepLatestDepartments } : {}),
        ...(shareInterestClicks !== undefined ? { shareInterestClicks } : {}),
        metrics: {
          ...shipped.metrics,
          ...(rate?.latestNdcg !== undefined ? { latestDepartmentsNdcg: rate.latestNdcg.map(r4) } : {}),
          ...(rate?.clicksNdcg !== undefined ? { interestClicksNdcg: rate.clicksNdcg.map(r4) } : {}),
          ...(rate?.hiddenNdcg !== undefined ? { viewedNdcg: [r4(rate.ndcg[rate.rates.indexOf(rate.rate)]!), r4(rate.hiddenNdcg)] } : {}),
          ...(rate && rate.ndcg.length > 0
            ? {
                learningRates: rate.rates,
                learningRateNdcg: rate.ndcg.map(r4),
                learningRateScored: rate.scored,
                learningRateShoppers: rate.shoppers,
              }
            : {}),
        },
      },
    };
  };
  if (o.epochs <= 0) {
    const W = new Float32Array(d * d);
    for (let k = 0; k < d; k++) W[k * d + k] = 5;
    return withMix(head, { V: E, W, bias: bias0 });
  }

  // Trained base: W₀, residuals, biases and α₀ fitted on next-item prediction.
  const allKnown = new Uint8Array(ids.length);
  for (const e of past) allKnown[e.item] = 1;
  /** The content model trained on `seqList`, the items of `isKnown` learning their residuals and biases. */
  const fitContent = (seqList: number[][], isKnown: Uint8Array, progress?: (done: number, total: number) => void) => {
    let transitions: Parameters<typeof trainBaseParams>[7]['transitions'];
    if (o.jointTransitions) {
      // Shoppers in folds: each fold's examples get the table of the other folds' sequences.
      const k = o.transitionFolds;
      const fold = Uint8Array.from(seqList, (_, si) => si % k);
      const tables = Array.from({ length: k }, (_, f) => transitionsOf(seqList.filter((_, si) => fold[si] !== f)));
      transitions = { tables, fold, votes: DEFAULT_HEAD_OPTIONS };
    }
    return trainBaseParams(E, ids.length, d, seqList, isKnown, bias0, head.alpha, {
      ...(transitions ? { transitions } : {}),
      epochs: o.epochs,
      batchSize: o.batchSize,
      learningRate: o.learningRate,
      l2: o.l2,
      temperature: 5,
      seed: o.seed,
      history: DEFAULT_HEAD_OPTIONS,
      fullSoftmaxUpTo: o.fullSoftmaxUpTo,
      sampledNegatives: o.sampledNegatives,
      ...(progress ? { onProgress: progress } : {}),
    });
  };
  /** A trained model's biases (centred on the known items, so that an item the logs do not know, at 0, starts at their average) and residuals, as a head holds them. */
  const asShipped = (p: { bias: Float32Array; residual: Float32Array }): { bias: Float32Array; residual: Float32Array } => {
    const trained = Float32Array.from(known, (i) => p.bias[i]!);
    const mb = trained.reduce((a, v) => a + v, 0) / Math.max(1, trained.length);
    const residual = new Float32Array(known.length * d);
    known.forEach((i, k) => residual.set(p.residual.subarray(i * d, (i + 1) * d), k * d));
    return { bias: trained.map((v) => v - mb), residual };
  };
  const p = fitting.length
    ? await fitContent([...fittingSequences.values()], fittingKnown, onProgress)
    : await fitContent([...everyDaySequences.values()], allKnown, onProgress);
  const shippedParams = asShipped(p);
  const V = Float32Array.from(E, (v, k) => v + p.residual[k]!);
  const centred = new Float32Array(n);
  known.forEach((i, k) => (centred[i] = shippedParams.bias[k]!));
  const chosen = await withMix(
    {
      ...head,
      W: p.W,
      alpha: Number(p.alpha.toFixed(4)),
      ...shippedParams,
      // The histories it was trained on: browsers must build theirs the same way.
      headOptions: { historyDecay: DEFAULT_HEAD_OPTIONS.historyDecay, historySize: DEFAULT_HEAD_OPTIONS.historySize },
      provenance: {
        ...head.provenance,
        kind: `W0, per-item residuals and biases and the re-buy weight trained on next-item prediction (${
          p.sampledNegatives > 0 ? `sampled softmax: ${p.sampledNegatives} known items drawn per batch` : 'softmax over the known items'
        }), from popularity biases`,
      },
      metrics: {
        ...head.metrics,
        trainingExamples: p.examples,
        lossFirstBatch: p.loss.first,
        lossLastEpoch: p.loss.last,
        ...(o.jointTransitions ? { trainedTransitionWeight: Number(p.beta.toFixed(4)) } : {}),
      },
    },
    { V, W: p.W, bias: centred },
  );
  // The weights were chosen beside a model that never saw the held-out weeks; the shop's pages
  // get one trained on every day, those weeks included, with the same weights (and its α, which
  // the choice moved, kept).
  if (!o.refit || fitting.length === 0 || fitting.length === past.length) return chosen;
  const q = await fitContent([...everyDaySequences.values()], allKnown, onRefitProgress);
  return {
    ...chosen,
    head: {
      ...chosen.head,
      W: q.W,
      ...asShipped(q),
      provenance: {
        ...chosen.head.provenance,
        kind: `${String(chosen.head.provenance?.['kind'])}; trained again on every day before the cut-off, the held-out weeks included, once the feature weights were chosen on them`,
      },
      metrics: {
        ...chosen.head.metrics,
        refitExamples: q.examples,
        refitLossFirstBatch: q.loss.first,
        refitLossLastEpoch: q.loss.last,
        ...(o.jointTransitions ? { refitTransitionWeight: Number(q.beta.toFixed(4)) } : {}),
      },
    },
  };
}

/** Rows `rows` of a row-major matrix of `d` columns. */
function gatherRows(m: Float32Array, rows: readonly number[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, k) => out.set(m.subarray(r * d, (r + 1) * d), k * d));
  return out;
}

/** The model folder's manifest, or null where it has none. */
function modelManifestOf(dir: string): ModelManifest | null {
  const path = join(dir, 'manifest.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ModelManifest) : null;
}

/** A model folder's encoder folder: where its manifest says (`encoder/` without one). */
function encoderDirOf(models: string): string {
  return join(models, modelManifestOf(models)?.encoder ?? 'encoder/');
}

/** Head folders a model folder may hold: `head/`, as a package ships it, and `head-<digest>/`, as maintain publishes. */
const HEAD_FOLDER = /^head(-[0-9a-f]{12})?$/;
/** Encoder folders: `encoder/`, and `encoder-<version>/` where a new encoder was published beside one in force. */
const ENCODER_FOLDER = /^encoder(-[\w.-]+)?$/;

/**
 * Publishes a base into a model folder, which may be the one the pages load while this runs. The
 * head goes into a folder of its own named by its content (`head-<12 hex digits>/`), written in
 * full under a temporary name and then renamed; the encoder is copied only where the folder's is
 * another version, and then beside it; the model's manifest, which names both, is replaced
 * atomically last. A page that read the old manifest a moment before still finds every file it
 * names, as its manifest's sha256 says (never a head half old and half new), so the folder of the
 * base in force before is kept, and older ones go. A base of the same encoder keeps the meaning
 * of φ, so the version in force in `out` (and the one of `models`) is listed as compatible:
 * browsers keep their learning. The manifest names the base in force before (`previous`), which a
 * page that cannot read the new one loads.
 */
export function writeModelFolder(out: string, models: string, head: HeadModelData): { model: ModelManifest; head: HeadManifest } {
  const inForce = modelManifestOf(out);
  const source = modelManifestOf(models);
  mkdirSync(out, { recursive: true });
  // The encoder: the one in force where it is the same version, else a copy beside it.
  const sourceEncoder = encoderDirOf(models);
  const encoderVersion = (dir: string): string | null =>
    existsSync(join(dir, 'manifest.json'))
      ? (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as EncoderManifest).version
      : null;
  const wanted = encoderVersion(sourceEncoder);
  let encoder = inForce?.encoder ?? 'encoder/';
  // φ keeps its meaning on a base of the same encoder only: learned on another, it is replayed.
  const sameEncoder = inForce !== null && encoderVersion(join(out, encoder)) === wanted;
  const compatible = [...new Set([sameEncoder ? inForce.version : undefined, source?.version].filter((v): v is string => v !== undefined))];
  if (!sameEncoder) {
    if (inForce) encoder = `encoder-${String(wanted).replace(/[^\w.-]/g, '_')}/`;
    // Nothing in force: whatever lies in the folder is copied over. Beside an encoder in force, a
    // folder of the same version was renamed into place whole by an earlier run, so it is kept.
    const whole = inForce && encoderVersion(join(out, encoder)) === wanted;
    if (resolve(join(out, encoder)) !== resolve(sourceEncoder) && !whole) {
      const staging = join(out, `encoder.${process.pid}.tmp`);
      rmSync(staging, { recursive: true, force: true });
      cpSync(sourceEncoder, staging, { recursive: true });
      rmSync(join(out, encoder), { recursive: true, force: true });
      renameSync(staging, join(out, encoder));
    }
  }
  if (existsSync(join(models, 'vectors')) && resolve(out) !== resolve(models)) copyWhole(join(models, 'vectors'), join(out, 'vectors'));
  // The head: written whole under a temporary name, then renamed to the name of its content.
  const staging = join(out, `head.${process.pid}.tmp`);
  rmSync(staging, { recursive: true, force: true });
  const written = writeHeadModel(staging, { ...head, deltaCompatibleWith: compatible }, { versionFromContent: true });
  const folder = `head-${written.version.slice(-12)}`;
  let h = written;
  if (existsSync(join(out, folder, 'manifest.json'))) {
    // The same base again: the pages' folder stays as it is (its files are these, byte for byte).
    rmSync(staging, { recursive: true, force: true });
    h = JSON.parse(readFileSync(join(out, folder, 'manifest.json'), 'utf8')) as HeadManifest;
  } else {
    rmSync(join(out, folder), { recursive: true, force: true });
    renameSync(staging, join(out, folder));
  }
  // A shop delta was learned on top of the previous base, which this one replaces (and whose
  // events it took in): it goes, and the stream job publishes one for the new base. The manifest
  // still names the folder, so the job never has to rewrite a manifest this job just wrote.
  const streamed = existsSync(join(out, 'delta'));
  // The base in force before, named for a page that cannot read this one (written by a later
  // version than the page's): its folders stay until the next run. None where it is this base.
  const previous =
    inForce && inForce.head !== `${folder}/` ? { version: inForce.version, encoder: inForce.encoder, head: inForce.head } : undefined;
  const model = writeModelManifest(out, { delta: streamed, head: `${folder}/`, encoder, ...(previous ? { previous } : {}) });
  if (inForce?.version !== model.version) rmSync(join(out, 'delta'), { recursive: true, force: true });
  // What no page loads any more: heads and encoders older than the one in force before, and what
  // a run that crashed left half written.
  const keep = new Set([folder, encoder, inForce?.head, inForce?.encoder].map((f) => f?.replace(/\/$/, '')));
  for (const f of readdirSync(out)) {
    // Only a folder this job could have written (a manifest inside), never another of the shop's.
    const old = (HEAD_FOLDER.test(f) || ENCODER_FOLDER.test(f)) && !keep.has(f) && existsSync(join(out, f, 'manifest.json'));
    const crashed = /^(head|encoder)\.\d+\.tmp$/.test(f);
    if (old || crashed) rmSync(join(out, f), { recursive: true, force: true });
  }
  return { model, head: h };
}

/**
 * Copies a folder that pages may be reading (the shop's vectors): each file that differs is
 * written under a temporary name and renamed over the old one, and a folder's `manifest.json`
 * last, so a page finds every file whole, old or new (a file's sha256 in the manifest tells which);
 * a file already the same is left as it is. Files the source lacks are kept: a page that read the
 * manifest before may still ask for them.
 */
function copyWhole(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  const entries = readdirSync(from, { withFileTypes: true }).sort(
    (a, b) => Number(a.name === 'manifest.json') - Number(b.name === 'manifest.json'),
  );
  for (const e of entries) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    if (e.isDirectory()) {
      copyWhole(src, dst);
      continue;
    }
    const bytes = readFileSync(src);
    if (existsSync(dst) && statSync(dst).size === bytes.byteLength && readFileSync(dst).equals(bytes)) continue;
    writeAtomically(dst, bytes);
  }
}

/** Reads the encoder manifest of a model folder. */
export function readEncoderManifest(models: string): EncoderManifest {
  return JSON.parse(readFileSync(join(encoderDirOf(models), 'manifest.json'), 'utf8')) as EncoderManifest;
}
