/** A report's `rankDigest` tells whether two runs ranked every scored event alike, where the rounded figures cannot. */
import { describe, expect, it } from 'vitest';
import type { OnlineMethod, ReplayEvent } from '../src/cli/eval/replay.js';
import { rankDigest, replay } from '../src/cli/eval/replay.js';

const N = 100;
/** A method that ranks item i at place `placeOf(i)` (0 first), whoever asks. */
const ranking = (name: string, placeOf: (i: number) => number): OnlineMethod => ({
  name,
  kind: 'online',
  score: () => Float32Array.from({ length: N }, (_, i) => N - placeOf(i)),
  observe: () => undefined,
});
const events: ReplayEvent[] = [
  { user: 'a', item: 3, t: 1, scored: false },
  { user: 'a', item: 60, t: 2, scored: true },
  { user: 'b', item: 70, t: 3, scored: true },
  { user: 'a', item: 2, t: 4, scored: true },
];

describe('the rank digest of a method’s report', () => {
  it('is the digest of its ranks in the log’s order, the same for the same ranks, another for a rank moved past the top k', async () => {
    const ranks: number[] = [];
    const options = {
      n: N,
      split: 2,
      k: 10,
      seed: 1,
      onRank: (m: string, _e: ReplayEvent, r: number) => m === 'by index' && ranks.push(r),
    };
    const [byIndex, again, shifted] = await replay(
      events,
      [
        ranking('by index', (i) => i),
        ranking('by index, again', (i) => i),
        // Item 70 one place lower: beyond the top 10, so every rounded figure stays as it was.
        ranking('shifted', (i) => (i === 70 ? 71 : i === 71 ? 70 : i)),
      ],
      options,
    );
    expect(ranks).toEqual([60, 70, 2]);
    expect(byIndex!.rankDigest).toBe(rankDigest(Int32Array.from(ranks)));
    expect(byIndex!.rankDigest).toMatch(/^[0-9a-f]{16}$/);
    expect(again!.rankDigest).toBe(byIndex!.rankDigest);
    expect({ ...shifted!, name: '', rankDigest: '', seconds: 0, eventsPerSecond: 0 }).toEqual({
      ...byIndex!,
      name: '',
      rankDigest: '',
      seconds: 0,
      eventsPerSecond: 0,
    });
    expect(shifted!.rankDigest).not.toBe(byIndex!.rankDigest);
    // The order counts: the same ranks in another order are other rankings of the events.
    expect(rankDigest(Int32Array.of(70, 60, 2))).not.toBe(byIndex!.rankDigest);
  });
});
