/**
 * The catalogue digest's WebAssembly kernel (src/core/kernels/digest.wat) against the same
 * function written out here in BigInt arithmetic, on files of every tail length and with windows
 * of every size, and the committed bytes against the kernel's text.
 */
import { describe, expect, it } from 'vitest';
import { KernelDigester, kernelDigest } from '../src/core/digest.js';
import { digestBytes, streamDigest } from '../src/core/prepared.js';
import { DIGEST_WASM_BASE64 } from '../src/core/kernels/digest-wasm.js';
import { Slicer } from '../src/core/slice.js';
import { assembleKernel, KERNELS } from '../src/cli/dev/build-kernel.js';
import { mulberry32 } from '../src/core/rng.js';

const M = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const rotl = (x: bigint, r: number): bigint => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & M;

/** The digest as the kernel's text describes it, word by word. */
function reference(bytes: Uint8Array): string {
  const lanes = Array.from({ length: 8 }, (_, j) => (P5 + BigInt(j) * P1) & M);
  const padded = new Uint8Array(Math.ceil(bytes.length / 64) * 64);
  padded.set(bytes);
  const view = new DataView(padded.buffer);
  for (let b = 0; b < padded.length; b += 64) {
    for (let j = 0; j < 8; j++) lanes[j] = (rotl((lanes[j]! + view.getBigUint64(b + 8 * j, true) * P2) & M, 31) * P1) & M;
  }
  let h = [1, 7, 12, 18, 23, 29, 37, 43].reduce((sum, r, j) => (sum + rotl(lanes[j]!, r)) & M, 0n);
  for (const lane of lanes) h = ((h ^ ((rotl((lane * P2) & M, 31) * P1) & M)) * P1 + P4) & M;
  h = (h + BigInt(bytes.length)) & M;
  h ^= h >> 33n;
  h = (h * P2) & M;
  h ^= h >> 29n;
  h = (h * P3) & M;
  h ^= h >> 32n;
  return h.toString(16).padStart(16, '0');
}

describe('the digest kernel', () => {
  it('is the committed build of its text', async () => {
    const bytes = await assembleKernel(KERNELS.digest);
    expect(Buffer.from(bytes).toString('base64')).toBe(DIGEST_WASM_BASE64);
  });

  it('computes the described function for every tail length and window', async () => {
    const rand = mulberry32(7);
    const s = new Slicer();
    for (const n of [0, 1, 7, 8, 63, 64, 65, 127, 128, 129, 1000, 4099]) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      const want = reference(bytes);
      for (const window of [64, 128, 1024, 1 << 20]) expect(await kernelDigest(bytes, s, window)).toBe(want);
    }
    // Windows of the default size, a file longer than one.
    const big = new Uint8Array((1 << 20) + 200).map((_, i) => (i * 131) & 255);
    expect(await kernelDigest(big, s)).toBe(reference(big));
    await expect(kernelDigest(big, s, 100)).rejects.toThrow(RangeError);
  });

  it('gives the same digest made as a file arrives, in chunks of any size', async () => {
    const rand = mulberry32(11);
    for (const n of [0, 1, 63, 64, 65, 1000, 4099, (1 << 20) + 200, (2 << 20) + 77]) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      for (const chunk of [1, 7, 64, 100, 65536, 3 << 20]) {
        if (n > 5000 && chunk < 64) continue; // long enough already with the larger chunks
        const d = KernelDigester.create()!;
        for (let at = 0; at < n; at += chunk) d.update(bytes.subarray(at, at + chunk));
        expect(d.hex()).toBe(reference(bytes));
      }
      const whole = streamDigest()!;
      whole.update(bytes.subarray(0, n >> 1));
      whole.update(bytes.subarray(n >> 1));
      expect(whole.digest()).toBe(await digestBytes(bytes, new Slicer(Infinity)));
    }
  });
});
