/**
 * The stream job's checkpoints (src/cli/stream/checkpoint.ts): a start takes up the last one and
 * replays only the log after it, and then learns and publishes exactly as a start that replays the
 * whole log; a checkpoint that no longer holds is left aside; the events file is read on from
 * where the checkpoint left it.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { Mulberry32, mulberry32 } from '../src/core/rng.js';
import { alignBase, alignBaseSteps, loadHeadModel } from '../src/core/model.js';
import type { ShopDeltaManifest, ShopDeltaPayload } from '../src/core/shop-delta.js';
import { defaultFetcher } from '../src/core/model-io.js';
import { carryOver, carryOverSteps, ShopLearner, shopLearnerOn, shopLearnerOnSteps } from '../src/core/shop-delta.js';
import { catalogSha, catalogShaSteps, CHECKPOINT_FILE } from '../src/cli/stream/checkpoint.js';
import { IdSet } from '../src/cli/stream/id-set.js';
import type { StreamEvent } from '../src/cli/stream/log.js';
import { EventLog } from '../src/cli/stream/log.js';
import { FileSource } from '../src/cli/stream/sources.js';
import { StreamJob } from '../src/cli/stream/job.js';
import { delta, events, fresh, IDS, model, N, open, replayed, root, T0 } from './stream-helpers.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { defaultHead, writeHeadModel } from '../src/cli/train/head-io.js';

describe('the stream job’s checkpoint', () => {
  it('a start replays only the log after it, then learns and publishes exactly as a start that replays the whole log', async () => {
    const { folder, state } = fresh();
    const first = await open(folder, state);
    first.accept(events(0, 300));
    // A retry, counted as one.
    first.accept(events(290, 20));
    // What a job killed while it wrote a checkpoint left goes with the next one.
    writeFileSync(join(state, `${CHECKPOINT_FILE}.99999999.tmp`), 'half a checkpoint');
    const written = first.writeCheckpoint();
    expect(readdirSync(state).sort()).toEqual([CHECKPOINT_FILE, 'events.log']);
    expect(written.bytes).toBeGreaterThan(8 * N * 4);
    first.accept(events(310, 90));
    first.close();

    // And one left by a job killed before this start goes at the start, not at its first
    // checkpoint (up to --checkpoint-every later, with a checkpoint's size on disk meanwhile).
    writeFileSync(join(state, `${CHECKPOINT_FILE}.99999998.4.tmp`), 'half a checkpoint');
    const said: string[] = [];
    const taken = await open(folder, state, said);
    expect(readdirSync(state).sort()).toEqual([CHECKPOINT_FILE, 'events.log']);
    const whole = await open(folder, state, [], { checkpoints: false });
    try {
      expect(said.find((m) => m.startsWith('took up the checkpoint'))).toMatch(/\(310 events\); replaying the log from byte \d+/);
      // Only the 90 events after the checkpoint were read again, not 400.
      expect(replayed(said)).toBe(90);
      expect(taken.total).toBe(400);
      expect(whole.total).toBe(400);
      expect(taken.status()).toEqual(whole.status());
      // Retries are counted from each start, as before checkpoints.
      expect(taken.duplicates).toBe(0);
      expect(delta(taken, folder)).toEqual(delta(whole, folder));
      // Both go on alike: the negatives' draws, the counts and what sells now carried over.
      const later = events(400, 150);
      expect(taken.accept([...later, ...events(300, 5)])).toEqual(whole.accept([...later, ...events(300, 5)]));
      expect(taken.status()).toEqual(whole.status());
      expect(delta(taken, folder)).toEqual(delta(whole, folder));
    } finally {
      taken.close();
      whole.close();
    }
  });

  it('is left aside where it no longer holds: the whole log is replayed, and says why', async () => {
    const { dir, folder } = fresh();
    let state = '';
    let folders = 0;
    /** A job's state folder of its own: 150 events, a checkpoint after the first 120. */
    const setUp = async (): Promise<void> => {
      state = join(dir, `state-${++folders}`);
      const job = await open(folder, state, [], { checkpoints: false });
      job.accept(events(0, 120));
      job.writeCheckpoint();
      job.accept(events(120, 30));
      job.close();
    };
    /** What a start said of the checkpoint, how many events it replayed, and whether it learned as a whole replay. */
    const start = async (ids = IDS, learner = {}): Promise<{ why: string | undefined; replayed: number; same: boolean }> => {
      const said: string[] = [];
      const job = await open(folder, state, said, { ids, learner });
      const whole = await open(folder, state, [], { ids, learner, checkpoints: false });
      try {
        return {
          why: said.find((m) => m.includes('the checkpoint is not used')),
          replayed: replayed(said),
          same: JSON.stringify(delta(job, folder)) === JSON.stringify(delta(whole, folder)) && job.total === whole.total,
        };
      } finally {
        job.close();
        whole.close();
      }
    };

    await setUp();
    expect(await start()).toEqual({ why: undefined, replayed: 30, same: true });
    // Other learner options.
    expect(await start(IDS, { learningRate: 0.2 })).toEqual({
      why: expect.stringMatching(/made with other learner options/),
      replayed: 150,
      same: true,
    });
    // A damaged checkpoint: one byte of its arrays changed.
    const path = join(state, CHECKPOINT_FILE);
    const bytes = readFileSync(path);
    bytes[bytes.length - 200]! ^= 0xff;
    writeFileSync(path, bytes);
    expect(await start()).toEqual({ why: expect.stringMatching(/is damaged/), replayed: 150, same: true });
    // A checkpoint cut short, and a file that is none.
    await setUp();
    const cut = join(state, CHECKPOINT_FILE);
    writeFileSync(cut, readFileSync(cut).subarray(0, readFileSync(cut).length - 100));
    expect(await start()).toEqual({ why: expect.stringMatching(/is cut short \(its ids is not whole\)/), replayed: 150, same: true });
    writeFileSync(cut, 'not a checkpoint');
    expect(await start()).toEqual({ why: expect.stringMatching(/cannot be read as a checkpoint/), replayed: 150, same: true });
    // A log that is not the one it covered (written again from its start).
    await setUp();
    const log = join(state, 'events.log');
    writeFileSync(log, readFileSync(log, 'utf8').replace('"o3"', '"o9999"'));
    expect(await start()).toEqual({ why: expect.stringMatching(/no longer holds the \d+ bytes it covers/), replayed: 150, same: true });
    // A new model version: the learner is made on its biases, from the whole log.
    await setUp();
    model(dir, 'v2');
    expect(await start()).toEqual({ why: expect.stringMatching(/made on base v1, not v2/), replayed: 150, same: true });
  });

  it('reads the events file on from where the checkpoint left it, and from its start where the file is another', async () => {
    const { dir, folder, state } = fresh();
    const file = join(dir, 'orders.csv');
    // No ids: each event is known by the file's name and its line number.
    const line = (k: number): string => `u${k % 5},p${k % N},${new Date(T0 + k * 60_000).toISOString()}`;
    writeFileSync(file, `user_id,item_id,timestamp\n${Array.from({ length: 100 }, (_, k) => line(k)).join('\n')}\n`);
    const first = await open(folder, state);
    const source = new FileSource(file, first, () => undefined);
    expect(source.poll()).toEqual({ accepted: 100, duplicates: 0, tooOld: 0 });
    first.writeCheckpoint(source.position());
    first.close();
    appendFileSync(file, Array.from({ length: 40 }, (_, k) => line(100 + k)).join('\n') + '\n');

    const said: string[] = [];
    const again = await open(folder, state, said);
    const resumed = new FileSource(file, again, (m) => said.push(m));
    expect(resumed.resume(again.sourcePosition)).toBe(true);
    expect(said.at(-1)).toMatch(/reading orders\.csv on from byte \d+ \(line 101\)/);
    // Only the 40 new lines are read: before checkpoints, all 140 were, 100 of them as retries.
    expect(resumed.poll()).toEqual({ accepted: 40, duplicates: 0, tooOld: 0 });
    expect(again.total).toBe(140);
    again.close();
    // The new lines were known by the right line numbers: read whole again, nothing is new.
    const check = await open(folder, state, [], { checkpoints: false });
    expect(new FileSource(file, check, () => undefined).poll()).toEqual({ accepted: 0, duplicates: 140, tooOld: 0 });
    check.close();

    // The same name, other bytes (a file written anew): read from its start, retries dropped by id.
    const noted: string[] = [];
    const third = await open(folder, state);
    writeFileSync(file, `user_id,item_id,timestamp\n${Array.from({ length: 150 }, (_, k) => line(k + 1)).join('\n')}\n`);
    const other = new FileSource(file, third, (m) => noted.push(m));
    expect(other.resume({ ...(third.sourcePosition as object) })).toBe(false);
    expect(noted[0]).toMatch(/reading orders\.csv from its start: it is not the file the checkpoint read/);
    expect(other.poll()).toEqual({ accepted: 10, duplicates: 140, tooOld: 0 });
    // Another file's position is not taken up.
    expect(new FileSource(join(dir, 'other.csv'), third, () => undefined).resume(third.sourcePosition)).toBe(false);
    // A gzipped file is read once, as it unzips: the same file is not read again, another one is (its
    // events are known by its own name and their lines).
    const gz = join(dir, 'orders.csv.gz');
    writeFileSync(gz, gzipSync(readFileSync(file)));
    const zipped = new FileSource(gz, third, () => undefined);
    expect(await zipped.pollInTurns()).toEqual({ accepted: 150, duplicates: 0, tooOld: 0 });
    const at = zipped.position();
    const notes: string[] = [];
    const same = new FileSource(gz, third, (m) => notes.push(m));
    expect(same.resume(at)).toBe(true);
    expect(notes).toEqual(['orders.csv.gz was read whole before the checkpoint: not read again']);
    expect(await same.pollInTurns()).toEqual({ accepted: 0, duplicates: 0, tooOld: 0 });
    writeFileSync(gz, gzipSync(readFileSync(file) + `${line(500)}\n`));
    const grown = new FileSource(gz, third, () => undefined);
    expect(grown.resume(at)).toBe(false);
    expect(await grown.pollInTurns()).toEqual({ accepted: 1, duplicates: 150, tooOld: 0 });
    third.close();
  });

  it('npm run stream writes one after reading its file and takes it up at the next start', { timeout: 60_000 }, async () => {
    const { dir, folder, state } = fresh();
    const items = join(dir, 'items.csv');
    writeFileSync(items, 'item_id,title\n' + IDS.map((id) => `${id},Product ${id}`).join('\n') + '\n');
    const file = join(dir, 'orders.ndjson');
    const ndjson = (list: StreamEvent[]): string =>
      list.map((e) => JSON.stringify({ id: e.id, user_id: e.user, item_id: e.item, timestamp: e.t })).join('\n') + '\n';
    writeFileSync(file, ndjson(events(0, 200)));
    const run = (): Promise<string> =>
      new Promise((ok, fail) => {
        const proc = spawn(
          process.execPath,
          ['--import', 'tsx', 'src/cli/stream/main.ts', '--model', folder, '--items', items, '--state', state, '--events', file, '--once'],
          { cwd: root },
        );
        let out = '';
        proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
        proc.on('exit', (code) => (code === 0 ? ok(out) : fail(new Error(`exit ${code}:\n${out}`))));
      });
    const first = await run();
    expect(first).toMatch(/read .*orders\.ndjson: 200 new events, 0 seen before/);
    expect(first).toMatch(/checkpoint of 200 events written \([\d.]+ kB in \d+ ms\)/);
    appendFileSync(file, ndjson(events(200, 25)));
    const second = await run();
    expect(second).toMatch(/took up the checkpoint of .* \(200 events\)/);
    expect(second).toMatch(/200 events: 200 from the checkpoint, 0 replayed from/);
    expect(second).toMatch(/reading orders\.ndjson on from byte \d+ \(line 200\)/);
    expect(second).toMatch(/read .*orders\.ndjson: 25 new events, 0 seen before/);
    expect(second).toMatch(/checkpoint of 225 events written/);
  });
});

