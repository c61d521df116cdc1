/**
 * `npm run stream -- --model DIR --catalog F [--events F] [--listen HOST:PORT] [--state DIR]
 *  [--publish-every SECONDS] [--checkpoint-every SECONDS] [--keep-days DAYS] [--once]`: the shop's online job (see job.ts).
 *
 * The secret for HTTP comes from the environment variable CLICKWISE_STREAM_SECRET (or
 * `--secret-file F`), never from the command line, where other users of the machine could read it.
 */
import { readFileSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { relative, resolve } from 'node:path';
import type { Command } from '../common.js';
import { isEntry, parseArgs, runCommand, UsageError } from '../common.js';
import { columnsOf, dateOrderOf, readCatalogFile } from '../data.js';
import { SHOP_STREAM_KEEP_DAYS } from '../../core/shop-delta.js';
import { StreamJob } from './job.js';
import { FileSource, startHttp } from './sources.js';
import { PIECE_BYTES } from './line-pieces.js';

export const USAGE = `Usage: clickwise stream --model DIR --catalog F [--events F] [--listen HOST:PORT] [--state DIR] [--publish-every SECONDS] [--checkpoint-every SECONDS] [--keep-days DAYS] [--once]
       (in a checkout: npm run stream -- --model DIR ...)

Learns the shop delta from every event of the shop and publishes it in DIR/delta/ every
--publish-every seconds (default 60), for browsers to fuse with the base. Where the base ships
what each item sold lately, the delta also carries those figures brought up to date.

  --model DIR          the served model folder (its manifest.json and the head it names); the delta goes into DIR/delta/
  --catalog F          the catalogue JSON the pages serve (or --items F: an items CSV); events of other items are refused
  --events F           a CSV or NDJSON events file to read and follow as it grows (plain, or .gz read once, as it unzips)
  --columns L          the files' own names of their columns (the events file's and the items CSV's, CSV or
                       NDJSON keys), where they are not the tools' ones: id=OrderLine,user_id=CustomerID,item_id=StockCode,...
  --date-order O       day-first or month-first: how the shop writes a date with the day or the month
                       first in digits (01/10/2011), which one event cannot tell; without it such a date is refused
  --listen HOST:PORT   take POST /events on this address (default 127.0.0.1:8787 when a secret is set)
  --secret-file F      the shared secret for HTTP (default: the CLICKWISE_STREAM_SECRET variable)
  --state DIR          the job's own append-only log (default .clickwise-stream; never inside --model)
  --publish-every S    seconds between two deltas (default 60)
  --checkpoint-every S seconds between two checkpoints of what the job learned (default 600; one is also
                       written after the events file is read, and at exit): a start replays only the
                       job's log after the last one, in --state/checkpoint.bin
  --keep-days D        days of events the job keeps before the newest (default ${SHOP_STREAM_KEEP_DAYS}; all: every one): its
                       log is rewritten without older ones once they span a quarter of that, a retry is
                       known among the events kept, and an event from before them is not taken
  --max-body BYTES     the largest POST body taken (default 1048576)
  --once               read --events to its end, publish once and exit`;

function fail(message: string): never {
  throw new UsageError(message);
}

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    model: 'string',
    items: 'string',
    catalog: 'string',
    events: 'string',
    columns: 'string',
    'date-order': 'string',
    listen: 'string',
    'secret-file': 'string',
    state: 'string',
    'publish-every': 'number',
    'checkpoint-every': 'number',
    'keep-days': 'string',
    'max-body': 'number',
    once: 'boolean',
  });
  if (args['model'] === undefined) fail('Missing --model.');
  const columns = columnsOf(args['columns']);
  const dates = dateOrderOf(args['date-order']);
  const catalogFile = args['catalog'] ?? args['items'];
  if (catalogFile === undefined) fail('Missing --catalog F (the catalogue JSON the pages serve) or --items F (an items CSV).');
  const modelDir = resolve(String(args['model']));
  const stateDir = resolve(String(args['state'] ?? '.clickwise-stream'));
  const rel = relative(modelDir, stateDir);
  if (!rel.startsWith('..') && !rel.startsWith('/'))
    fail(`--state ${stateDir} is inside the model folder, which is served to browsers: the log holds shopper ids. Put it elsewhere.`);
  const every = Number(args['publish-every'] ?? 60);
  if (!(every > 0)) fail(`--publish-every must be a positive number of seconds, got ${String(args['publish-every'])}.`);
  const checkpointEvery = Number(args['checkpoint-every'] ?? 600);
  if (!(checkpointEvery > 0)) fail(`--checkpoint-every must be a positive number of seconds, got ${String(args['checkpoint-every'])}.`);
  const keepArg = args['keep-days'] === undefined ? String(SHOP_STREAM_KEEP_DAYS) : String(args['keep-days']);
  const keepDays = keepArg === 'all' ? Infinity : Number(keepArg);
  if (!(keepDays > 0 && (keepArg === 'all' || Number.isFinite(keepDays))))
    fail(`--keep-days must be a number of days > 0, or all, got ${keepArg}.`);
  const once = args['once'] === true;
  const secret =
    args['secret-file'] !== undefined
      ? readFileSync(String(args['secret-file']), 'utf8').trim()
      : (process.env['CLICKWISE_STREAM_SECRET'] ?? '');
  if (once && args['events'] === undefined) fail('--once needs --events.');
  if (!once && args['events'] === undefined && !secret)
    fail('Nothing to learn from: give --events F, or a secret (CLICKWISE_STREAM_SECRET) for POST /events.');
  if (args['listen'] !== undefined && !secret) fail('--listen needs a secret: set CLICKWISE_STREAM_SECRET or pass --secret-file.');
  if (secret && secret.length < 16) fail('The secret must be at least 16 characters.');
  const maxBody = Number(args['max-body'] ?? 1 << 20);
  if (!(Number.isInteger(maxBody) && maxBody >= 1))
    fail(`--max-body must be a whole number of bytes ≥ 1, got ${String(args['max-body'])}.`);

  const say = (m: string): void => console.error(`[stream] ${m}`);
  const ids = (await readCatalogFile(String(catalogFile), columns)).map((i) => i.id);
  const t0 = Date.now();
  const job = await StreamJob.open({ modelDir, ids, stateDir, log: say, keepDays, dates });
  say(
    `base ${job.baseVersion}, ${ids.length} items, ${
      job.fromCheckpoint > 0
        ? `${job.total} events: ${job.fromCheckpoint} from the checkpoint, ${job.total - job.fromCheckpoint} replayed from ${stateDir}`
        : `${job.total} events replayed from ${stateDir}`
    } in ${Date.now() - t0} ms`,
  );
  const source = args['events'] !== undefined ? new FileSource(resolve(String(args['events'])), job, say, undefined, columns) : null;
  source?.resume(job.sourcePosition);
  let checkpointAt = Date.now();
  /**
   * Writes a checkpoint where the job learned anything since the last; a failure costs only a
   * longer start. `inTurns`: a piece at a time while the job takes events (not at all where other
   * work is under way: the next tick tries again), else at once.
   */
  const checkpoint = async (inTurns = false): Promise<void> => {
    if (!job.unsaved) return;
    try {
      const c = inTurns ? await job.writeCheckpointInTurns(source?.position() ?? null) : job.writeCheckpoint(source?.position() ?? null);
      if (!c) return;
      checkpointAt = Date.now();
      const size = c.bytes < 1 << 20 ? `${(c.bytes / 1024).toFixed(1)} kB` : `${(c.bytes / 1048576).toFixed(1)} MiB`;
      say(`checkpoint of ${job.total} events written (${size} in ${c.ms.toFixed(0)} ms)`);
    } catch (err) {
      say(
        `the checkpoint could not be written (${err instanceof Error ? err.message : String(err)}); the last one stays, and a start replays the log after it`,
      );
    }
  };

  /** Publishes a delta where anything changed: at once (`atOnce`, at the end), else in turns. */
  const publish = async (force = false, atOnce = false): Promise<void> => {
    const p = atOnce ? job.publish(force) : await job.publishInTurns(force);
    if (p)
      say(
        `published delta ${p.seq} for base ${job.baseVersion}: ${p.items} items${p.recentItems ? ` (and what ${p.recentItems} sell now)` : ''}, ${job.status()['eventsSinceBase'] as number} events since the base, ${(p.gzipBytes / 1024).toFixed(1)} kB gzipped`,
      );
  };
  /** Drops the log's events from before the window where they are due; a checkpoint follows at once. */
  const compact = async (inTurns: boolean): Promise<void> => {
    if (!job.compactionDue) return;
    const t = Date.now();
    let c: Awaited<ReturnType<StreamJob['compact']>>;
    try {
      c = await job.compact();
    } catch (err) {
      say(`the log could not be compacted (${err instanceof Error ? err.message : String(err)}); it stays as it was`);
      return;
    }
    if (!c) return;
    const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
    say(
      `compacted the log to the events of the last ${keepDays} days: ${c.dropped} older events dropped, ${c.kept} kept, ${mib(c.before)} → ${mib(c.after)} in ${Date.now() - t} ms`,
    );
    // The checkpoint before covers a log that is gone: a start would replay the whole log.
    await checkpoint(inTurns);
  };
  if (source) {
    // Before the job listens: pieces as large as a read at once takes, a gzipped file as it unzips.
    const r = await source.pollInTurns(PIECE_BYTES);
    say(
      `read ${args['events'] as string}: ${r.accepted} new events, ${r.duplicates} seen before${r.tooOld ? `, ${r.tooOld} from before the last ${keepDays} days not taken` : ''}${source.returns ? `, ${source.returns} return${source.returns === 1 ? '' : 's'} left out` : ''}, ${source.skipped} lines skipped`,
    );
    if (r.accepted > 0) await checkpoint();
  }
  if (once) {
    await compact(false);
    await publish(true, true);
    await checkpoint();
    job.close();
    return;
  }
  await publish(false, true);
  let server: Server | null = null;
  if (secret) {
    const [host, port] = String(args['listen'] ?? '127.0.0.1:8787').split(/:(?=\d+$)/);
    server = await startHttp(
      job,
      { host: host || '127.0.0.1', port: Number(port ?? 8787), secret, maxBodyBytes: maxBody },
      () => undefined,
    );
    const addr = server.address();
    say(`listening on ${typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr)} for POST /events`);
  }
  // The file followed in turns, the job taking posted events and publishing between pieces (a read
  // under way when the next interval comes goes on; that call takes nothing).
  const follow = source ? setInterval(() => void source.pollInTurns(), 500) : null;
  let catalogTime = statSync(String(catalogFile)).mtimeMs;
  const catalogFailed = (err: unknown): void =>
    say(
      `the catalogue ${String(catalogFile)} could not be read again (${err instanceof Error ? err.message : String(err)}); the job keeps the previous one`,
    );
  /** The catalogue being read again, if it is: one read at a time. */
  let readingCatalog: Promise<void> | null = null;
  /**
   * Reads the catalogue file changed at `t` again (new products) and takes it, both in turns while
   * the job takes events; what was learned carries over by id. Where other work (a new base, a
   * compaction, a checkpoint) began meanwhile, the next tick reads it again.
   */
  const readCatalogAgain = async (t: number): Promise<void> => {
    let next: string[];
    try {
      next = (await readCatalogFile(String(catalogFile), columns)).map((i) => i.id);
    } catch (err) {
      catalogTime = t;
      catalogFailed(err);
      return;
    }
    if (job.busy) return;
    catalogTime = t;
    if (await job.setCatalogInTurns(next)) {
      say(`read the catalogue again: ${next.length} items`);
      // Written now, in turns: a start from the checkpoint before would carry it over again.
      await checkpoint(true);
    }
  };
  const publishFailed = (err: unknown): void =>
    say(`publishing failed (the last good delta stays): ${err instanceof Error ? err.message : String(err)}`);
  const tick = setInterval(() => {
    // While a new base is replayed (or the log compacted), the job takes events and publishes for
    // the base before; a new catalogue and the next checkpoint wait for it.
    if (job.busy) {
      publish().catch(publishFailed);
      return;
    }
    if (!readingCatalog) {
      let t = catalogTime;
      try {
        t = statSync(String(catalogFile)).mtimeMs;
      } catch (err) {
        catalogFailed(err);
      }
      if (t !== catalogTime) readingCatalog = readCatalogAgain(t).finally(() => (readingCatalog = null));
    }
    job
      .checkBase()
      .then(async (rebased) => {
        await publish();
        // After a new base at once: a start from the checkpoint before would replay the whole log.
        if (rebased || Date.now() - checkpointAt >= checkpointEvery * 1000) await checkpoint(true);
        await compact(true);
      })
      .catch(publishFailed);
  }, every * 1000);
  const stop = (): void => {
    if (follow) clearInterval(follow);
    clearInterval(tick);
    server?.close();
    // At once (its work runs before the promise's first await), superseding one in turns.
    publish(false, true).catch(publishFailed);
    // At once (an async function runs to its first await in this turn), before the process ends.
    void checkpoint();
    job.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export const command: Command = { usage: USAGE, run: main };

if (isEntry(import.meta.url)) runCommand(command, process.argv.slice(2));
