/**
 * The package entry (`createRecommender`) starts the tfjs backend before it opens the shopper's
 * store and the caches, so that the backend (on a page, the WASM binary compiled) is ready while
 * they open rather than after. The store's opening is slowed here, and the backend in use when it
 * ends is the one asked for.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRecommender } from '../src/index.js';
import type * as Storage from '../src/storage/index.js';
import { demoCatalog, MODELS, useBackend } from './helpers.js';

const seen: { backendWhenOpened: string | null } = { backendWhenOpened: null };

vi.mock('../src/storage/index.js', async (original) => {
  const m = await original<typeof Storage>();
  return {
    ...m,
    openDeltaStore: async (...args: Parameters<typeof m.openDeltaStore>) => {
      await new Promise((r) => setTimeout(r, 300));
      seen.backendWhenOpened = tf.getBackend();
      return m.openDeltaStore(...args);
    },
  };
});

describe("the package entry's start", () => {
  afterAll(() => useBackend('cpu'));

  it('starts the backend while the store opens, not after', async () => {
    await useBackend('wasm');
    const rec = await createRecommender({ catalog: demoCatalog(), modelUrl: MODELS, backend: 'cpu', storage: 'memory' });
    expect(seen.backendWhenOpened).toBe('cpu');
    expect(rec.stats().backend).toBe('cpu');
    rec.dispose();
  });
});
