/**
 * The page's long tasks as the benchmarks and the end-to-end tests count them: every task of 50 ms
 * or more on the page's main thread.
 *
 * The Long Tasks API alone misses some. In Chromium, work that goes on after
 * `await scheduler.yield()` (how Clickwise's slices end, `nextTask`) or after a promise that one
 * of the browser's own tasks resolved (a Blob's read) is not reported as a long task, however long
 * it runs: a 100 ms loop after `scheduler.yield()` gives no entry, the same loop in a `setTimeout`
 * callback one of 100 ms. The Long Animation Frames API sees both: each script it reports (its
 * `scripts`: a callback's run, with the microtasks it started) is timed. So a long task is a Long
 * Tasks entry, or a script of 50 ms or more that the Long Animation Frames API reports and that no
 * Long Tasks entry holds, counted at the script's length (a lower bound of its task's: the task's
 * work outside scripts, a collection or a layout, is not in it).
 */

/**
 * A page script (for the top of a page, before any other) that keeps `window.__tasks`: the long
 * tasks so far, in the order they began, each made by `shape`, a JS expression of `start` (ms
 * from navigation) and `ms` (the task's length), such as `Math.round(ms)` or `{ start, ms }`.
 * Read when needed: each read counts the entries delivered by then.
 */
export function longTaskObserver(shape: string): string {
  return `<script>
(() => {
  const tasks = [];
  const scripts = [];
  new PerformanceObserver((l) => { for (const e of l.getEntries()) tasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask', buffered: true });
  try {
    new PerformanceObserver((l) => { for (const f of l.getEntries()) for (const s of f.scripts || []) if (s.duration >= 50) scripts.push([s.startTime, s.duration]); })
      .observe({ type: 'long-animation-frame', buffered: true });
  } catch {}
  Object.defineProperty(window, '__tasks', {
    configurable: true,
    get: () => {
      const all = tasks.slice();
      for (const [s, d] of scripts) if (!tasks.some(([t, m]) => s < t + m && t < s + d)) all.push([s, d]);
      return all.sort((a, b) => a[0] - b[0]).map(([start, ms]) => (${shape}));
    },
  });
})();
</script>`;
}