describe('a checkpoint written in turns', () => {
  it('is written a piece at a time while the job takes events, and a start from it goes on as the running job does', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state);
    job.accept(events(0, 300));
    // Pieces of 64 bytes: some two hundred turns, in which 600 events come and the ids' table
    // (1,024 slots at first) grows.
    const written = job.writeCheckpointInTurns(null, 64);
    expect(job.busy).toBe(true);
    expect(await job.writeCheckpointInTurns()).toBeNull();
    expect(await job.compact()).toBeNull();
    expect(await job.checkBase()).toBe(false);
    expect(() => job.setCatalog([...IDS, 'p-new'])).toThrow(/while a checkpoint is written/);
    let k = 300;
    while (job.busy) {
      expect(job.accept(events(k, 3)).accepted).toBe(3);
      k += 3;
      await new Promise((ok) => setImmediate(ok));
    }
    const c = (await written)!;
    // Past 717 ids the table grew, the write going on with the one it began with.
    expect(k - 300).toBeGreaterThan(450);
    expect(c.bytes).toBeGreaterThan(1024 * 8);
    // What came meanwhile is not in it: the next checkpoint holds it.
    expect(job.unsaved).toBe(true);
    const copy = `${state}-copy`;
    cpSync(state, copy, { recursive: true });
    const said: string[] = [];
    const taken = await open(folder, copy, said);
    try {
      // It holds the 300 events of when it was begun; the others are replayed from the log.
      expect(said.find((m) => m.startsWith('took up the checkpoint'))).toMatch(/\(300 events\)/);
      expect(replayed(said)).toBe(k - 300);
      expect(taken.status()).toEqual(job.status());
      expect(delta(taken, folder)).toEqual(delta(job, folder));
      // A retry of any of them is known, and both go on alike.
      expect(taken.accept(events(0, k)).duplicates).toBe(k);
      const later = events(k, 100);
      expect(taken.accept(later)).toEqual(job.accept(later));
      expect(delta(taken, folder)).toEqual(delta(job, folder));
    } finally {
      taken.close();
      job.close();
    }
  });
});

