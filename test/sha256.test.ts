/**
 * The model files' checksums (`sha256Hex` in core/model-io.ts): WebCrypto for small files, and
 * the same digest in script a piece at a time, a task each, for large ones (WebCrypto copies its
 * whole input on the calling thread first) and where a page has no WebCrypto.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kernelDigestNow } from '../src/core/digest.js';
import { ChecksumError } from '../src/core/errors.js';
import { FILE_TASK_FROM, fetchVerified, SHA256_SLICED_FROM, sha256Hex, sha256Sliced } from '../src/core/model-io.js';

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

  it('checks a large file in tasks of its own: the body read, the digest, and what the caller does next', async () => {
    // A page's WebCrypto digest runs on the calling thread (1.6 MB took 8 to 13 ms in Chromium
    // here); run in the task that read the body's last chunk, and followed by the caller's decoding,
    // it made a task of over 50 ms on a first visit at 100,000 items.
    const b = bytes(FILE_TASK_FROM);
    const order: string[] = [];
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest').mockImplementation((_alg, data) => {
      order.push('digest');
      setImmediate(() => order.push('task after the digest'));
      return Promise.resolve(
        createHash('sha256')
          .update(data as Uint8Array)
          .digest().buffer as ArrayBuffer,
      );
    });
    const fetcher = () => {
      setImmediate(() => order.push('task after the read'));
      return Promise.resolve(b.slice().buffer as ArrayBuffer);
    };
    await fetchVerified(fetcher, 'https://shop.test/models', { path: 'vectors.bin', sha256: reference(b), bytes: b.length });
    order.push('returned');
    expect(order).toEqual(['task after the read', 'digest', 'task after the digest', 'returned']);
    // A small file is checked at once, in the task that read it.
    order.length = 0;
    const s = bytes(1000);
    const small = () => {
      setImmediate(() => order.push('task after the read'));
      return Promise.resolve(s.slice().buffer as ArrayBuffer);
    };
    await fetchVerified(small, 'https://shop.test/models', { path: 'head.bin', sha256: reference(s), bytes: s.length });
    order.push('returned');
    expect(order).toEqual(['digest', 'returned']);
    digest.mockRestore();
  });
});

describe('files listed with the kernel digest (k64)', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.resetModules();
  });

  it('are checked by it, not by sha256, and refused where one byte differs', async () => {
    const b = bytes(FILE_TASK_FROM + 1000);
    const k64 = kernelDigestNow(b)!;
    expect(k64).toMatch(/^[0-9a-f]{16}$/);
    const fetcher = (x: Uint8Array) => () => Promise.resolve(x.slice().buffer as ArrayBuffer);
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    // A sha256 that would not match: the kernel's digest is the one checked.
    const file = { path: 'head.bin', sha256: reference(bytes(10)), bytes: b.length, k64 };
    expect(new Uint8Array(await fetchVerified(fetcher(b), 'https://shop.test/models', file))).toEqual(b);
    expect(digest).not.toHaveBeenCalled();
    digest.mockRestore();
    const damaged = b.slice();
    damaged[b.length - 7]! ^= 1;
    const err = await fetchVerified(fetcher(damaged), 'https://shop.test/models', file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as ChecksumError).message).toContain(`manifest says k64 ${k64}`);
    expect((err as ChecksumError).file).toBe('https://shop.test/models/head.bin');
  });

  it('are checked by sha256 where the kernel cannot run (no WebAssembly, or a page whose CSP forbids it)', async () => {
    const b = bytes(5000);
    const k64 = kernelDigestNow(b)!;
    vi.stubGlobal('WebAssembly', undefined);
    vi.resetModules();
    const io = await import('../src/core/model-io.js');
    const fetcher = () => Promise.resolve(b.slice().buffer as ArrayBuffer);
    const file = { path: 'head.bin', sha256: reference(b), bytes: b.length, k64 };
    expect(new Uint8Array(await io.fetchVerified(fetcher, 'https://shop.test/models', file))).toEqual(b);
    const err = await io
      .fetchVerified(fetcher, 'https://shop.test/models', { ...file, sha256: reference(bytes(10)) })
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('model/checksum');
    expect((err as Error).message).toContain('manifest says sha256');
  });
});
