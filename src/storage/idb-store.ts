/**
 * The IndexedDB `DeltaStore`, through `idb`.
 *
 * Layout (one database per namespace, `clickwise:<namespace>`):
 * - `events`: the append-only log, key `seq`. A click is acknowledged once its transaction has
 *   committed with `durability: 'strict'`: acknowledged clicks are few and must survive a crash.
 * - `meta`: the sequence counter (bumped in the same transaction as the event, so two tabs can
 *   never take the same `seq`: IndexedDB runs overlapping read-write transactions one at a time).
 * - `snapshots`: the latest snapshot of φ. Written with `durability: 'relaxed'`: a lost snapshot
 *   is rebuilt from the log, so it is not worth a disk flush.
 * - `quarantine`: records that failed validation, set aside (never deleted silently).
 *
 * Every record carries a schema version and a checksum of its payload. Records that are
 * corrupt, truncated, of an unknown schema or from a newer version are moved to quarantine and
 * reported; the shopper continues from the last good state.
 *
 * Tabs: a BroadcastChannel tells the other tabs of the namespace that the log grew or was reset;
 * each tab then reads the new events and learns them in `seq` order, so all reach the same φ.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
import type { DeltaStore, RemoteChange, StoredEvent, StoredSnapshot, StoredState, StoreWarning } from '../core/index.js';
import { DEFAULT_KEEP_EVENTS, fnv1a, MemoryDeltaStore } from '../core/index.js';

/** Schema version of the records this code writes. */
export const RECORD_VERSION = 1;
/** IndexedDB database version (bumped with each migration below). */
export const DB_VERSION = 1;

/** A stored record: a payload with its schema version and checksum. */
export interface Envelope<T> {
  v: number;
  crc: number;
  body: T;
}

/** The typed schema. */
export interface ClickwiseDB extends DBSchema {
  events: { key: number; value: Envelope<StoredEvent> & { seq: number } };
  snapshots: { key: string; value: Envelope<StoredSnapshot> };
  meta: { key: string; value: number };
  quarantine: { key: number; value: { store: string; key: string; reason: string; record: unknown; at: number } };
}

/** Checksum of a payload: FNV-1a of its JSON. */
export function checksum(body: unknown): number {
  return fnv1a(JSON.stringify(body));
}

function envelope<T>(body: T): Envelope<T> {
  return { v: RECORD_VERSION, crc: checksum(body), body };
}

/** Why a record is unusable, or null when it is fine. */
export function validateEnvelope(rec: unknown, kind: 'event' | 'snapshot'): string | null {
  if (typeof rec !== 'object' || rec === null) return 'not an object';
  const r = rec as Partial<Envelope<unknown>>;
  if (typeof r.v !== 'number') return 'no schema version';
  if (r.v > RECORD_VERSION) return `written by a newer version (schema ${r.v} > ${RECORD_VERSION})`;
  if (r.v !== RECORD_VERSION) return `unknown schema version ${r.v}`;
  if (typeof r.crc !== 'number' || r.body === undefined) return 'truncated';
  if (checksum(r.body) !== r.crc) return 'checksum mismatch';
  const b = r.body as Record<string, unknown>;
  if (kind === 'event') {
    if (typeof b['seq'] !== 'number' || typeof b['itemId'] !== 'string' || typeof b['t'] !== 'number' || !Array.isArray(b['impressions'])) {
      return 'malformed event';
    }
  } else {
    const st = b['state'] as Record<string, unknown> | undefined;
    if (typeof b['seq'] !== 'number' || typeof b['modelVersion'] !== 'string' || !st || !Array.isArray(st['dW']))
      return 'malformed snapshot';
  }
  return null;
}

/** Upgrades the database from `oldVersion`. Each step is idempotent. */
export function migrate(db: IDBPDatabase<ClickwiseDB>, oldVersion: number): void {
  if (oldVersion < 1) {
    db.createObjectStore('events');
    db.createObjectStore('snapshots');
    db.createObjectStore('meta');
    db.createObjectStore('quarantine', { autoIncrement: true });
  }
}

