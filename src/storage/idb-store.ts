/**
 * The IndexedDB `DeltaStore`, through `idb`.
 *
 * Layout (one database per namespace, `clickwise:<namespace>`):
 * - `events`: the append-only log, key `seq`. A click is acknowledged once its transaction has
 *   committed with `durability: 'strict'`: acknowledged clicks are few and must survive a crash.
 * - `meta`: the sequence counter `seq` (bumped in the same transaction as the event, so two tabs
 *   can never take the same `seq`: IndexedDB runs overlapping read-write transactions one at a
 *   time), and `generation`, a random token renewed by every reset. The counter is checked on
 *   every append against the newest stored event, so a corrupt counter is repaired, never used.
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
 * Messages are only hints: a reset is believed only when the database's generation really
 * changed, so a stray same-origin message cannot wipe a shopper's learning.
 */
import type { DBSchema, IDBPDatabase } from 'idb';
import { openDB } from 'idb';
import type { DeltaStore, RemoteChange, StoredEvent, StoredSnapshot, StoredState, StoreWarning } from '../core/index.js';
import { copyEvent, DEFAULT_KEEP_EVENTS, fnv1a, MAX_SEQ, MemoryDeltaStore } from '../core/index.js';

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
  meta: { key: string; value: number | string };
  quarantine: { key: number; value: { store: string; key: string; reason: string; record: unknown; at: number } };
}

/** Checksum of a payload: FNV-1a of its JSON. */
export function checksum(body: unknown): number {
  return fnv1a(JSON.stringify(body));
}

function envelope<T>(body: T): Envelope<T> {
  return { v: RECORD_VERSION, crc: checksum(body), body };
}

