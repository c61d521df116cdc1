/**
 * `npm run bench:stream [-- --events 200000 --items 100000 --keep-days 7 --skip-http --out F]`: the shop's stream
 * job on a synthetic order stream (skewed item popularity, 30 days), against reading the same log
 * alone. The file is written, and read, in pieces, so a stream of millions of events (a file and a
 * log over the longest string Node holds) can be measured:
 *   - read: the NDJSON file read and every line parsed (the floor of any job on this log);
 *   - file: the job following that file (parse, check, one durable append, learn), read at once
 *     as at its start, and again in turns as it follows what is appended, with the longest wait;
 *   - http: the same events POSTed in batches of 500 to the job's HTTP source (each batch fsynced
 *     before its answer);
 *   - restart: the job opening its log again and replaying it whole (as a start without a
 *     checkpoint does); then a checkpoint written of all it learned (at once, and a piece at a time
 *     as the running job writes it, with the longest wait meanwhile), and a start that takes it up
 *     (its log after the checkpoint is empty here: a real start replays the events of the minutes
 *     since, at the whole replay's rate);
 *   - rebase: a new model version published, and the job replaying its log on it a piece at a
 *     time, with the longest the event loop waited meanwhile (what an event posted then waits);
 *   - compaction: the job with a window of `--keep-days` (7 of the stream's 30 days) rewriting
 *     its log without the older events, in turns, with the longest wait; a checkpoint after it;
 *     and a new base's replay of the log it left, against the whole log's above;
 *   - catalogue: a new catalogue file (1% new products) read and taken as the running job does,
 *     in turns, with the longest wait of each;
 *   - publish: one delta at this catalogue size, and its size gzipped. The base ships what each
 *     item sold lately, so the delta carries what sells now besides ψ, as a maintained base's does.
 *     Beside it, the same lists with every item by id (payload format 1), and both for a shop
 *     whose ids are UUIDs (the lists only; the JSON around them is a few dozen bytes).
 * Not a test: timings on shared machines are noisy; compare the ratios.
 */
