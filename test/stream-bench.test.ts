/** `npm run bench:stream` on a small stream: every event learned, replayed at a restart, and posted; a delta published. */
import { describe, expect, it } from 'vitest';
import { runStreamBench } from '../src/bench/stream.js';

describe('the stream job’s bench', () => {
  it('follows its file, restarts on its log and takes the same events over HTTP', { timeout: 60_000 }, async () => {
    const said: string[] = [];
    const r = await runStreamBench(3_000, 400, (m) => said.push(m), true);
    expect(r.events).toBe(3_000);
    expect(r.items).toBe(400);
    expect(said.filter((m) => /^file: 3000 events in \d+ ms$/.test(m))).toHaveLength(1);
    // The file is the stream's 3,000 lines; every figure is a measured, positive one.
    expect(r.fileBytes).toBeGreaterThan(3_000 * 60);
    for (const v of [r.readMs, r.fileMs, r.restartMs, r.publishMs, r.fileEventsPerSecond, r.httpEventsPerSecond!])
      expect(v).toBeGreaterThan(0);
    // A checkpoint of the restarted job holds its learner and ids, and a start takes it up.
    expect(said.filter((m) => m.startsWith('took up the checkpoint') && m.includes('(3000 events)'))).toHaveLength(1);
    expect(r.checkpointBytes).toBeGreaterThan(8 * 400 * 4);
    for (const v of [r.checkpointWriteMs, r.restartFromCheckpointMs, r.restartRatioToCheckpoint, r.rebaseMs]) expect(v).toBeGreaterThan(0);
    expect(r.rebaseLongestWaitMs).toBeGreaterThanOrEqual(0);
    expect(said.filter((m) => /^rebase: 3000 events replayed in \d+ ms, the longest wait \d+ ms$/.test(m))).toHaveLength(1);
    // The delta lists items that sold; listed by id (and with long ids) it weighs more.
    expect(r.deltaItems).toBeGreaterThan(0);
    expect(r.deltaItems).toBeLessThanOrEqual(400);
    expect(r.deltaByIdGzipBytes).toBeGreaterThan(r.deltaGzipBytes);
    expect(r.deltaUuidByIdGzipBytes).toBeGreaterThan(r.deltaByIdGzipBytes);
    const skipped = await runStreamBench(500, 100, () => undefined, false);
    expect(skipped.httpEventsPerSecond).toBeNull();
  });
});
