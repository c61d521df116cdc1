/**
 * The shop's online job: learns the shop delta ψ from every event of the shop's stream (see
 * src/core/shop-delta.ts) and publishes it next to the model at a fixed interval.
 *
 * Events come from a growing CSV / NDJSON file (read to its end, then followed) and from
 * authenticated HTTP POSTs (server.ts). Either way an event is first made durable in the job's
 * own log (log.ts) and only then learned and acknowledged; events carry an id and an id seen
 * before is dropped. At start the job replays its log, so after a crash it is exactly where the
 * acknowledged events put it: from its last checkpoint (checkpoint.ts) where it has one that still
 * holds, so that only the log's lines after it are read again, else from the log's start.
 *
 * The job keeps a window of events (`keepDays`, 90 by default): now and then its log is rewritten
 * without the events before the window, and the ids it knows a retry by are those of the events
 * kept, so that neither, nor what a new base replays, grows with the job's age. An event from
 * before the window is not taken (it would be a retry the job no longer knows, or an event too
 * old to say what sells now).
 */
import { defaultFetcher } from '../../core/model-io.js';
import { nextTask, runSteps, runStepsInTurns, Slicer } from '../../core/slice.js';
import type { BaseParams } from '../../core/head.js';
import type { HeadModel } from '../../core/model.js';
import { alignBase, alignBaseSteps, itemListSha, loadHeadModel, loadModelManifest, recentFiguresOf } from '../../core/model.js';
import type { PublishedDelta, ShopLearner, ShopLearnerOptions } from '../../core/shop-delta.js';
import {
  carryOver,
  carryOverSteps,
  SHOP_STREAM_KEEP_DAYS,
  shopLearnerOnSteps,
  streamCompactionDue,
  streamWindowStart,
} from '../../core/shop-delta.js';
import { type DateOrder, epochMs, parseTime } from '../data.js';
import type { LogLine, StreamEvent } from './log.js';
import { EventLog } from './log.js';
import { IdSet } from './id-set.js';
import type { CheckpointInput } from './checkpoint.js';
import {
  catalogSha,
  catalogShaSteps,
  readCheckpoint,
  sweepCheckpointLeftovers,
  writeCheckpoint,
  writeCheckpointInTurns,
} from './checkpoint.js';
import { publishDelta, readDeltaManifest } from './publish.js';