describe('the base as the job loads it', () => {
  it('leaves out the per-item residuals, which the learner does not read, still checking their shape', async () => {
    const { dir } = fresh();
    const encoder = JSON.parse(readFileSync(join(root, 'models', 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    const head = defaultHead(encoder);
    const d = head.W.length === 0 ? 0 : Math.round(Math.sqrt(head.W.length));
    const folder = join(dir, 'with-residual');
    writeHeadModel(folder, {
      ...head,
      ids: IDS,
      bias: Float32Array.from(IDS, (_, i) => i / 100),
      residual: Float32Array.from({ length: N * d }, (_, k) => (k % 7) / 10),
    });
    const whole = await loadHeadModel(defaultFetcher, folder);
    const lean = await loadHeadModel(defaultFetcher, folder, { withResidual: false });
    expect(whole.residual).not.toBeNull();
    expect(lean.residual).toBeNull();
    expect(Array.from(lean.bias)).toEqual(Array.from(whole.bias));
    expect(lean.itemIndex).toEqual(whole.itemIndex);
    // The job loads its base so (its head is private: read here for the test only).
    cpSync(join(root, 'models', 'manifest.json'), join(dir, 'manifest.json'));
    const manifestTop = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifestTop, head: 'with-residual' }));
    const job = await StreamJob.open({ modelDir: dir, ids: IDS, stateDir: join(dir, 'state-lean'), log: () => undefined });
    try {
      expect((job as unknown as { head: { residual: unknown } }).head.residual).toBeNull();
    } finally {
      job.close();
    }
    // A residual of the wrong shape is refused either way.
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { tensors: { name: string; shape: number[] }[] };
    for (const t of manifest.tensors) if (t.name === 'residual') t.shape = [N - 1, d];
    writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest));
    await expect(loadHeadModel(defaultFetcher, folder, { withResidual: false })).rejects.toThrow(/do not match items\.txt/);
  });
});