/** Options of {@link openIndexedDbStore}. */
export interface IndexedDbStoreOptions {
  namespace?: string;
  keepEvents?: number;
}

function isQuotaError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'QuotaExceededError' || /quota/i.test(err.message));
}

/** The IndexedDB store. Use {@link openDeltaStore} to get one with the memory fallback. */
export class IndexedDbDeltaStore implements DeltaStore {
  private readonly channel: BroadcastChannel | null;
  private readonly listeners = new Set<(c: RemoteChange) => void>();
  private readonly warnListeners = new Set<(w: StoreWarning) => void>();
  private quarantined = 0;
  private readonly warnings: string[] = [];
  /** Set once the database failed for good: the store then runs in memory. */
  private fallback: MemoryDeltaStore | null = null;

  private constructor(
    private readonly db: IDBPDatabase<ClickwiseDB>,
    readonly name: string,
    private readonly keepEvents: number,
  ) {
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    this.channel?.addEventListener('message', (ev: MessageEvent<RemoteChange>) => {
      for (const l of this.listeners) l(ev.data);
    });
  }

  /** Opens (and migrates) the database of a namespace. Throws if IndexedDB is unusable. */
  static async open(options: IndexedDbStoreOptions = {}): Promise<IndexedDbDeltaStore> {
    const name = `clickwise:${options.namespace ?? 'default'}`;
    if (!globalThis.indexedDB) throw new Error('IndexedDB is not available');
    const db = await openDB<ClickwiseDB>(name, DB_VERSION, {
      upgrade(database, oldVersion) {
        migrate(database, oldVersion);
      },
      blocked() {
        /* an older tab holds the database open; it will close on versionchange */
      },
    });
    db.addEventListener('versionchange', () => db.close());
    return new IndexedDbDeltaStore(db, name, options.keepEvents ?? DEFAULT_KEEP_EVENTS);
  }

  private warn(code: string, message: string): void {
    this.warnings.push(message);
    for (const l of this.warnListeners) l({ code, message });
  }

  private toMemory(reason: string): MemoryDeltaStore {
    if (!this.fallback) {
      this.fallback = new MemoryDeltaStore(this.keepEvents);
      this.warn('store/fallback', `IndexedDB failed (${reason}); learning continues in memory for this page.`);
    }
    return this.fallback;
  }

  /** `'indexeddb'`, or `'memory'` once the database has failed and the store fell back. */
  get kind(): 'indexeddb' | 'memory' {
    return this.fallback ? 'memory' : 'indexeddb';
  }

  private async quarantine(store: 'events' | 'snapshots', key: number | string, reason: string, record: unknown): Promise<void> {
    this.quarantined++;
    this.warn('store/quarantine', `A stored ${store === 'events' ? 'event' : 'snapshot'} (${String(key)}) was set aside: ${reason}.`);
    const tx = this.db.transaction([store, 'quarantine'], 'readwrite');
    await Promise.all([
      tx.objectStore('quarantine').add({ store, key: String(key), reason, record, at: Date.now() }),
      store === 'events' ? tx.objectStore('events').delete(key as number) : tx.objectStore('snapshots').delete(key as string),
      tx.done,
    ]);
  }

  async load(): Promise<StoredState> {
    return this.eventsAfter(Number.NEGATIVE_INFINITY);
  }

  async eventsAfter(afterSeq: number): Promise<StoredState> {
    if (this.fallback) return this.fallback.eventsAfter(afterSeq);
    const tx = this.db.transaction(['events', 'snapshots'], 'readonly');
    const range = Number.isFinite(afterSeq) ? IDBKeyRange.lowerBound(afterSeq, true) : undefined;
    const [keys, values, snapRec] = await Promise.all([
      tx.objectStore('events').getAllKeys(range),
      tx.objectStore('events').getAll(range),
      tx.objectStore('snapshots').get('current'),
      tx.done,
    ]);
    let snapshot: StoredSnapshot | null = null;
    if (snapRec !== undefined) {
      const bad = validateEnvelope(snapRec, 'snapshot');
      if (bad) await this.quarantine('snapshots', 'current', bad, snapRec);
      else snapshot = snapRec.body;
    }
    const events: StoredEvent[] = [];
    for (let i = 0; i < values.length; i++) {
      const rec = values[i];
      const bad = validateEnvelope(rec, 'event') ?? (rec && rec.body.seq !== keys[i] ? 'key and seq differ' : null);
      if (bad) await this.quarantine('events', keys[i]!, bad, rec);
      else events.push(rec!.body);
    }
    return { snapshot, events };
  }