/** A problem with one input event: what is wrong and where. */
export class EventInputError extends Error {
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

/** Raw fields of an event as they arrive (file row or POSTed object). */
export interface RawEvent {
  id?: unknown;
  user_id?: unknown;
  item_id?: unknown;
  timestamp?: unknown;
  /** Optional: below 0 it is a return or a cancelled line, which is left out (it is no sale). */
  quantity?: unknown;
}

export interface StreamJobOptions {
  modelDir: string;
  /** Catalogue ids, in the order of the items file. */
  ids: readonly string[];
  stateDir: string;
  learner?: Partial<ShopLearnerOptions>;
  log?: (message: string) => void;
  /** The replay of the log at a start says how far it is after every this many events (default 1,000,000). */
  replayProgressEvents?: number;
  /**
   * Whether a start takes up the state folder's checkpoint where it holds (default true); false
   * replays the whole log, as a start without one does.
   */
  checkpoints?: boolean;
  /** Bytes of the log a rebase replays in one turn, between which the job takes events (default 256 KiB). */
  turnBytes?: number;
  /**
   * Days of events kept, before the newest (default `SHOP_STREAM_KEEP_DAYS`, 90; Infinity keeps
   * every one): older events are dropped from the log when it is compacted, and not taken.
   */
  keepDays?: number;
  /** The clock (ms), which bounds the window's end where an event claims a later time (default `Date.now`). */
  now?: () => number;
  /**
   * How the shop writes a date with the day or the month first in digits (01/10/2011), which
   * the job cannot tell from one event (`--date-order`); without it such a date is refused.
   */
  dates?: DateOrder | undefined;
}

/** What a publication wrote. */
export interface Published {
  seq: number;
  items: number;
  recentItems: number;
  gzipBytes: number;
}

/** What a publication publishes: a learner and what it was learned on, taken when it began. */
interface Publication {
  learner: ShopLearner;
  ids: readonly string[];
  head: HeadModel | null;
  baseVersion: string;
  events: number;
  newest: number | null;
}

/** What the shop's learner reads of a base aligned to the catalogue: no residuals, no transitions. */
const LEARNER_ONLY = { withResidual: false, withTransitions: false } as const;

/** The replay of the log at a start says how far it is after every this many events, by default. */
const REPLAY_PROGRESS_EVENTS = 1_000_000;

export class StreamJob {
  readonly modelDir: string;
  ids: readonly string[];
  private index: Map<string, number>;
  /** `catalogSha` of `ids`. */
  private catalogKey: string;
  private head: HeadModel | null = null;
  private eventLog!: EventLog;
  /**
   * Every event id the log holds, to drop a retry, as a 64-bit hash (`IdSet`): one `Set` holds at
   * most 16,777,216 entries, and tens of millions of ids as strings fill the JS heap.
   */
  private seen = new IdSet();
  /** The version the log's last base marker names (null before the first). */
  private lastMarker: string | null = null;
  private readonly stateDir: string;
  /**
   * Where the job's events file had been read to when the checkpoint the job started from was
   * written (`FileSource.position`), or null: a source takes up from there (`FileSource.resume`).
   */
  sourcePosition: unknown = null;
  private readonly learnerOptions: Partial<ShopLearnerOptions>;
  private readonly say: (m: string) => void;
  private learner!: ShopLearner;
  baseVersion = '';
  private seq = 0;
  private publishedEvents = -1;
  private publishedBase = '';
  /** What is under way in turns (a rebase's replay, or a compaction of the log), or null. */
  private work: string | null = null;
  /**
   * Events taken while a new catalogue is taken, learned once it is in place (null otherwise): the
   * learner does not change while what it learned is carried over a piece at a time.
   */
  private deferred: StreamEvent[] | null = null;
  /**
   * Items hashed, indexed, aligned, carried over or published in one turn of the work done in
   * turns (a new catalogue, a new base's learner, a delta): a few ms each at the default.
   */
  itemsPerTurn = 32_768;
  /** Bytes of the log replayed in one turn by a rebase (`TURN_BYTES` unless given). */
  private readonly turnBytes: number | undefined;
  /**
   * Changes to what the job learned or to its log (events, a rebase, a catalogue, a compaction),
   * counted, and their count when what the last checkpoint holds was taken: `unsaved` where they differ.
   */
  private changes = 0;
  private saved = 0;
  readonly keepDays: number;
  private readonly dates: DateOrder | undefined;
  private readonly now: () => number;
  /** The oldest and newest event times in the log (∞ and −∞ while it holds none). */
  private oldest = Infinity;
  private newest = -Infinity;
  /** Events from before the window, not taken. */
  tooOld = 0;
  /** Events the job knows: from its checkpoint, replayed from its log at the start, and taken since. */
  total = 0;
  /** Of `total`, those the start took from its checkpoint (0 where it replayed the whole log). */
  fromCheckpoint = 0;
  duplicates = 0;
  /** Returns (a quantity below 0) left out since the start, from both sources ({@link noteReturns}). */
  returns = 0;

  private constructor(o: StreamJobOptions) {
    this.modelDir = o.modelDir;
    this.ids = o.ids;
    this.index = new Map(o.ids.map((id, i) => [id, i]));
    this.catalogKey = catalogSha(o.ids);
    this.learnerOptions = o.learner ?? {};
    this.say = o.log ?? (() => undefined);
    this.stateDir = o.stateDir;
    this.turnBytes = o.turnBytes;
    this.keepDays = o.keepDays ?? SHOP_STREAM_KEEP_DAYS;
    this.dates = o.dates;
    if (!(this.keepDays > 0)) throw new RangeError(`keepDays must be a number of days > 0 (or Infinity), got ${this.keepDays}.`);
    this.now = o.now ?? Date.now;
  }

