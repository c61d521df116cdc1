/**
 * Storage layer: the IndexedDB `DeltaStore`, with a fall back to memory (and one warning) where
 * IndexedDB is missing, blocked or fails to open.
 */
import type { DeltaStore } from '../core/index.js';
import { MemoryDeltaStore } from '../core/index.js';
import { IndexedDbDeltaStore } from './idb-store.js';

export { IndexedDbEmbeddingCache } from './embedding-cache.js';
export { IndexedDbPreparedCache } from './prepared-cache.js';
export { IndexedDbDeltaStore, checksum, migrate, validateEnvelope, DB_VERSION, RECORD_VERSION } from './idb-store.js';
export type { ClickwiseDB, Envelope, IndexedDbStoreOptions } from './idb-store.js';

/** Which store to use. */
export type StorageKind = 'indexeddb' | 'memory';

/**
 * Opens the requested store. `'indexeddb'` falls back to memory, with a single console warning,
 * where IndexedDB is unusable; it never throws into the page.
 */
export async function openDeltaStore(
  kind: StorageKind = 'indexeddb',
  namespace = 'default',
): Promise<{ store: DeltaStore; warning: string | null }> {
  if (kind === 'memory') return { store: new MemoryDeltaStore(), warning: null };
  try {
    if (typeof globalThis.indexedDB === 'undefined' || globalThis.indexedDB === null) throw new Error('indexedDB is not defined');
    const store = await withTimeout(IndexedDbDeltaStore.open({ namespace }), 5000);
    return { store, warning: null };
  } catch (err) {
    const warning = `Clickwise: IndexedDB is unavailable (${err instanceof Error ? err.message : String(err)}); learning is kept in memory and will not survive a reload.`;
    console.warn(warning);
    return { store: new MemoryDeltaStore(undefined, [warning]), warning };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`opening the database took over ${ms} ms (blocked?)`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
