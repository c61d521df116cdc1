/** Public types shared by every layer. */

/** One product of the catalogue. `id` is compared as a string. */
export interface Item {
  id: string;
  title: string;
  description?: string;
  price?: number;
  category?: string;
  image?: string;
}

/** Phases of long work reported through `onProgress`. */
export type ProgressPhase = 'catalog' | 'download' | 'encode' | 'ready';

/** Progress of long work: `done` out of `total` units (bytes, items). */
export interface Progress {
  phase: ProgressPhase;
  done: number;
  total: number;
}

/** Progress callback, called often; keep it cheap. */
export type ProgressCallback = (p: Progress) => void;

/** Backends that can be requested. `'auto'` picks the best available one. */
export type BackendName = 'webgpu' | 'wasm' | 'webgl' | 'cpu';
export type BackendRequest = BackendName | 'auto';
