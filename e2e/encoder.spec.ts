/** The shipped encoder in Chromium: the same items embed alike on WebGPU (SwiftShader) and on the WASM fallback. */
import { expect, test } from '@playwright/test';
import { BASE_URL, launch } from './helpers.js';

/** Float32 on different kernels and summation orders, on unit vectors. */
const TOLERANCE = 1e-4;

async function encode(webgpu: boolean, backend: string): Promise<{ backend: string; shape: number[]; vectors: number[] }> {
  const browser = await launch(webgpu);
  try {
    const page = await browser.newPage();
    await page.goto(`${BASE_URL}src/bench/bench.html`);
    await page.waitForFunction(() => typeof (window as unknown as { encodeOn?: unknown }).encodeOn === 'function');
    return await page.evaluate(
      ([b]) =>
        (
          window as unknown as { encodeOn(b: string, n: number): Promise<{ backend: string; shape: number[]; vectors: number[] }> }
        ).encodeOn(b!, 40),
      [backend],
    );
  } finally {
    await browser.close();
  }
}

test('the real encoder gives the same vectors on WebGPU and on the fallback', async () => {
  const gpu = await encode(true, 'webgpu');
  const cpuSide = await encode(false, 'wasm');
  expect(gpu.backend).toBe('webgpu');
  expect(cpuSide.backend).toBe('wasm');
  expect(gpu.shape).toEqual([40, 64]);
  expect(cpuSide.shape).toEqual([40, 64]);
  let worst = 0;
  gpu.vectors.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - cpuSide.vectors[i]!))));
  expect(worst).toBeLessThan(TOLERANCE);
  // Rows are unit vectors, and not all alike.
  const row = (vs: number[], r: number): number[] => vs.slice(r * 64, (r + 1) * 64);
  expect(Math.hypot(...row(gpu.vectors, 0))).toBeCloseTo(1, 4);
  expect(row(gpu.vectors, 0)).not.toEqual(row(gpu.vectors, 39));
});
