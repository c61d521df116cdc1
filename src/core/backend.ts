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

async function tryBackend(name: BackendName, wasmPaths: string | undefined): Promise<boolean> {
  try {
    if (name === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
    else if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // Paths can be set only before the backend's first start; once started, it is simply reused.
      if (wasmPaths && !tf.engine().registry['wasm']) wasm.setWasmPaths(wasmPaths);
    } else if (name === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
    else await import('@tensorflow/tfjs-backend-cpu');
    // The backend's module has just been evaluated, in this same task: its start waits for the
    // next one, so that the two do not make one long task.
    await nextTask();
    // Registered? (Not `tf.findBackend`: on a backend registered but not started it starts it,
    // and `setBackend` below would then start a second one: two WASM modules, two downloads.)
    const engine = tf.engine();
    if (!(name in engine.registry) && !(name in engine.registryFactory)) return false;
    const ok = await tf.setBackend(name);
    if (!ok) return false;
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
export function initBackend(request: BackendRequest = 'auto', options: { wasmPaths?: string } = {}): Promise<BackendChoice> {
  const run = starting.then(() => startBackend(request, options));
  starting = run.catch(() => undefined);
  return run;
}

async function startBackend(request: BackendRequest, options: { wasmPaths?: string }): Promise<BackendChoice> {
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
    if (await tryBackend(name, options.wasmPaths)) {
      const base = name === 'webgpu' ? `WebGPU: ${gpu?.label ?? 'adapter'}` : name === 'wasm' ? 'WASM' : name === 'webgl' ? 'WebGL' : 'CPU';
      const why = name === order[0] && request !== 'auto' ? 'requested' : reasons.join('; ');
      return { name, reason: why ? `${base}: ${why}` : base, ...(gpu?.ok ? { adapter: gpu.label } : {}) };
    }
    reasons.push(`${name} failed to initialise`);
  }
  throw new BackendError('backend/none', `No tfjs backend could be initialised (${reasons.join('; ')}). Try backend: 'cpu'.`);
}
