/**
 * Backend choice. `'auto'` tries, in order: WebGPU on a real (hardware) adapter, WASM (SIMD),
 * WebGL, CPU. A software WebGPU adapter (SwiftShader, or any adapter flagged as a fallback) is
 * skipped by `'auto'`: it is correct but far slower than WASM. Requesting `'webgpu'` explicitly
 * uses it anyway. Backends are imported lazily, so a page only downloads the one it uses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ArgumentError, BackendError } from './errors.js';
import type { BackendName, BackendRequest } from './types.js';
import { nextTask } from './slice.js';

/** The backend in use and a human-readable reason for the choice. */
export interface BackendChoice {
  name: BackendName;
  reason: string;
  /** The WebGPU adapter seen, if any (architecture / vendor), for display. */
  adapter?: string;
}

const VALID: readonly BackendRequest[] = ['auto', 'webgpu', 'wasm', 'webgl', 'cpu'];

interface GpuAdapterLike {
  info?: { architecture?: string; vendor?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

/** Looks for a WebGPU adapter without creating a device. */
async function probeWebGpu(): Promise<{ ok: boolean; software: boolean; label: string }> {
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } } }).navigator?.gpu;
  if (!gpu) return { ok: false, software: false, label: 'no navigator.gpu' };
  let adapter: GpuAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch {
    adapter = null;
  }
  if (!adapter) return { ok: false, software: false, label: 'no WebGPU adapter' };
  const info = adapter.info ?? {};
  const arch = info.architecture ?? '';
  const software = arch.toLowerCase() === 'swiftshader' || info.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
  const label = [info.vendor, arch].filter((x) => x).join(' ') || 'unknown adapter';
  return { ok: true, software, label: software && arch ? `${arch} (software)` : label };
}

/** Options of {@link initBackend}. */
export interface BackendOptions {
  /** The folder the WASM backend's binaries are served from (ends with `/`). */
  wasmPaths?: string;
  /** How long a WASM start from fetched bytes may take (default {@link WASM_START_LIMIT_MS}). */
  wasmStartLimitMs?: number;
}

/**
 * How long the WASM backend may take to start from a binary fetched ahead (see
 * {@link wasmBinaryAhead}) before the next backend is tried. tfjs's start from bytes has no
 * handler for a module that fails to compile or link: it would stay pending for good. The bytes
 * are whole and checked by then, so only a binary of another tfjs version, or a page out of
 * memory, gets here; a slow device compiles the module in well under a second.
 */
export const WASM_START_LIMIT_MS = 10_000;

/** The empty WebAssembly module (magic, version 1). */
const EMPTY_MODULE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);

/**
 * The WASM backend's binary at `url`, fetched whole by this code, where tfjs can safely start
 * from its bytes; null where it should compile the binary as it streams in, its own path.
 *
 * A streaming compile decodes the module on the page's main thread as its bytes arrive: one task
 * of 50 to 100 ms on a first visit here, where they came at once. From whole bytes the engine
 * decodes and compiles it off the main thread. But tfjs's start from bytes handles no failure:
 * a policy that forbids WebAssembly, a failed download or an error page would leave it pending,
 * where its streaming path gives up and lets the next backend start. So the bytes are taken only
 * where the empty module compiles (the page's policy allows WebAssembly), the download succeeded
 * whole, and the body is a WebAssembly module (its magic and version).
 */
export async function wasmBinaryAhead(
  url: string,
  fetchBytes: (url: string, init: RequestInit) => Promise<Response> = (u, i) => fetch(u, i),
  compile: (bytes: Uint8Array<ArrayBuffer>) => Promise<unknown> = (b) => WebAssembly.compile(b),
): Promise<ArrayBuffer | null> {
  try {
    await compile(EMPTY_MODULE);
    // As tfjs asks for it.
    const res = await fetchBytes(url, { credentials: 'same-origin' });
    if (!res.ok) return null;
    const bytes = await res.arrayBuffer();
    const head = new Uint8Array(bytes, 0, Math.min(bytes.byteLength, EMPTY_MODULE.length));
    return head.length === EMPTY_MODULE.length && head.every((b, i) => b === EMPTY_MODULE[i]) ? bytes : null;
  } catch {
    return null;
  }
}

/**
 * Has tfjs's own fetch (its platform's, which its start from bytes calls) answer `url` once with
 * `bytes`, and every other request as before.
 */
function serveOnce(url: string, bytes: ArrayBuffer): void {
  const platform = tf.env().platform as { fetch: (path: string, init?: RequestInit) => Promise<Response> };
  const own = Object.prototype.hasOwnProperty.call(platform, 'fetch');
  const original = platform.fetch;
  const restore = (): void => {
    if (own) platform.fetch = original;
    else delete (platform as { fetch?: unknown }).fetch;
  };
  platform.fetch = (path, init) => {
    if (path !== url) return original.call(platform, path, init);
    restore();
    return Promise.resolve(new Response(bytes, { headers: { 'content-type': 'application/wasm' } }));
  };
}

