/**
 * The summary `npm run bench:visit-ab` prints of `bench:visit-plain`'s rows (`src/bench/ab-summary.ts`).
 */
import { describe as group, expect, it } from 'vitest';
import type { VisitRow } from '../src/bench/ab-summary.js';
import { describe, median, summarise } from '../src/bench/ab-summary.js';

const visit = (fromTagMs: number | null, tasks: number[] = []) => ({
  fromTagMs,
  longestTaskMs: Math.max(0, ...tasks),
  tasks: tasks.map((ms, i): [number, number, string] => [100 * i, ms, 'x']),
});
const row = (first: number, later: number, third: number, firstTasks: number[] = []): VisitRow => ({
  first: visit(first, firstTasks),
  later: visit(later),
  third: visit(third),
});

group("bench:visit-ab's summary", () => {
  it('gives the middle value, and the mean of the two middle values of an even number', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it("gives each visit's spread, median, runs within its goal and long tasks", () => {
    const rows = [row(1900, 310, 290, [52, 40]), row(2100, 280, 300), row(1500, 350, 320, [70]), row(1800, 300, 305)];
    const s = summarise(rows);
    expect(s.first).toEqual({
      runs: 4,
      min: 1500,
      max: 2100,
      median: 1850,
      goalMs: 2000,
      withinGoal: 3,
      withLongTask: 2,
      longTasks: [70, 52],
    });
    expect(s.later).toMatchObject({ min: 280, max: 350, median: 305, goalMs: 300, withinGoal: 2, withLongTask: 0, longTasks: [] });
    expect(s.third).toMatchObject({ median: 302.5, withinGoal: 2 });
    expect(describe(s.first)).toBe('1500–2100 ms, median 1850; 3 of 4 ≤ 2000 ms; 2 with a task ≥ 50 ms (52–70 ms)');
    expect(describe(s.later)).toBe('280–350 ms, median 305; 2 of 4 ≤ 300 ms; no task ≥ 50 ms');
  });

  it('leaves out a visit with no time, and counts a long task from a row without the task list', () => {
    const bare = {
      first: { fromTagMs: 1000, longestTaskMs: 60 },
      later: { fromTagMs: null, longestTaskMs: 0 },
      third: { fromTagMs: 250, longestTaskMs: 0 },
    };
    const s = summarise([bare, row(1200, 320, 310)]);
    expect(s.later.runs).toBe(1);
    expect(s.later.median).toBe(320);
    expect(s.first.withLongTask).toBe(1);
    expect(describe(summarise([]).first)).toBe('no runs');
  });
});
