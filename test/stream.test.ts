/**
 * The shop's stream job as a real process: bad input changes nothing, an acknowledged event
 * survives `kill -9`, a retried event is not counted twice, a published delta is never torn, and
 * a new base starts the delta again.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { appendFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { alignBase, loadHeadModel, loadModelManifest } from '../src/core/model.js';
import { defaultFetcher } from '../src/core/model-io.js';
import type { DeltaEntries, ShopDeltaManifest, ShopDeltaPayload } from '../src/core/shop-delta.js';
import { absoluteRows, RecentSales, ShopLearner } from '../src/core/shop-delta.js';
import { writeHeadModel } from '../src/cli/train/head-io.js';
import { StreamJob } from '../src/cli/stream/job.js';
import { FileSource } from '../src/cli/stream/sources.js';
import { tempFolder } from './helpers.js';

const root = resolve(import.meta.dirname, '..');
// The job runs in Node itself with tsx as a loader, so that killing `proc` kills the job: the
// `tsx` command would run it in a child process that outlives a SIGKILL of its parent.
const job = ['--import', 'tsx', 'src/cli/stream/main.ts'];
const SECRET = 'a-test-secret-of-some-length';
const ITEMS = Array.from({ length: 40 }, (_, i) => `sku-${i}`);
const T0 = Date.parse('2026-11-01T00:00:00Z');

const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});

/** A model folder (the shipped base's manifest and head) and an items file, in a temporary folder. */
function setup(): { dir: string; model: string; items: string; state: string } {
  const dir = tempFolder('clickwise-stream-');
  const model = join(dir, 'model');
  cpSync(join(root, 'models', 'head'), join(model, 'head'), { recursive: true });
  cpSync(join(root, 'models', 'manifest.json'), join(model, 'manifest.json'));
  const items = join(dir, 'items.csv');
  writeFileSync(items, 'item_id,title\n' + ITEMS.map((id) => `${id},Product ${id}`).join('\n') + '\n');
  return { dir, model, items, state: join(dir, 'state') };
}

/** Starts the job; resolves once it listens (with its port) or, without a secret, once it has read its file. */
function start(args: string[], env: Record<string, string> = {}): Promise<{ proc: ChildProcess; port: number; out: () => string }> {
  const proc = spawn(process.execPath, [...job, ...args], { cwd: root, env: { ...process.env, ...env } });
  running.push(proc);
  let out = '';
  return new Promise((ok, fail) => {
    const onData = (b: Buffer): void => {
      out += b.toString();
      const m = /listening on [^:]+:(\d+)/.exec(out);
      if (m) ok({ proc, port: Number(m[1]), out: () => out });
      else if (!env['CLICKWISE_STREAM_SECRET'] && /\[stream\] read /.test(out)) ok({ proc, port: 0, out: () => out });
    };
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => fail(new Error(`the job exited (${code}) before it was ready:\n${out}`)));
  });
}

const event = (id: string, item: string, minute: number, user = 'u1'): object => ({
  id,
  user_id: user,
  item_id: item,
  timestamp: new Date(T0 + minute * 60_000).toISOString(),
});

