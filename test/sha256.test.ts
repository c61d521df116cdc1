/**
 * The model files' checksums (`sha256Hex` in core/model-io.ts): WebCrypto for small files, and
 * the same digest in script a piece at a time, a task each, for large ones (WebCrypto copies its
 * whole input on the calling thread first) and where a page has no WebCrypto.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChecksumError } from '../src/core/errors.js';
import { fetchVerified, SHA256_SLICED_FROM, sha256Hex, sha256Sliced } from '../src/core/model-io.js';

const reference = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('sha256 of model files', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('gives the standard digest whatever the pieces, with a yield between each two', async () => {
    for (const n of [0, 1, 63, 64, 65, 1000, 4099]) {
      const b = bytes(n);
      for (const piece of [1, 63, 64, 65, 1 << 20]) {
        let yields = 0;
        const got = await sha256Sliced(b, piece, () => {
          yields++;
          return Promise.resolve();
        });
        expect(hex(got)).toBe(reference(b));
        expect(yields).toBe(Math.max(0, Math.ceil(n / piece) - 1));
      }
    }
  });

  it('hashes a large file in script, not by WebCrypto, and a small one by WebCrypto', async () => {
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    const large = bytes(SHA256_SLICED_FROM + 3);
    expect(await sha256Hex(large)).toBe(reference(large));
    expect(await sha256Hex(large.buffer as ArrayBuffer)).toBe(reference(large));
    expect(digest).not.toHaveBeenCalled();
    const small = bytes(5000);
    expect(await sha256Hex(small)).toBe(reference(small));
    expect(digest).toHaveBeenCalledTimes(1);
    digest.mockRestore();
  });

  it('checks every file on a page without WebCrypto (plain http) too', async () => {
    vi.stubGlobal('crypto', undefined);
    const b = bytes(3000);
    expect(await sha256Hex(b)).toBe(reference(b));
    const fetcher = () => Promise.resolve(b.slice().buffer as ArrayBuffer);
    const file = { path: 'head.bin', sha256: reference(b), bytes: b.length };
    expect(new Uint8Array(await fetchVerified(fetcher, 'https://shop.test/models', file))).toEqual(b);
    const wrong = { ...file, sha256: reference(bytes(10)) };
    await expect(fetchVerified(fetcher, 'https://shop.test/models', wrong)).rejects.toBeInstanceOf(ChecksumError);
  });
});
