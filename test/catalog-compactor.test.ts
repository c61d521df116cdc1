/**
 * The compaction's worker (src/compact-worker.ts) and its client (src/catalog-compactor.ts), run in
 * this thread behind a stand-in for `Worker` that moves buffers as postMessage does: a catalogue
 * compacted through them holds what one compacted on the page holds; the page's batch buffers go
 * there and come back; and a worker that fails, or never answers, fails the compaction, which the
 * recommender then does on the page (test/prepared.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CompactReply, CompactRequest } from '../src/catalog-compactor.js';
import { workerCatalogCompactor } from '../src/catalog-compactor.js';
import { compactCatalog, validateCatalog } from '../src/core/catalog.js';
import { IdTable } from '../src/core/id-table.js';
import { JsonBounds, parseJsonArraySliced } from '../src/core/json-array.js';
import { Slicer } from '../src/core/slice.js';

/** A file of n items and where each lies in it. */
async function file(n: number): Promise<{ bytes: Uint8Array; bounds: Uint32Array; ids: IdTable; items: unknown[] }> {
  const raw = Array.from({ length: n }, (_, i) => ({ id: `sku-${i}`, title: `Item ${i} ${'oak mug lamp '.repeat(i % 9)}`, price: i % 50 }));
  const bytes = new TextEncoder().encode(JSON.stringify(raw));
  const elements = new JsonBounds();
  const catalog = validateCatalog(await parseJsonArraySliced(bytes, new Slicer(), elements));
  const b = elements.view();
  const bounds = new Uint32Array(2 * catalog.size);
  for (let i = 0; i < catalog.size; i++) {
    bounds[2 * i] = b[catalog.rawIndex[i]!]! + 1;
    bounds[2 * i + 1] = b[catalog.rawIndex[i]! + 1]!;
  }
  return { bytes, bounds, ids: await IdTable.build(catalog.id, catalog.size, new Slicer()), items: [...catalog.items] };
}

describe("the compaction's worker and its client", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** A stand-in for `Worker` running the real worker module; `answer` false: it never answers. */
  async function fakeWorkers(
    answer = true,
  ): Promise<{ start: () => Worker; started: number; requests: CompactRequest[]; terminated: number }> {
    const scope = globalThis as unknown as { onmessage: ((ev: { data: CompactRequest }) => void) | null };
    let current: { onmessage: ((ev: { data: CompactReply }) => void) | null } | null = null;
    vi.stubGlobal('postMessage', (msg: CompactReply, transfer: Transferable[]) => {
      const data = structuredClone(msg, { transfer: transfer as ArrayBuffer[] });
      setTimeout(() => current?.onmessage?.({ data }));
    });
    vi.stubGlobal('onmessage', null);
    vi.resetModules();
    await import('../src/compact-worker.js');
    const handler = scope.onmessage!;
    vi.stubGlobal('Worker', class {});
    const state = {
      started: 0,
      terminated: 0,
      requests: [] as CompactRequest[],
      start: () => {
        state.started++;
        const w = {
          onmessage: null,
          onerror: null,
          postMessage(msg: CompactRequest, transfer: Transferable[]) {
            state.requests.push(msg);
            const data = structuredClone(msg, { transfer: transfer as ArrayBuffer[] });
            if (answer) setTimeout(() => handler({ data }));
          },
          terminate() {
            state.terminated++;
          },
        };
        current = w;
        return w as unknown as Worker;
      },
    };
    return state;
  }

  it("holds what the page's own compaction holds, its batch buffers moved there and back", async () => {
    const f = await file(20_000);
    const workers = await fakeWorkers();
    const compactor = workerCatalogCompactor(workers.start)!;
    const there = await compactCatalog(f.bytes, f.ids, f.bounds, [], new Slicer(), null, compactor());
    const here = await compactCatalog(f.bytes, f.ids, f.bounds, [], new Slicer());
    expect(there.held).toEqual(here.held);
    expect(there.items).toEqual(f.items);
    expect(workers.started).toBe(1);
    expect(workers.terminated).toBe(1);
    const batches = workers.requests.filter((r) => 'text' in r);
    expect(batches.length).toBeGreaterThan(2);
    expect(workers.requests.at(-1)).toMatchObject({ finish: true });
    // Moved, not copied: each buffer left the page when it was posted.
    for (const r of batches) expect((r as { text: ArrayBuffer }).text.byteLength).toBe(0);
  });

  it('fails the compaction where the worker fails to start, or does not answer in time', async () => {
    const f = await file(5_000);
    const dead = await fakeWorkers();
    const failing = workerCatalogCompactor(() => {
      const w = dead.start() as unknown as {
        postMessage: () => void;
        onerror: ((ev: { message: string; preventDefault(): void }) => void) | null;
      };
      w.postMessage = () => setTimeout(() => w.onerror?.({ message: 'worker script blocked', preventDefault: () => undefined }));
      return w as unknown as Worker;
    })!;
    await expect(compactCatalog(f.bytes, f.ids, f.bounds, [], new Slicer(), null, failing())).rejects.toThrow('worker script blocked');
    const silent = await fakeWorkers(false);
    const slow = workerCatalogCompactor(silent.start, 50)!;
    await expect(compactCatalog(f.bytes, f.ids, f.bounds, [], new Slicer(), null, slow())).rejects.toThrow(/did not answer within 0.05 s/);
    expect(silent.terminated).toBeGreaterThan(0);
  });

  it('is not there without module workers (Node)', () => {
    expect(workerCatalogCompactor()).toBeUndefined();
  });
});
