/** A replay lets go of what each online method kept of its shoppers once that method's turn is over. */
import { describe, expect, it } from 'vitest';
import { clickwiseMethod, plainHeadFrom } from '../src/cli/eval/clickwise-method.js';
import type { OnlineMethod, ReplayEvent } from '../src/cli/eval/replay.js';
import { replay } from '../src/cli/eval/replay.js';
import { DEFAULT_BASE_OPTIONS, trainBase, writeModelFolder } from '../src/cli/train/base.js';
import type { LogEvent } from '../src/cli/data.js';
import { loadHead } from '../src/core/recommender.js';
import { demoCatalog, MODELS, tempFolder, useBackend } from './helpers.js';

const t0 = Date.UTC(2024, 0, 1);

describe('the replay and each method’s shoppers', () => {
  it('tells each online method that its replay is done before the next method starts', async () => {
    const calls: string[] = [];
    const method = (name: string): OnlineMethod => ({
      name,
      kind: 'online',
      score: () => {
        calls.push(`${name} score`);
        return new Float32Array(3);
      },
      observe: () => undefined,
      done: () => calls.push(`${name} done`),
    });
    const events: ReplayEvent[] = [
      { user: 'a', item: 0, t: 1, scored: false },
      { user: 'a', item: 1, t: 2, scored: true },
    ];
    await replay(events, [method('first'), method('second')], { n: 3, split: 2, k: 2, seed: 1 });
    expect(calls).toEqual(['first score', 'first done', 'second score', 'second done']);
  });

  it('lets Clickwise drop every shopper it replayed: the same shopper scored afterwards is a stranger', { timeout: 120_000 }, async () => {
    await useBackend('cpu');
    const items = demoCatalog();
    // Two shoppers who buy the same three products in turn, a minute apart.
    const log: LogEvent[] = Array.from({ length: 30 }, (_, k) => ({
      user: `u${k % 2}`,
      item: items[k % 3]!.id,
      t: t0 + k * 60_000,
      event: 'purchase',
      quantity: 1,
      basket: `b${k % 2}`,
    }));
    const dir = tempFolder('clickwise-release-');
    const { head } = await trainBase(log, items, t0 + 20 * 60_000, MODELS, {
      ...DEFAULT_BASE_OPTIONS,
      epochs: 0,
      headLearningRates: [0.1],
    });
    writeModelFolder(dir, MODELS, head);
    const plain = await plainHeadFrom(await loadHead({ catalog: items, modelUrl: dir, seed: 1, warn: () => undefined }));
    const m = clickwiseMethod('clickwise', plain);
    const index = new Map(items.map((it, i) => [it.id, i]));
    const events: ReplayEvent[] = log.map((e) => ({ user: e.user, item: index.get(e.item)!, t: e.t, scored: e.t >= t0 + 20 * 60_000 }));
    const t = t0 + 40 * 60_000;
    const stranger = Float32Array.from(await m.score('nobody', t));
    await replay(events, [m], { n: items.length, split: t0 + 20 * 60_000, k: 10, seed: 1 });
    // After its replay the method keeps nothing of u0: scored again, u0 is scored as one who never clicked.
    expect(Array.from(await m.score('u0', t))).toEqual(Array.from(stranger));
  });
});