describe('a publication in turns', () => {
  it('publishes the learner as it was when it began, other work running between turns; one at once meanwhile supersedes it', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state);
    const ref = await open(folder, join(state, '..', 'state-ref'));
    try {
      job.accept(events(0, 200));
      ref.accept(events(0, 200));
      const expected = delta(ref, folder);
      job.itemsPerTurn = 8;
      let turns = 0;
      let publishing = true;
      const spin = (): void => {
        if (!publishing) return;
        turns++;
        // Events come in meanwhile: the delta is of the learner before them.
        if (turns <= 3) expect(job.accept(events(200 + 10 * (turns - 1), 10)).accepted).toBe(10);
        setImmediate(spin);
      };
      setImmediate(spin);
      const [p, again] = await Promise.all([job.publishInTurns(true), job.publishInTurns(true)]).finally(() => (publishing = false));
      expect(p).not.toBeNull();
      // One at a time: the second call published nothing.
      expect(again).toBeNull();
      // ψ over 60 items, what sold lately, their largest entries: 8 items a turn.
      expect(turns).toBeGreaterThanOrEqual(4 * Math.floor(N / 8));
      const manifest = JSON.parse(readFileSync(join(folder, 'delta', 'manifest.json'), 'utf8')) as ShopDeltaManifest;
      const payload = JSON.parse(readFileSync(join(folder, 'delta', manifest.path), 'utf8')) as ShopDeltaPayload;
      expect({ psi: payload.psi, recent: payload.recent, events: manifest.events }).toEqual(expected);
      expect(job.total).toBe(230);
      // The events taken meanwhile are learned, and published next.
      for (let k = 0; k < 3; k++) ref.accept(events(200 + 10 * k, 10));
      expect(await job.publishInTurns()).not.toBeNull();
      expect(delta(job, folder)).toEqual(delta(ref, folder));
      // A delta published at once while one is published in turns: that one writes nothing.
      job.accept(events(230, 10));
      const inTurns = job.publishInTurns();
      const atOnce = job.publish();
      expect(atOnce).not.toBeNull();
      expect(await inTurns).toBeNull();
      const last = JSON.parse(readFileSync(join(folder, 'delta', 'manifest.json'), 'utf8')) as ShopDeltaManifest;
      expect(last.seq).toBe(atOnce!.seq);
    } finally {
      job.close();
      ref.close();
    }
  });
});

