/**
 * The catalogue-vector cache in IndexedDB (`clickwise-embeddings`, shared by every namespace of
 * an origin: vectors depend on the model and the text, not on the shopper). Keys are
 * `<encoder version>:<64-bit hash of the item's text, 16 hex digits>` (see `itemKeys` in core).
 *
 * Several encoder versions can be in use on one origin at once (an A/B test of two model
 * versions, a rollout), so a version's vectors are kept while it is in use: each version records
 * when it was last used, and the vectors of versions unused for {@link VERSION_TTL_MS} are
 * dropped the next time any version writes.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB, unwrap } from 'idb';
import type { EmbeddingCache } from '../core/index.js';
import { nextTask } from '../core/index.js';

/** A version's vectors are dropped after this long without use (30 days). */
export const VERSION_TTL_MS = 30 * 24 * 3600 * 1000;

interface EmbeddingDB extends DBSchema {
  vectors: { key: string; value: Float32Array };
  /** Encoder version → when a page last used it (ms since epoch). */
  versions: { key: string; value: number };
}

/** Keys per transaction. */
const CHUNK = 250;

const versionOf = (key: string): string => key.slice(0, key.indexOf(':'));
const rangeOf = (version: string): IDBKeyRange => IDBKeyRange.bound(`${version}:`, `${version}:\uffff`);

/** IndexedDB-backed {@link EmbeddingCache}. */
export class IndexedDbEmbeddingCache implements EmbeddingCache {
  private pruned = false;
  private constructor(
    private readonly db: IDBPDatabase<EmbeddingDB>,
    private readonly now: () => number,
  ) {}

  /** @param now the clock (tests move it forward). */
  static async open(now: () => number = Date.now): Promise<IndexedDbEmbeddingCache> {
    const db = await openDB<EmbeddingDB>('clickwise-embeddings', 2, {
      upgrade(database, oldVersion) {
        if (oldVersion < 1) database.createObjectStore('vectors');
        if (oldVersion < 2) database.createObjectStore('versions');
      },
    });
    db.addEventListener('versionchange', () => db.close());
    return new IndexedDbEmbeddingCache(db, now);
  }

  async get(keys: readonly string[]): Promise<(Float32Array | undefined)[]> {
    const out = new Array<Float32Array | undefined>(keys.length);
    const versions = [...new Set(keys.map(versionOf))];
    // A version with nothing stored (every first visit) costs one count, not one read per item.
    const stored = await Promise.all(versions.map((v) => this.db.count('vectors', rangeOf(v))));
    if (stored.some((c) => c > 0)) {
      // In slices of CHUNK keys, one transaction each, with plain request callbacks: 100,000
      // promise-wrapped reads at once hold the page for seconds.
      for (let start = 0; start < keys.length; start += CHUNK) {
        const end = Math.min(keys.length, start + CHUNK);
        const store = unwrap(this.db.transaction('vectors', 'readonly').store);
        await new Promise<void>((resolve, reject) => {
          let left = end - start;
          for (let i = start; i < end; i++) {
            const req = store.get(keys[i]!);
            req.onsuccess = () => {
              out[i] = req.result as Float32Array | undefined;
              if (--left === 0) resolve();
            };
            req.onerror = () => reject(req.error ?? new Error('IndexedDB read failed'));
          }
        });
        if (end < keys.length) await nextTask();
      }
    }
    // Mark the version as in use, so that another version's writes do not evict it.
    if (versions.length) {
      const w = this.db.transaction('versions', 'readwrite', { durability: 'relaxed' });
      await Promise.all([...versions.map((v) => w.store.put(this.now(), v)), w.done]);
    }
    return out;
  }

  async put(entries: readonly [string, Float32Array][]): Promise<void> {
    if (entries.length === 0) return;
    const version = versionOf(entries[0]![0]);
    const now = this.now();
    if (!this.pruned) {
      this.pruned = true;
      const tx = this.db.transaction(['vectors', 'versions'], 'readwrite', { durability: 'relaxed' });
      const versions = tx.objectStore('versions');
      const vectors = tx.objectStore('vectors');
      for await (const cursor of versions.iterate()) {
        if (cursor.key !== version && now - cursor.value > VERSION_TTL_MS) {
          await vectors.delete(rangeOf(cursor.key));
          await cursor.delete();
        }
      }
      await tx.done;
    }
    // Relaxed durability: a lost vector is recomputed from the text. In slices, as in get().
    for (let start = 0; start < entries.length; start += CHUNK) {
      const end = Math.min(entries.length, start + CHUNK);
      const tx = this.db.transaction(['vectors', 'versions'], 'readwrite', { durability: 'relaxed' });
      const vectors = unwrap(tx.objectStore('vectors'));
      unwrap(tx.objectStore('versions')).put(now, version);
      // A copy of each vector alone: one given as a view would otherwise store its whole buffer.
      for (let i = start; i < end; i++) vectors.put(entries[i]![1].slice(), entries[i]![0]);
      await tx.done;
      if (end < entries.length) await nextTask();
    }
  }

  close(): void {
    this.db.close();
  }
}
