/**
 * The catalogue-vector cache in IndexedDB (`clickwise-embeddings`, shared by every namespace of
 * an origin: vectors depend on the model and the text, not on the shopper). Keys are
 * `<encoder version>:<sha256 of the item's text>`; entries of other encoder versions are dropped
 * the first time a new version writes.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
import type { EmbeddingCache } from '../core/index.js';

interface EmbeddingDB extends DBSchema {
  vectors: { key: string; value: Float32Array };
}

/** IndexedDB-backed {@link EmbeddingCache}. */
export class IndexedDbEmbeddingCache implements EmbeddingCache {
  private pruned = false;
  private constructor(private readonly db: IDBPDatabase<EmbeddingDB>) {}

  static async open(): Promise<IndexedDbEmbeddingCache> {
    const db = await openDB<EmbeddingDB>('clickwise-embeddings', 1, {
      upgrade(database, oldVersion) {
        if (oldVersion < 1) database.createObjectStore('vectors');
      },
    });
    db.addEventListener('versionchange', () => db.close());
    return new IndexedDbEmbeddingCache(db);
  }

  async get(keys: readonly string[]): Promise<(Float32Array | undefined)[]> {
    const tx = this.db.transaction('vectors', 'readonly');
    const out = await Promise.all(keys.map((k) => tx.store.get(k)));
    await tx.done;
    return out;
  }

  async put(entries: readonly [string, Float32Array][]): Promise<void> {
    if (entries.length === 0) return;
    const version = entries[0]![0].split(':')[0]!;
    // Relaxed durability: a lost vector is recomputed from the text.
    const tx = this.db.transaction('vectors', 'readwrite', { durability: 'relaxed' });
    if (!this.pruned) {
      this.pruned = true;
      for await (const cursor of tx.store.iterate()) if (!cursor.key.startsWith(`${version}:`)) await cursor.delete();
    }
    await Promise.all([...entries.map(([k, v]) => tx.store.put(v, k)), tx.done]);
  }

  close(): void {
    this.db.close();
  }
}
