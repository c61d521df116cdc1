/**
 * tfjs's start of its WASM backend from fetched bytes has no handler for a module that does not
 * compile: it would stay pending for good. A start that takes longer than the limit gives way to
 * the next backend (see `tryBackend` in `core/backend.ts`). A file of its own: tfjs starts its
 * WASM backend once per process.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, expect, it, vi } from 'vitest';
import { initBackend } from '../src/core/backend.js';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';

afterEach(() => {
  vi.unstubAllGlobals();
});

it('a WASM binary that passes the checks but does not compile gives way to the next backend after the limit', async () => {
  vi.stubGlobal('location', { href: 'https://shop.test/', origin: 'https://shop.test' });
  // Whole as far as the download can tell, and a module by its first bytes, but cut short.
  const cut = readFileSync(join(wasmDir, 'tfjs-backend-wasm-simd.wasm')).subarray(0, 4096);
  const fetchSpy = vi.fn(() => Promise.resolve(new Response(cut, { headers: { 'content-type': 'application/wasm' } })));
  vi.stubGlobal('fetch', fetchSpy);
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => void rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  // tfjs's module, in Node, rethrows every unhandled rejection (which ends the test's process);
  // in a page such a rejection is only reported. Its handler is not added here.
  const on = process.on.bind(process);
  const spy = vi
    .spyOn(process, 'on')
    .mockImplementation(((event: string, listener: (...args: unknown[]) => void) =>
      event === 'unhandledRejection' ? process : on(event, listener)) as typeof process.on);
  try {
    const started = Date.now();
    const choice = await initBackend('wasm', { wasmPaths: 'https://cdn.shop.test/clickwise/tfjs/', wasmStartLimitMs: 300 });
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(choice.name).toBe('cpu');
    expect(choice.reason).toContain('wasm failed to initialise');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // The next backend works.
    expect(tf.getBackend()).toBe('cpu');
    const t = tf.add(tf.scalar(1), tf.scalar(2));
    expect(await t.data()).toEqual(new Float32Array([3]));
    t.dispose();
  } finally {
    spy.mockRestore();
    process.off('unhandledRejection', onRejection);
  }
  // tfjs's own promise of the compile is the one left unhandled.
  expect(rejections.length).toBeGreaterThan(0);
  expect(rejections.every((r) => r instanceof WebAssembly.CompileError)).toBe(true);
});
