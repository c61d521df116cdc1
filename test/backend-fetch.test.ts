/**
 * In a browser the WASM backend starts from its binary fetched whole, which the engine compiles
 * off the page's main thread, rather than compiling it as it streams in (see `wasmBinaryAhead`
 * in `core/backend.ts`), and only where that start cannot hang. A file of its own: tfjs starts
 * its WASM backend once per process.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { initBackend, wasmBinaryAhead } from '../src/core/backend.js';

const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
const simd = readFileSync(join(wasmDir, 'tfjs-backend-wasm-simd.wasm'));
const url = 'https://cdn.shop.test/clickwise/tfjs/tfjs-backend-wasm-simd.wasm';
const served = (body: BodyInit | null, init?: ResponseInit) => vi.fn(() => Promise.resolve(new Response(body, init)));
const compiles = () => Promise.resolve({});

describe('wasmBinaryAhead', () => {
  it('gives the bytes of a WebAssembly module downloaded whole, asked for as tfjs asks', async () => {
    const fetchBytes = served(simd);
    const got = await wasmBinaryAhead(url, fetchBytes, compiles);
    expect(got).not.toBeNull();
    expect(new Uint8Array(got!)).toEqual(new Uint8Array(simd));
    expect(fetchBytes).toHaveBeenCalledWith(url, { credentials: 'same-origin' });
  });

  it('downloads nothing where the page may not compile WebAssembly (its policy lacks wasm-unsafe-eval)', async () => {
    const fetchBytes = served(simd);
    const refused = () => Promise.reject(new WebAssembly.CompileError('Wasm code generation disallowed by embedder'));
    expect(await wasmBinaryAhead(url, fetchBytes, refused)).toBeNull();
    expect(fetchBytes).not.toHaveBeenCalled();
  });

  it('gives nothing for a failed download, an error status, or a body that is not a module', async () => {
    expect(await wasmBinaryAhead(url, () => Promise.reject(new TypeError('Failed to fetch')), compiles)).toBeNull();
    expect(await wasmBinaryAhead(url, served('not found', { status: 404 }), compiles)).toBeNull();
    // A server that answers every path with its page.
    expect(await wasmBinaryAhead(url, served('<!doctype html><title>Shop</title>'), compiles)).toBeNull();
    expect(await wasmBinaryAhead(url, served(new Uint8Array([0, 97, 115])), compiles)).toBeNull();
    const failing = new Response(new ReadableStream({ pull: (c) => c.error(new TypeError('network error')) }));
    expect(await wasmBinaryAhead(url, () => Promise.resolve(failing), compiles)).toBeNull();
  });
});

describe('the WASM backend in a browser', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('fetches its binary once, from the paths given, and starts from the bytes', async () => {
    const asked: string[] = [];
    // A page: it has a location, and the binary is served over HTTP.
    vi.stubGlobal('location', { href: 'https://shop.test/', origin: 'https://shop.test' });
    vi.stubGlobal('fetch', (u: string) => {
      asked.push(String(u));
      return Promise.resolve(
        new Response(readFileSync(join(wasmDir, basename(String(u)))), { headers: { 'content-type': 'application/wasm' } }),
      );
    });
    const choice = await initBackend('wasm', { wasmPaths: 'https://cdn.shop.test/clickwise/tfjs/' });
    expect(choice.name).toBe('wasm');
    expect(asked.length).toBe(1);
    expect(asked[0]).toMatch(/^https:\/\/cdn\.shop\.test\/clickwise\/tfjs\/tfjs-backend-wasm(-simd)?\.wasm$/);
  });
});