  /**
   * Loads the base, takes up the checkpoint where it holds, then opens the log and replays it (from
   * the checkpoint's byte, else from its start) as it is read (one pass, whose lines are not kept),
   * and marks a new base in the log if it changed.
   */
  static async open(o: StreamJobOptions): Promise<StreamJob> {
    const job = new StreamJob(o);
    const every = o.replayProgressEvents ?? REPLAY_PROGRESS_EVENTS;
    if (!Number.isInteger(every) || every < 1)
      throw new RangeError(`replayProgressEvents must be a whole number, 1 or more, got ${every}.`);
    const manifest = await loadModelManifest(defaultFetcher, job.modelDir);
    const head = await loadHeadModel(defaultFetcher, `${job.modelDir}/${manifest.head}`, { withResidual: false });
    job.head = head;
    const learner = job.learnerOn(alignBase(head, job.ids, LEARNER_ONLY));
    sweepCheckpointLeftovers(o.stateDir);
    const from = o.checkpoints === false ? 0 : job.takeCheckpoint(learner, manifest.version);
    const { log, torn } = EventLog.open(
      o.stateDir,
      (line) => {
        job.learnLine(learner, line);
        if (line.kind === 'base') job.lastMarker = line.version;
        else {
          job.seen.add(line.event.id);
          job.sawTime(line.event.t);
          // A long log (a busy shop's months) says how far its replay is.
          if (++job.total % every === 0) job.say(`replaying ${o.stateDir}: ${job.total} events so far`);
        }
      },
      undefined,
      from,
    );
    job.eventLog = log;
    job.learner = learner;
    if (torn > 0) job.say(`cut a torn last line of ${torn} bytes off ${log.path} (it was never acknowledged)`);
    job.markBase(manifest.version, job.lastMarker);
    return job;
  }

  /**
   * Takes up the state folder's checkpoint into `learner` and the job where it holds for the base
   * `version`, this catalogue and these options; returns the log's byte to replay from (0 where
   * there is none, or it does not hold: then nothing is taken and the job says why).
   */
  private takeCheckpoint(learner: ShopLearner, version: string): number {
    const read = readCheckpoint(this.stateDir, EventLog.pathIn(this.stateDir), { baseVersion: version, options: learner.options });
    if ('why' in read) {
      if (read.why !== 'there is none') this.say(`replaying the whole log: the checkpoint is not used, as ${read.why}`);
      return 0;
    }
    const c = read.checkpoint;
    const same = c.catalogSha === this.catalogKey;
    try {
      const seen = IdSet.fromState(c.seen);
      if (same) learner.restore(c.learner);
      else {
        // Made on another catalogue: taken up on that one, then carried over by id, as a new
        // catalogue is taken while the job runs.
        const was = this.learnerOn(alignBase(this.head!, c.ids, LEARNER_ONLY));
        was.restore(c.learner);
        const at = new Map(c.ids.map((id, i) => [id, i]));
        carryOver(
          was,
          learner,
          Int32Array.from(this.ids, (id) => at.get(id) ?? -1),
        );
      }
      this.seen = seen;
    } catch (err) {
      this.say(`replaying the whole log: the checkpoint is not used, as ${err instanceof Error ? err.message : String(err)}`);
      return 0;
    }
    this.total = c.total;
    this.fromCheckpoint = c.total;
    this.lastMarker = c.lastBase;
    this.sourcePosition = c.source;
    // A checkpoint of a version that did not keep them: the next compaction finds the oldest.
    this.oldest = c.times?.oldest ?? -Infinity;
    this.newest = c.times?.newest ?? c.learner.lastTime ?? -Infinity;
    // What was carried over is not yet in a checkpoint of this catalogue.
    if (!same) this.changes++;
    this.say(
      `took up the checkpoint of ${c.written} (${c.total} events${same ? '' : `, made on a catalogue of ${c.ids.length} items and carried over by id`}); replaying the log from byte ${c.logBytes}`,
    );
    return c.logBytes;
  }

