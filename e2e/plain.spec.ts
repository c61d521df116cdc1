/**
 * The plain-Chromium harness the long-task bounds rely on (e2e/plain.ts): it must see a long task
 * when the page runs one, carry each visit's report back, and fail with the page's own error.
 */
import { expect, test } from '@playwright/test';
import type { PlainPage } from './plain.js';
import { plainVisits } from './plain.js';

const page = (measure: string): PlainPage<'first' | 'later'> => ({
  mounts: { '/': 'dist' },
  path: '/plain-check.html',
  body: `<script>window.__measure = async () => { ${measure} };</script>`,
  visits: ['first', 'later'],
  timeoutMs: 60_000,
});

test('a plain page reports each visit, with the long tasks it ran', async () => {
  // The first visit blocks its main thread for 300 ms; the later one does not.
  const seen = await plainVisits<{ visit: string; tasks: number[] }, 'first' | 'later'>(
    page(`
if (window.__visit === 'first') { const end = performance.now() + 300; while (performance.now() < end); }
await new Promise((r) => setTimeout(r, 200));
return { visit: window.__visit, tasks: window.__tasks };`),
  );
  expect(seen.first.visit).toBe('first');
  expect(seen.later.visit).toBe('later');
  expect(Math.max(0, ...seen.first.tasks)).toBeGreaterThanOrEqual(300);
  expect(seen.later.tasks.filter((t) => t >= 300)).toEqual([]);
});

test('a plain page counts a long task that runs after scheduler.yield(), and not a run of short ones', async () => {
  // Clickwise's slices end with `await scheduler.yield()`: the work after it is a task of its own,
  // which Chromium's Long Tasks API does not report. The first visit runs 150 ms there, the later
  // one 30 slices of 10 ms, each after a yield (a long frame, no long task of its length).
  const seen = await plainVisits<{ tasks: number[] }, 'first' | 'later'>(
    page(`
await new Promise((r) => setTimeout(r, 100));
if (window.__visit === 'first') {
  await scheduler.yield();
  const end = performance.now() + 150;
  while (performance.now() < end);
} else {
  for (let i = 0; i < 30; i++) {
    await scheduler.yield();
    const end = performance.now() + 10;
    while (performance.now() < end);
  }
}
await new Promise((r) => setTimeout(r, 300));
return { tasks: window.__tasks };`),
  );
  expect(Math.max(0, ...seen.first.tasks)).toBeGreaterThanOrEqual(150);
  // Counted together they would make one of some 300 ms; a bound of 150 ms leaves a loaded
  // machine room to stretch a slice without making the check one that cannot fail.
  expect(seen.later.tasks.filter((t) => t >= 150)).toEqual([]);
});

test("a plain page's error fails the run with the page's message", async () => {
  await expect(plainVisits(page(`throw new Error('the shop is closed');`))).rejects.toThrow(/first visit: .*the shop is closed/);
});
