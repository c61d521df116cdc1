/**
 * Two recommenders created at once on one page (the demo's learning list and its comparison) both
 * get the backend asked for: the second start must not find the WASM backend half initialised.
 */
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/core/backend.js';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';

describe('initBackend', () => {
  it('starts the WASM backend once (one module, one download of its binary)', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    const entry = tf.engine().registryFactory['wasm']!;
    const factory = entry.factory;
    let starts = 0;
    entry.factory = () => {
      starts++;
      return factory();
    };
    try {
      expect((await initBackend('wasm', { wasmPaths: wasmDir })).name).toBe('wasm');
    } finally {
      entry.factory = factory;
    }
    expect(starts).toBe(1);
  });

  it('gives WASM to two callers that start it at the same time, with WASM paths', async () => {
    const [a, b] = await Promise.all([initBackend('wasm', { wasmPaths: wasmDir }), initBackend('wasm', { wasmPaths: wasmDir })]);
    expect(a.name).toBe('wasm');
    expect(b.name).toBe('wasm');
    // And once more, later, when it is long ready.
    expect((await initBackend('wasm', { wasmPaths: wasmDir })).name).toBe('wasm');
  });
});