async function post(port: number, body: string, secret = SECRET): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}/events`, { method: 'POST', body, headers: { authorization: `Bearer ${secret}` } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function status(port: number): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: `Bearer ${SECRET}` } });
  return (await res.json()) as Record<string, unknown>;
}

const logIds = (state: string): string[] =>
  readFileSync(join(state, 'events.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"id"'))
    .map((l) => (JSON.parse(l) as { id: string }).id);

/**
 * The delta in force, with ψ and what sold lately by id (`psi`, `recent`): the items listed by
 * their row in the base are read through the base's `head/items.txt`, as a browser does.
 */
function readDelta(model: string): {
  manifest: ShopDeltaManifest;
  payload: ShopDeltaPayload;
  bytes: Buffer;
  psi: Map<string, number>;
  recent: Map<string, number> | null;
} {
  const manifest = JSON.parse(readFileSync(join(model, 'delta', 'manifest.json'), 'utf8')) as ShopDeltaManifest;
  const bytes = readFileSync(join(model, 'delta', manifest.path));
  const payload = JSON.parse(bytes.toString('utf8')) as ShopDeltaPayload;
  const baseIds = readFileSync(join(model, 'head', 'items.txt'), 'utf8')
    .split('\n')
    .filter(Boolean);
  const byId = (e: DeltaEntries): Map<string, number> => {
    const out = new Map<string, number>();
    absoluteRows(e).forEach((row, k) => out.set(baseIds[row]!, e.rowValues[k]!));
    e.ids.forEach((id, k) => out.set(id, e.values[k]!));
    return out;
  };
  return { manifest, payload, bytes, psi: byId(payload.psi), recent: payload.recent ? byId(payload.recent) : null };
}

/** Resolves once the process has exited (also when it already has). */
const exited = (proc: ChildProcess): Promise<unknown> =>
  proc.exitCode !== null || proc.signalCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));

const waitFor = async (check: () => boolean, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
};

const deltaSeq = (model: string): number => {
  try {
    return readDelta(model).manifest.seq;
  } catch {
    return 0;
  }
};

describe('npm run stream', () => {
  it(
    'refuses a wrong secret, an oversized body, malformed input and an unknown item, and changes nothing',
    { timeout: 60_000 },
    async () => {
      const { model, items, state } = setup();
      const { port } = await start(
        ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--max-body', '2000'],
        {
          CLICKWISE_STREAM_SECRET: SECRET,
        },
      );
      const good = JSON.stringify([event('e1', 'sku-1', 0), event('e2', 'sku-2', 1)]);
      const wrong = await post(port, good, 'not-the-secret-at-all');
      expect(wrong.status).toBe(401);
      expect(String(wrong.json['error'])).toMatch(/Wrong or missing secret/);
      const big = JSON.stringify(Array.from({ length: 40 }, (_, k) => event(`b${k}`, 'sku-1', k)));
      const tooBig = await post(port, big);
      expect(tooBig.status).toBe(413);
      expect(String(tooBig.json['error'])).toMatch(/limit is 2000/);
      const malformed = await post(port, '[{"id": "m1", ');
      expect(malformed.status).toBe(400);
      expect(String(malformed.json['error'])).toMatch(/Malformed body.*Nothing was taken/);
      const unknown = await post(port, JSON.stringify([event('x1', 'sku-1', 0), event('x2', 'no-such-item', 1)]));
      expect(unknown.status).toBe(422);
      expect(String(unknown.json['error'])).toMatch(/event 1: item "no-such-item" is not in the catalogue.*Nothing was taken/);
      const noId = await post(port, JSON.stringify([{ user_id: 'u', item_id: 'sku-1', timestamp: '2026-11-01T00:00:00Z' }]));
      expect(noId.status).toBe(400);
      expect(String(noId.json['error'])).toMatch(/needs an "id"/);
      const badTime = await post(port, JSON.stringify([{ ...event('t1', 'sku-1', 0), timestamp: 'yesterday' }]));
      expect(badTime.status).toBe(400);
      expect((await status(port))['events']).toBe(0);
      expect(logIds(state)).toEqual([]);
      // Good input is taken once; the same ids again are dropped (a client's retry).
      expect((await post(port, good)).json).toEqual({ accepted: 2, duplicates: 0, tooOld: 0, returns: 0 });
      expect((await post(port, good)).json).toEqual({ accepted: 0, duplicates: 2, tooOld: 0, returns: 0 });
      expect((await post(port, `${JSON.stringify(event('e3', 'sku-3', 2))}\n${JSON.stringify(event('e1', 'sku-1', 0))}\n`)).json).toEqual({
        accepted: 1,
        duplicates: 1,
        tooOld: 0,
        returns: 0,
      });
      expect(logIds(state)).toEqual(['e1', 'e2', 'e3']);
      // A time as a number: milliseconds since 1970, or seconds where it is under 10¹¹ (a
      // millisecond count that small would be an order of 1970 to 1973).
      const at = T0 + 3 * 60_000;
      const numeric = [
        { ...event('e4', 'sku-1', 0), timestamp: at / 1000 },
        { ...event('e5', 'sku-2', 0), timestamp: at },
      ];
      expect((await post(port, JSON.stringify(numeric))).json).toEqual({ accepted: 2, duplicates: 0, tooOld: 0, returns: 0 });
      const times = readFileSync(join(state, 'events.log'), 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{"id":"e4"') || l.startsWith('{"id":"e5"'))
        .map((l) => (JSON.parse(l) as { t: number }).t);
      expect(times).toEqual([at, at]);
      expect((await post(port, JSON.stringify([{ ...event('e6', 'sku-1', 0), timestamp: -1 }]))).status).toBe(400);
      // A guest's order is a sale of the shop's like any other: taken without a shopper (the job
      // learns what the whole shop sells; it refused the whole batch before).
      const { user_id: _dropped, ...guest } = event('e7', 'sku-2', 4) as { user_id: string };
      void _dropped;
      expect((await post(port, JSON.stringify([guest, { ...event('e8', 'sku-2', 4), user_id: null }]))).json).toEqual({
        accepted: 2,
        duplicates: 0,
        tooOld: 0,
        returns: 0,
      });
      expect((await post(port, JSON.stringify([{ ...event('e9', 'sku-2', 4), user_id: { name: 'x' } }]))).status).toBe(400);
      // A return is no sale: left out of the batch, whose sales are taken (the batch was refused
      // whole before, so a shop that posts its order lines with their returns lost its sales),
      // also where its product has left the catalogue since.
      const returned = await post(
        port,
        JSON.stringify([
          { ...event('e10', 'sku-2', 4), quantity: 2 },
          { ...event('e11', 'sku-2', 4), quantity: -2 },
          { ...event('e12', 'gone-since', 4), quantity: '-1' },
        ]),
      );
      expect(returned.status).toBe(200);
      expect(returned.json).toEqual({ accepted: 1, duplicates: 0, tooOld: 0, returns: 2 });
      expect(await status(port)).toMatchObject({ events: 8, returns: 2 });
      expect(logIds(state)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5', 'e7', 'e8', 'e10']);
      // A return is still checked as an event: one without a time refuses its batch.
      const badReturn = await post(
        port,
        JSON.stringify([event('e13', 'sku-1', 5), { ...event('e14', 'sku-1', 5), quantity: -1, timestamp: 'yesterday' }]),
      );
      expect(badReturn.status).toBe(400);
      expect(String(badReturn.json['error'])).toMatch(/event 1: "timestamp"/);
      expect(await status(port)).toMatchObject({ events: 8, returns: 2 });
    },
  );

  it('loses no acknowledged event to kill -9 and counts no retried event twice', { timeout: 120_000 }, async () => {
    const { model, items, state } = setup();
    const args = ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--publish-every', '0.2'];
    const env = { CLICKWISE_STREAM_SECRET: SECRET };
    const batches = Array.from({ length: 60 }, (_, b) =>
      JSON.stringify(
        Array.from({ length: 20 }, (_, k) => event(`b${b}-${k}`, ITEMS[(b * 7 + k * 3) % ITEMS.length]!, b * 20 + k, `u${k % 5}`)),
      ),
    );
    const acked = new Set<string>();
    let next = 0;
    // Three crashes, each in the middle of a stream of POSTs, then a restart that retries what was not acknowledged.
    for (const crashAfter of [7, 19, 33]) {
      const { proc, port } = await start(args, env);
      const inflight: Promise<unknown>[] = [];
      for (; next < batches.length; next++) {
        const b = next;
        const p = post(port, batches[b]!).then(
          (r) => {
            if (r.status === 200) for (const e of JSON.parse(batches[b]!) as { id: string }[]) acked.add(e.id);
          },
          () => undefined, // killed before it answered: not acknowledged
        );
        inflight.push(p);
        if (b >= crashAfter) {
          proc.kill('SIGKILL');
          next++;
          break;
        }
        if (b % 3 === 0) await p;
      }
      await Promise.all(inflight);
      await exited(proc);
      // Killed means gone: nothing answers on its port any more.
      await expect(post(port, batches[0]!)).rejects.toThrow();
      const ids = logIds(state);
      for (const id of acked) expect(ids).toContain(id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    // The client retries every batch; then every event is in the log exactly once.
    const { port } = await start(args, env);
    for (const body of batches) expect((await post(port, body)).status).toBe(200);
    const ids = logIds(state);
    expect(ids.length).toBe(60 * 20);
    expect(new Set(ids).size).toBe(ids.length);
    expect((await status(port))['events']).toBe(1200);
    // The published delta is what one pass over the log's events gives: nothing learned twice.
    // The job publishes only when something changed, so the delta of all 1,200 events may be out
    // already: wait for that delta, not for the next one.
    await waitFor(() => {
      try {
        return readDelta(model).manifest.events === 1200;
      } catch {
        return false;
      }
    });
    const { payload, manifest, psi } = readDelta(model);
    expect(manifest.events).toBe(1200);
    const m = await loadModelManifest(defaultFetcher, model);
    const aligned = alignBase(await loadHeadModel(defaultFetcher, join(model, 'head')), ITEMS);
    const learner = new ShopLearner(aligned.bias, {}, aligned.known);
    const lines = readFileSync(join(state, 'events.log'), 'utf8').split('\n').filter(Boolean);
    for (const l of lines) {
      const o = JSON.parse(l) as { base?: string; item: string; t: number };
      if (o.base !== undefined) learner.resetItems();
      else learner.learn(ITEMS.indexOf(o.item), o.t);
    }
    const want = learner.published();
    expect(payload.baseVersion).toBe(m.version);
    expect(psi).toEqual(new Map(Array.from(want.indices, (i, k) => [ITEMS[i]!, want.values[k]!])));
    // Only the items the base does not know are listed by id (this base knows none of these).
    const baseIds = new Set(
      readFileSync(join(model, 'head', 'items.txt'), 'utf8')
        .split('\n')
        .filter(Boolean),
    );
    expect(payload.psi.rows.length).toBe([...psi.keys()].filter((id) => baseIds.has(id)).length);
    expect(payload.psi.ids.every((id) => !baseIds.has(id))).toBe(true);
  });

  it(
    'loses no acknowledged event to kill -9 while it compacts its log and writes checkpoints, and keeps each event once',
    { timeout: 120_000 },
    async () => {
      const { model, items, state } = setup();
      // A window of one day, events an hour apart: the log is compacted every few batches, and a
      // checkpoint is written on every tick, so kills land among both.
      const args = [
        ...['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0'],
        ...['--publish-every', '0.02', '--checkpoint-every', '0.02', '--keep-days', '1'],
      ];
      const env = { CLICKWISE_STREAM_SECRET: SECRET };
      const batches = Array.from({ length: 80 }, (_, b) =>
        Array.from({ length: 10 }, (_, k) => event(`k${b}-${k}`, ITEMS[(b * 7 + k * 3) % ITEMS.length]!, (b * 10 + k) * 60, `u${k % 5}`)),
      );
      const time = new Map(batches.flat().map((e) => [(e as { id: string }).id, Date.parse((e as { timestamp: string }).timestamp)]));
      const acked = new Set<string>();
      let next = 0;
      let compactions = 0;
      for (const crashAfter of [17, 31, 48, 63]) {
        const { proc, port, out } = await start(args, env);
        for (; next <= crashAfter; next++) {
          const body = JSON.stringify(batches[next]);
          if (next === crashAfter) {
            // Killed while this batch is in flight: it may or may not have been taken.
            const p = post(port, body).then(
              () => undefined,
              () => undefined,
            );
            await new Promise((r) => setTimeout(r, 3));
            proc.kill('SIGKILL');
            await p;
            break;
          }
          const r = await post(port, body);
          expect(r.status).toBe(200);
          for (const e of batches[next]!) acked.add((e as { id: string }).id);
          // Time for ticks: compactions and checkpoints.
          if (next % 4 === 0) await new Promise((r) => setTimeout(r, 30));
        }
        next++;
        await exited(proc);
        compactions += (out().match(/compacted the log/g) ?? []).length;
        expect(out()).not.toMatch(/damaged|cut short|cannot be read|could not be/);
      }
      expect(compactions).toBeGreaterThan(2);
      // A start after the last kill leaves nothing half written. (Looked at while that job does
      // no work of its own, no tick within the test: a job that ticks may be in the middle of its
      // own checkpoint or compaction, whose files are then there.)
      const quiet = await start(
        args.map((a, i) => (args[i - 1] === '--publish-every' ? '3600' : a)),
        env,
      );
      expect(readdirSync(state).filter((f) => /compacting|\.tmp$/.test(f))).toEqual([]);
      quiet.proc.kill('SIGTERM');
      await exited(quiet.proc);
      // Every acknowledged event of the window in the log, none twice.
      const { port, out } = await start(args, env);
      const ids = logIds(state);
      expect(new Set(ids).size).toBe(ids.length);
      const newest = Math.max(...ids.map((id) => time.get(id)!));
      const kept = [...acked].filter((id) => time.get(id)! >= newest - 86_400_000);
      expect(kept.length).toBeGreaterThan(10);
      for (const id of kept) expect(ids).toContain(id);
      // Retried, every batch: taken are only the events of the window that no run took (of a batch
      // in flight at a kill); the others are retries or from before the window.
      const inLog = new Set(ids);
      const missing = batches
        .slice(0, next)
        .flat()
        .map((e) => (e as { id: string }).id)
        .filter((id) => !inLog.has(id) && time.get(id)! >= newest - 86_400_000);
      let taken = 0;
      for (const b of batches.slice(0, next)) taken += Number((await post(port, JSON.stringify(b))).json['accepted']);
      expect(taken).toBe(missing.length);
      // (The job may have compacted its log since: each id once, every one of the window there.)
      const after = logIds(state);
      expect(new Set(after).size).toBe(after.length);
      for (const id of [...kept, ...missing]) expect(after).toContain(id);
      expect(out()).not.toMatch(/damaged|cut short|cannot be read/);
    },
  );

  it('never serves a torn delta: the manifest always names a whole payload with its checksum', { timeout: 60_000 }, async () => {
    const { model, items, state } = setup();
    const { port } = await start(
      ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--publish-every', '0.02'],
      {
        CLICKWISE_STREAM_SECRET: SECRET,
      },
    );
    let stop = false;
    const writer = (async (): Promise<void> => {
      for (let b = 0; !stop; b++)
        await post(port, JSON.stringify(Array.from({ length: 10 }, (_, k) => event(`t${b}-${k}`, ITEMS[(b + k) % 40]!, b))));
    })();
    await waitFor(() => deltaSeq(model) > 0);
    const seen = new Set<number>();
    for (let r = 0; r < 300; r++) {
      const { manifest, bytes } = readDelta(model);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.sha256);
      seen.add(manifest.seq);
      await new Promise((res) => setTimeout(res, 5));
    }
    stop = true;
    await writer;
    // Publications happened while it was read (how many depends on the machine's speed).
    expect(seen.size).toBeGreaterThan(1);
  });

  it("reads events files and an items CSV under the shop's own column names (--columns)", { timeout: 60_000 }, () => {
    const { dir, model, state } = setup();
    const items = join(dir, 'products.csv');
    writeFileSync(items, 'StockCode,Description\n' + ITEMS.map((id) => `${id},Product ${id}`).join('\n') + '\n');
    const csv = join(dir, 'orders.csv');
    writeFileSync(
      csv,
      `Line,CustomerID,StockCode,InvoiceDate,Quantity\no-1,c1,${ITEMS[0]},2026-11-01T00:00:00Z,6\no-2,,${ITEMS[1]},2026-11-01T00:01:00Z,\nc-1,c1,${ITEMS[0]},2026-11-01T00:01:30Z,-6\n`,
    );
    const ndjson = join(dir, 'more.ndjson');
    writeFileSync(
      ndjson,
      JSON.stringify({ Line: 'o-3', CustomerID: 'c2', StockCode: ITEMS[2], InvoiceDate: '2026-11-01T00:02:00Z' }) + '\n',
    );
    const columns = 'id=Line,user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate,title=Description,quantity=Quantity';
    for (const [file, taken] of [
      // The return (a quantity below 0) is no sale, and no bad line either: left out, and counted.
      [csv, /read .*orders\.csv: 2 new events, 0 seen before, 1 return left out, 0 lines skipped/],
      [ndjson, /read .*more\.ndjson: 1 new events?, 0 seen before/],
    ] as const) {
      const r = spawnSync(
        process.execPath,
        [...job, '--model', model, '--items', items, '--state', state, '--events', file, '--columns', columns, '--once'],
        { cwd: root, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(taken);
      appendFileSync(join(dir, 'out.txt'), r.stderr);
    }
    expect(logIds(state)).toEqual(['o-1', 'o-2', 'o-3']);
    expect(readFileSync(join(dir, 'out.txt'), 'utf8')).not.toMatch(/skipped .*line 4/);
  });

  it('takes a day or a month first in digits only where the shop says which (--date-order)', { timeout: 60_000 }, () => {
    const { dir, model, items, state } = setup();
    const file = join(dir, 'orders.csv');
    // 01/11/2026 is 1 November to the shop; read as 11 January it would be an order of before the job's window.
    writeFileSync(file, `id,user_id,item_id,timestamp\no-1,c1,${ITEMS[0]},01/11/2026 00:05\no-2,c1,${ITEMS[1]},2026-11-01T00:06:00Z\n`);
    const run = (at: string, more: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [...job, '--model', model, '--items', items, '--state', at, '--events', file, '--once', ...more], {
        cwd: root,
        encoding: 'utf8',
      });
    const refused = run(state, []);
    expect(refused.status, String(refused.stderr)).toBe(0);
    expect(refused.stderr).toMatch(/line 2: "timestamp" "01\/11\/2026 00:05" .*taken only with --date-order day-first \(or month-first\)/);
    expect(logIds(state)).toEqual(['o-2']);
    const told = join(dir, 'told');
    const taken = run(told, ['--date-order', 'day-first']);
    expect(taken.status, String(taken.stderr)).toBe(0);
    expect(logIds(told)).toEqual(['o-1', 'o-2']);
    const t = readFileSync(join(told, 'events.log'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{"id":"o-1"'))
      .map((l) => (JSON.parse(l) as { t: number }).t);
    expect(t).toEqual([Date.UTC(2026, 10, 1, 0, 5)]);
    const bad = run(join(dir, 'bad'), ['--date-order', 'american']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--date-order must be day-first/);
  });

  it('refuses a largest body that is not a whole number of bytes ≥ 1, before it reads anything', () => {
    for (const bad of ['0', '-5', '1.5']) {
      const r = spawnSync(
        process.execPath,
        [...job, '--model', 'no-model', '--items', 'no-items.csv', '--listen', '127.0.0.1:0', '--max-body', bad],
        {
          cwd: root,
          encoding: 'utf8',
          env: { ...process.env, CLICKWISE_STREAM_SECRET: SECRET },
        },
      );
      // Before, it read the catalogue first (a missing one failed there), and took 0 as a limit that refuses every body.
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--max-body must be a whole number of bytes ≥ 1, got ${bad.replace('.', '\\.')}\\.`));
    }
  });

  it('says so where its events file is separated by semicolons, not commas', { timeout: 60_000 }, () => {
    const { dir, model, items, state } = setup();
    const file = join(dir, 'orders.csv');
    writeFileSync(file, `id;user_id;item_id;timestamp\no-1;c1;${ITEMS[0]};2026-11-01T00:00:00Z\n`);
    const r = spawnSync(process.execPath, [...job, '--model', model, '--items', items, '--state', state, '--events', file, '--once'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/orders\.csv lacks the column\(s\) user_id, item_id, timestamp\. .*Its header is one column holding ";"/);
  });

  it('follows a growing NDJSON file: whole lines only, bad lines skipped, nothing twice after a restart', { timeout: 60_000 }, async () => {
    const { dir, model, items, state } = setup();
    const file = join(dir, 'orders.ndjson');
    writeFileSync(
      file,
      `${JSON.stringify(event('f1', 'sku-1', 0))}\nnot json\n${JSON.stringify(event('f2', 'nope', 1))}\n{"id":"f3","user_id":"u","item_id":"sku-3"`,
    );
    const args = ['--model', model, '--items', items, '--state', state, '--events', file, '--publish-every', '0.1'];
    const first = await start(args);
    expect(first.out()).toMatch(/read .*orders\.ndjson: 1 new events, 0 seen before, 2 lines skipped/);
    expect(first.out()).toMatch(/line 2: .*JSON/);
    expect(first.out()).toMatch(/item "nope" is not in the catalogue/);
    // The rest of the half-written line arrives.
    appendFileSync(file, `,"timestamp":"2026-11-01T00:05:00Z"}\n${JSON.stringify(event('f4', 'sku-4', 6))}\n`);
    await waitFor(() => logIds(state).length === 3);
    expect(logIds(state)).toEqual(['f1', 'f3', 'f4']);
    first.proc.kill('SIGKILL');
    await exited(first.proc);
    const again = await start(args);
    expect(again.out()).toMatch(/3 events: 1 from the checkpoint, 2 replayed from/);
    // The checkpoint written after the first read: the file is read on from the line after f2's,
    // and its two events there are in the log already.
    expect(again.out()).toMatch(/reading orders\.ndjson on from byte \d+ \(line 3\)/);
    expect(again.out()).toMatch(/0 new events, 2 seen before/);
    expect(logIds(state)).toEqual(['f1', 'f3', 'f4']);
  });

  it('reads an events file in pieces, so a file longer than the longest string is read: every whole line once, with its own line number', async () => {
    const { dir, model, state } = setup();
    const job = await StreamJob.open({ modelDir: model, ids: ITEMS, stateDir: state, log: () => undefined });
    try {
      // CSV without ids: each event is known by its file's name and line number. Some lines are
      // longer than a piece (their user id is long), one is bad, and the last is half written.
      const file = join(dir, 'orders.csv');
      const lines = Array.from({ length: 120 }, (_, k) => {
        const user = k % 7 === 0 ? `shopper-with-a-long-id-${'x'.repeat(80)}-${k}` : `u${k % 5}`;
        return `${user},sku-${k % 40},${new Date(T0 + k * 60_000).toISOString()}`;
      });
      lines[50] = 'u1,not-an-item,2026-11-01T01:00:00Z';
      writeFileSync(file, `user_id,item_id,timestamp\n${lines.join('\n')}\nu1,sku-1,2026-11`);
      const said: string[] = [];
      const small = new FileSource(file, job, (m) => said.push(m), 64);
      expect(small.poll()).toEqual({ accepted: 119, duplicates: 0, tooOld: 0 });
      // A long read says how far it is, every four pieces.
      const progress = said.filter((m) => m.startsWith('reading orders.csv: ')).map((m) => Number(/: (\d+)%/.exec(m)![1]));
      expect(progress.length).toBe(Math.floor((small.pieces - 1) / 4));
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(progress.at(-1)).toBeGreaterThan(90);
      expect(small.skipped).toBe(1);
      // Read in pieces of at most 64 bytes, longer (at most twice the longest line) only to end a line.
      expect(small.pieces).toBeGreaterThan(50);
      expect(small.largestPiece).toBeLessThanOrEqual(2 * Math.max(64, ...lines.map((l) => l.length + 1)));
      expect(small.largestPiece).toBeGreaterThan(64);
      // The half-written line waits for its end.
      appendFileSync(file, '-01T02:00:00Z\n');
      expect(small.poll()).toEqual({ accepted: 1, duplicates: 0, tooOld: 0 });
      // Read again whole, as after a restart: the same ids (file name and line), so nothing twice.
      const whole = new FileSource(file, job, () => undefined);
      expect(whole.poll()).toEqual({ accepted: 0, duplicates: 120, tooOld: 0 });
      expect(whole.pieces).toBe(1);
      expect(job.total).toBe(120);
      // A gzipped file is read in pieces too.
      const gz = join(dir, 'orders.csv.gz');
      writeFileSync(gz, gzipSync(readFileSync(file)));
      const zipped = new FileSource(gz, job, () => undefined, 64);
      expect(await zipped.pollInTurns(64)).toEqual({ accepted: 120, duplicates: 0, tooOld: 0 });
      expect(zipped.pieces).toBeGreaterThan(50);
      // Read once: a later read takes nothing.
      expect(await zipped.pollInTurns(64)).toEqual({ accepted: 0, duplicates: 0, tooOld: 0 });
      // Its last line without a newline is taken, as in a plain file once it ends.
      const cut = join(dir, 'cut.csv.gz');
      writeFileSync(cut, gzipSync(`user_id,item_id,timestamp\nu9,sku-9,${new Date(T0).toISOString()}`));
      expect(await new FileSource(cut, job, () => undefined).pollInTurns()).toEqual({ accepted: 1, duplicates: 0, tooOld: 0 });
      // A file cut short (copied while it was written) stops the read with an error that says so;
      // the events of the pieces before are taken, and a read again takes the rest once it is whole.
      const part = join(dir, 'part.csv.gz');
      const partLines = Array.from({ length: 3000 }, (_, k) => `p${k},u${k % 9},sku-${k % 40},${new Date(T0 + k * 1000).toISOString()}`);
      const zippedWhole = gzipSync(`id,user_id,item_id,timestamp\n${partLines.join('\n')}\n`);
      writeFileSync(part, zippedWhole.subarray(0, Math.floor(zippedWhole.length * 0.8)));
      const before = job.total;
      const partSource = new FileSource(part, job, () => undefined);
      await expect(partSource.pollInTurns(4096)).rejects.toThrow(
        /part\.csv\.gz is not a whole gzip file .*; \d+ new events were taken before the error/,
      );
      const partTaken = job.total - before;
      expect(partTaken).toBeGreaterThan(0);
      expect(partTaken).toBeLessThan(3000);
      writeFileSync(part, zippedWhole);
      expect(await partSource.pollInTurns(4096)).toEqual({ accepted: 3000 - partTaken, duplicates: partTaken, tooOld: 0 });
      // A read at once would unzip it whole: refused.
      expect(() => new FileSource(gz, job, () => undefined).poll()).toThrow(/gzipped.*pollInTurns/);
    } finally {
      job.close();
    }
  });

  it('reads a gzipped events file as it unzips, never holding it whole, and says how far it is', async () => {
    const { dir, model, state } = setup();
    const job = await StreamJob.open({ modelDir: model, ids: ITEMS, stateDir: state, log: () => undefined });
    // A collector on call, so that what is measured is what the read still holds.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    try {
      // 32 MiB unzipped: lines of 1 KiB (a column the job does not read), a few KiB zipped.
      const note = 'x'.repeat(1000);
      const lines = Array.from(
        { length: 32 * 1024 },
        (_, k) => `e${k},u${k % 9},sku-${k % 40},${new Date(T0 + k * 1000).toISOString()},${note}`,
      );
      const gz = join(dir, 'export.csv.gz');
      writeFileSync(gz, gzipSync(`id,user_id,item_id,timestamp,note\n${lines.join('\n')}\n`));
      gc();
      const before = process.memoryUsage().arrayBuffers;
      let held = 0;
      const accept = job.accept.bind(job);
      job.accept = (events) => {
        gc();
        held = Math.max(held, process.memoryUsage().arrayBuffers - before);
        return accept(events);
      };
      const said: string[] = [];
      const source = new FileSource(gz, job, (m) => said.push(m), 1 << 20);
      expect(await source.pollInTurns(1 << 20)).toEqual({ accepted: lines.length, duplicates: 0, tooOld: 0 });
      expect(source.pieces).toBeGreaterThanOrEqual(32);
      // Unzipped whole, the read would hold all 32 MiB while it takes the first piece.
      expect(held).toBeLessThan(8 << 20);
      // How far, by the zipped bytes read.
      expect(said.some((m) => /^reading export\.csv\.gz: \d+%/.test(m))).toBe(true);
    } finally {
      job.close();
    }
  });

  it('follows its file in turns while the job runs: the events a read at once takes, other work running between pieces', async () => {
    const { dir, model, state } = setup();
    const inTurns = await StreamJob.open({ modelDir: model, ids: ITEMS, stateDir: state, log: () => undefined });
    const atOnce = await StreamJob.open({ modelDir: model, ids: ITEMS, stateDir: join(dir, 'state-at-once'), log: () => undefined });
    try {
      const file = join(dir, 'export.csv');
      const line = (k: number): string => `u${k % 9},sku-${(k * 7) % 40},${new Date(T0 + k * 60_000).toISOString()}`;
      writeFileSync(file, `user_id,item_id,timestamp\n${Array.from({ length: 400 }, (_, k) => line(k)).join('\n')}\n`);
      const source = new FileSource(file, inTurns, () => undefined);
      let turns = 0;
      let reading = true;
      const spin = (): void => {
        if (!reading) return;
        turns++;
        // One read at a time: another in turns takes nothing, one at once is refused.
        if (turns === 1) expect(() => source.poll()).toThrow(/being read in turns/);
        setImmediate(spin);
      };
      setImmediate(spin);
      const [taken, again] = await Promise.all([source.pollInTurns(1024), source.pollInTurns(1024)]).finally(() => (reading = false));
      expect(taken).toEqual({ accepted: 400, duplicates: 0, tooOld: 0 });
      expect(again).toEqual({ accepted: 0, duplicates: 0, tooOld: 0 });
      expect(source.pieces).toBeGreaterThan(10);
      expect(turns).toBeGreaterThanOrEqual(source.pieces - 1);
      expect(new FileSource(file, atOnce, () => undefined).poll()).toEqual(taken);
      expect(inTurns.status()).toEqual(atOnce.status());
      // Lines appended later are read on from where it stopped.
      appendFileSync(file, `${line(400)}\n${line(401)}\n`);
      expect(await source.pollInTurns()).toEqual({ accepted: 2, duplicates: 0, tooOld: 0 });
      expect(inTurns.total).toBe(402);
    } finally {
      inTurns.close();
      atOnce.close();
    }
  });

  it('says how far a long replay of its log is at a start, and replays every event', async () => {
    const { dir, model, state } = setup();
    const first = await StreamJob.open({ modelDir: model, ids: ITEMS, stateDir: state, log: () => undefined });
    const file = join(dir, 'orders.csv');
    const lines = Array.from({ length: 230 }, (_, k) => `u${k % 9},sku-${k % 40},${new Date(T0 + k * 60_000).toISOString()}`);
    writeFileSync(file, `user_id,item_id,timestamp\n${lines.join('\n')}\n`);
    try {
      expect(new FileSource(file, first, () => undefined).poll()).toEqual({ accepted: 230, duplicates: 0, tooOld: 0 });
    } finally {
      first.close();
    }
    const said: string[] = [];
    const again = await StreamJob.open({
      modelDir: model,
      ids: ITEMS,
      stateDir: state,
      log: (m) => said.push(m),
      replayProgressEvents: 50,
    });
    try {
      expect(again.total).toBe(230);
      expect(said.filter((m) => m.startsWith('replaying '))).toEqual(
        [50, 100, 150, 200].map((n) => `replaying ${state}: ${n} events so far`),
      );
    } finally {
      again.close();
    }
  });

  it('starts the delta again when a new base is published', { timeout: 60_000 }, async () => {
    const { model, items, state } = setup();
    const { port } = await start(
      ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--publish-every', '0.1'],
      {
        CLICKWISE_STREAM_SECRET: SECRET,
      },
    );
    await post(port, JSON.stringify(Array.from({ length: 30 }, (_, k) => event(`n${k}`, 'sku-5', k))));
    await waitFor(() => readDelta(model).manifest.events === 30);
    const before = readDelta(model);
    const psi5 = (d: { psi: Map<string, number> }): number => d.psi.get('sku-5') ?? 0;
    expect(psi5(before)).toBeGreaterThan(0.5);
    // A new base appears in the folder (what maintain --out <this folder> does).
    const manifestPath = join(model, 'manifest.json');
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string };
    writeFileSync(manifestPath, JSON.stringify({ ...m, version: `${m.version}-next` }));
    await waitFor(() => deltaSeq(model) > before.manifest.seq && readDelta(model).manifest.baseVersion === `${m.version}-next`);
    const after = readDelta(model);
    expect(after.manifest.events).toBe(0);
    // The per-item part starts again (the new base took those sales in); what sells now stays.
    expect(psi5(after)).toBeLessThan(psi5(before));
    expect((await status(port))['events']).toBe(30);
  });

  it(
    'publishes what sells now with the delta where the base ships what sold lately: from the base’s figures on, with its half-life',
    { timeout: 60_000 },
    async () => {
      const { model, items, state } = setup();
      // A base that knows the first 20 items and ships what they sold before its cut-off, a day
      // before the stream's events: sku-1 sold best then.
      const known = ITEMS.slice(0, 20);
      const cutOff = T0 - 86_400_000;
      const baseRecent = Float32Array.from(known, (_, j) => (j === 1 ? 3 : j < 5 ? 0.5 : 0));
      writeHeadModel(join(model, 'head'), {
        version: 'base-identity-cw-enc-64-a13b482d',
        encoderVersion: 'cw-enc-64-a13b482d',
        dims: 64,
        alpha: 0,
        W: Float32Array.from({ length: 64 * 64 }, (_, k) => (k % 65 === 0 ? 1 : 0)),
        ids: known,
        bias: new Float32Array(known.length),
        residual: null,
        recent: baseRecent,
        recentHalfLifeDays: 3,
        recentAt: cutOff,
        deltaCompatibleWith: [],
        provenance: {},
      });
      const { port } = await start(
        ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--publish-every', '0.1'],
        {
          CLICKWISE_STREAM_SECRET: SECRET,
        },
      );
      // Now sku-7 sells, and sku-30, which the base does not know; and one sale from before the
      // cut-off arrives late (the base has it already).
      const sales = [
        ...Array.from({ length: 30 }, (_, k) => event(`r${k}`, 'sku-7', 20 * k)),
        ...Array.from({ length: 3 }, (_, k) => event(`s${k}`, 'sku-30', 60 * k + 30)),
        event('late', 'sku-2', -2 * 24 * 60),
      ];
      await post(port, JSON.stringify(sales));
      await waitFor(() => readDelta(model).manifest.events === sales.length);
      const { payload, recent } = readDelta(model);
      expect(payload.recent?.halfLifeDays).toBe(3);
      const r = recent!;
      expect([...r.keys()].sort()).toEqual(['sku-0', 'sku-1', 'sku-2', 'sku-3', 'sku-30', 'sku-4', 'sku-7']);
      // sku-30, which the base does not know, by id; the others by their row in the base, whose
      // item list the manifest names.
      expect(payload.recent!.ids).toEqual(['sku-30']);
      expect(readDelta(model).manifest.baseItems).toBe(
        createHash('sha256')
          .update(readFileSync(join(model, 'head', 'items.txt')))
          .digest('hex'),
      );
      // The same figures as RecentSales started from the base's at its cut-off, at the newest event.
      const want = new RecentSales(ITEMS.length, 3);
      want.seed(new Map(Array.from(baseRecent, (v, j) => [j, v] as [number, number]).filter(([, v]) => v > 0)), cutOff);
      const times = sales
        .map((e) => ({ item: ITEMS.indexOf((e as { item_id: string }).item_id), t: Date.parse((e as { timestamp: string }).timestamp) }))
        .sort((a, b) => a.t - b.t);
      times.forEach((e) => want.add(e.item, e.t));
      const values = want.values(Math.max(...times.map((e) => e.t)));
      r.forEach((v, id) => expect(v).toBeCloseTo(values[ITEMS.indexOf(id)]!, 3));
      const of = (id: string): number => r.get(id)!;
      expect(of('sku-7')).toBeGreaterThan(of('sku-1'));
      expect(of('sku-1')).toBeGreaterThan(of('sku-30'));
      // The late sale is in the base's figure already: sku-2 is where sku-0 is.
      expect(of('sku-2')).toBe(of('sku-0'));
    },
  );

  it('reads the catalogue file again when it changes: a new product is taken once it is listed', { timeout: 60_000 }, async () => {
    const { model, items, state } = setup();
    const { port } = await start(
      ['--model', model, '--items', items, '--state', state, '--listen', '127.0.0.1:0', '--publish-every', '0.1'],
      {
        CLICKWISE_STREAM_SECRET: SECRET,
      },
    );
    const body = JSON.stringify([event('new1', 'sku-new', 0)]);
    expect((await post(port, body)).status).toBe(422);
    appendFileSync(items, 'sku-new,A new product\n');
    let status = 0;
    for (let k = 0; k < 100 && status !== 200; k++) {
      status = (await post(port, body)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
    await waitFor(() => readDelta(model).payload.psi.ids.includes('sku-new'));
  });
});