describe('a new catalogue', () => {
  it('is hashed, aligned and given its learner in steps, each the same as at once', async () => {
    const { folder } = fresh();
    const head = await loadHeadModel(defaultFetcher, join(folder, 'head'));
    const ids = ['n1', ...IDS.slice(1).reverse(), 'n2'];
    /** Runs a generator to its end; returns its value and how often it yielded. */
    const drive = <T>(g: Generator<void, T>): { value: T; yields: number } => {
      let yields = 0;
      for (;;) {
        const r = g.next();
        if (r.done) return { value: r.value, yields };
        yields++;
      }
    };
    const sha = drive(catalogShaSteps(ids, 7));
    expect(sha.value).toBe(catalogSha(ids));
    expect(sha.yields).toBe(Math.ceil(ids.length / 7));
    const aligned = drive(alignBaseSteps(head, ids, {}, 7));
    // The base's 50 items, and the catalogue's index made first: a yield every 7 of each.
    expect(aligned.yields).toBeGreaterThanOrEqual(Math.floor(50 / 7) + Math.floor(ids.length / 7));
    expect(aligned.value).toEqual(alignBase(head, ids));
    const learner = drive(shopLearnerOnSteps(aligned.value, { seed: 4 }, 7));
    expect(learner.yields).toBeGreaterThanOrEqual(Math.floor(ids.length / 7) + Math.floor(50 / 7));
    expect(learner.value.state()).toEqual(shopLearnerOn(aligned.value, { seed: 4 }).state());
  });

  it('is taken without replaying the log: what was learned carries over by id, and a checkpoint after it holds', async () => {
    const { folder, state } = fresh();
    const job = await open(folder, state);
    job.accept(events(0, 300));
    const replays = vi.spyOn(EventLog.prototype, 'forEachInTurns');
    try {
      // The same ids in the same order (a price changed): nothing to do.
      expect(job.setCatalog([...IDS])).toBe(false);
      // Two new products, one gone, another order.
      const next = ['n1', ...IDS.slice(1).reverse(), 'n2'];
      expect(job.setCatalog(next)).toBe(true);
      expect(replays).not.toHaveBeenCalled();
      expect(job.accept([{ id: 'x1', user: 'u1', item: 'n1', t: T0 + 301 * 47_000 }])).toEqual({ accepted: 1, duplicates: 0, tooOld: 0 });
      job.writeCheckpoint();
      const said: string[] = [];
      const again = await open(folder, state, said, { ids: next });
      expect(said.find((m) => m.startsWith('took up the checkpoint'))).toMatch(/\(301 events\)/);
      expect(delta(again, folder)).toEqual(delta(job, folder));
      again.close();
    } finally {
      replays.mockRestore();
      job.close();
    }
  });

  it('is taken in turns while the job runs: events taken meanwhile are learned on the new one, and other work waits for it', async () => {
    const { folder, state } = fresh();
    const next = ['n1', ...IDS.slice(1).reverse(), 'n2'];
    const job = await open(folder, state);
    // The job that takes the catalogue at once, then the events taken meanwhile.
    const atOnce = await open(folder, join(state, '..', 'state-at-once'));
    try {
      job.accept(events(0, 200));
      expect(await job.setCatalogInTurns([...IDS])).toBe(false);
      let turns = 0;
      let taking = true;
      const taken: number[] = [];
      // Between the turns of the catalogue's taking, events come in (by the old catalogue) and other work is refused.
      const spin = (): void => {
        if (!taking) return;
        turns++;
        if (turns <= 5) taken.push(job.accept(events(200 + 20 * (turns - 1), 20)).accepted);
        if (turns === 1) {
          expect(job.busy).toBe(true);
          expect(() => job.setCatalog(next)).toThrow(/while a new catalogue is taken/);
        }
        setImmediate(spin);
      };
      setImmediate(spin);
      const took = await job.setCatalogInTurns(next).finally(() => (taking = false));
      expect(took).toBe(true);
      expect(job.busy).toBe(false);
      expect(turns).toBeGreaterThanOrEqual(3);
      expect(taken.length).toBeGreaterThanOrEqual(3);
      expect(taken.every((n) => n === 20)).toBe(true);
      atOnce.accept(events(0, 200));
      expect(atOnce.setCatalog(next)).toBe(true);
      // Those of the product that left are in the log, and not learned (nor can they be posted now).
      const meanwhile = taken.flatMap((_, j) => events(200 + 20 * j, 20));
      const left = meanwhile.filter((e) => !next.includes(e.item)).length;
      expect(left).toBeGreaterThan(0);
      atOnce.accept(meanwhile.filter((e) => next.includes(e.item)));
      expect(job.total).toBe(200 + 20 * taken.length);
      expect(atOnce.total).toBe(job.total - left);
      expect(delta(job, folder)).toEqual(delta(atOnce, folder));
      // The longest turn is no longer the whole carry-over: with pieces of 16 items, many turns.
      let pieces = 0;
      const again = await open(folder, join(state, '..', 'state-pieces'));
      try {
        again.accept(events(0, 200));
        again.itemsPerTurn = 16;
        const t = again.setCatalogInTurns(next);
        const count = (): void => {
          pieces++;
          if (again.busy) setImmediate(count);
        };
        setImmediate(count);
        expect(await t).toBe(true);
        // Hashed, indexed, aligned, placed and carried over 16 items a turn.
        expect(pieces).toBeGreaterThanOrEqual(5 * Math.floor(next.length / 16));
        const whole = await open(folder, join(state, '..', 'state-whole'));
        try {
          whole.accept(events(0, 200));
          expect(whole.setCatalog(next)).toBe(true);
          expect(delta(again, folder)).toEqual(delta(whole, folder));
        } finally {
          whole.close();
        }
      } finally {
        again.close();
      }
    } finally {
      job.close();
      atOnce.close();
    }
  });

  it('a checkpoint made on another catalogue is carried over by id at a start, as a new catalogue is while the job runs', async () => {
    const { folder, state } = fresh();
    const first = await open(folder, state);
    first.accept(events(0, 300));
    first.writeCheckpoint();
    first.close();
    const next = ['n1', ...IDS.slice(1).reverse(), 'n2'];
    const said: string[] = [];
    const started = await open(folder, state, said, { ids: next });
    const running = await open(folder, state);
    try {
      expect(said.find((m) => m.startsWith('took up the checkpoint'))).toMatch(
        /\(300 events, made on a catalogue of 60 items and carried over by id\); replaying the log from byte/,
      );
      expect(replayed(said)).toBe(0);
      expect(started.unsaved).toBe(true);
      expect(running.setCatalog(next)).toBe(true);
      expect(started.status()).toEqual(running.status());
      expect(delta(started, folder)).toEqual(delta(running, folder));
    } finally {
      started.close();
      running.close();
    }
  });

  it('carryOver keeps each item’s state under its new index, and a new item starts from nothing and the base’s figures', () => {
    const bias = Float32Array.from({ length: N }, (_, i) => Math.log1p(N - i) / 4);
    const base = (ids: string[]) => ({
      bias: Float32Array.from(ids, (id) => (id.startsWith('p') ? bias[Number(id.slice(1))]! : 0)),
      known: Uint8Array.from(ids, (id) => (id.startsWith('p') && Number(id.slice(1)) < 50 ? 1 : 0)),
      // What the base says sold lately: p3 and a new product it knows, n1.
      recent: new Map(ids.flatMap((id, i): [number, number][] => (id === 'p3' ? [[i, 1.5]] : id === 'n1' ? [[i, 0.7]] : []))),
      recentHalfLifeDays: 3,
      recentAt: T0,
    });
    const old = shopLearnerOn(base(IDS), { seed: 4 });
    for (const e of events(0, 400)) old.learn(IDS.indexOf(e.item), e.t);
    const ids = ['n1', ...IDS.slice(1).reverse(), 'n2'];
    const from = Int32Array.from(ids, (id) => IDS.indexOf(id));
    const next = shopLearnerOn(base(ids), { seed: 4 });
    const seeded = Float64Array.from(next.state().sold!.sums);
    const before = JSON.stringify(old.published());
    carryOver(old, next, from);
    const a = old.state();
    const b = next.state();
    ids.forEach((_, i) => {
      const j = from[i]!;
      const pairs: [Float64Array, Float64Array][] = [
        [a.rho, b.rho],
        [a.gRho, b.gRho],
        ...a.counts.map((c, k): [Float64Array, Float64Array] => [c, b.counts[k]!]),
      ];
      for (const [x, y] of pairs) expect(y[i]).toBe(j >= 0 ? x[j] : 0);
      // Both origins moved with the same events: a new item's seeded sum is read at the old origin.
      const f = Math.pow(2, (T0 - a.sold!.origin!) / (3 * 86_400_000));
      expect(b.sold!.sums[i]).toBeCloseTo(j >= 0 ? a.sold!.sums[j]! : seeded[i]! * f, 12);
    });
    expect(b.sold!.sums[0]).toBeGreaterThan(0);
    expect(b.sold!.sums[ids.length - 1]).toBe(0);
    expect(Array.from(b.w)).toEqual(Array.from(a.w));
    expect([b.rand, b.learned, b.lastTime]).toEqual([a.rand, a.learned, a.lastTime]);
    expect(JSON.stringify(old.published())).toBe(before);
    expect(() => carryOver(old, next, from.subarray(1))).toThrow(RangeError);
    expect(() => carryOver(old, shopLearnerOn(base(ids), { seed: 5 }), from)).toThrow(/same options/);
    // In steps of 7 items: a step for each, the same state, taken only in the last.
    const stepped = shopLearnerOn(base(ids), { seed: 4 });
    const steps = carryOverSteps(old, stepped, from, 7);
    let yields = 0;
    while (!steps.next().done) {
      yields++;
      expect(stepped.state().rho.every((v) => v === 0)).toBe(true);
    }
    expect(yields).toBe(Math.ceil(ids.length / 7));
    expect(JSON.stringify(stepped.published())).toBe(JSON.stringify(next.published()));
    expect(stepped.state()).toEqual(next.state());
    // A bad index found in a later step: nothing taken.
    const bad = Int32Array.from(from);
    bad[ids.length - 1] = 10_000;
    const untouched = shopLearnerOn(base(ids), { seed: 4 });
    expect(() => carryOver(old, untouched, bad)).toThrow(/not an index of the old catalogue/);
    expect(untouched.state().rho.every((v) => v === 0)).toBe(true);
  });
});

