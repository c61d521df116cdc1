/**
 * The recommender core in real Chromium: once on WebGPU (SwiftShader, requested explicitly) and
 * once on the automatic fallback without a WebGPU adapter. Both learn the clicked category, and
 * their scores agree.
 */
import { expect, test } from '@playwright/test';
import { launch, tagPage } from './helpers.js';

/** WebGPU (float32 on SwiftShader) against WASM: different kernels and summation order. */
const CROSS_BACKEND_TOLERANCE = 1e-4;
/**
 * Each backend encodes the catalogue itself, and the page keeps the vectors as int8 rows: where
 * the encoders' float32 outputs differ in their last bits across a rounding boundary, one
 * coordinate of an item's row is a step apart (a score about 1e-3 apart on the demo's catalogue).
 * Rare (one item of 280 here); such an item is held to this, the rest to the tolerance above.
 */
const ROUNDING_STEP_TOLERANCE = 1e-2;

/** Checks that `other`'s scores agree with `base`'s: all but 1% of items within the float tolerance, every one within a rounding step. */
function expectAgreeing(base: Record<string, number>, other: Record<string, number>): void {
  const ids = Object.keys(base);
  expect(Object.keys(other).length).toBe(ids.length);
  const apart = (id: string): number => Math.abs(base[id]! - other[id]!) / Math.max(1, Math.abs(base[id]!));
  const off = ids.filter((id) => !(apart(id) < CROSS_BACKEND_TOLERANCE));
  expect(off.length, off.map((id) => `${id}: ${apart(id)}`).join(', ')).toBeLessThanOrEqual(Math.ceil(ids.length / 100));
  for (const id of off) expect(apart(id), id).toBeLessThan(ROUNDING_STEP_TOLERANCE);
}

interface RunResult {
  backend: string;
  reason: string;
  before: number;
  after: number;
  scores: Record<string, number>;
}

async function run(webgpu: boolean, backend: string): Promise<RunResult> {
  const browser = await launch(webgpu);
  try {
    const page = await browser.newPage();
    await tagPage(page, { 'data-catalog': 'catalog.json', 'data-backend': backend, 'data-namespace': `core-${backend}` });
    return await page.evaluate(async () => {
      type Rec = {
        stats(): { backend: string; backendReason: string };
        click(id: string): Promise<void>;
        recommend(o: {
          k: number;
          includeViewed?: boolean;
          diversify?: boolean;
        }): Promise<{ id: string; score: number; item: { category?: string } }[]>;
        items: { id: string; category?: string }[];
      };
      const rec = (await (window as unknown as { Clickwise: { ready: Promise<Rec> } }).Clickwise.ready) as Rec;
      const share = async (): Promise<number> => (await rec.recommend({ k: 10 })).filter((r) => r.item.category === 'Garden').length / 10;
      const before = await share();
      const garden = rec.items.filter((i) => i.category === 'Garden');
      for (const i of [0, 9, 17, 30]) await rec.click(garden[i]!.id);
      const after = await share();
      const all = await rec.recommend({ k: rec.items.length, includeViewed: true, diversify: false });
      return {
        backend: rec.stats().backend,
        reason: rec.stats().backendReason,
        before,
        after,
        scores: Object.fromEntries(all.map((r) => [r.id, r.score])),
      };
    });
  } finally {
    await browser.close();
  }
}

test('learns the clicked category on WebGPU and on the fallback, with agreeing scores', async () => {
  const gpu = await run(true, 'webgpu');
  expect(gpu.backend).toBe('webgpu');
  expect(gpu.reason).toMatch(/WebGPU/);
  const auto = await run(false, 'auto');
  expect(auto.backend).toBe('wasm');
  expect(auto.reason).toMatch(/WASM: no WebGPU adapter/);
  for (const r of [gpu, auto]) {
    expect(r.after).toBeGreaterThanOrEqual(0.5);
    expect(r.after).toBeGreaterThan(r.before);
  }
  expectAgreeing(auto.scores, gpu.scores);
});

test('runs the update and the scoring on WebGL and CPU too, agreeing with WASM', async () => {
  const wasm = await run(false, 'wasm');
  for (const backend of ['webgl', 'cpu']) {
    const r = await run(false, backend);
    expect(r.backend).toBe(backend);
    expect(r.after).toBeGreaterThan(r.before);
    expectAgreeing(wasm.scores, r.scores);
  }
});

test("'auto' skips a software WebGPU adapter and says so", async () => {
  const r = await run(true, 'auto');
  expect(r.backend).toBe('wasm');
  expect(r.reason).toMatch(/swiftshader \(software\), slower than WASM/i);
});