  async append(event: Omit<StoredEvent, 'seq'>): Promise<StoredEvent> {
    if (this.fallback) return this.fallback.append(event);
    try {
      return await this.appendOnce(event);
    } catch (err) {
      if (isQuotaError(err)) {
        // Compact what we can, then try once more before giving up on the disk.
        try {
          await this.compact();
          return await this.appendOnce(event);
        } catch {
          return this.toMemory('storage quota exceeded').append(event);
        }
      }
      return this.toMemory(String(err)).append(event);
    }
  }

  private async appendOnce(event: Omit<StoredEvent, 'seq'>): Promise<StoredEvent> {
    const tx = this.db.transaction(['events', 'meta'], 'readwrite', { durability: 'strict' });
    const meta = tx.objectStore('meta');
    const seq = ((await meta.get('seq')) ?? 0) + 1;
    const stored: StoredEvent = { ...event, impressions: [...event.impressions], seq };
    await Promise.all([meta.put(seq, 'seq'), tx.objectStore('events').put({ ...envelope(stored), seq }, seq), tx.done]);
    this.channel?.postMessage({ type: 'append', seq } satisfies RemoteChange);
    return stored;
  }

  /** Drops every event the snapshot covers, keeping none for replay (used under quota pressure). */
  private async compact(): Promise<void> {
    const snap = await this.db.get('snapshots', 'current');
    if (!snap || validateEnvelope(snap, 'snapshot')) return;
    await this.db.delete('events', IDBKeyRange.upperBound(snap.body.seq));
    await this.db.clear('quarantine');
  }

  async saveSnapshot(snapshot: StoredSnapshot): Promise<void> {
    if (this.fallback) return this.fallback.saveSnapshot(snapshot);
    try {
      const tx = this.db.transaction(['snapshots', 'events'], 'readwrite', { durability: 'relaxed' });
      const current = await tx.objectStore('snapshots').get('current');
      // Another tab may have saved a later snapshot already; never go back.
      if (current && !validateEnvelope(current, 'snapshot') && current.body.seq >= snapshot.seq) {
        await tx.done;
        return;
      }
      await Promise.all([
        tx.objectStore('snapshots').put(envelope(snapshot), 'current'),
        tx.objectStore('events').delete(IDBKeyRange.upperBound(snapshot.seq - this.keepEvents)),
        tx.done,
      ]);
    } catch (err) {
      if (isQuotaError(err)) await this.compact().catch(() => undefined);
      this.warn('store/snapshot', `Could not save a snapshot (${String(err)}); the event log still holds every click.`);
    }
  }

  async clear(): Promise<void> {
    if (this.fallback) await this.fallback.clear();
    try {
      const tx = this.db.transaction(['events', 'snapshots', 'meta', 'quarantine'], 'readwrite', { durability: 'strict' });
      await Promise.all([
        tx.objectStore('events').clear(),
        tx.objectStore('snapshots').clear(),
        tx.objectStore('meta').clear(),
        tx.objectStore('quarantine').clear(),
        tx.done,
      ]);
    } catch (err) {
      this.warn('store/clear', `Could not clear IndexedDB (${String(err)}).`);
    }
    this.channel?.postMessage({ type: 'reset' } satisfies RemoteChange);
  }

  subscribe(listener: (change: RemoteChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onWarning(listener: (w: StoreWarning) => void): () => void {
    this.warnListeners.add(listener);
    return () => this.warnListeners.delete(listener);
  }

  health(): { quarantined: number; warnings: string[] } {
    return { quarantined: this.quarantined, warnings: [...this.warnings] };
  }

  close(): void {
    this.channel?.close();
    this.listeners.clear();
    this.warnListeners.clear();
    this.db.close();
  }
}
