/** The bench's timing helpers give a finite, positive per-call time even on a coarse clock. */
import { describe, expect, it } from 'vitest';
import { perCallMs, perCallSamples } from '../src/bench/timing.js';

/** A clock that advances 0.1 ms every `every` readings: a fast loop reads 0 on one call. */
function coarseClock(every: number): () => number {
  let reads = 0;
  return () => Math.floor(reads++ / every) * 0.1;
}

describe('perCallMs', () => {
  it('is positive and finite where one reading of the loop is 0 ms', async () => {
    const clock = coarseClock(50);
    // What the bench did before: one reading around one call.
    const t0 = clock();
    const single = clock() - t0;
    expect(single).toBe(0);
    expect(Number.isFinite(1 / single)).toBe(false);
    const ms = await perCallMs(() => undefined, { clock, minMs: 2 });
    expect(ms).toBeGreaterThan(0);
    expect(Number.isFinite(1 / ms)).toBe(true);
    // 0.1 ms per 50 readings, one reading per call: about 0.002 ms per call.
    expect(ms).toBeCloseTo(0.002, 3);
  });

  it('stays finite with a clock that never moves', async () => {
    const ms = await perCallMs(() => undefined, { clock: () => 5, minMs: 1, maxReps: 1000 });
    expect(ms).toBeGreaterThan(0);
    expect(Number.isFinite(ms)).toBe(true);
  });

  it('awaits async work and gives one value per sample', async () => {
    let calls = 0;
    const xs = await perCallSamples(
      async () => {
        calls++;
        await Promise.resolve();
      },
      3,
      { minMs: 1 },
    );
    expect(xs).toHaveLength(3);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(xs.every((x) => x > 0 && Number.isFinite(x))).toBe(true);
  });
});
