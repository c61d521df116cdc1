/**
 * The catalogue's Web Worker: parses, checks and indexes a catalogue file off the page's main
 * thread (see `core/catalog-index.ts`), for {@link workerCatalogIndexer} in `catalog-indexer.ts`.
 * It imports only what that work needs (no tfjs), and it fetches nothing: the page hands it the
 * file's bytes and takes them back with the index, both by transfer.
 */
import { indexCatalog } from './core/catalog-index.js';
import { ClickwiseError } from './core/errors.js';
import { Slicer } from './core/slice.js';
import type { IndexReply, IndexRequest } from './catalog-indexer.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<IndexRequest>) => void) | null;
  postMessage(message: IndexReply, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (ev) => {
  const { location, buffer } = ev.data;
  scope.postMessage({ taken: true }, []);
  const bytes = new Uint8Array(buffer);
  // Nothing else runs here: one slice, never a yield.
  void indexCatalog(location, bytes, new Slicer(Infinity)).then(
    (index) => {
      const arrays = [
        index.ids.lengths,
        index.ids.marks,
        index.ids.slots,
        index.bounds,
        index.keys,
        ...(index.categories ? [index.categories.codes] : []),
      ];
      scope.postMessage({ buffer, index }, [buffer, ...new Set(arrays.map((a) => a.buffer as ArrayBuffer))]);
    },
    (err: unknown) => {
      const error =
        err instanceof ClickwiseError
          ? { name: err.name, code: err.code, message: err.message }
          : { name: 'Error', code: null, message: err instanceof Error ? err.message : String(err) };
      scope.postMessage({ buffer, error }, [buffer]);
    },
  );
};
