/**
 * The stream job's window of events (`keepDays`): its log is rewritten without the events from
 * before the window, the ids it knows a retry by are those of the events kept, an event from before
 * the window is not taken, and what it learned stays as it was, so that a start after it, from its
 * checkpoint, goes on as the running job does.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { streamCompactionDue, streamWindowStart } from '../src/core/shop-delta.js';
import type { StreamEvent } from '../src/cli/stream/log.js';
import { EventLog } from '../src/cli/stream/log.js';
import { delta, fresh, IDS, N, open, replayed, root, T0 } from './stream-helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Events k to k + n − 1, three hours apart: 8 a day. */
function hourly(k: number, n: number, prefix = 'h'): StreamEvent[] {
  return Array.from({ length: n }, (_, j) => ({
    id: `${prefix}${k + j}`,
    user: `u${(k + j) % 5}`,
    item: IDS[((k + j) * 7) % N]!,
    t: T0 + (k + j) * 3 * HOUR,
  }));
}

/** The log's lines: its events' ids and its base markers. */
function logLines(state: string): string[] {
  return readFileSync(EventLog.pathIn(state), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const o = JSON.parse(l) as { id?: string; base?: string };
      return o.base !== undefined ? `base ${o.base}` : o.id!;
    });
}

describe('the stream job’s window of events', () => {
  it('drops the log’s events from before the window, knows retries among those kept, and goes on as it was', async () => {
    const { folder, state } = fresh();
    // A clock a day after the events: the window ends at the newest event.
    const clock = { now: () => T0 + 30 * DAY };
    const job = await open(folder, state, [], { keepDays: 2, ...clock });
    // 60 events over 7.4 days: the newest at 177 h, the window from 129 h (event 43) on.
    expect(job.accept(hourly(0, 60))).toEqual({ accepted: 60, duplicates: 0, tooOld: 0 });
    expect(job.windowStart()).toBe(T0 + 129 * HOUR);
    expect(job.compactionDue).toBe(true);
    const before = { delta: delta(job, folder), status: job.status() };
    const c = await job.compact();
    expect(c).toMatchObject({ dropped: 43, kept: 17 });
    expect(c!.after).toBeLessThan(c!.before / 2);
    expect(logLines(state)).toEqual(['base v1', ...hourly(43, 17).map((e) => e.id)]);
    expect(job.compactionDue).toBe(false);
    // What it learned is as it was.
    expect(job.status()).toEqual(before.status);
    expect(delta(job, folder)).toEqual(before.delta);

    // A retry of a kept event is known; one of a dropped event, and a new one as old, are not taken.
    const again = [hourly(50, 1)[0]!, hourly(10, 1)[0]!, { ...hourly(20, 1)[0]!, id: 'new-but-old' }];
    expect(job.accept(again)).toEqual({ accepted: 0, duplicates: 1, tooOld: 2 });
    expect(job.status()).toMatchObject({ duplicates: 1, tooOld: 2, keptFrom: new Date(T0 + 129 * HOUR).toISOString() });

    // A start from the checkpoint written after it goes on as the running job does.
    job.writeCheckpoint();
    job.accept(hourly(60, 10));
    // A copy of the state folder, as a restarted job would find it, so that both go on apart.
    const copy = `${state}-copy`;
    cpSync(state, copy, { recursive: true });
    const said: string[] = [];
    const taken = await open(folder, copy, said, { keepDays: 2, ...clock });
    const whole = await open(folder, state, [], { keepDays: 2, ...clock, checkpoints: false });
    try {
      expect(replayed(said)).toBe(10);
      // A whole replay reads only the 27 events kept (and so learns other weights).
      expect(whole.total).toBe(27);
      // The checkpoint kept the log's span: event 43 (129 h) to event 69 (207 h).
      expect(taken.windowStart()).toBe(T0 + (207 - 48) * HOUR);
      expect(taken.compactionDue).toBe(job.compactionDue);
      expect(taken.compactionDue).toBe(true);
      expect({ ...taken.status(), duplicates: 1, tooOld: 2 }).toEqual(job.status());
      expect(delta(taken, folder)).toEqual(delta(job, folder));
      const later = hourly(70, 12);
      expect(taken.accept(later)).toEqual({ accepted: 12, duplicates: 0, tooOld: 0 });
      job.accept(later);
      expect(delta(taken, folder)).toEqual(delta(job, folder));
      expect(taken.compactionDue).toBe(true);
      // The newest at 243 h: events 43 to 64 go, 65 to 81 stay.
      expect(await taken.compact()).toMatchObject({ dropped: 22, kept: 17 });
    } finally {
      job.close();
      taken.close();
      whole.close();
    }
  });

  it('takes events while the log is compacted, and keeps them, in order, as events it knows', async () => {
    const { folder, state } = fresh();
    const clock = { now: () => T0 + 300 * DAY };
    const job = await open(folder, state, [], { keepDays: 10, turnBytes: 512, ...clock });
    job.accept(hourly(0, 400));
    const compacted = job.compact();
    // One piece of work at a time.
    expect(await job.compact()).toBeNull();
    expect(() => job.setCatalog([...IDS, 'p-new'])).toThrow(/while the log is compacted/);
    const meanwhile: string[] = [];
    let k = 400;
    while (job.busy) {
      const batch = hourly(k, 2);
      k += 2;
      expect(job.accept(batch).accepted).toBe(2);
      meanwhile.push(...batch.map((e) => e.id));
      await new Promise((ok) => setImmediate(ok));
    }
    const c = (await compacted)!;
    expect(meanwhile.length).toBeGreaterThan(10);
    // The window's start when it began: 10 days before event 399's 1,197 h, event 319's time.
    expect(c.dropped).toBe(319);
    const lines = logLines(state);
    expect(lines).toEqual(['base v1', ...hourly(319, 81).map((e) => e.id), ...meanwhile]);
    // Every event taken meanwhile is known as a retry.
    expect(job.accept(hourly(400, meanwhile.length)).duplicates).toBe(meanwhile.length);
    job.close();
    const whole = await open(folder, state, [], { keepDays: 10, ...clock, checkpoints: false });
    expect(whole.total).toBe(81 + meanwhile.length);
    whole.close();
  });

  it('a clock far ahead in one event does not push true events out', async () => {
    const { folder, state } = fresh();
    const now = T0 + 10 * DAY;
    const job = await open(folder, state, [], { keepDays: 2, now: () => now });
    const far = { id: 'far', user: 'u0', item: 'p1', t: Date.parse('2099-01-01T00:00:00Z') };
    expect(job.accept([far]).accepted).toBe(1);
    expect(job.windowStart()).toBe(now - 2 * DAY);
    const at = (id: string, t: number): StreamEvent => ({ id, user: 'u1', item: 'p2', t });
    expect(job.accept([at('true', now - DAY), at('old', now - 3 * DAY)])).toEqual({ accepted: 1, duplicates: 0, tooOld: 1 });
    job.close();
    // Within one batch, its newer events move the window for the older ones.
    const other = fresh();
    const first = await open(other.folder, other.state, [], { keepDays: 2, now: () => now });
    expect(first.accept([at('a', now - DAY), at('b', now - 3.5 * DAY), at('c', now - 2.5 * DAY)])).toEqual({
      accepted: 2,
      duplicates: 0,
      tooOld: 1,
    });
    first.close();
  });

  it('keeps every event where keepDays is Infinity, and refuses a window that is not a number of days', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state, [], { keepDays: Infinity });
    expect(job.accept(hourly(0, 1000)).accepted).toBe(1000);
    expect(job.windowStart()).toBe(-Infinity);
    expect(job.compactionDue).toBe(false);
    expect(job.accept([{ ...hourly(0, 1)[0]!, id: 'late', t: T0 - 1000 * DAY }]).accepted).toBe(1);
    job.close();
    for (const bad of [0, -1, NaN]) await expect(open(folder, state, [], { keepDays: bad })).rejects.toThrow(/keepDays must be/);
    expect(() => streamWindowStart(0, T0, T0)).toThrow(RangeError);
    expect(streamCompactionDue(4, T0 - 5 * DAY, T0, T0)).toBe(false);
    expect(streamCompactionDue(4, T0 - 5 * DAY - 1, T0, T0)).toBe(true);
  });

  it('leaves the log as it was where a line of it does not parse, rather than a copy that ends before it', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state, [], { keepDays: 1, turnBytes: 256, now: () => T0 + 100 * DAY });
    job.accept(hourly(0, 40));
    appendFileSync(EventLog.pathIn(state), 'not a line of the log\n');
    job.accept(hourly(40, 40));
    const before = readFileSync(EventLog.pathIn(state));
    expect(job.compactionDue).toBe(true);
    await expect(job.compact()).rejects.toThrow(/holds a line after byte \d+ that does not parse: the log is left as it was/);
    expect(readFileSync(EventLog.pathIn(state)).equals(before)).toBe(true);
    expect(existsSync(`${EventLog.pathIn(state)}.compacting`)).toBe(false);
    // The job goes on, and can try again.
    expect(job.busy).toBe(false);
    expect(job.accept(hourly(80, 1)).accepted).toBe(1);
    job.close();
  });

  it('a compaction cut short before its rename leaves the log as it was', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state);
    job.accept(hourly(0, 30));
    job.close();
    const lines = logLines(state);
    writeFileSync(`${EventLog.pathIn(state)}.compacting`, '{"base":"v1"}\n');
    const again = await open(folder, state, [], { checkpoints: false });
    expect(again.total).toBe(30);
    expect(logLines(state)).toEqual(lines);
    expect(existsSync(`${EventLog.pathIn(state)}.compacting`)).toBe(false);
    again.close();
  });

  for (const work of ['compact', 'checkpoint'] as const) {
    it(
      `a job killed in the middle of ${work === 'compact' ? 'a compaction' : 'a checkpoint written in turns'} leaves its log and its last checkpoint whole`,
      { timeout: 60_000 },
      async () => {
        const { folder, state } = fresh();
        const proc = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/stream-crash.ts', folder, state, work], { cwd: root });
        let out = '';
        proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
        proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise((ok) => proc.on('exit', ok));
        for (let waited = 0; !out.includes('begun'); waited += 10) {
          if (waited > 30_000 || proc.exitCode !== null) throw new Error(`the job did not begin its work:\n${out}`);
          await new Promise((ok) => setTimeout(ok, 10));
        }
        // Neither work writes to the log itself (a compaction writes a copy beside it).
        const logAtReady = readFileSync(EventLog.pathIn(state));
        await new Promise((ok) => setTimeout(ok, 20));
        // Killed while the work goes on (tens of thousands of turns of a few bytes, some 600 ms here).
        expect(out).not.toContain('done');
        proc.kill('SIGKILL');
        await exited;
        const left = readdirSync(state);
        expect(left.some((f) => (work === 'compact' ? f.endsWith('.compacting') : /^checkpoint\.bin\.\d+\.\d+\.tmp$/.test(f)))).toBe(true);
        // The log as it was, every line; the checkpoint written before the work, taken up.
        expect(readFileSync(EventLog.pathIn(state)).equals(logAtReady)).toBe(true);
        const said: string[] = [];
        const job = await open(folder, state, said, { keepDays: 30, now: () => T0 + 10_000 * DAY });
        try {
          expect(said.find((m) => m.startsWith('took up the checkpoint'))).toMatch(/\(50000 events\)/);
          expect(job.total).toBe(50_000);
          expect(readdirSync(state).some((f) => f.endsWith('.compacting'))).toBe(false);
          // The work done again, whole; the next checkpoint sweeps what the killed one left.
          expect((await job.compact())!.kept).toBe(241);
          job.writeCheckpoint();
          expect(readdirSync(state).sort()).toEqual(['checkpoint.bin', 'events.log']);
        } finally {
          job.close();
        }
      },
    );
  }

  it('npm run stream --keep-days compacts the log after reading its file, and refuses a bad window', { timeout: 60_000 }, async () => {
    const { dir, folder, state } = fresh();
    const items = join(dir, 'items.csv');
    writeFileSync(items, 'item_id,title\n' + IDS.map((id) => `${id},${id}`).join('\n') + '\n');
    const file = join(dir, 'orders.ndjson');
    const rows = hourly(0, 40).map((e) => JSON.stringify({ id: e.id, user_id: e.user, item_id: e.item, timestamp: e.t }));
    writeFileSync(file, rows.join('\n') + '\n');
    const run = (...more: string[]): Promise<{ code: number | null; err: string }> =>
      new Promise((ok) => {
        const proc = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'src/cli/stream/main.ts',
            '--model',
            folder,
            '--items',
            items,
            '--state',
            state,
            '--events',
            file,
            '--once',
            ...more,
          ],
          { cwd: root },
        );
        let err = '';
        proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
        proc.on('close', (code) => ok({ code, err }));
      });
    const bad = await run('--keep-days', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--keep-days must be a number of days > 0, or all, got 0/);
    const r = await run('--keep-days', '2');
    expect(r.code, r.err).toBe(0);
    // 40 events over 4.9 days: those before 117 − 48 = 69 h (23 of them) dropped.
    expect(r.err).toMatch(/compacted the log to the events of the last 2 days: 23 older events dropped, 17 kept/);
    expect(logLines(state)).toEqual(['base v1', ...hourly(23, 17).map((e) => e.id)]);
    const next = await run('--keep-days', '2');
    expect(next.err).toMatch(/took up the checkpoint/);
    expect(next.err).not.toMatch(/compacted/);
  });
});
