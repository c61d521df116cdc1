/**
 * The catalogue's Web Worker: parses, checks and indexes a catalogue file off the page's main
 * thread (see `core/catalog-index.ts`), for {@link workerCatalogIndexer} in `catalog-indexer.ts`
 * and the storefront tag's first visit (`embed/early-index.ts`). It imports only what that work
 * needs (no tfjs). The page hands it the file's bytes, or the file's URL: it then downloads the
 * file and parses each part as it arrives. The bytes go back with the index, by transfer.
 */
import { indexCatalog, indexCatalogStream } from './core/catalog-index.js';
import type { CatalogIndex } from './core/catalog-index.js';
import { ClickwiseError } from './core/errors.js';
import { lengthHint } from './core/model-io.js';
import { Slicer } from './core/slice.js';
import type { IndexReply, IndexRequest } from './catalog-indexer.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<IndexRequest>) => void) | null;
  postMessage(message: IndexReply, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

/** The file at `url`, downloaded and indexed as it arrives. A failed download is an Error, never a `CatalogError`. */
async function download(location: string, url: string, slicer: Slicer): Promise<{ bytes: Uint8Array; index: CatalogIndex }> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  return indexCatalogStream(location, res.body, lengthHint(res), slicer);
}

scope.onmessage = (ev) => {
  const request = ev.data;
  scope.postMessage({ taken: true }, []);
  // Nothing else runs here: one slice, never a yield.
  const slicer = new Slicer(Infinity);
  const work =
    'buffer' in request
      ? (() => {
          const bytes = new Uint8Array(request.buffer);
          return indexCatalog(request.location, bytes, slicer).then((index) => ({ bytes, index }));
        })()
      : download(request.location, request.url, slicer);
  void work.then(
    ({ bytes, index }) => {
      const arrays = [
        index.ids.lengths,
        index.ids.marks,
        index.ids.slots,
        index.bounds,
        index.keys,
        ...(index.categories ? [index.categories.codes] : []),
      ];
      const buffer = bytes.buffer as ArrayBuffer;
      scope.postMessage({ buffer, index }, [buffer, ...new Set(arrays.map((a) => a.buffer as ArrayBuffer))]);
    },
    (err: unknown) => {
      const error =
        err instanceof ClickwiseError
          ? { name: err.name, code: err.code, message: err.message }
          : { name: 'Error', code: null, message: err instanceof Error ? err.message : String(err) };
      // The file given whole goes back; one the worker downloaded is read again by the page.
      const buffer = 'buffer' in request ? request.buffer : new ArrayBuffer(0);
      scope.postMessage({ buffer, error }, [buffer]);
    },
  );
};

// The tag's first visit waits for this before it lets the runtime rely on the worker.
scope.postMessage({ ready: true }, []);
