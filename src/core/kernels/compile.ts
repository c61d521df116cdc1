/**
 * A WebAssembly kernel's module from its base64 bytes (the `*-wasm.ts` files that
 * `npm run build:kernel` writes), or null where WebAssembly SIMD is unavailable or forbidden (a
 * page whose CSP lacks 'wasm-unsafe-eval'). The kernels are small enough (under 4 kB) for a
 * synchronous compile on a page's main thread.
 */
export function compileKernel(base64: string): WebAssembly.Module | null {
  try {
    const bin = atob(base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new WebAssembly.Module(bytes);
  } catch {
    return null;
  }
}