  /**
   * Writes a checkpoint of what the job has learned from its whole log so far, with `source` (where
   * its events file has been read to, or null), so that the next start replays only what comes
   * after. Returns its size and how long it took. A failure leaves the last checkpoint as it was.
   */
  writeCheckpoint(source: unknown = null): { bytes: number; ms: number } {
    const t = performance.now();
    const taken = this.changes;
    const bytes = writeCheckpoint(this.checkpointInput(source));
    this.saved = taken;
    return { bytes, ms: performance.now() - t };
  }

  /**
   * The same, written a piece at a time (`writeCheckpointInTurns`) while the job takes events, which
   * the next checkpoint holds; what it holds is taken when it is called. Null, writing nothing,
   * where other work is under way (a rebase, a compaction, another checkpoint).
   */
  async writeCheckpointInTurns(source: unknown = null, pieceBytes?: number): Promise<{ bytes: number; ms: number } | null> {
    if (this.work !== null) return null;
    this.work = 'a checkpoint is written';
    try {
      const t = performance.now();
      const taken = this.changes;
      const bytes = await writeCheckpointInTurns(this.checkpointInput(source), pieceBytes);
      this.saved = Math.max(this.saved, taken);
      return { bytes, ms: performance.now() - t };
    } finally {
      this.work = null;
    }
  }

  /** What a checkpoint written now is made of (the learner's and the ids' own arrays, not copies). */
  private checkpointInput(source: unknown): CheckpointInput {
    return {
      dir: this.stateDir,
      logPath: this.eventLog.path,
      info: {
        logBytes: this.eventLog.bytes,
        total: this.total,
        lastBase: this.lastMarker,
        baseVersion: this.baseVersion,
        catalogSha: this.catalogKey,
        options: this.learner.options,
        source,
        times: this.newest === -Infinity ? null : { oldest: this.oldest, newest: this.newest },
      },
      learner: this.learner.state(),
      seen: this.seen.state(),
      ids: this.ids,
    };
  }

  /** Whether the job has learned or rebased since what its last checkpoint holds, or since it started. */
  get unsaved(): boolean {
    return this.changes !== this.saved;
  }

  /** Marks the base `version` in the log where the log's last marker (`lastBase`) is another. */
  private markBase(version: string, lastBase: string | null): void {
    if (lastBase !== version) {
      this.eventLog.append([{ kind: 'base', version }]);
      this.lastMarker = version;
      this.changes++;
      this.learner.resetItems();
      if (lastBase !== null) this.say(`new base ${version} (was ${lastBase}): the per-item delta starts again`);
    }
    this.baseVersion = version;
    this.seq = readDeltaManifest(this.modelDir)?.seq ?? 0;
  }

