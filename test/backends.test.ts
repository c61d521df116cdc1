import { describe, expect, it } from 'vitest';
import { createRecommender } from '../src/index.js';
import { demoCatalog, MODELS, useBackend } from './helpers.js';

/** cpu and wasm compute in float32 with different summation orders. */
export const BACKEND_TOLERANCE = 1e-4;

describe('backends agree', () => {
  it('gives the same scores on cpu and wasm after the same clicks, within 1e-4', async () => {
    const catalog = demoCatalog();
    const clicks = ['clo-01a', 'clo-02b', 'hom-03a', 'clo-04c', 'toy-05a', 'clo-06e'];
    const run = async (backend: 'cpu' | 'wasm'): Promise<Map<string, number>> => {
      await useBackend(backend);
      const rec = await createRecommender({ catalog, modelUrl: MODELS, backend, seed: 11 });
      expect(rec.stats().backend).toBe(backend);
      // The WASM backend's heap holds the tensors; the CPU backend has no heap of its own.
      const heap = rec.stats().backendHeapBytes;
      if (backend === 'cpu') expect(heap).toBeNull();
      else expect(heap).toBeGreaterThanOrEqual(rec.stats().tensorBytes);
      for (const id of clicks) await rec.click(id);
      const all = await rec.recommend({ k: catalog.length, includeViewed: true, diversify: false });
      rec.dispose();
      return new Map(all.map((r) => [r.id, r.score]));
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    expect(cpu.size).toBe(catalog.length);
    for (const [id, s] of cpu) expect(Math.abs(s - wasm.get(id)!)).toBeLessThan(BACKEND_TOLERANCE * Math.max(1, Math.abs(s)));
  });
});
