/** The maintenance job's choice of how fast browsers learn (src/cli/train/learning-rate.ts). */
import { beforeAll, describe, expect, it } from 'vitest';
import { clickwiseMethod, plainHeadFrom } from '../src/cli/eval/clickwise-method.js';
import type { ReplayEvent } from '../src/cli/eval/replay.js';
import { replay, toReplay } from '../src/cli/eval/replay.js';
import type { LogEvent } from '../src/cli/data.js';
import { DEFAULT_BASE_OPTIONS, trainBase, writeModelFolder } from '../src/cli/train/base.js';
import type { HeadModelData } from '../src/cli/train/head-io.js';
import { chooseLearningRate } from '../src/cli/train/learning-rate.js';
import { mulberry32 } from '../src/core/rng.js';
import { loadHead } from '../src/core/recommender.js';
import type { Item } from '../src/core/types.js';
import { dailyVisitsLog, demoCatalog, MODELS, tempFolder, useBackend } from './helpers.js';

const DAY = 86_400_000;
const t0 = Date.UTC(2024, 0, 1);
/** Held out: the last four of the log's twelve days. */
const from = t0 + 8 * DAY;
const until = t0 + 12 * DAY;

/**
 * Twelve shoppers over twelve days, each buying from five favourite products of their own, a
 * visit a day of four purchases a minute apart: what a shopper's clicks say that the base does not.
 */
function favouritesLog(items: readonly Item[]): LogEvent[] {
  const rand = mulberry32(7);
  let favourites: string[] = [];
  return dailyVisitsLog(12, 12, t0, (_, day) => {
    if (day === 0) favourites = Array.from({ length: 5 }, () => items[Math.floor(rand() * items.length)]!.id);
    return Array.from({ length: 4 }, () => favourites[Math.floor(rand() * 5)]!);
  });
}

