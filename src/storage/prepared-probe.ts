/**
 * Whether the prepared-catalogue cache (`prepared-cache.ts`) may hold an entry for a catalogue:
 * the storefront tag asks before its runtime has loaded, to know a first visit (nothing saved:
 * the catalogue's worker can take the file at once). Plain IndexedDB, no library: it runs in
 * the tag's own small script. It never creates the database, which would stop the cache's own
 * upgrade from making its stores.
 */

/** The cache's database and its store of entry headers (keyed by the catalogue's location). */
export const PREPARED_DB = 'clickwise-prepared';
export const HEADERS_STORE = 'headers';

/**
 * False where nothing is saved for `location` (no database, no header, or no IndexedDB the page
 * could use), true where a header is there, or where it cannot be read.
 */
export function mayHavePrepared(location: string): Promise<boolean> {
  return new Promise((resolve) => {
    let idb: IDBFactory | undefined;
    try {
      idb = globalThis.indexedDB;
    } catch {
      idb = undefined; // a sandboxed frame can throw on the access
    }
    if (!idb) return resolve(false);
    let req: IDBOpenDBRequest;
    try {
      req = idb.open(PREPARED_DB);
    } catch {
      return resolve(false); // storage denied: the page will keep nothing either
    }
    req.onupgradeneeded = () => {
      // No such database: made here, it would be an empty version 1. Abandoned instead.
      req.transaction?.abort();
    };
    // Abandoned, or not to be opened: the page's own cache cannot open it either.
    req.onerror = () => resolve(false);
    req.onsuccess = () => {
      const db = req.result;
      try {
        if (!db.objectStoreNames.contains(HEADERS_STORE)) return resolve(false);
        const get = db.transaction(HEADERS_STORE, 'readonly').objectStore(HEADERS_STORE).getKey(location);
        get.onsuccess = () => resolve(get.result !== undefined);
        get.onerror = () => resolve(true);
      } catch {
        resolve(true);
      } finally {
        db.close();
      }
    };
  });
}