  /**
   * Rebases when `maintain` has published a new model version; true when it did. The state is the
   * one a restart would build: the whole log (the events of the window, as the last compaction
   * left it) replayed on the new base's biases, ρ starting again
   * at the marker written first. The replay goes a piece at a time (`EventLog.forEachInTurns`), so
   * the job takes events meanwhile (a busy shop's log of months takes minutes to replay): they go
   * into the log after the marker and are learned by the job as it was, and the replay, which
   * reads on to the log's end, learns them too before the new state takes over. Until then the
   * job publishes for the base before. One rebase at a time: a call during one returns false.
   */
  async checkBase(): Promise<boolean> {
    if (this.work !== null) return false;
    const manifest = await loadModelManifest(defaultFetcher, this.modelDir);
    if (manifest.version === this.baseVersion || this.work !== null) return false;
    this.work = 'a new base is replayed';
    try {
      // Read in slices, events taken between them: a base of 1,000,000 items held the job 0.5 to 0.8 s at once.
      const head = await loadHeadModel(defaultFetcher, `${this.modelDir}/${manifest.head}`, { withResidual: false, slicer: new Slicer() });
      this.eventLog.append([{ kind: 'base', version: manifest.version }]);
      this.lastMarker = manifest.version;
      this.changes++;
      this.say(`new base ${manifest.version} (was ${this.baseVersion}): the per-item delta starts again`);
      // The base aligned by the job's own index, and the learner made, in turns of their own
      // ({@link itemsPerTurn} items each): events taken meanwhile go into the log after the
      // marker, which the replay reads.
      await nextTask();
      const index = this.index;
      const per = this.itemsPerTurn;
      const aligned = await runStepsInTurns(alignBaseSteps(head, this.ids, { ...LEARNER_ONLY, indexOf: (id) => index.get(id) }, per));
      await nextTask();
      const learner = await runStepsInTurns(this.learnerOnSteps(aligned, per));
      await this.eventLog.forEachInTurns((line) => this.learnLine(learner, line), this.turnBytes);
      this.head = head;
      this.learner = learner;
      this.baseVersion = manifest.version;
      return true;
    } finally {
      this.work = null;
    }
  }

  /** Whether a rebase's replay (`checkBase`) or a compaction of the log (`compact`) is under way. */
  get busy(): boolean {
    return this.work !== null;
  }

  /** The start of the window of events the job keeps (−∞ where it keeps every one). */
  windowStart(): number {
    return streamWindowStart(this.keepDays, this.newest, this.now());
  }

  /** Whether the log holds enough events from before the window to be compacted (`compact`). */
  get compactionDue(): boolean {
    return streamCompactionDue(this.keepDays, this.oldest, this.newest, this.now());
  }

  /**
   * Rewrites the log without its events from before the window (base markers stay), in turns
   * (`EventLog.compactInTurns`), the job taking events meanwhile; the ids by which it knows a retry
   * become those of the events kept. What the job learned stays as it is: write a checkpoint after
   * it, as the one before covers a log that is gone. Returns what it dropped, or null where another
   * piece of work is under way.
   */
  async compact(): Promise<{ dropped: number; kept: number; before: number; after: number } | null> {
    if (this.work !== null) return null;
    this.work = 'the log is compacted';
    try {
      const start = this.windowStart();
      const seen = new IdSet();
      let oldest = Infinity;
      let dropped = 0;
      let kept = 0;
      const bytes = await this.eventLog.compactInTurns(
        (line) => {
          if (line.kind === 'base') return true;
          if (line.event.t < start) {
            dropped++;
            return false;
          }
          seen.add(line.event.id);
          oldest = Math.min(oldest, line.event.t);
          kept++;
          return true;
        },
        // In the turn of the log's rename: no event is taken between the two.
        () => {
          this.seen = seen;
          this.oldest = oldest;
          this.changes++;
        },
        this.turnBytes,
      );
      return { dropped, kept, ...bytes };
    } finally {
      this.work = null;
    }
  }

  /** Notes an event's time in the log's span. */
  private sawTime(t: number): void {
    if (t < this.oldest) this.oldest = t;
    if (t > this.newest) this.newest = t;
  }

  /**
   * Takes a new catalogue (new products, some gone, another order): what the job learned carries
   * over by id (`carryOver`), a new product starting from nothing, so that a shop that adds
   * products every day does not replay its whole log each time. Events of items that left stay in
   * the log and are not learned. Returns false, doing nothing, where the ids are the same in the
   * same order (a catalogue file written again for a new price, say). At once: the running job
   * takes one with {@link setCatalogInTurns}.
   */
  setCatalog(ids: readonly string[]): boolean {
    if (this.work !== null) throw new Error(`A new catalogue cannot be taken while ${this.work}: take it once that is done.`);
    return runSteps(this.catalogSteps(ids));
  }