describe('the learning rate the maintenance job ships', () => {
  const items = demoCatalog();
  let head: HeadModelData;
  let events: ReplayEvent[];
  beforeAll(async () => {
    await useBackend('cpu');
    const log = favouritesLog(items);
    // Popularity biases only, and no choice of its own: the head the chooser is given.
    head = (await trainBase(log, items, until, MODELS, { ...DEFAULT_BASE_OPTIONS, epochs: 0, headLearningRates: [0.1] })).head;
    events = toReplay(
      log,
      items.map((i) => i.id),
      until,
      until,
    ).events;
  }, 120_000);
  const choose = (rates: number[], budget = 1e9, viewed = false): ReturnType<typeof chooseLearningRate> =>
    chooseLearningRate({
      head,
      items,
      models: MODELS,
      events,
      from,
      rates,
      budget,
      seed: 3,
      writeModel: (dir, h) => writeModelFolder(dir, MODELS, h),
      viewed,
    });

  it(
    'is the rate whose replay of the held-out events scores best, each scored as npm run eval scores it',
    { timeout: 120_000 },
    async () => {
      const rates = [0, 0.1, 1];
      const choice = (await choose(rates))!;
      expect(choice.rates).toEqual(rates);
      // Every held-out event of every shopper was scored.
      expect(choice.scored).toBe(events.filter((e) => e.t >= from).length);
      expect(choice.shoppers).toBe(12);
      // Each figure is the eval's replay of the browser's head at that rate.
      const dir = tempFolder('clickwise-rate-test-');
      writeModelFolder(dir, MODELS, head);
      const scoredFrom = events.map((e) => ({ ...e, scored: e.t >= from }));
      const byEval: number[] = [];
      for (const learningRate of rates) {
        const plain = await plainHeadFrom(
          await loadHead({ catalog: items, modelUrl: dir, seed: 3, head: { learningRate }, warn: () => undefined }),
        );
        const [report] = await replay(scoredFrom, [clickwiseMethod('clickwise', plain)], { n: items.length, split: from, k: 10, seed: 3 });
        byEval.push(report!.ndcg);
      }
      expect(choice.ndcg).toEqual(byEval);
      // The rates were replayed as given: a shopper's favourites are learned, or not.
      expect(new Set(choice.ndcg).size).toBe(3);
      expect(choice.rate).toBe(rates[byEval.indexOf(Math.max(...byEval))]);
    },
  );

  it('replays whole shoppers within a budget of scored events, the same ones every time', { timeout: 120_000 }, async () => {
    const a = (await choose([0, 0.3], 40))!;
    expect(a.scored).toBeGreaterThan(0);
    expect(a.scored).toBeLessThanOrEqual(40);
    // 16 held-out events a shopper: two whole shoppers fit in 40, a third would not.
    expect(a.shoppers).toBe(2);
    expect(a.scored).toBe(32);
    expect(await choose([0, 0.3], 40)).toEqual(a);
  });

  it('shows a shop of re-buyers the items they viewed, as the eval scores the page without them', { timeout: 120_000 }, async () => {
    const choice = (await choose([0.1], 1e9, true))!;
    // One rate, replayed all the same: the lists with and without the viewed items are compared there.
    expect(choice.ndcg).toHaveLength(1);
    const dir = tempFolder('clickwise-viewed-test-');
    writeModelFolder(dir, MODELS, head);
    const plain = await plainHeadFrom(
      await loadHead({ catalog: items, modelUrl: dir, seed: 3, head: { learningRate: 0.1 }, warn: () => undefined }),
    );
    const page = { includeViewed: false, diversify: false, category: () => undefined };
    const [hidden] = await replay(
      events.map((e) => ({ ...e, scored: e.t >= from })),
      [clickwiseMethod('clickwise-page', plain, [], undefined, undefined, 10, page)],
      { n: items.length, split: from, k: 10, seed: 3 },
    );
    expect(choice.hiddenNdcg).toBe(hidden!.ndcg);
    // Each shopper buys from five favourites: the page that hides them loses most of its hits.
    expect(choice.hiddenNdcg!).toBeLessThan(choice.ndcg[0]! / 2);
    expect(choice.showViewed).toBe(true);
  });

  it('keeps the viewed items out for a shop whose shoppers never buy the same product twice', { timeout: 120_000 }, async () => {
    // Each shopper walks the catalogue in an order of their own, one new product after another.
    const rand = mulberry32(9);
    const log: LogEvent[] = [];
    for (let u = 0; u < 12; u++) {
      const order = [...items].sort(() => rand() - 0.5);
      for (let day = 0; day < 12; day++)
        for (let k = 0; k < 4; k++)
          log.push({
            user: `w${u}`,
            item: order[day * 4 + k]!.id,
            t: t0 + day * DAY + u * 3_600_000 + k * 60_000,
            event: 'purchase',
            quantity: 1,
            basket: `w${u}-${day}`,
          });
    }
    log.sort((a, b) => a.t - b.t);
    const base = await trainBase(log, items, until, MODELS, {
      ...DEFAULT_BASE_OPTIONS,
      epochs: 0,
      mixTailDays: 4,
      headLearningRates: [0.1],
    });
    expect(base.head.recommendViewed).toBe(false);
    expect(base.head.metrics!['viewedNdcg']).toEqual([expect.any(Number), expect.any(Number)]);
    // Each stage after the training says how far it is: the feature weights, then the rates.
    const ticks: string[] = [];
    const rebuyers = await trainBase(
      favouritesLog(items),
      items,
      until,
      MODELS,
      { ...DEFAULT_BASE_OPTIONS, epochs: 0, mixTailDays: 4, headLearningRates: [0.1] },
      (done, total) => ticks.push(`training ${done}/${total}`),
      (done, total) => ticks.push(`rates ${done}/${total}`),
      (done, total) => ticks.push(`weights ${done}/${total}`),
    );
    expect(rebuyers.head.recommendViewed).toBe(true);
    const weights = ticks.filter((t) => t.startsWith('weights'));
    expect(weights).toEqual(['weights 0/5', 'weights 1/5', 'weights 2/5', 'weights 3/5', 'weights 4/5', 'weights 5/5']);
    expect(ticks.lastIndexOf('weights 5/5')).toBeLessThan(ticks.findIndex((t) => t.startsWith('rates')));
    expect(ticks.filter((t) => t.startsWith('rates')).at(-1)).toMatch(/^rates (\d+)\/\1$/);
    // A shop that says so itself is not second-guessed.
    const told = await trainBase(favouritesLog(items), items, until, MODELS, {
      ...DEFAULT_BASE_OPTIONS,
      epochs: 0,
      mixTailDays: 4,
      headLearningRates: [0.1],
      showViewed: 'no',
    });
    expect(told.head.recommendViewed).toBe(false);
  });

  it(
    'keeps places for the latest departments where shoppers come back to them, not where each visit walks on through the aisles',
    { timeout: 240_000 },
    async () => {
      const departments = [...new Set(items.map((i) => i.category!))];
      const inDepartment = (g: string): Item[] => items.filter((i) => i.category === g);
      /** Twelve shoppers, twelve visits each of eight clicks a minute apart, departments in the order `next` gives. */
      const browsing = (next: (u: number, k: number) => string, seed: number): LogEvent[] => {
        const rand = mulberry32(seed);
        const log: LogEvent[] = [];
        for (let u = 0; u < 12; u++)
          for (let day = 0; day < 12; day++)
            for (let k = 0; k < 8; k++) {
              const of = inDepartment(next(u, k));
              log.push({
                user: `b${u}`,
                item: of[Math.floor(rand() * of.length)]!.id,
                t: t0 + day * DAY + u * 3_600_000 + k * 60_000,
                event: 'click',
                quantity: 1,
                basket: `b${u}-${day}`,
              });
            }
        return log.sort((a, b) => a.t - b.t);
      };
      const options = { ...DEFAULT_BASE_OPTIONS, epochs: 0, mixTailDays: 4, headLearningRates: [0.1] };
      // Each shopper goes back and forth among three departments of their own.
      const comeBack = await trainBase(
        browsing((u, k) => departments[(u + (k % 3)) % departments.length]!, 5),
        items,
        until,
        MODELS,
        options,
      );
      // Each visit walks the eight departments in the shop's order: the departments just left are never next.
      const walkOn = await trainBase(
        browsing((_, k) => departments[k]!, 6),
        items,
        until,
        MODELS,
        options,
      );
      const [withoutBack, withBack] = comeBack.head.metrics!['latestDepartmentsNdcg'] as number[];
      const [withoutOn, withOn] = walkOn.head.metrics!['latestDepartmentsNdcg'] as number[];
      // Coming back: the ranking already shows the departments, and the places cost nothing.
      expect(withBack).toBeGreaterThanOrEqual(0.99 * withoutBack!);
      expect(comeBack.head.keepLatestDepartments).toBe(true);
      // Walking on: the places go to departments the shopper has just left.
      expect(withOn).toBeLessThan(0.95 * withoutOn!);
      expect(walkOn.head.keepLatestDepartments).toBe(false);
      // The shop's own answer is not second-guessed.
      const walkOnTold = (answer: Partial<typeof options>) =>
        trainBase(
          browsing((_, k) => departments[k]!, 6),
          items,
          until,
          MODELS,
          { ...options, ...answer },
        );
      const told = await walkOnTold({ keepLatest: 'yes' });
      expect(told.head.keepLatestDepartments).toBe(true);
      expect(told.head.metrics!['latestDepartmentsNdcg']).toBeUndefined();
      // Whether each interest's places are shared among its clicks is chosen the same way, on the
      // same lists without the latest departments' places (they are the same first list).
      for (const base of [comeBack, walkOn]) {
        const [without, shared] = base.head.metrics!['interestClicksNdcg'] as number[];
        expect(without).toBe((base.head.metrics!['latestDepartmentsNdcg'] as number[])[0]);
        expect(base.head.shareInterestClicks).toBe(shared! >= 0.99 * without!);
      }
      // Coming back to three departments, a next click drawn at random within one gains nothing
      // from an entry for an older click (0.0628 against 0.069): not shared. Walking on, no
      // department holds a quarter of the clicks, so the lists are the same and sharing stays on.
      expect(comeBack.head.shareInterestClicks).toBe(false);
      expect(walkOn.head.shareInterestClicks).toBe(true);
      const notShared = await walkOnTold({ shareClicks: 'no' });
      expect(notShared.head.shareInterestClicks).toBe(false);
      expect(notShared.head.metrics!['interestClicksNdcg']).toBeUndefined();
    },
  );

  it('ships a single rate unreplayed, keeps the default where nothing is held out, and refuses a bad rate', async () => {
    expect(await choose([0.2])).toEqual({ rate: 0.2, rates: [0.2], ndcg: [], shoppers: 0, scored: 0 });
    const none = await chooseLearningRate({
      head,
      items,
      models: MODELS,
      events: events.filter((e) => e.t < from),
      from,
      rates: [0, 0.1],
      budget: 100,
      seed: 3,
      writeModel: (dir, h) => writeModelFolder(dir, MODELS, h),
    });
    expect(none).toBeNull();
    await expect(choose([])).rejects.toThrow(/at least one candidate rate/);
    await expect(choose([0.1, -1])).rejects.toThrow(/from 0 to 100, got -1/);
    await expect(choose([Number.NaN])).rejects.toThrow(/from 0 to 100, got NaN/);
  });

  it('is what browsers learn at: the base carries it, and a page that sets its own rate keeps it', { timeout: 120_000 }, async () => {
    const base = await trainBase(favouritesLog(items), items, until, MODELS, {
      ...DEFAULT_BASE_OPTIONS,
      epochs: 0,
      mixTailDays: 4,
      rateBudget: 1_000,
    });
    const rate = base.head.headOptions?.['learningRate'];
    const m = base.head.metrics!;
    expect(m['learningRates']).toEqual(DEFAULT_BASE_OPTIONS.headLearningRates);
    const ndcg = m['learningRateNdcg'] as number[];
    expect(ndcg).toHaveLength(4);
    expect(rate).toBe(DEFAULT_BASE_OPTIONS.headLearningRates[ndcg.indexOf(Math.max(...ndcg))]);
    const dir = tempFolder('clickwise-rate-base-');
    writeModelFolder(dir, MODELS, base.head);
    const loaded = await loadHead({ catalog: items, modelUrl: dir, warn: () => undefined });
    expect(loaded.head.options.learningRate).toBe(rate);
    loaded.head.dispose();
    const own = await loadHead({ catalog: items, modelUrl: dir, head: { learningRate: 0.5 }, warn: () => undefined });
    expect(own.head.options.learningRate).toBe(0.5);
    own.head.dispose();
    // A shop whose browsers learn against the ranking they showed ships that too, and its rate is
    // chosen by replays that learn so.
    const ranked = await trainBase(favouritesLog(items), items, until, MODELS, {
      ...DEFAULT_BASE_OPTIONS,
      epochs: 0,
      mixTailDays: 4,
      rateBudget: 1_000,
      rankedNegatives: 5,
    });
    expect(ranked.head.headOptions?.['rankedNegatives']).toBe(5);
    expect(ranked.head.metrics!['learningRateNdcg']).not.toEqual(ndcg);
    await expect(trainBase(favouritesLog(items), items, until, MODELS, { ...DEFAULT_BASE_OPTIONS, headLearningRates: [] })).rejects.toThrow(
      /headLearningRates must be one or more numbers from 0 to 100, got \[\]/,
    );
  });
});
