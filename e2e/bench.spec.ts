/**
 * The benchmark page in quick mode (small N, few clicks): it runs, reports every field, and the
 * memory stays flat (but for the slots the per-item AdaGrad sums take as learning touches items). Timings are not asserted: they belong to `npm run bench`, not to CI.
 */
import { expect, test } from '@playwright/test';

test('the benchmark runs in quick mode and memory stays flat', async ({ page }) => {
  await page.goto('src/bench/bench.html');
  await page.waitForFunction(() => typeof (window as unknown as { runBench?: unknown }).runBench === 'function');
  const r = await page.evaluate(() =>
    (window as unknown as { runBench(c: unknown): Promise<Record<string, unknown>> }).runBench({
      backends: ['wasm', 'cpu'],
      sizes: [500],
      clicks: 20,
      warmup: 3,
      memoryClicks: 300,
      encodeItems: 100,
      maxN: {},
    }),
  );
  const cases = r['cases'] as {
    backend: string;
    n: number;
    clickToTop10: Record<string, number>;
    firstClickMs: number;
    ratioToPlainJs: number;
    bandwidthFloorMs: number;
    pairedRatioToFloor: { p50: number; min: number; max: number };
  }[];
  expect(cases.map((c) => `${c.backend}:${c.n}`)).toEqual(['wasm:500', 'cpu:500']);
  for (const c of cases) {
    expect(Object.keys(c.clickToTop10).sort()).toEqual(['p50', 'p95', 'p99']);
    expect(c.clickToTop10['p50']).toBeGreaterThan(0);
    expect(c.firstClickMs).toBeGreaterThan(0);
    expect(c.bandwidthFloorMs).toBeGreaterThan(0);
    expect(Number.isFinite(c.ratioToPlainJs)).toBe(true);
    expect(c.pairedRatioToFloor.min).toBeGreaterThan(0);
    expect(c.pairedRatioToFloor.min).toBeLessThanOrEqual(c.pairedRatioToFloor.p50);
    expect(c.pairedRatioToFloor.p50).toBeLessThanOrEqual(c.pairedRatioToFloor.max);
  }
  const encode = r['encode'] as { backend: string; itemsPerSecond: number }[];
  expect(encode.every((e) => e.itemsPerSecond > 0)).toBe(true);
  const memory = r['memory'] as Record<string, number>;
  expect(memory['tensorsAfter']).toBe(memory['tensorsBefore']);
  // Tensor bytes grow only by the slots (Δb and its AdaGrad sum) that new items took.
  expect(memory['tensorBytesAfter']! - memory['tensorBytesBefore']!).toBe(8 * (memory['sumSlotsAfter']! - memory['sumSlotsBefore']!));
  expect(memory['sumSlotsAfter']).toBeLessThanOrEqual(10_000);
  expect(r['idbBytesPerShopper']).toEqual(expect.any(Number));
});