/** `started`, or false once `ms` have passed. */
function withinLimit(started: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([started, limit]).finally(() => clearTimeout(timer));
}

/**
 * Where tfjs's WASM backend will start from the binary fetched ahead (see
 * {@link wasmBinaryAhead}): in a page or a worker (it has a location; Node reads the binary from
 * disk), with the binaries' folder given, for the single-threaded binaries (a threaded one starts
 * its own workers, left to tfjs).
 */
async function wasmAhead(paths: string): Promise<{ url: string; bytes: ArrayBuffer } | null> {
  if (typeof (globalThis as { location?: unknown }).location !== 'object') return null;
  const [simd, threads] = await Promise.all([
    tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
  ]);
  if (simd && threads) return null;
  // The name tfjs gives the binary it picks, in the folder given.
  const url = `${paths}${simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm'}`;
  const bytes = await wasmBinaryAhead(url);
  return bytes && { url, bytes };
}

async function tryBackend(name: BackendName, options: BackendOptions): Promise<boolean> {
  try {
    let ahead = false;
    if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
    else if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // Paths can be set only before the backend's first start; once started, it is simply reused.
      const paths = options.wasmPaths;
      if (paths && !tf.engine().registry['wasm']) {
        const got = await wasmAhead(paths);
        wasm.setWasmPaths(paths, got !== null);
        if (got) serveOnce(got.url, got.bytes);
        ahead = got !== null;
      }
    } else if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
    else await import('@tensorflow/tfjs-backend-cpu');
    // The backend's module has just been evaluated, in this same task: its start waits for the
    // next one, so that the two do not make one long task.
    await nextTask();
    // Registered? (Not `tf.findBackend`: on a backend registered but not started it starts it,
    // and `setBackend` below would then start a second one: two WASM modules, two downloads.)
    const engine = tf.engine();
    if (!(name in engine.registry) && !(name in engine.registryFactory)) return false;
    const started = tf.setBackend(name);
    if (ahead && !(await withinLimit(started, options.wasmStartLimitMs ?? WASM_START_LIMIT_MS))) {
      // A start from bytes that failed, or never settles: dropped, so that tfjs no longer waits
      // for it (its pending start would hold `tf.ready()`, and every op, for good), and the next
      // backend takes over.
      tf.removeBackend(name);
      return false;
    }
    if (!(await started)) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/** The start in progress: starts are taken one at a time (tfjs has one global backend). */
let starting: Promise<unknown> = Promise.resolve();

/**
 * Initialises the requested backend (falling back in order) and says which and why. Calls made
 * at the same time (two recommenders on one page) run one after the other, so the second never
 * finds a backend half started.
 */
export function initBackend(request: BackendRequest = 'auto', options: BackendOptions = {}): Promise<BackendChoice> {
  const run = starting.then(() => startBackend(request, options));
  starting = run.catch(() => undefined);
  return run;
}

async function startBackend(request: BackendRequest, options: BackendOptions): Promise<BackendChoice> {
  if (!VALID.includes(request)) {
    throw new ArgumentError(
      'backend/invalid',
      `Unknown backend ${JSON.stringify(request)}. Valid values: ${VALID.map((v) => `'${v}'`).join(', ')}.`,
    );
  }
  // Production mode: no per-op NaN checks and no debug logging.
  tf.enableProdMode();
  const gpu = request === 'auto' || request === 'webgpu' ? await probeWebGpu() : null;
  const reasons: string[] = [];
  let order: BackendName[];
  if (request === 'auto') {
    order = ['wasm', 'webgl', 'cpu'];
    if (gpu?.ok && !gpu.software) order.unshift('webgpu');
    else reasons.push(gpu?.ok ? `WebGPU adapter is ${gpu.label}, slower than WASM` : (gpu?.label ?? 'no WebGPU'));
  } else {
    order = [request, ...(['wasm', 'webgl', 'cpu'] as BackendName[]).filter((b) => b !== request)];
    if (request === 'webgpu' && !gpu?.ok) reasons.push(gpu?.label ?? 'no WebGPU');
  }
  for (const name of order) {
    if (name === 'webgpu' && !gpu?.ok) continue;
    if (await tryBackend(name, options)) {
      const base = name === 'webgpu' ? `WebGPU: ${gpu?.label ?? 'adapter'}` : name === 'wasm' ? 'WASM' : name === 'webgl' ? 'WebGL' : 'CPU';
      const why = name === order[0] && request !== 'auto' ? 'requested' : reasons.join('; ');
      return { name, reason: why ? `${base}: ${why}` : base, ...(gpu?.ok ? { adapter: gpu.label } : {}) };
    }
    reasons.push(`${name} failed to initialise`);
  }
  throw new BackendError('backend/none', `No tfjs backend could be initialised (${reasons.join('; ')}). Try backend: 'cpu'.`);
}