  /**
   * {@link setCatalog} in turns, the job taking events between them (by the catalogue before; they
   * are learned on the new one once it is in place, as if they came after it, those of products
   * that left not at all); no other work starts meanwhile. About 0.2 s of work at 100,000 items,
   * each part {@link itemsPerTurn} items a turn.
   */
  async setCatalogInTurns(ids: readonly string[]): Promise<boolean> {
    if (this.work !== null) throw new Error(`A new catalogue cannot be taken while ${this.work}: take it once that is done.`);
    this.work = 'a new catalogue is taken';
    try {
      return await runStepsInTurns(this.catalogSteps(ids));
    } finally {
      this.work = null;
    }
  }

  /**
   * The work of taking a catalogue, in steps (a yield between two): its ids hashed, indexed, the
   * base aligned to them and their old places found, {@link itemsPerTurn} at a time, then
   * what the job learned carried over as many a step while the events taken wait; the last step
   * puts the new catalogue in place and learns them on it.
   */
  private *catalogSteps(ids: readonly string[]): Generator<void, boolean> {
    const per = this.itemsPerTurn;
    // From here the events taken wait for the new catalogue (or, where it is the same or this
    // fails, the old one).
    this.deferred = [];
    try {
      const key = yield* catalogShaSteps(ids, per);
      if (key === this.catalogKey) return false;
      yield;
      const index = new Map<string, number>();
      for (let a = 0; a < ids.length; a += per) {
        for (let i = a; i < Math.min(ids.length, a + per); i++) index.set(ids[i]!, i);
        yield;
      }
      const aligned = yield* alignBaseSteps(this.head!, ids, { ...LEARNER_ONLY, indexOf: (id) => index.get(id) }, per);
      yield;
      const next = yield* this.learnerOnSteps(aligned, per);
      yield;
      const before = this.index;
      const from = new Int32Array(ids.length);
      for (let a = 0; a < ids.length; a += per) {
        for (let i = a; i < Math.min(ids.length, a + per); i++) from[i] = before.get(ids[i]!) ?? -1;
        yield;
      }
      yield* carryOverSteps(this.learner, next, from, per);
      this.ids = ids;
      this.index = index;
      this.catalogKey = key;
      this.learner = next;
      this.changes++;
    } finally {
      const waiting = this.deferred;
      this.deferred = null;
      for (const e of waiting) {
        // A product that left stays in the log, and is not learned.
        const i = this.index.get(e.item);
        if (i !== undefined) this.learner.learn(i, e.t);
      }
    }
    return true;
  }

  /** A learner on `base`, before any line of the log. */
  private learnerOn(base: BaseParams & { known: Uint8Array }): ShopLearner {
    return runSteps(this.learnerOnSteps(base));
  }

  /** {@link learnerOn} in steps of `perStep` items. */
  private *learnerOnSteps(base: BaseParams & { known: Uint8Array }, perStep?: number): Generator<void, ShopLearner> {
    const head = this.head!;
    if (head.recent && !recentFiguresOf(head)) {
      this.say(
        `base ${head.manifest.version} ships what sold lately without its half-life and time; run maintain again to publish what sells now with the delta`,
      );
    }
    return yield* shopLearnerOnSteps(base, this.learnerOptions, perStep);
  }

  /** Feeds one line of the log to `learner`: ρ starts again at a base marker. */
  private learnLine(learner: ShopLearner, line: LogLine): void {
    if (line.kind === 'base') learner.resetItems();
    else {
      // An item that left the catalogue since stays in the log, and is not learned.
      const i = this.index.get(line.event.item);
      if (i !== undefined) learner.learn(i, line.event.t);
    }
  }

