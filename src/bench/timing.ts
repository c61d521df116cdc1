/**
 * Timing that survives a coarse clock. Browsers round `performance.now()` to 0.1 ms or more, so
 * one reading of a short loop can be 0 and a ratio against it infinite. These helpers repeat the
 * work until a measurable span has passed and divide by the repetitions.
 */

/** A millisecond clock (injectable so that tests can give a coarse one). */
export type Clock = () => number;

/** Options of {@link perCallMs}. */
export interface PerCallOptions {
  /** Keep repeating until at least this many milliseconds have passed. Default 20. */
  minMs?: number;
  /** Never fewer repetitions than this. Default 1. */
  minReps?: number;
  /** Stop after this many repetitions even if the clock has not moved (a frozen clock). Default 1e6. */
  maxReps?: number;
  clock?: Clock;
}

const defaultClock: Clock = () => performance.now();

/**
 * Milliseconds per call of `fn`, measured over as many calls as it takes to fill `minMs` on the
 * clock. Always finite and positive: with a clock that never moves it reports the clock's
 * resolution bound (minMs / reps) rather than 0.
 */
export async function perCallMs(fn: () => unknown, options: PerCallOptions = {}): Promise<number> {
  const { minMs = 20, minReps = 1, maxReps = 1e6, clock = defaultClock } = options;
  let reps = 0;
  const t0 = clock();
  let elapsed = 0;
  do {
    const r = fn();
    if (r instanceof Promise) await r;
    reps++;
    elapsed = clock() - t0;
  } while ((elapsed < minMs || reps < minReps) && reps < maxReps);
  // A clock that did not move over maxReps calls: the true time is below its resolution.
  return Math.max(elapsed, Number.EPSILON * minMs) / reps;
}

/** `samples` measurements of {@link perCallMs}; the caller takes quantiles of them. */
export async function perCallSamples(fn: () => unknown, samples: number, options: PerCallOptions = {}): Promise<number[]> {
  const out: number[] = [];
  for (let s = 0; s < samples; s++) out.push(await perCallMs(fn, options));
  return out;
}
