/**
 * A {@link BlockDeflater} that runs in a Web Worker (`compact-worker.ts`): a large catalogue's
 * compaction (core option `compactCatalogAbove`) deflates its blocks there, off the page's main
 * thread. One worker per compaction, started with the first batch and ended when the compaction
 * is done: only a page that compacts loads the worker's script.
 */
import type { BlockBatch, BlockDeflater, DeflatedBlocks } from './core/index.js';

/**
 * What the page posts to the worker: a batch of blocks to deflate (see {@link BlockBatch}), its
 * text and bounds in buffers that are moved there and back, the dictionary copied; or `finish`,
 * for every batch's blocks.
 */
export type CompactRequest =
  | { id: number; text: ArrayBuffer; textLength: number; bounds: ArrayBuffer; boundsLength: number; dictionary: Uint8Array }
  | { id: number; finish: true };

/**
 * What the worker posts back: a batch's buffers, to be filled again, once its blocks are made;
 * every batch's blocks (see {@link DeflatedBlocks}); or why it could not.
 */
export type CompactReply =
  | { id: number; text: ArrayBuffer; bounds: ArrayBuffer }
  | { id: number; blocks: Record<keyof DeflatedBlocks, ArrayBuffer> }
  | { id: number; error: string };

/**
 * How long the worker may take over one request (a batch is half a megabyte of text: tens of ms)
 * before the page gives up on it: a worker that never starts or never answers must not leave the
 * catalogue uncompacted for good. The page then compacts it itself.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The worker's compactor, or undefined where there are no module workers (Node). */
export function workerCatalogCompactor(
  start: () => Worker = startCompactWorker,
  timeoutMs = REQUEST_TIMEOUT_MS,
): (() => BlockDeflater) | undefined {
  if (typeof Worker === 'undefined') return undefined;
  return () => {
    let worker: Worker | null = null;
    let failed: Error | null = null;
    let next = 0;
    const waiting = new Map<
      number,
      { resolve: (reply: CompactReply) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }
    >();
    const fail = (err: Error): void => {
      failed ??= err;
      worker?.terminate();
      worker = null;
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(failed);
      }
      waiting.clear();
    };
    const started = (): Worker => {
      if (worker) return worker;
      const w = start();
      w.onmessage = (ev: MessageEvent<CompactReply>) => {
        const reply = ev.data;
        const got = waiting.get(reply.id);
        if (!got) return;
        waiting.delete(reply.id);
        clearTimeout(got.timer);
        if ('error' in reply) got.reject(new Error(`the compaction's worker failed: ${reply.error}`));
        else got.resolve(reply);
      };
      // The worker did not start (a Content-Security-Policy, a missing file) or died.
      w.onerror = (ev) => {
        ev.preventDefault();
        fail(new Error(ev.message || "the compaction's worker could not start"));
      };
      return (worker = w);
    };
    /** Posts `request` (its id given here) and waits for the answer. */
    const ask = (request: CompactRequest, moved: Transferable[]): Promise<CompactReply> => {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        let w: Worker;
        try {
          w = started();
        } catch (err) {
          fail(err instanceof Error ? err : new Error(String(err)));
          reject(failed!);
          return;
        }
        const timer = setTimeout(() => fail(new Error(`the compaction's worker did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
        waiting.set(request.id, { resolve, reject, timer });
        w.postMessage(request, moved);
      });
    };
    return {
      async add(batch: BlockBatch): Promise<BlockBatch> {
        const text = batch.text.buffer as ArrayBuffer;
        const bounds = batch.bounds.buffer as ArrayBuffer;
        if (batch.text.byteOffset !== 0 || batch.bounds.byteOffset !== 0 || text === bounds) {
          throw new RangeError("a batch's text and bounds must each begin a buffer of their own");
        }
        const request: CompactRequest = {
          id: next++,
          text,
          textLength: batch.text.length,
          bounds,
          boundsLength: batch.bounds.length,
          dictionary: batch.dictionary,
        };
        const reply = await ask(request, [text, bounds]);
        if (!('text' in reply)) throw new Error("the compaction's worker answered out of turn");
        return {
          text: new Uint8Array(reply.text, 0, request.textLength),
          bounds: new Uint32Array(reply.bounds, 0, request.boundsLength),
          dictionary: batch.dictionary,
        };
      },
      async finish(): Promise<DeflatedBlocks> {
        const reply = await ask({ id: next++, finish: true }, []);
        if (!('blocks' in reply)) throw new Error("the compaction's worker answered out of turn");
        const b = reply.blocks;
        return {
          packed: new Uint8Array(b.packed),
          ends: new Uint32Array(b.ends),
          counts: new Uint32Array(b.counts),
          raw: new Uint32Array(b.raw),
        };
      },
      close(): void {
        fail(new Error("the compaction's worker was closed"));
      },
    };
  };
}

/** Starts the compaction's worker (written so that a bundler that builds the page finds and builds it). */
export function startCompactWorker(): Worker {
  return new Worker(new URL('./compact-worker.js', import.meta.url), { type: 'module', name: 'clickwise-compact' });
}
