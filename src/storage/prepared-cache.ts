/**
 * The prepared-catalogue cache in IndexedDB (`clickwise-prepared`, shared by every namespace of
 * an origin: what it holds depends on the catalogue file and the model, not on the shopper).
 * One entry per catalogue location; the {@link MAX_ENTRIES} most recently used are kept (a shop
 * that versions its catalogue URL would otherwise collect one entry per release).
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
import type { PreparedCache, PreparedEntry } from '../core/index.js';
import { nextTask } from '../core/index.js';

/** Catalogue locations kept. */
export const MAX_ENTRIES = 3;

interface PreparedDB extends DBSchema {
  entries: { key: string; value: PreparedEntry };
  /** Location → when a page last used its entry (ms since epoch). */
  used: { key: string; value: number };
}

/** IndexedDB-backed {@link PreparedCache}. */
export class IndexedDbPreparedCache implements PreparedCache {
  private readonly pending = new Set<Promise<unknown>>();
  private closing = false;
  private constructor(
    private readonly db: IDBPDatabase<PreparedDB>,
    private readonly now: () => number,
  ) {}

  /** @param now the clock (tests move it forward). */
  static async open(now: () => number = Date.now): Promise<IndexedDbPreparedCache> {
    const db = await openDB<PreparedDB>('clickwise-prepared', 1, {
      upgrade(database) {
        database.createObjectStore('entries');
        database.createObjectStore('used');
      },
    });
    db.addEventListener('versionchange', () => db.close());
    return new IndexedDbPreparedCache(db, now);
  }

  async get(location: string): Promise<PreparedEntry | undefined> {
    const entry = await this.db.get('entries', location);
    if (entry) this.track(this.db.put('used', this.now(), location));
    return entry;
  }

  put(location: string, entry: PreparedEntry): Promise<void> {
    if (this.closing) return Promise.reject(new Error('the prepared cache is closed'));
    // Written in a task of its own (copying the entry into the database is a few ms per 100,000
    // items); a close() meanwhile waits for it.
    const done = nextTask().then(() => this.write(location, entry));
    this.track(done);
    return done;
  }

  private async write(location: string, entry: PreparedEntry): Promise<void> {
    const tx = this.db.transaction(['entries', 'used'], 'readwrite', { durability: 'relaxed' });
    const used = tx.objectStore('used');
    const entries = tx.objectStore('entries');
    await entries.put(entry, location);
    await used.put(this.now(), location);
    const all: [string, number][] = [];
    for await (const c of used.iterate()) all.push([c.key, c.value]);
    // Locations without a use time sort last (dropped first).
    for (const key of await entries.getAllKeys()) if (!all.some(([k]) => k === key)) all.push([key, -1]);
    all.sort((a, b) => b[1] - a[1]);
    for (const [key] of all.slice(MAX_ENTRIES)) {
      await entries.delete(key);
      await used.delete(key);
    }
    await tx.done;
  }

  /** Closes the database once the writes under way are done. */
  close(): void {
    this.closing = true;
    void Promise.allSettled([...this.pending]).then(() => this.db.close());
  }

  private track(p: Promise<unknown>): void {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }
}
