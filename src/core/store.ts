/**
 * Where a shopper's learning is kept. The core defines the interface and an in-memory store; the
 * IndexedDB store lives in `src/storage`. The recommender never writes φ directly: it appends
 * events, learns them in sequence order, and now and then saves a snapshot that lets the store
 * drop the events it covers (compaction). Replaying the events after a snapshot always rebuilds
 * the same φ, so a lost snapshot costs time, never correctness.
 */
import type { HeadState } from './head.js';

/** Events kept after compaction so that φ can be replayed onto a new base. */
export const DEFAULT_KEEP_EVENTS = 500;

/** One learning event as stored. `seq` is assigned by the store, gap-free and increasing. */
export interface StoredEvent {
  seq: number;
  type: 'click';
  itemId: string;
  /** Milliseconds since epoch. */
  t: number;
  /** Items shown but not clicked before this click. */
  impressions: string[];
  /**
   * The top of the page's ranking before this click, best first, the clicked item left out
   * (`LearnInput.ranked`). Missing in events stored before it was kept: those learn without it.
   */
  ranked?: string[];
}

/** An event's own copy: its lists are not shared with the caller's. */
export function copyEvent<E extends Omit<StoredEvent, 'seq'>>(event: E): E {
  return { ...event, impressions: [...event.impressions], ...(event.ranked ? { ranked: [...event.ranked] } : {}) };
}

/** A snapshot of φ covering every event up to and including `seq`. */
export interface StoredSnapshot {
  seq: number;
  /** The model version φ was learned against. */
  modelVersion: string;
  state: HeadState;
  savedAt: number;
}

/** Everything a store holds for one shopper. */
export interface StoredState {
  snapshot: StoredSnapshot | null;
  /** The retained event log, in `seq` order: every event after the snapshot, plus up to
   * `keepEvents` older ones kept so that φ can be rebuilt on a new, incompatible base. */
  events: StoredEvent[];
}

/** A change made by another tab. */
export type RemoteChange = { type: 'append'; seq: number } | { type: 'reset' };

/** Largest sequence number a store hands out; anything above is treated as corrupt. */
export const MAX_SEQ = 2 ** 40;

/** Something worth telling the page about, but never worth throwing into it. */
export interface StoreWarning {
  code: string;
  message: string;
}

/** Persistence of one shopper's learning. */
export interface DeltaStore {
  /** `'indexeddb'` or `'memory'` (also after a fallback). */
  readonly kind: 'indexeddb' | 'memory';
  /** Reads the snapshot and the events after it. */
  load(): Promise<StoredState>;
  /** Events with `seq` greater than `afterSeq`, in order. */
  eventsAfter(afterSeq: number): Promise<StoredState>;
  /** Appends one event; resolves with its `seq` once it is stored (the click is then acknowledged). */
  append(event: Omit<StoredEvent, 'seq'>): Promise<StoredEvent>;
  /** Stores a snapshot and drops the events it covers, except the last `keepEvents`. */
  saveSnapshot(snapshot: StoredSnapshot): Promise<void>;
  /** Forgets everything for this shopper (in every tab). */
  clear(): Promise<void>;
  /** Listens to changes made by other tabs. Returns an unsubscribe function. */
  subscribe(listener: (change: RemoteChange) => void): () => void;
  /** Listens to storage warnings (fallbacks, records set aside). */
  onWarning(listener: (w: StoreWarning) => void): () => void;
  /** Counts of what the store has set aside or worked around. */
  health(): { quarantined: number; warnings: string[] };
  close(): void;
}

/** A store that lives as long as the page: the fallback, and the default in Node. */
export class MemoryDeltaStore implements DeltaStore {
  readonly kind = 'memory' as const;
  private readonly warnings: string[];
  private snapshot: StoredSnapshot | null = null;
  private events: StoredEvent[] = [];
  private nextSeq: number;
  /**
   * @param keepEvents events kept after compaction, for replay onto a new base.
   * @param warnings why this store is in memory, if it is a fallback (shown in `stats()`).
   * @param firstSeq the first sequence number to hand out. A fallback continues after the last
   *   number the failed store handed out, so that a recommender that has learned up to there
   *   learns the next clicks instead of taking them for ones it has seen.
   */
  constructor(
    private readonly keepEvents = DEFAULT_KEEP_EVENTS,
    warnings: string[] = [],
    firstSeq = 1,
  ) {
    this.warnings = [...warnings];
    this.nextSeq = firstSeq;
  }

  async load(): Promise<StoredState> {
    return { snapshot: this.snapshot ? structuredClone(this.snapshot) : null, events: this.events.map((e) => ({ ...e })) };
  }

  async eventsAfter(afterSeq: number): Promise<StoredState> {
    const all = await this.load();
    return { snapshot: all.snapshot, events: all.events.filter((e) => e.seq > afterSeq) };
  }

  async append(event: Omit<StoredEvent, 'seq'>): Promise<StoredEvent> {
    const stored: StoredEvent = { ...copyEvent(event), seq: this.nextSeq++ };
    this.events.push(stored);
    return { ...stored };
  }

  async saveSnapshot(snapshot: StoredSnapshot): Promise<void> {
    this.snapshot = structuredClone(snapshot);
    this.events = this.events.filter((e) => e.seq > snapshot.seq - this.keepEvents);
  }

  async clear(): Promise<void> {
    this.snapshot = null;
    this.events = [];
    this.nextSeq = 1;
  }

  subscribe(): () => void {
    return () => undefined;
  }

  onWarning(): () => void {
    return () => undefined;
  }

  health(): { quarantined: number; warnings: string[] } {
    return { quarantined: 0, warnings: [...this.warnings] };
  }

  close(): void {}
}