const isSeq = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x < MAX_SEQ;

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
    if (b['ranked'] !== undefined && !(Array.isArray(b['ranked']) && b['ranked'].every((x) => typeof x === 'string')))
      return 'malformed event';
    if (!isSeq(b['seq'])) return `sequence number ${b['seq']} out of range`;
  } else {
    const st = b['state'] as Record<string, unknown> | undefined;
    if (typeof b['seq'] !== 'number' || typeof b['modelVersion'] !== 'string' || !st || !Array.isArray(st['dW']))
      return 'malformed snapshot';
    if (!isSeq(b['seq'])) return `sequence number ${b['seq']} out of range`;
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

/** A message from another tab, or null when it is not one of ours. */
function parseMessage(data: unknown): { type: 'append'; seq: number } | { type: 'reset'; generation: string } | null {
  if (typeof data !== 'object' || data === null) return null;
  const m = data as Record<string, unknown>;
  if (m['type'] === 'append' && isSeq(m['seq'])) return { type: 'append', seq: m['seq'] };
  if (m['type'] === 'reset' && typeof m['generation'] === 'string') return { type: 'reset', generation: m['generation'] };
  return null;
}

const newGeneration = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

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
  /** The largest `seq` this store has handed out or read: a fallback continues after it. */
  private maxSeq = 0;
  /** The database's generation as this tab knows it (renewed by every reset). */
  private generation: string | null = null;
  private seqRepaired = false;

  private constructor(
    private readonly db: IDBPDatabase<ClickwiseDB>,
    readonly name: string,
    private readonly keepEvents: number,
  ) {
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(name) : null;
    this.channel?.addEventListener('message', (ev: MessageEvent<unknown>) => {
      const m = parseMessage(ev.data);
      if (!m) return; // not ours, or malformed: never throw into the page
      if (m.type === 'append') this.emit({ type: 'append', seq: m.seq });
      else void this.onResetMessage(m.generation);
    });
  }

  private emit(change: RemoteChange): void {
    for (const l of this.listeners) l(change);
  }

  /** Believes a reset only if the database says so: its generation changed to the one announced. */
  private async onResetMessage(generation: string): Promise<void> {
    if (this.fallback || generation === this.generation) return;
    try {
      const stored = await this.db.get('meta', 'generation');
      if (stored !== generation) return;
      this.generation = generation;
      this.maxSeq = 0;
      this.emit({ type: 'reset' });
    } catch {
      /* the database is gone: the next append falls back to memory and says so */
    }
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
    const store = new IndexedDbDeltaStore(db, name, options.keepEvents ?? DEFAULT_KEEP_EVENTS);
    const generation = await db.get('meta', 'generation');
    store.generation = typeof generation === 'string' ? generation : null;
    return store;
  }

  private warn(code: string, message: string): void {
    this.warnings.push(message);
    for (const l of this.warnListeners) l({ code, message });
  }

  private toMemory(reason: string): MemoryDeltaStore {
    if (!this.fallback) {
      this.fallback = new MemoryDeltaStore(this.keepEvents, [], this.maxSeq + 1);
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
    try {
      return await this.readAfter(afterSeq);
    } catch (err) {
      // The database was closed or deleted under us: continue in memory (after the last seq seen).
      return this.toMemory(String(err)).eventsAfter(afterSeq);
    }
  }

  private async readAfter(afterSeq: number): Promise<StoredState> {
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
      const bad =
        validateEnvelope(rec, 'event') ??
        (rec && rec.body.seq !== keys[i] ? 'key and seq differ' : null) ??
        (rec && !isSeq(rec.body.seq) ? `sequence number ${String(rec.body.seq)} out of range` : null);
      if (bad) await this.quarantine('events', keys[i]!, bad, rec);
      else {
        events.push(rec!.body);
        this.maxSeq = Math.max(this.maxSeq, rec!.body.seq);
      }
    }
    if (snapshot) this.maxSeq = Math.max(this.maxSeq, snapshot.seq);
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
    const events = tx.objectStore('events');
    // The counter, checked against the newest stored event: a counter that is missing, corrupt
    // (a string, negative, past MAX_SEQ) or behind the log must never overwrite or hide an event.
    const [raw, newest] = await Promise.all([meta.get('seq'), events.openKeyCursor(IDBKeyRange.upperBound(MAX_SEQ, true), 'prev')]);
    const top = newest && isSeq(newest.key) ? newest.key : 0;
    if (raw !== undefined && !isSeq(raw) && !this.seqRepaired) {
      this.seqRepaired = true;
      this.warn('store/seq-repaired', `The stored click counter was corrupt (${JSON.stringify(raw)}); it was rebuilt from the event log.`);
    }
    const seq = Math.max(isSeq(raw) ? raw : 0, top) + 1;
    const stored: StoredEvent = { ...copyEvent(event), seq };
    await Promise.all([meta.put(seq, 'seq'), events.put({ ...envelope(stored), seq }, seq), tx.done]);
    this.maxSeq = Math.max(this.maxSeq, seq);
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
      const tx = this.db.transaction(['snapshots', 'events', 'meta'], 'readwrite', { durability: 'relaxed' });
      const [current, generation] = await Promise.all([
        tx.objectStore('snapshots').get('current'),
        tx.objectStore('meta').get('generation'),
      ]);
      // Another tab may have saved a later snapshot already; never go back. And a tab that has
      // not yet heard of a reset made elsewhere must not write back what was forgotten.
      const resetElsewhere = (typeof generation === 'string' ? generation : null) !== this.generation;
      if (resetElsewhere || (current && !validateEnvelope(current, 'snapshot') && current.body.seq >= snapshot.seq)) {
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
    this.maxSeq = 0;
    if (this.fallback) {
      await this.fallback.clear();
      return;
    }
    const generation = newGeneration();
    try {
      const tx = this.db.transaction(['events', 'snapshots', 'meta', 'quarantine'], 'readwrite', { durability: 'strict' });
      const meta = tx.objectStore('meta');
      await Promise.all([
        tx.objectStore('events').clear(),
        tx.objectStore('snapshots').clear(),
        meta.clear().then(() => meta.put(generation, 'generation')),
        tx.objectStore('quarantine').clear(),
        tx.done,
      ]);
      this.generation = generation;
      this.channel?.postMessage({ type: 'reset', generation });
    } catch (err) {
      // Forgetting must not fail silently: the page is told, and what is on disk is not used again.
      this.warn('store/clear', `Could not clear IndexedDB (${String(err)}); the shopper's learning may still be on disk.`);
      this.toMemory(String(err));
      throw err;
    }
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
