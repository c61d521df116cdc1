/**
 * In a browser the WASM backend's binary is fetched whole and compiled from its bytes, off the
 * page's main thread, rather than compiled as it streams in (see `tryBackend` in
 * `core/backend.ts`). A file of its own: tfjs starts its WASM backend once per process.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/core/backend.js';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';

describe('the WASM backend in a browser', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('fetches its binary from the paths given and starts from the bytes', async () => {
    const asked: string[] = [];
    // A page: it has a location, and the binary is served over HTTP.
    vi.stubGlobal('location', { href: 'https://shop.test/', origin: 'https://shop.test' });
    vi.stubGlobal('fetch', (url: string) => {
      asked.push(String(url));
      return Promise.resolve(
        new Response(readFileSync(join(wasmDir, basename(String(url)))), { headers: { 'content-type': 'application/wasm' } }),
      );
    });
    const choice = await initBackend('wasm', { wasmPaths: 'https://cdn.shop.test/clickwise/tfjs/' });
    expect(choice.name).toBe('wasm');
    expect(asked.length).toBe(1);
    expect(asked[0]).toMatch(/^https:\/\/cdn\.shop\.test\/clickwise\/tfjs\/tfjs-backend-wasm(-simd)?\.wasm$/);
  });
});