describe('a new base', () => {
  it('is replayed a piece at a time while the job takes events, which the new state learns too, as a start on the new base would', async () => {
    const { dir, folder, state } = fresh();
    const job = await open(folder, state, [], { turnBytes: 512 });
    job.accept(events(0, 400));
    model(dir, 'v2');
    let done = false;
    const rebase = job.checkBase().then((r) => {
      done = true;
      return r;
    });
    const taken: string[] = [];
    let refused = '';
    // Three events a turn, fewer bytes than a turn replays: the replay ends (a bound, should it not).
    for (let k = 400; !done && k < 30_000; k += 3) {
      const batch = events(k, 3);
      job.accept(batch);
      taken.push(...batch.map((e) => e.id));
      if (job.busy && !refused) {
        try {
          job.setCatalog([...IDS, 'n1']);
          refused = 'taken';
        } catch (err) {
          refused = String(err);
        }
      }
      await new Promise((ok) => setImmediate(ok));
    }
    expect(done).toBe(true);
    expect(await rebase).toBe(true);
    expect(refused).toMatch(/cannot be taken while a new base is replayed/);
    // Events were taken after the new base's marker, before the replay ended.
    const lines = readFileSync(join(state, 'events.log'), 'utf8').split('\n').filter(Boolean);
    const marker = lines.indexOf('{"base":"v2"}');
    const after = new Set(lines.slice(marker + 1).map((l) => (JSON.parse(l) as { id: string }).id));
    expect(marker).toBeGreaterThan(0);
    expect(taken.filter((id) => after.has(id)).length).toBeGreaterThan(10);
    expect(job.status()['baseVersion']).toBe('v2');
    expect(job.total).toBe(400 + taken.length);
    const whole = await open(folder, state, [], { checkpoints: false });
    try {
      expect(whole.status()).toEqual(job.status());
      expect(delta(whole, folder)).toEqual(delta(job, folder));
    } finally {
      whole.close();
      job.close();
    }
  });
});