  /**
   * Checks raw events and turns them into stream events; throws an `EventInputError` naming the
   * first bad one (nothing is taken then). `fallbackId` gives an id to events without one. A
   * return (a quantity below 0), checked as any event, is no sale: it is left out of `events`
   * and counted in `returns` (the caller says so with {@link noteReturns} once the rest is taken),
   * whether or not its product is still in the catalogue.
   */
  validate(
    raw: readonly RawEvent[],
    where: (j: number) => string,
    fallbackId?: (j: number) => string,
  ): { events: StreamEvent[]; returns: number } {
    const events: StreamEvent[] = [];
    let returns = 0;
    raw.forEach((r, j) => {
      const id = r.id === undefined || r.id === '' ? fallbackId?.(j) : r.id;
      if (typeof id !== 'string' && typeof id !== 'number')
        throw new EventInputError(`${where(j)}: an event needs an "id" (string), so that a retry is not counted twice.`);
      // A guest's order (no user_id) is a sale like any other: the job learns what the whole shop sells.
      const user = r.user_id === undefined || r.user_id === null ? '' : r.user_id;
      if (typeof user !== 'string' && typeof user !== 'number')
        throw new EventInputError(`${where(j)}: "user_id" must be a string or a number (or left out for a guest's order).`);
      if (typeof r.item_id !== 'string' && typeof r.item_id !== 'number') throw new EventInputError(`${where(j)}: "item_id" is missing.`);
      const t =
        typeof r.timestamp === 'number' ? epochMs(r.timestamp) : typeof r.timestamp === 'string' ? parseTime(r.timestamp, this.dates) : NaN;
      if (!Number.isFinite(t)) {
        throw new EventInputError(
          `${where(j)}: "timestamp" ${JSON.stringify(r.timestamp)} is not an ISO 8601 date-time (or YYYY-MM-DD HH:MM:SS, read as UTC), a date with the month by its name (a day the calendar has), nor seconds or milliseconds since 1970${
            this.dates !== undefined
              ? `, nor a day of the calendar read ${this.dates} (--date-order)`
              : '; a day of the month first in digits (01/10/2011) is read two ways by shops, and taken only with --date-order day-first (or month-first)'
          }.`,
        );
      }
      const q = r.quantity === undefined || r.quantity === null || r.quantity === '' ? NaN : Number(r.quantity);
      if (q < 0) {
        returns++;
        return;
      }
      const item = String(r.item_id);
      if (!this.index.has(item)) {
        throw new EventInputError(
          `${where(j)}: item ${JSON.stringify(item)} is not in the catalogue (${this.ids.length} items). If it is a new product, add it to the catalogue file: the job reads the file again when it changes.`,
          422,
        );
      }
      events.push({ id: String(id), user: String(user), item, t });
    });
    return { events, returns };
  }

  /** Counts returns left out of taken input, for {@link status}. */
  noteReturns(n: number): void {
    this.returns += n;
  }

  /**
   * Makes new events durable, then learns them. Ids seen before (and repeats within the batch)
   * are dropped, and so are events from before the window (`tooOld`). Returns how many were taken
   * and how many dropped.
   */
  accept(events: readonly StreamEvent[]): { accepted: number; duplicates: number; tooOld: number } {
    const fresh: StreamEvent[] = [];
    const batch = new Set<string>();
    let tooOld = 0;
    // The window as the batch's own newer events move it (the job's span moves only once they are durable).
    let newest = this.newest;
    const now = this.now();
    for (const e of events) {
      if (this.seen.has(e.id) || batch.has(e.id)) continue;
      if (e.t < streamWindowStart(this.keepDays, newest, now)) {
        tooOld++;
        continue;
      }
      batch.add(e.id);
      fresh.push(e);
      newest = Math.max(newest, e.t);
    }
    this.eventLog.append(fresh.map((event) => ({ kind: 'event' as const, event })));
    if (fresh.length > 0) this.changes++;
    for (const e of fresh) {
      this.sawTime(e.t);
      this.seen.add(e.id);
      if (this.deferred) this.deferred.push(e);
      else this.learner.learn(this.index.get(e.item)!, e.t);
      this.total++;
    }
    const duplicates = events.length - fresh.length - tooOld;
    this.duplicates += duplicates;
    this.tooOld += tooOld;
    return { accepted: fresh.length, duplicates, tooOld };
  }