import { closeSync, cpSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { mulberry32 } from '../core/rng.js';
import type { DeltaEntries, ShopDeltaManifest, ShopDeltaPayload } from '../core/shop-delta.js';
import { absoluteRows, deltaEntries } from '../core/shop-delta.js';
import { ownTempFolder, outputFile, parseArgs } from '../cli/common.js';
import { readCatalogFile } from '../cli/data.js';
import { StreamJob } from '../cli/stream/job.js';
import { FileSource, startHttp } from '../cli/stream/sources.js';
import { fileLinePieces } from '../cli/stream/line-pieces.js';
import { defaultHead, writeHeadModel } from '../cli/train/head-io.js';
import type { EncoderManifest } from '../core/encoder.js';

export interface StreamBench {
  events: number;
  items: number;
  readMs: number;
  fileMs: number;
  fileEventsPerSecond: number;
  fileRatioToRead: number;
  /** The same file followed in turns of 256 KiB, as the running job follows what is appended, and the longest wait meanwhile. */
  fileInTurnsMs: number;
  fileInTurnsLongestWaitMs: number;
  /** The NDJSON file's size. */
  fileBytes: number;
  /** Null where the HTTP source was not measured (`--skip-http`). */
  httpEventsPerSecond: number | null;
  restartMs: number;
  /** A checkpoint of the restarted job: its size, the time to write it, and a start that takes it up. */
  checkpointBytes: number;
  checkpointWriteMs: number;
  /** The same written a piece at a time, as the running job writes its checkpoints, and the longest the event loop waited meanwhile. */
  checkpointInTurnsMs: number;
  checkpointInTurnsLongestWaitMs: number;
  restartFromCheckpointMs: number;
  /** The whole replay's time over the start from the checkpoint's. */
  restartRatioToCheckpoint: number;
  /** A new base's replay of the log, in turns, and the longest the event loop waited during it. */
  rebaseMs: number;
  rebaseLongestWaitMs: number;
  /** The window of the compaction (days), its time in turns and the longest wait, the log's bytes before and after. */
  keepDays: number;
  compactMs: number;
  compactLongestWaitMs: number;
  logBytesBeforeCompaction: number;
  logBytesAfterCompaction: number;
  /** Events the compacted log keeps. */
  eventsKept: number;
  /** A checkpoint written after it (the ids of the events kept only). */
  checkpointAfterCompactionBytes: number;
  /** A new base's replay of the compacted log, and the whole log's replay over it. */
  rebaseAfterCompactionMs: number;
  rebaseRatioToCompacted: number;
  /** A new catalogue file (1% new items): read while the job runs, then taken in turns, with the longest wait of each. */
  catalogReadMs: number;
  catalogReadLongestWaitMs: number;
  catalogSetMs: number;
  catalogSetLongestWaitMs: number;
  publishMs: number;
  /** The same publication in turns, as the running job publishes, and the longest the job waited. */
  publishInTurnsMs: number;
  publishInTurnsLongestWaitMs: number;
  deltaItems: number;
  /** Best sellers whose figures of what sells now the delta carries. */
  deltaRecentItems: number;
  deltaGzipBytes: number;
  /** The same delta with every item listed by id (payload format 1), as before format 2. */
  deltaByIdGzipBytes: number;
  /**
   * The same delta for a shop whose ids are 36-character UUIDs: format 2 (the items the base knows
   * by row), and every item by id.
   */
  deltaUuidGzipBytes: number;
  deltaUuidByIdGzipBytes: number;
}

/** A delta's lists as a payload writes them, gzipped: by row where `baseRow` is given, else by id. */
function listedSize(lists: { ids: string[]; values: number[] }[], baseRow?: (id: string) => number | undefined): number {
  return gzipSync(JSON.stringify(lists.map((l) => deltaEntries(l.ids, l.values, baseRow)))).length;
}

/**
 * Runs `work` and times it, with the longest the event loop waited meanwhile: what other work
 * of the job (events posted, a publication) would have waited for a turn.
 */
async function timedTurns<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; longestWaitMs: number }> {
  const waits = monitorEventLoopDelay({ resolution: 10 });
  waits.enable();
  const t = performance.now();
  try {
    const value = await work();
    const ms = performance.now() - t;
    waits.disable();
    return { value, ms, longestWaitMs: waits.max / 1e6 };
  } finally {
    waits.disable();
  }
}

/** The seed of the stream's draws. */
const SEED = 3;

