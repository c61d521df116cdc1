/**
 * The storefront tag's start of the catalogue's worker (`embed/early-index.ts`): the worker's
 * script loads while IndexedDB is asked whether anything is saved, and the request it is sent
 * follows that answer. `checksSaved` is settled, with the probe's answer, before `taken` is,
 * even where the worker says it is ready first: a load that read it too early would give up the
 * saved item matrix.
 */
import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IndexReply, IndexRequest } from '../src/catalog-indexer.js';
import { earlyCatalogOf } from '../src/catalog-indexer.js';
import { startEarlyIndex } from '../src/early-index.js';
import { HEADERS_STORE, PREPARED_DB } from '../src/storage/prepared-probe.js';

/** A stand-in for a worker that says it is ready at once (or fails) and records what it is sent. */
function fakeWorker(fail = false): { start: () => Worker; sent: IndexRequest[]; terminated: () => number } {
  const state = { sent: [] as IndexRequest[], ended: 0 };
  vi.stubGlobal('Worker', class {});
  const Fake = class {
    onmessage: ((ev: { data: IndexReply }) => void) | null = null;
    onerror: ((ev: { message: string; preventDefault(): void }) => void) | null = null;
    constructor() {
      // Ready before IndexedDB has answered the probe.
      queueMicrotask(() => {
        if (fail) this.onerror?.({ message: 'blocked by the page', preventDefault: () => undefined });
        else this.onmessage?.({ data: { ready: true } });
      });
    }
    postMessage(request: IndexRequest): void {
      state.sent.push(request);
    }
    terminate(): void {
      state.ended++;
    }
  };
  return { start: () => new Fake() as unknown as Worker, sent: state.sent, terminated: () => state.ended };
}

