/**
 * The catalogue compaction's Web Worker: deflates a large catalogue's blocks
 * (`core/deflate-blocks.ts`) off the page's main thread, for {@link workerCatalogCompactor} in
 * `catalog-compactor.ts`. The page copies each batch of the file's text into buffers that come
 * back with the answer, to be filled again; the blocks stay here until the page asks for them all
 * at once (`finish`). The deflate, its fresh tables for every block and the garbage they leave are
 * this thread's. It imports only the deflate and that module.
 */
import { deflateSync } from 'fflate';
import { deflateBlocks, joinBlocks } from './core/deflate-blocks.js';
import type { DeflatedBlocks } from './core/deflate-blocks.js';
import type { CompactReply, CompactRequest } from './catalog-compactor.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<CompactRequest>) => void) | null;
  postMessage(message: CompactReply, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

/** The blocks of the batches so far, in order. */
const kept: DeflatedBlocks[] = [];

scope.onmessage = (ev) => {
  const request = ev.data;
  try {
    if ('finish' in request) {
      const all = joinBlocks(kept.splice(0));
      const blocks = { packed: all.packed.buffer, ends: all.ends.buffer, counts: all.counts.buffer, raw: all.raw.buffer } as Record<
        keyof DeflatedBlocks,
        ArrayBuffer
      >;
      scope.postMessage({ id: request.id, blocks }, Object.values(blocks));
      return;
    }
    const { id, text, textLength, bounds, boundsLength, dictionary } = request;
    kept.push(
      deflateBlocks(
        { text: new Uint8Array(text, 0, textLength), bounds: new Uint32Array(bounds, 0, boundsLength), dictionary },
        deflateSync,
      ),
    );
    // The buffers go back, to be filled with the next batch.
    scope.postMessage({ id, text, bounds }, [text, bounds]);
  } catch (err) {
    scope.postMessage({ id: request.id, error: err instanceof Error ? err.message : String(err) }, []);
  }
};