export async function runStreamBench(
  events: number,
  items: number,
  say: (m: string) => void = () => undefined,
  http = true,
  keepDays = 7,
): Promise<StreamBench> {
  const folder = ownTempFolder('clickwise-stream-bench-');
  const dir = folder.path;
  try {
    const model = join(dir, 'model');
    const root = resolve(import.meta.dirname, '..', '..');
    cpSync(join(root, 'models', 'manifest.json'), join(model, 'manifest.json'));
    const ids = Array.from({ length: items }, (_, i) => `s${i}`);
    let rand = mulberry32(SEED);
    const t0 = Date.parse('2026-10-01T00:00:00Z');
    // The shipped content-only base, over a base that knows every item and ships what it sold
    // lately (the same skew as the stream's), as `maintain` writes it.
    const encoder = JSON.parse(readFileSync(join(root, 'models', 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    writeHeadModel(join(model, 'head'), {
      ...defaultHead(encoder),
      ids,
      bias: new Float32Array(items),
      recent: Float32Array.from(ids, (_, i) => Math.log1p(20 * Math.pow(1 - i / items, 8))),
      recentHalfLifeDays: 7,
      recentAt: t0,
    });
    /** Line k of the stream (drawn in order from the seed: call with k = 0, 1, 2, …). */
    const line = (k: number): string => {
      // Skewed popularity: a few items sell a lot, most rarely.
      const item = Math.floor(items * Math.pow(rand(), 3));
      return JSON.stringify({
        id: `o${k}`,
        user_id: `u${Math.floor(rand() * events * 0.1)}`,
        item_id: ids[item],
        timestamp: new Date(t0 + (k / events) * 30 * 86_400_000).toISOString(),
      });
    };
    const file = join(dir, 'orders.ndjson');
    const out = openSync(file, 'w');
    /** The lines from k on, up to `n` of them, as one text with a newline after each. */
    const batch = (k: number, n: number): string => {
      let text = '';
      for (let j = k; j < Math.min(events, k + n); j++) text += line(j) + '\n';
      return text;
    };
    for (let k = 0; k < events; k += 100_000) writeSync(out, batch(k, 100_000));
    closeSync(out);
    const bytes = statSync(file).size;
    say(`wrote ${events} events, ${bytes} bytes`);

    let t = performance.now();
    let parsed = 0;
    const fd = openSync(file, 'r');
    for (const piece of fileLinePieces(fd, 0, bytes)) {
      for (const l of piece.bytes.toString('utf8').split('\n')) {
        if (!l) continue;
        JSON.parse(l);
        parsed++;
      }
    }
    closeSync(fd);
    const readMs = performance.now() - t;
    say(`read and parsed ${parsed} lines in ${readMs.toFixed(0)} ms`);

    /**
     * The job following the file, then publishing: in a function of its own, so that nothing
     * holds the job (its ids, its learner) while the restart below is timed.
     */
    const followFile = async (): Promise<{
      fileMs: number;
      publishMs: number;
      publishInTurnsMs: number;
      publishInTurnsLongestWaitMs: number;
      published: NonNullable<ReturnType<StreamJob['publish']>>;
    }> => {
      let at = performance.now();
      const job = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-file') });
      try {
        const r = new FileSource(file, job, say).poll();
        const fileMs = performance.now() - at;
        if (r.accepted !== events) throw new Error(`the job took ${r.accepted} of ${events} events`);
        say(`file: ${events} events in ${fileMs.toFixed(0)} ms`);
        at = performance.now();
        const published = job.publish(true)!;
        const publishMs = performance.now() - at;
        // The same in turns, as the running job publishes.
        const inTurns = await timedTurns(() => job.publishInTurns(true));
        if (!inTurns.value) throw new Error('the job did not publish in turns');
        say(
          `publication: ${publishMs.toFixed(0)} ms at once, ${inTurns.ms.toFixed(0)} ms in turns (the longest wait ${inTurns.longestWaitMs.toFixed(0)} ms)`,
        );
        return { fileMs, publishMs, publishInTurnsMs: inTurns.ms, publishInTurnsLongestWaitMs: inTurns.longestWaitMs, published };
      } finally {
        job.close();
      }
    };
    const { fileMs, publishMs, publishInTurnsMs, publishInTurnsLongestWaitMs, published } = await followFile();
    // The same file followed as the running job follows what is appended: in turns, with the longest wait.
    const turnsJob = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-turns') });
    const {
      value: inTurnsTaken,
      ms: fileInTurnsMs,
      longestWaitMs: fileInTurnsLongestWaitMs,
    } = await timedTurns(() => new FileSource(file, turnsJob, say).pollInTurns());
    turnsJob.close();
    if (inTurnsTaken.accepted !== events) throw new Error(`the job took ${inTurnsTaken.accepted} of ${events} events in turns`);
    say(`file in turns: ${events} events in ${fileInTurnsMs.toFixed(0)} ms, the longest wait ${fileInTurnsLongestWaitMs.toFixed(0)} ms`);
    // What the same lists weigh listed by id, and with long ids: read back by id from the payload.
    const manifest = JSON.parse(readFileSync(join(model, 'delta', 'manifest.json'), 'utf8')) as ShopDeltaManifest;
    const payload = JSON.parse(readFileSync(join(model, 'delta', manifest.path), 'utf8')) as ShopDeltaPayload;
    const byId = (e: DeltaEntries, name: (i: number) => string): { ids: string[]; values: number[] } => ({
      ids: [...absoluteRows(e).map(name), ...e.ids],
      values: [...e.rowValues, ...e.values],
    });
    const uuid = (i: number): string => {
      const h = (k: number): string => (Math.imul(i + 1, 2654435761 + k * 40503) >>> 0).toString(16).padStart(8, '0');
      const x = h(0) + h(1) + h(2) + h(3);
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
    };
    const lists = [payload.psi, ...(payload.recent ? [payload.recent] : [])];
    const plain = lists.map((e) => byId(e, (i) => ids[i]!));
    const long = lists.map((e) => byId(e, uuid));
    const uuidRow = new Map(ids.map((_, i) => [uuid(i), i]));

    t = performance.now();
    const again = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-file'), log: say, checkpoints: false });
    const restartMs = performance.now() - t;
    if (again.total !== events) throw new Error(`the restarted job replayed ${again.total} of ${events} events`);
    const checkpoint = again.writeCheckpoint();
    say(`checkpoint: ${checkpoint.bytes} bytes in ${checkpoint.ms.toFixed(0)} ms`);
    // The same written in turns, as the running job writes its checkpoints, and the longest wait.
    const written = await timedTurns(() => again.writeCheckpointInTurns());
    const inTurns = written.value!;
    const checkpointInTurnsLongestWaitMs = written.longestWaitMs;
    say(
      `checkpoint in turns: ${inTurns.bytes} bytes in ${inTurns.ms.toFixed(0)} ms, the longest wait ${checkpointInTurnsLongestWaitMs.toFixed(0)} ms`,
    );
    again.close();
    t = performance.now();
    const resumed = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-file'), log: say });
    const restartFromCheckpointMs = performance.now() - t;
    if (resumed.total !== events) throw new Error(`the job started from its checkpoint knows ${resumed.total} of ${events} events`);
    // A new model version (the same figures): the job replays its log on it, in turns.
    const manifestPath = join(model, 'manifest.json');
    const manifestBefore = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string };
    writeFileSync(manifestPath, JSON.stringify({ ...manifestBefore, version: `${manifestBefore.version}-next` }));
    const rebase = await timedTurns(() => resumed.checkBase());
    if (!rebase.value) throw new Error('the job did not take the new base');
    const { ms: rebaseMs, longestWaitMs: rebaseLongestWaitMs } = rebase;
    say(`rebase: ${events} events replayed in ${rebaseMs.toFixed(0)} ms, the longest wait ${rebaseLongestWaitMs.toFixed(0)} ms`);
    resumed.writeCheckpoint();
    resumed.close();

    // The same job with a window of `keepDays`: its log compacted, in turns, then a new base.
    const windowed = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-file'), log: say, keepDays });
    if (!windowed.compactionDue) throw new Error(`a window of ${keepDays} days leaves nothing of the 30 days' log to compact`);
    const compaction = await timedTurns(() => windowed.compact());
    const compacted = compaction.value!;
    const { ms: compactMs, longestWaitMs: compactLongestWaitMs } = compaction;
    say(
      `compaction: ${compacted.kept} of ${compacted.kept + compacted.dropped} events kept, ${compacted.before} → ${compacted.after} bytes in ${compactMs.toFixed(0)} ms, the longest wait ${compactLongestWaitMs.toFixed(0)} ms`,
    );
    const checkpointAfter = windowed.writeCheckpoint();
    writeFileSync(manifestPath, JSON.stringify({ ...manifestBefore, version: `${manifestBefore.version}-after` }));
    t = performance.now();
    if (!(await windowed.checkBase())) throw new Error('the job did not take the new base after the compaction');
    const rebaseAfterCompactionMs = performance.now() - t;
    say(`rebase after the compaction: ${compacted.kept} events replayed in ${rebaseAfterCompactionMs.toFixed(0)} ms`);
    // A new catalogue (1% new products), as the running job reads and takes it when its file
    // changes: in turns, the job taking events meanwhile.
    const catalogPath = join(dir, 'catalog.json');
    const grown = [...ids, ...Array.from({ length: Math.ceil(items / 100) }, (_, i) => `new${i}`)];
    writeFileSync(catalogPath, JSON.stringify(grown.map((id) => ({ id, title: `A product of the shop, ${id}` }))));
    const {
      value: read,
      ms: catalogReadMs,
      longestWaitMs: catalogReadLongestWaitMs,
    } = await timedTurns(async () => (await readCatalogFile(catalogPath)).map((i) => i.id));
    const taken = await timedTurns(() => windowed.setCatalogInTurns(read));
    if (!taken.value) throw new Error('the job did not take the new catalogue');
    const { ms: catalogSetMs, longestWaitMs: catalogSetLongestWaitMs } = taken;
    say(
      `a new catalogue of ${read.length} items: read in ${catalogReadMs.toFixed(0)} ms (the longest wait ${catalogReadLongestWaitMs.toFixed(0)} ms), taken in ${catalogSetMs.toFixed(0)} ms (the longest wait ${catalogSetLongestWaitMs.toFixed(0)} ms)`,
    );
    windowed.close();

    let httpMs = NaN;
    if (http) {
      const httpJob = await StreamJob.open({ modelDir: model, ids, stateDir: join(dir, 'state-http') });
      const secret = 'bench-secret-of-some-length';
      const server = await startHttp(httpJob, { host: '127.0.0.1', port: 0, secret, maxBodyBytes: 1 << 20 }, () => undefined);
      const port = (server.address() as { port: number }).port;
      // The same lines again, drawn from the same seed.
      rand = mulberry32(SEED);
      t = performance.now();
      for (let k = 0; k < events; k += 500) {
        const res = await fetch(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}` },
          body: batch(k, 500),
        });
        if (res.status !== 200) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
      }
      httpMs = performance.now() - t;
      server.close();
      httpJob.close();
    }
    const round = (x: number): number => Math.round(x * 10) / 10;
    return {
      events,
      items,
      readMs: round(readMs),
      fileMs: round(fileMs),
      fileEventsPerSecond: Math.round(events / (fileMs / 1000)),
      fileRatioToRead: round(fileMs / readMs),
      fileInTurnsMs: round(fileInTurnsMs),
      fileInTurnsLongestWaitMs: round(fileInTurnsLongestWaitMs),
      fileBytes: bytes,
      httpEventsPerSecond: http ? Math.round(events / (httpMs / 1000)) : null,
      restartMs: round(restartMs),
      checkpointBytes: checkpoint.bytes,
      checkpointWriteMs: round(checkpoint.ms),
      checkpointInTurnsMs: round(inTurns.ms),
      checkpointInTurnsLongestWaitMs: round(checkpointInTurnsLongestWaitMs),
      restartFromCheckpointMs: round(restartFromCheckpointMs),
      restartRatioToCheckpoint: round(restartMs / restartFromCheckpointMs),
      rebaseMs: round(rebaseMs),
      rebaseLongestWaitMs: round(rebaseLongestWaitMs),
      keepDays,
      compactMs: round(compactMs),
      compactLongestWaitMs: round(compactLongestWaitMs),
      logBytesBeforeCompaction: compacted.before,
      logBytesAfterCompaction: compacted.after,
      eventsKept: compacted.kept,
      checkpointAfterCompactionBytes: checkpointAfter.bytes,
      rebaseAfterCompactionMs: round(rebaseAfterCompactionMs),
      rebaseRatioToCompacted: round(rebaseMs / rebaseAfterCompactionMs),
      catalogReadMs: round(catalogReadMs),
      catalogReadLongestWaitMs: round(catalogReadLongestWaitMs),
      catalogSetMs: round(catalogSetMs),
      catalogSetLongestWaitMs: round(catalogSetLongestWaitMs),
      publishMs: round(publishMs),
      publishInTurnsMs: round(publishInTurnsMs),
      publishInTurnsLongestWaitMs: round(publishInTurnsLongestWaitMs),
      deltaItems: published.items,
      deltaRecentItems: published.recentItems,
      deltaGzipBytes: published.gzipBytes,
      deltaByIdGzipBytes: listedSize(plain),
      deltaUuidGzipBytes: listedSize(long, (id) => uuidRow.get(id)),
      deltaUuidByIdGzipBytes: listedSize(long),
    };
  } finally {
    folder.remove();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    events: 'number',
    items: 'number',
    'keep-days': 'number',
    'skip-http': 'boolean',
    out: 'string',
  });
  // The folder of --out is made now, not found missing after the run.
  const out = args['out'] ? outputFile(args['out']) : null;
  const result = {
    command: `npm run bench:stream${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    ...(await runStreamBench(
      Number(args['events'] ?? 200_000),
      Number(args['items'] ?? 100_000),
      (m) => console.error(m),
      args['skip-http'] !== true,
      Number(args['keep-days'] ?? 7),
    )),
  };
  console.log(JSON.stringify(result, null, 2));
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  void main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