describe("the tag's start of the catalogue's worker", () => {
  afterEach(() => vi.unstubAllGlobals());

  it('asks the worker to check a saved entry where one is saved, and settles checksSaved first', async () => {
    const location = 'https://shop.test/saved.json';
    const db = await openDB(PREPARED_DB, 1, {
      upgrade(d) {
        d.createObjectStore(HEADERS_STORE);
        d.createObjectStore('pieces');
        d.createObjectStore('used');
      },
    });
    await db.put(HEADERS_STORE, { format: 0 }, location);
    db.close();
    const worker = fakeWorker();
    let fellBack = 0;
    const early = startEarlyIndex(location, location, worker.start, () => fellBack++);
    let checked: boolean | undefined;
    void early.checksSaved.then((c) => (checked = c));
    expect(await early.taken).toBe(true);
    expect(checked).toBe(true);
    expect(worker.sent).toEqual([{ location, url: location, saved: true }]);
    expect(fellBack).toBe(0);

    // A catalogue given by a relative URL keeps that as its key and is downloaded from the whole URL.
    const relative = startEarlyIndex('/saved.json', location, worker.start, () => fellBack++);
    expect(await relative.taken).toBe(true);
    expect(worker.sent.at(-1)).toEqual({ location: '/saved.json', url: location });

    // Nothing saved for another file: the worker indexes it.
    const other = 'https://shop.test/new.json';
    const second = startEarlyIndex(other, other, worker.start, () => fellBack++);
    let checkedOther: boolean | undefined;
    void second.checksSaved.then((c) => (checkedOther = c));
    expect(await second.taken).toBe(true);
    expect(checkedOther).toBe(false);
    expect(worker.sent.at(-1)).toEqual({ location: other, url: other });

    // The page's compaction threshold, as the tag's attribute gives it, goes with the request.
    const never = startEarlyIndex(location, location, worker.start, () => fellBack++, undefined, undefined, 'never');
    expect(await never.taken).toBe(true);
    expect(worker.sent.at(-1)).toEqual({ location, url: location, saved: true, compactAbove: 'never' });
  });

  it("records the worker's steps as User Timing marks at the times it took them", async () => {
    const sent: { onmessage: ((ev: { data: IndexReply }) => void) | null }[] = [];
    vi.stubGlobal('Worker', class {});
    const start = (): Worker => {
      const w = {
        onmessage: null as ((ev: { data: IndexReply }) => void) | null,
        onerror: null,
        postMessage: () => undefined,
        terminate: () => undefined,
      };
      sent.push(w);
      queueMicrotask(() => w.onmessage?.({ data: { ready: true } }));
      return w as unknown as Worker;
    };
    performance.clearMarks();
    const location = 'https://shop.test/marked.json';
    const early = startEarlyIndex(location, location, start);
    expect(await early.taken).toBe(true);
    const t0 = performance.timeOrigin + performance.now();
    const marks: [string, number][] = [
      ['request', t0 - 40],
      ['file', t0 - 15],
      ['index', t0 - 5],
    ];
    sent[0]!.onmessage!({ data: { buffer: new ArrayBuffer(0), error: { name: 'Error', code: null, message: 'x' }, marks } });
    // The tag only keeps them; the runtime records them once it takes the answer.
    expect(early.marks).toEqual(marks);
    expect(performance.getEntriesByName('clickwise:worker-file', 'mark')).toHaveLength(0);
    await earlyCatalogOf(early).result.catch(() => undefined);
    expect(early.marks).toEqual([]);
    for (const [step, at] of marks) {
      const got = performance.getEntriesByName(`clickwise:worker-${step}`, 'mark');
      expect(got).toHaveLength(1);
      expect(got[0]!.startTime).toBeCloseTo(at - performance.timeOrigin, 3);
    }
    performance.clearMarks();
  });

  it("keeps the worker through the matrix of an entry sent ahead of the file's bytes, and gives the bytes that follow it", async () => {
    vi.stubGlobal('Worker', class {});
    const workers: { onmessage: ((ev: { data: IndexReply }) => void) | null; ended: number }[] = [];
    const start = (): Worker => {
      const w = { onmessage: null as ((ev: { data: IndexReply }) => void) | null, onerror: null, ended: 0, postMessage: () => undefined };
      workers.push(w);
      queueMicrotask(() => w.onmessage?.({ data: { ready: true } }));
      return Object.assign(w, { terminate: () => w.ended++ }) as unknown as Worker;
    };
    const saved = {
      digest: 'k64:d',
      ids: { text: 'a', lengths: new Uint8Array([1]), marks: new Uint32Array(1), slots: new Int32Array(2) },
      bounds: new Uint32Array([1, 4]),
      skipped: [],
      spread: new Int32Array([0]),
      categories: null,
    };
    for (const later of [false, true]) {
      const early = startEarlyIndex('/c.json', 'https://shop.test/c.json', start);
      expect(await early.taken).toBe(true);
      const w = workers.at(-1)!;
      const bytes = new TextEncoder().encode('[{"id":"a","title":"A"}]');
      w.onmessage!({
        data: { buffer: later ? new ArrayBuffer(0) : bytes.slice().buffer, digest: 'k64:d', saved, ...(later ? { later } : {}) },
      });
      w.onmessage!({ data: later ? { matrix: null, follows: true } : { matrix: null } });
      // Without `later` the matrix is the last message; with it, the bytes follow.
      expect(w.ended).toBe(later ? 0 : 1);
      const result = await earlyCatalogOf(early).result;
      expect('saved' in result && (await result.saved.matrix)).toBeNull();
      if (!later) continue;
      w.onmessage!({ data: { file: bytes.slice().buffer, digest: 'k64:d' } });
      expect(w.ended).toBe(1);
      const got = 'saved' in result ? await result.later! : null;
      expect(got && 'bytes' in got && { text: new TextDecoder().decode(got.bytes), digest: got.digest }).toEqual({
        text: '[{"id":"a","title":"A"}]',
        digest: 'k64:d',
      });
    }
  });

  it('lets the page download the file itself where the worker cannot start', async () => {
    const worker = fakeWorker(true);
    let fellBack = 0;
    const early = startEarlyIndex('https://shop.test/blocked.json', 'https://shop.test/blocked.json', worker.start, () => fellBack++);
    expect(await early.taken).toBe(false);
    expect(await early.checksSaved).toBe(false);
    expect(fellBack).toBe(1);
    expect(worker.terminated()).toBeGreaterThan(0);
  });
});
