/**
 * The summary `npm run bench:visit-ab` prints of `bench:visit-plain`'s rows: per visit, the spread
 * and median of the time to the first recommendation (from the tag's request), how many runs were
 * within the issue's goal, and the long tasks. No browser here: the tests check it on made rows.
 */

/** The visits of one run, in order. */
export const VISITS = ['first', 'later', 'third'] as const;
export type Visit = (typeof VISITS)[number];

/** The goal for each visit's first recommendation, ms from the tag's request. */
export const GOAL_MS: Record<Visit, number> = { first: 2000, later: 300, third: 300 };

/** The fields of one visit, in a `bench:visit-plain -- --phases` row, that the summary reads. */
export interface VisitFigures {
  fromTagMs: number | null;
  longestTaskMs: number;
  /** [start, ms, what ran] of each long task (with `--phases`). */
  tasks?: [number, number, string][];
}

/** One `bench:visit-plain` row: one run of three visits. */
export type VisitRow = Record<Visit, VisitFigures>;

export interface VisitSummary {
  runs: number;
  min: number;
  max: number;
  /** The middle value; of an even number, the mean of the two middle values. */
  median: number;
  goalMs: number;
  /** Runs whose first recommendation came within the goal. */
  withinGoal: number;
  /** Runs with a task of 50 ms or more. */
  withLongTask: number;
  /** Every task of 50 ms or more, ms, longest first. */
  longTasks: number[];
}

/** The middle of `values` (sorted here); of an even number, the mean of the two middle values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

/** Each visit's summary over `rows`; a visit with no time (no timing entry for the tag) is left out of its figures. */
export function summarise(rows: readonly VisitRow[]): Record<Visit, VisitSummary> {
  const out = {} as Record<Visit, VisitSummary>;
  for (const visit of VISITS) {
    const times = rows.map((r) => r[visit].fromTagMs).filter((t): t is number => typeof t === 'number' && Number.isFinite(t));
    const long = rows.map((r) => (r[visit].tasks ?? []).map((t) => t[1]).filter((ms) => ms >= 50));
    out[visit] = {
      runs: times.length,
      min: times.length ? Math.min(...times) : NaN,
      max: times.length ? Math.max(...times) : NaN,
      median: median(times),
      goalMs: GOAL_MS[visit],
      withinGoal: times.filter((t) => t <= GOAL_MS[visit]).length,
      withLongTask: rows.filter((r, i) => long[i]!.length > 0 || (!r[visit].tasks && r[visit].longestTaskMs >= 50)).length,
      longTasks: long.flat().sort((a, b) => b - a),
    };
  }
  return out;
}

/** One line of the printed table: a visit's summary as `313–491 ms, median 386.5; 0 of 32 ≤ 300 ms; 3 with a task ≥ 50 ms`. */
export function describe(s: VisitSummary): string {
  if (s.runs === 0) return 'no runs';
  const tasks = s.withLongTask ? `${s.withLongTask} with a task ≥ 50 ms (${s.longTasks.at(-1)}–${s.longTasks[0]} ms)` : 'no task ≥ 50 ms';
  return `${s.min}–${s.max} ms, median ${s.median}; ${s.withinGoal} of ${s.runs} ≤ ${s.goalMs} ms; ${tasks}`;
}