describe('what a checkpoint is made of', () => {
  it('catalogSha tells apart every two lists of ids, whatever their ids hold', () => {
    const lists = [[], [''], ['', ''], ['a\nb'], ['a', 'b'], ['b', 'a'], ['a"', 'b'], ['a', '"b'], ['a\\', 'nb']];
    expect(new Set(lists.map(catalogSha)).size).toBe(lists.length);
    expect(catalogSha(['a', 'b'])).toBe(catalogSha(['a', 'b']));
  });

  it('Mulberry32 draws as mulberry32 does, and goes on from a state it was given', () => {
    const plain = mulberry32(42);
    const g = new Mulberry32(42);
    for (let k = 0; k < 1000; k++) expect(g.next()).toBe(plain());
    const copy = new Mulberry32(0);
    copy.state = g.state;
    for (let k = 0; k < 100; k++) expect(copy.next()).toBe(plain());
  });

  it('a ShopLearner restored from another’s state learns and publishes as that one does; a state of another shape changes nothing', () => {
    const bias = Float32Array.from({ length: N }, (_, i) => Math.log1p(N - i) / 4);
    const known = Uint8Array.from({ length: N }, (_, i) => (i < 50 ? 1 : 0));
    const options = { seed: 5, recentHalfLifeDays: 3, newItemWeights: true };
    const a = new ShopLearner(bias, options, known);
    a.seedRecent(new Map([[1, 2]]), T0);
    for (const e of events(0, 200)) a.learn(IDS.indexOf(e.item), e.t);
    const b = new ShopLearner(bias, options, known);
    b.restore(a.state());
    expect(b.published()).toEqual(a.published());
    for (const e of events(200, 200)) {
      a.learn(IDS.indexOf(e.item), e.t);
      b.learn(IDS.indexOf(e.item), e.t);
    }
    expect(b.published()).toEqual(a.published());
    expect(b.weights).toEqual(a.weights);

    const before = JSON.stringify(b.published());
    const short = { ...a.state(), gW: new Float64Array(1) };
    expect(() => b.restore(short)).toThrow(RangeError);
    const fewer = { ...a.state(), counts: a.state().counts.slice(1), origin: a.state().origin.slice(1) };
    expect(() => b.restore(fewer)).toThrow(/other half-lives/);
    expect(JSON.stringify(b.published())).toBe(before);
  });

  it('an IdSet taken up from another’s table holds the same ids and goes on growing; a table no set could have is refused', () => {
    const set = new IdSet(4);
    for (let k = 0; k < 5000; k++) set.add(`id-${k}`);
    const { keys, size } = set.state();
    const copy = IdSet.fromState({ keys: keys.slice(), size });
    for (let k = 0; k < 5000; k++) expect(copy.has(`id-${k}`)).toBe(true);
    expect(copy.has('id-5000')).toBe(false);
    for (let k = 5000; k < 20_000; k++) expect(copy.add(`id-${k}`)).toBe(true);
    expect(copy.add('id-3')).toBe(false);
    expect(copy.size).toBe(20_000);
    expect(() => IdSet.fromState({ keys: keys.slice(), size: size + 1 })).toThrow(/holds 5000 ids, not the 5001/);
    expect(() => IdSet.fromState({ keys: new Uint32Array(6), size: 0 })).toThrow(RangeError);
  });
});
