/**
 * The catalogue file's digest (src/core/kernels/digest.wat): 64 bits that tell one version of a
 * file from the next, computed by a small WebAssembly SIMD kernel at memory speed, a window of
 * the file at a time, in slices. Not cryptographic: it guards what one browser saved against the
 * shop's next catalogue, and a shop that wanted to fool its own shoppers' browsers would not
 * need a collision.
 */
import { compileKernel } from './kernels/compile.js';
import { DIGEST_WASM_BASE64 } from './kernels/digest-wasm.js';
import type { Slicer } from './slice.js';

interface DigestExports {
  memory: WebAssembly.Memory;
  init(): void;
  update(len: number): void;
  final(length: bigint): bigint;
}

/** Where the kernel reads its window, and the window's largest size. */
const WINDOW_AT = 1024;
const WINDOW_BYTES = 1 << 20;
const BLOCK = 64;

let compiled: WebAssembly.Module | null | undefined;

/**
 * The kernel's digest of `bytes` (16 hex digits), or null where the kernel cannot run (no
 * WebAssembly SIMD, a CSP that forbids it). `window` (a multiple of 64, at most 1 MiB) is the
 * bytes taken per call; tests make it small.
 */
export async function kernelDigest(bytes: Uint8Array, slicer: Slicer, window = WINDOW_BYTES): Promise<string | null> {
  if (!(window > 0 && window <= WINDOW_BYTES && window % BLOCK === 0))
    throw new RangeError(`window must be a multiple of 64 up to 1 MiB, got ${window}`);
  if (compiled === undefined) compiled = compileKernel(DIGEST_WASM_BASE64);
  if (!compiled) return null;
  // An instance per digest: two loads on one page may digest at the same time.
  let k: DigestExports;
  try {
    k = new WebAssembly.Instance(compiled).exports as unknown as DigestExports;
  } catch {
    return null;
  }
  const mem = new Uint8Array(k.memory.buffer);
  k.init();
  const whole = bytes.length - (bytes.length % BLOCK);
  for (let from = 0; from < whole; from += window) {
    const to = Math.min(whole, from + window);
    mem.set(bytes.subarray(from, to), WINDOW_AT);
    k.update(to - from);
    await slicer.maybeYield();
  }
  if (whole < bytes.length) {
    mem.fill(0, WINDOW_AT, WINDOW_AT + BLOCK);
    mem.set(bytes.subarray(whole), WINDOW_AT);
    k.update(BLOCK);
  }
  return BigInt.asUintN(64, k.final(BigInt(bytes.length)))
    .toString(16)
    .padStart(16, '0');
}
