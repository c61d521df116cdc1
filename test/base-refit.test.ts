/**
 * The base the maintenance job ships is trained again on every day before the cut-off once its
 * feature weights are chosen on the held-out last weeks (`BaseOptions.refit`, maintain's
 * `--refit`, eval's `--base-refit`): a product first sold in those weeks ships with what the
 * training learned of it, and the weights chosen stay as they were chosen.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/cli/data.js';
import { DEFAULT_BASE_OPTIONS, trainBase } from '../src/cli/train/base.js';
import type { HeadModelData } from '../src/cli/train/head-io.js';
import { mulberry32 } from '../src/core/rng.js';
import { dailyVisitsLog, demoCatalog, MODELS, useBackend } from './helpers.js';

const DAY = 86_400_000;
const t0 = Date.UTC(2024, 0, 1);
/** Twelve days; the last four held out to choose the weights. */
const until = t0 + 12 * DAY;
const TAIL_DAYS = 4;

/**
 * Twenty shoppers, a visit a day of five purchases among the first 20 products. In the last
 * four days a product sold before that never (the launch) follows product 0 in every visit.
 */
function launchLog(ids: readonly string[], launch: string): LogEvent[] {
  const rand = mulberry32(5);
  return dailyVisitsLog(20, 12, t0, (_, day) => {
    const visit = Array.from({ length: 5 }, () => ids[Math.floor(rand() * 20)]!);
    visit[0] = ids[0]!;
    if (day >= 12 - TAIL_DAYS) visit[1] = launch;
    return visit;
  });
}

describe('the base trained again on every day once its weights are chosen', () => {
  const items = demoCatalog();
  const ids = items.map((i) => i.id);
  const launch = ids[40]!;
  let refit: HeadModelData;
  let heldOut: HeadModelData;
  const ticks: string[] = [];
  beforeAll(async () => {
    await useBackend('cpu');
    const log = launchLog(ids, launch);
    const o = { ...DEFAULT_BASE_OPTIONS, epochs: 2, mixTailDays: TAIL_DAYS, headLearningRates: [0.1], showViewed: 'yes' as const };
    refit = (
      await trainBase(
        log,
        items,
        until,
        MODELS,
        o,
        (done, total) => ticks.push(`training ${done}/${total}`),
        undefined,
        undefined,
        (done, total) => ticks.push(`again ${done}/${total}`),
      )
    ).head;
    heldOut = (await trainBase(log, items, until, MODELS, { ...o, refit: false })).head;
  }, 240_000);

  /** The residual row of `id` in a head (its learned move from where its text puts it). */
  const residualOf = (head: HeadModelData, id: string): number[] => {
    const r = head.ids.indexOf(id);
    const d = head.residual!.length / head.ids.length;
    return Array.from(head.residual!.subarray(r * d, (r + 1) * d));
  };
  const norm = (v: readonly number[]): number => Math.hypot(...v);

  it('is the default', () => {
    expect(DEFAULT_BASE_OPTIONS.refit).toBe(true);
  });

  it('ships what it learned of a product first sold in the held-out weeks', () => {
    // Both bases know the launch (it sold before the cut-off) ...
    expect(refit.ids).toContain(launch);
    expect(heldOut.ids).toContain(launch);
    // ... but only the one trained on every day learned where it lies.
    expect(norm(residualOf(heldOut, launch))).toBe(0);
    expect(norm(residualOf(refit, launch))).toBeGreaterThan(0);
    // A product sold on every day moved in both, and not to the same place.
    expect(norm(residualOf(heldOut, ids[0]!))).toBeGreaterThan(0);
    expect(residualOf(refit, ids[0]!)).not.toEqual(residualOf(heldOut, ids[0]!));
    expect(Array.from(refit.W)).not.toEqual(Array.from(heldOut.W));
    expect(refit.metrics!['refitExamples']).toBeGreaterThan(heldOut.metrics!['trainingExamples'] as number);
    expect(heldOut.metrics!['refitExamples']).toBeUndefined();
  });

  it('keeps the weights chosen on the held-out weeks', () => {
    expect(refit.alpha).toBe(heldOut.alpha);
    expect(refit.mix).toEqual(heldOut.mix);
    expect(refit.newItemBias).toBe(heldOut.newItemBias);
    expect(refit.shopDeltaWeight).toBe(heldOut.shopDeltaWeight);
    expect(refit.headOptions).toEqual(heldOut.headOptions);
    expect(refit.transitions).toEqual(heldOut.transitions);
  });

  it('says how far the second training is, after the first', () => {
    const again = ticks.filter((t) => t.startsWith('again'));
    expect(again.length).toBeGreaterThan(1);
    expect(again.at(-1)).toMatch(/^again (\d+)\/\1$/);
    expect(ticks.findIndex((t) => t.startsWith('again'))).toBeGreaterThan(
      ticks.lastIndexOf(ticks.filter((t) => t.startsWith('training')).at(-1)!),
    );
  });
});
