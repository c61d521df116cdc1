/** `npm run bench:stream` on a small stream: every event learned, replayed at a restart, and posted; a delta published. */
import { describe, expect, it } from 'vitest';
import { runStreamBench } from '../src/bench/stream.js';

describe('the stream job’s bench', () => {
  it('follows its file, restarts on its log, compacts it and takes the same events over HTTP', { timeout: 60_000 }, async () => {
    const said: string[] = [];
    const r = await runStreamBench(3_000, 400, (m) => said.push(m), true);
    expect(r.events).toBe(3_000);
    expect(r.items).toBe(400);
    expect(said.filter((m) => /^file: 3000 events in \d+ ms$/.test(m))).toHaveLength(1);
    expect(said.filter((m) => /^file in turns: 3000 events in \d+ ms, the longest wait \d+ ms$/.test(m))).toHaveLength(1);
    expect(r.fileInTurnsMs).toBeGreaterThan(0);
    expect(r.fileInTurnsLongestWaitMs).toBeGreaterThanOrEqual(0);
    // The file is the stream's 3,000 lines; every figure is a measured, positive one.
    expect(r.fileBytes).toBeGreaterThan(3_000 * 60);
    for (const v of [r.readMs, r.fileMs, r.restartMs, r.publishMs, r.fileEventsPerSecond, r.httpEventsPerSecond!])
      expect(v).toBeGreaterThan(0);
    // A checkpoint of the restarted job holds its learner and ids, and a start takes it up.
    // (Twice: the start after the rebase's checkpoint, which compacts its log, takes one up too.)
    expect(said.filter((m) => m.startsWith('took up the checkpoint') && m.includes('(3000 events)'))).toHaveLength(2);
    expect(r.checkpointBytes).toBeGreaterThan(8 * 400 * 4);
    for (const v of [r.checkpointWriteMs, r.restartFromCheckpointMs, r.restartRatioToCheckpoint, r.rebaseMs]) expect(v).toBeGreaterThan(0);
    expect(r.rebaseLongestWaitMs).toBeGreaterThanOrEqual(0);
    expect(r.checkpointInTurnsMs).toBeGreaterThan(0);
    expect(r.checkpointInTurnsLongestWaitMs).toBeGreaterThanOrEqual(0);
    expect(said.filter((m) => new RegExp(`^checkpoint in turns: ${r.checkpointBytes} bytes in \\d+ ms`).test(m))).toHaveLength(1);
    expect(said.filter((m) => /^rebase: 3000 events replayed in \d+ ms, the longest wait \d+ ms$/.test(m))).toHaveLength(1);
    // The log compacted to the last 7 of the stream's 30 days: the events of those days kept
    // (event k at k / 3,000 of the 30 days from the bench's start), and a new base replays only them.
    const t0 = Date.parse('2026-10-01T00:00:00Z');
    const t = (k: number): number => Math.trunc(t0 + (k / 3_000) * 30 * 86_400_000);
    const kept = Array.from({ length: 3_000 }, (_, k) => k).filter((k) => t(k) >= t(2_999) - 7 * 86_400_000).length;
    expect(r.keepDays).toBe(7);
    expect(r.eventsKept).toBe(kept);
    expect(kept).toBeGreaterThan(650);
    expect(kept).toBeLessThan(750);
    expect(r.logBytesAfterCompaction).toBeLessThan(r.logBytesBeforeCompaction / 3);
    expect(r.checkpointAfterCompactionBytes).toBeLessThan(r.checkpointBytes);
    for (const v of [r.compactMs, r.rebaseAfterCompactionMs, r.rebaseRatioToCompacted]) expect(v).toBeGreaterThan(0);
    expect(said.filter((m) => new RegExp(`^rebase after the compaction: ${kept} events replayed in \\d+ ms$`).test(m))).toHaveLength(1);
    // A new catalogue of the bench's items and 1% more, read while the job runs, then taken.
    expect(r.catalogReadMs).toBeGreaterThan(0);
    expect(r.catalogReadLongestWaitMs).toBeGreaterThanOrEqual(0);
    expect(r.catalogSetMs).toBeGreaterThan(0);
    expect(r.catalogSetLongestWaitMs).toBeGreaterThanOrEqual(0);
    expect(
      said.filter((m) =>
        /^a new catalogue of 404 items: read in \d+ ms \(the longest wait \d+ ms\), taken in \d+ ms \(the longest wait \d+ ms\)$/.test(m),
      ),
    ).toHaveLength(1);
    // The delta lists items that sold; listed by id (and with long ids) it weighs more.
    expect(r.deltaItems).toBeGreaterThan(0);
    expect(r.deltaItems).toBeLessThanOrEqual(400);
    expect(r.deltaByIdGzipBytes).toBeGreaterThan(r.deltaGzipBytes);
    expect(r.deltaUuidByIdGzipBytes).toBeGreaterThan(r.deltaByIdGzipBytes);
    const skipped = await runStreamBench(500, 100, () => undefined, false);
    expect(skipped.httpEventsPerSecond).toBeNull();
  });
});
