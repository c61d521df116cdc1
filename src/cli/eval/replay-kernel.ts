/**
 * The replay head's two d × d loops, the bulk of a replay's arithmetic: the projection
 * q = h W₀, hdW = h ΔW of each shopper context, and the AdaGrad step on ΔW. They run in a small
 * WebAssembly SIMD kernel (kernels/replay.wat), with plain loops as their twins where WebAssembly
 * SIMD is missing. Both compute, element by element, the same operations in the same order, so
 * the results are the same to the bit (test/plain-head.test.ts).
 */
import { REPLAY_WASM_BASE64 } from './kernels/replay-wasm.js';

interface Exports {
  project(w0: number, w: number, h: number, q: number, hdw: number, d: number): void;
  step(w: number, acc: number, h: number, gq: number, d: number, lam: number, clip: number, eta: number, a0: number): number;
}

/** The plain loop: q = h W₀ and hdW = h ΔW (rows where h is 0 skipped). */
export function projectJs(h: Float64Array, W0: ArrayLike<number>, dW: Float64Array, d: number): { q: Float64Array; hdW: Float64Array } {
  const q = new Float64Array(d);
  const hdW = new Float64Array(d);
  for (let a = 0; a < d; a++) {
    const ha = h[a]!;
    if (ha === 0) continue;
    for (let k = 0, at = a * d; k < d; k++, at++) {
      q[k]! += ha * W0[at]!;
      hdW[k]! += ha * dW[at]!;
    }
  }
  return { q, hdW };
}

/** The plain loop: ΔW -= η g / (√(acc + a₀) + 1e-8) with acc += g², g = (h ⊗ gq + λ ΔW) · clip. Returns ‖ΔW‖². */
export function adagradStepJs(
  dW: Float64Array,
  acc: Float64Array,
  h: Float64Array,
  gq: Float64Array,
  d: number,
  lam: number,
  clip: number,
  eta: number,
  a0: number,
): number {
  let sq = 0;
  for (let a = 0; a < d; a++) {
    const ha = h[a]!;
    for (let k = 0, at = a * d; k < d; k++, at++) {
      const g = (ha * gq[k]! + lam * dW[at]!) * clip;
      const s = (acc[at]! += g * g);
      const w = dW[at]! - (eta * g) / (Math.sqrt(s + a0) + 1e-8);
      dW[at] = w;
      sq += w * w;
    }
  }
  return sq;
}

export class ReplayKernel {
  readonly d: number;
  private readonly W0: Float64Array;
  /** 'wasm-simd', or 'js' where WebAssembly SIMD is missing (or d is odd). */
  readonly kind: 'wasm-simd' | 'js';
  private readonly exports: Exports | null = null;
  private readonly mem: Float64Array | null = null;
  /**
   * The ΔW (and its sums) whose values the kernel's memory holds. A step leaves its results there
   * (`dirty`): they are copied back out when another ΔW is loaded or at {@link flush}, not at every
   * step, since a replay steps the same shopper many times in a row (an order's lines).
   */
  private resident: { dW: Float64Array; acc: Float64Array } | null = null;
  private dirty = false;
  /** Where each array lies in the kernel's memory, in f64 elements: ΔW, acc, W₀ [d² each], then h, gq, q, hdW [d each]. */
  private readonly at: { dW: number; acc: number; W0: number; h: number; gq: number; q: number; hdW: number };

  /** @param W0 the base's W₀ [d × d], fixed for the kernel's life */
  constructor(d: number, W0: ArrayLike<number>, options: { kernel?: 'wasm-simd' | 'js' } = {}) {
    if (W0.length !== d * d) throw new RangeError(`W0 has ${W0.length} entries, not ${d * d}`);
    this.d = d;
    this.W0 = Float64Array.from(W0);
    const dd = d * d;
    this.at = { dW: 0, acc: dd, W0: 2 * dd, h: 3 * dd, gq: 3 * dd + d, q: 3 * dd + 2 * d, hdW: 3 * dd + 3 * d };
    let kind: 'wasm-simd' | 'js' = 'js';
    if (options.kernel !== 'js' && d % 2 === 0) {
      try {
        const memory = new WebAssembly.Memory({ initial: Math.ceil(((this.at.hdW + d) * 8) / 65536) });
        const module = new WebAssembly.Module(Buffer.from(REPLAY_WASM_BASE64, 'base64'));
        this.exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
        this.mem = new Float64Array(memory.buffer);
        this.mem.set(this.W0, this.at.W0);
        kind = 'wasm-simd';
      } catch {
        // No WebAssembly SIMD here: the plain loop.
      }
    }
    this.kind = kind;
  }

  /** Loads a shopper's ΔW and its sums into the kernel's memory, unless they are there already. */
  private load(dW: Float64Array, acc: Float64Array): void {
    if (this.resident?.dW === dW && this.resident.acc === acc) return;
    this.flush();
    this.mem!.set(dW, this.at.dW);
    this.mem!.set(acc, this.at.acc);
    this.resident = { dW, acc };
  }

  /**
   * Copies the last steps' ΔW and sums back into the arrays they were given as: until then those
   * arrays may lag what the kernel holds. A no-op for the plain loops, which step in place.
   */
  flush(): void {
    const r = this.resident;
    if (!r || !this.dirty) return;
    const dd = this.d * this.d;
    r.dW.set(this.mem!.subarray(this.at.dW, this.at.dW + dd));
    r.acc.set(this.mem!.subarray(this.at.acc, this.at.acc + dd));
    this.dirty = false;
  }

  /** q = h W₀ and hdW = h ΔW, for a shopper's ΔW (and its AdaGrad sums `acc`, which the next step needs). */
  project(h: Float64Array, dW: Float64Array, acc: Float64Array): { q: Float64Array; hdW: Float64Array } {
    const { d, at } = this;
    if (!this.exports || !this.mem) return projectJs(h, this.W0, dW, d);
    const mem = this.mem;
    this.load(dW, acc);
    mem.set(h, at.h);
    this.exports.project(at.W0 * 8, at.dW * 8, at.h * 8, at.q * 8, at.hdW * 8, d);
    return { q: mem.slice(at.q, at.q + d), hdW: mem.slice(at.hdW, at.hdW + d) };
  }

  /**
   * {@link flush}, then forgets which ΔW it holds: the next use loads it again, so a ΔW that
   * another kernel stepped meanwhile (a shopper gone on with another head) is read afresh.
   */
  release(): void {
    this.flush();
    this.resident = null;
  }

  /**
   * One AdaGrad step on `dW` and its sums `acc`; returns ‖ΔW‖² after it. The arrays hold the
   * result once another ΔW is loaded or at {@link flush} (at once with the plain loops).
   */
  step(dW: Float64Array, acc: Float64Array, h: Float64Array, gq: Float64Array, lam: number, clip: number, eta: number, a0: number): number {
    const { d, at } = this;
    if (!this.exports || !this.mem) return adagradStepJs(dW, acc, h, gq, d, lam, clip, eta, a0);
    const mem = this.mem;
    this.load(dW, acc);
    mem.set(h, at.h);
    mem.set(gq, at.gq);
    const sq = this.exports.step(at.dW * 8, at.acc * 8, at.h * 8, at.gq * 8, d, lam, clip, eta, a0);
    this.dirty = true;
    return sq;
  }
}
