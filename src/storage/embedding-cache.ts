/**
 * The catalogue-vector cache in IndexedDB (`clickwise-embeddings`, shared by every namespace of
 * an origin: vectors depend on the model and the text, not on the shopper). Keys are
 * `<encoder version>:<sha256 of the item's text>`.
 *
 * Several encoder versions can be in use on one origin at once (an A/B test of two model
 * versions, a rollout), so a version's vectors are kept while it is in use: each version records
 * when it was last used, and the vectors of versions unused for {@link VERSION_TTL_MS} are
 * dropped the next time any version writes.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
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
const CHUNK = 1000;

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
    // In slices of CHUNK keys, one transaction each: issuing 100,000 requests (and receiving
    // their results) at once holds the page for over a second.
    const out: (Float32Array | undefined)[] = [];
    for (let start = 0; start < keys.length; start += CHUNK) {
      const tx = this.db.transaction('vectors', 'readonly');
      const part = await Promise.all(keys.slice(start, start + CHUNK).map((k) => tx.store.get(k)));
      await tx.done;
      for (const v of part) out.push(v);
      if (start + CHUNK < keys.length) await nextTask();
    }
    // Mark the version as in use, so that another version's writes do not evict it.
    const versions = [...new Set(keys.map(versionOf))];
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
      const tx = this.db.transaction(['vectors', 'versions'], 'readwrite', { durability: 'relaxed' });
      const vectors = tx.objectStore('vectors');
      await Promise.all([
        tx.objectStore('versions').put(now, version),
        ...entries.slice(start, start + CHUNK).map(([k, v]) => vectors.put(v, k)),
        tx.done,
      ]);
      if (start + CHUNK < entries.length) await nextTask();
    }
  }

  close(): void {
    this.db.close();
  }
}
