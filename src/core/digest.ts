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

/**
 * The kernel's digest made as a file's bytes arrive, chunk by chunk: `hex()` at the end equals
 * {@link kernelDigest} of the whole. For a worker, which has no page to yield to; a chunk is
 * taken in one go.
 */
export class KernelDigester {
  private readonly mem: Uint8Array;
  /** Bytes of an unfinished 64-byte block. */
  private readonly tail = new Uint8Array(BLOCK);
  private tailLength = 0;
  private total = 0;
  private constructor(private readonly k: DigestExports) {
    this.mem = new Uint8Array(k.memory.buffer);
    k.init();
  }

  /** A digester, or null where the kernel cannot run. */
  static create(): KernelDigester | null {
    if (compiled === undefined) compiled = compileKernel(DIGEST_WASM_BASE64);
    if (!compiled) return null;
    try {
      return new KernelDigester(new WebAssembly.Instance(compiled).exports as unknown as DigestExports);
    } catch {
      return null;
    }
  }

  /** Takes the next bytes of the file. */
  update(chunk: Uint8Array): void {
    this.total += chunk.length;
    let at = 0;
    if (this.tailLength > 0) {
      const take = Math.min(BLOCK - this.tailLength, chunk.length);
      this.tail.set(chunk.subarray(0, take), this.tailLength);
      this.tailLength += take;
      at = take;
      if (this.tailLength < BLOCK) return;
      this.mem.set(this.tail, WINDOW_AT);
      this.k.update(BLOCK);
      this.tailLength = 0;
    }
    const whole = at + Math.floor((chunk.length - at) / BLOCK) * BLOCK;
    for (let from = at; from < whole; from += WINDOW_BYTES) {
      const to = Math.min(whole, from + WINDOW_BYTES);
      this.mem.set(chunk.subarray(from, to), WINDOW_AT);
      this.k.update(to - from);
    }
    this.tail.set(chunk.subarray(whole), 0);
    this.tailLength = chunk.length - whole;
  }

  /** The digest of every byte taken (16 hex digits); the digester is spent. */
  hex(): string {
    if (this.tailLength > 0) {
      this.mem.fill(0, WINDOW_AT, WINDOW_AT + BLOCK);
      this.mem.set(this.tail.subarray(0, this.tailLength), WINDOW_AT);
      this.k.update(BLOCK);
    }
    return BigInt.asUintN(64, this.k.final(BigInt(this.total)))
      .toString(16)
      .padStart(16, '0');
  }

  /** Bytes taken so far. */
  get length(): number {
    return this.total;
  }
}

/**
 * The kernel's digest of `bytes` (16 hex digits) in one call, or null where the kernel cannot
 * run: for a tool writing a file, not a page.
 */
export function kernelDigestNow(bytes: Uint8Array): string | null {
  const k = KernelDigester.create();
  if (!k) return null;
  k.update(bytes);
  return k.hex();
}