  /** Publishes a delta when anything changed since the last one, at once; returns what was published. */
  publish(force = false): Published | null {
    if (!force && !this.publishDue) return null;
    const from = this.publicationOf(this.learner);
    return this.writePublication(from, from.learner.published());
  }

  /**
   * {@link publish} in turns ({@link itemsPerTurn} items each), the job taking events and
   * other work going on meanwhile: what is published is the learner as it was when this began (a
   * copy, made in one turn). A call while one is under way publishes nothing, nor does this one
   * where a delta was published at once meanwhile (it would be older than that one).
   */
  async publishInTurns(force = false): Promise<Published | null> {
    if (this.publishing || (!force && !this.publishDue)) return null;
    this.publishing = true;
    try {
      const seq = this.seq;
      const from = this.publicationOf(this.learner.copy());
      const delta = await runStepsInTurns(from.learner.publishedSteps(undefined, this.itemsPerTurn));
      return this.seq === seq ? this.writePublication(from, delta) : null;
    } finally {
      this.publishing = false;
    }
  }

  /** Whether a delta is being published in turns. */
  private publishing = false;

  /** Whether the learner learned anything, or the base changed, since the last delta. */
  private get publishDue(): boolean {
    return this.learner.events !== this.publishedEvents || this.publishedBase !== this.baseVersion;
  }

  /** What a publication of `learner` (this job's, or a copy of it) names, taken as it is now. */
  private publicationOf(learner: ShopLearner): Publication {
    return { learner, ids: this.ids, head: this.head, baseVersion: this.baseVersion, events: learner.events, newest: learner.newest };
  }

  /** Writes the delta `delta` of the publication `from`. */
  private writePublication(from: Publication, { indices, values, recent }: PublishedDelta): Published {
    const { ids, head } = from;
    const { manifest, gzipBytes } = publishDelta(this.modelDir, {
      baseVersion: from.baseVersion,
      seq: ++this.seq,
      ids: Array.from(indices, (i) => ids[i]!),
      bias: values,
      ...(recent
        ? {
            recent: {
              halfLifeDays: from.learner.options.recentHalfLifeDays,
              ids: Array.from(recent.indices, (i) => ids[i]!),
              values: recent.values,
            },
          }
        : {}),
      // The items the base knows are listed by their row in it.
      baseRow: (id) => head?.itemIndex.get(id),
      ...(head ? itemListSha(head) : {}),
      events: from.events,
      eventsThrough: from.newest,
    });
    this.publishedEvents = from.events;
    this.publishedBase = from.baseVersion;
    return { seq: manifest.seq, items: manifest.items, recentItems: recent?.indices.length ?? 0, gzipBytes };
  }

  /** What the job knows, for `GET /status` and the log. */
  status(): Record<string, unknown> {
    const keptFrom = this.windowStart();
    return {
      baseVersion: this.baseVersion,
      seq: this.seq,
      events: this.total,
      eventsSinceBase: this.learner.events,
      duplicates: this.duplicates,
      tooOld: this.tooOld,
      returns: this.returns,
      keptFrom: keptFrom === -Infinity ? null : new Date(keptFrom).toISOString(),
      newest: this.learner.newest === null ? null : new Date(this.learner.newest).toISOString(),
      weights: this.learner.weights,
    };
  }

  close(): void {
    this.eventLog.close();
  }
}
