import { afterEach, describe, expect, it } from 'vitest';
import { readBody } from '../src/core/model-io.js';
import { nextTask, SLICE_MS } from '../src/core/slice.js';

/** A response whose body comes in `chunks`, each made by a pull that works `msPerChunk` first. */
function response(chunks: Uint8Array[], headers: Record<string, string> = {}, msPerChunk = 0): Response {
  let k = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const until = performance.now() + msPerChunk;
      while (performance.now() < until) {
        // The copy of a body that has already arrived: work, not waiting.
      }
      if (k < chunks.length) controller.enqueue(chunks[k++]!);
      else controller.close();
    },
  });
  return new Response(body, { headers });
}

function chunksOf(total: number, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < total; at += size) out.push(Uint8Array.from({ length: Math.min(size, total - at) }, (_, i) => (at + i) * 7));
  return out;
}

describe('readBody', () => {
  for (const [name, headers] of [
    ['no length', {}],
    ['a length below the body (a compressed size)', { 'content-length': '1000' }],
    ['the exact length', { 'content-length': String(300_001) }],
  ] as const) {
    it(`gives the body's bytes whole and in order (${name})`, async () => {
      const chunks = chunksOf(300_001, 65_536);
      const got = new Uint8Array(await readBody(response(chunks, headers)));
      const want = new Uint8Array(300_001);
      let at = 0;
      for (const c of chunks) {
        want.set(c, at);
        at += c.byteLength;
      }
      expect(got.byteLength).toBe(300_001);
      expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
    });
  }

  it('yields to the page while a long body is read, instead of one long task', async () => {
    // 40 chunks of 2 ms each: 80 ms of work, which must be cut into slices.
    let ticks = 0;
    let reading = true;
    const ticker = (async () => {
      while (reading) {
        await nextTask();
        ticks++;
      }
    })();
    const body = await readBody(response(chunksOf(40 * 1024, 1024), {}, 2));
    reading = false;
    await ticker;
    expect(body.byteLength).toBe(40 * 1024);
    // One slice is SLICE_MS of work: at least 80 / SLICE_MS − 1 yields in between.
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(80 / SLICE_MS) - 1);
  });

  describe('in a page with a task scheduler', () => {
    const g = globalThis as { scheduler?: unknown };
    afterEach(() => {
      delete g.scheduler;
    });

    it('queues its slices behind the tasks already waiting (postTask at the normal priority), not ahead of them (yield)', async () => {
      const seen: string[] = [];
      g.scheduler = {
        yield: () => {
          seen.push('yield');
          return new Promise<void>((r) => setImmediate(r));
        },
        postTask: (fn: () => void, o: { priority: string }) => {
          seen.push(o.priority);
          return new Promise<void>((r) => setImmediate(r)).then(fn);
        },
      };
      await readBody(response(chunksOf(40 * 1024, 1024), {}, 2));
      expect(seen.length).toBeGreaterThanOrEqual(Math.floor(80 / SLICE_MS) - 1);
      expect(new Set(seen)).toEqual(new Set(['user-visible']));
    });
  });
});
