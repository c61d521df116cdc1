/**
 * A first visit's catalogue, downloaded and parsed by the catalogue's worker from the moment the
 * storefront tag starts, while the runtime's code still loads: parsing it is most of a first
 * visit's wait, and it need not wait for the runtime. Only where nothing is saved for the
 * catalogue (a later visit takes its saved index instead), and only with a worker that has
 * started; otherwise the page downloads the file as usual. Small on purpose: it is part of
 * `clickwise.js`.
 */
import type { IndexAnswer, IndexReply, IndexRequest } from '../catalog-indexer.js';
import { mayHavePrepared } from '../storage/prepared-probe.js';

/** What the tag hands the runtime. */
export interface EarlyIndex {
  location: string;
  /** True once the worker has started on the file; false where it will not (the page downloads it). */
  taken: Promise<boolean>;
  /** The worker's answer, once `taken` is true (never settles otherwise). */
  answer: Promise<IndexAnswer>;
}

/** How long the worker may take to start before the page downloads the file itself. */
const START_TIMEOUT_MS = 10_000;

/**
 * Gives `location` to the catalogue's worker at `workerUrl` where nothing is saved for it, else
 * calls `fallback` (which starts the page's own download) before `taken` resolves false.
 */
export function startEarlyIndex(location: string, workerUrl: string, fallback: () => void, startTimeoutMs = START_TIMEOUT_MS): EarlyIndex {
  let answered: (a: IndexAnswer) => void = () => undefined;
  const answer = new Promise<IndexAnswer>((r) => (answered = r));
  const run = async (): Promise<boolean> => {
    if (typeof Worker !== 'function' || (await mayHavePrepared(location))) return false;
    const worker = new Worker(workerUrl, { type: 'module', name: 'clickwise-catalog' });
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), startTimeoutMs);
      worker.onmessage = (ev: MessageEvent<IndexReply>) => {
        const reply = ev.data;
        if ('ready' in reply) {
          clearTimeout(timer);
          resolve(true);
        } else if (!('taken' in reply)) {
          worker.terminate();
          answered(reply);
        }
      };
      // A Content-Security-Policy without this origin in worker-src, a missing file; or, once
      // started, a worker that died.
      worker.onerror = (ev) => {
        ev.preventDefault();
        clearTimeout(timer);
        worker.terminate();
        resolve(false);
        answered({
          buffer: new ArrayBuffer(0),
          error: { name: 'Error', code: null, message: ev.message || "the catalogue's worker stopped" },
        });
      };
      const request: IndexRequest = { location, url: location };
      worker.postMessage(request);
    });
    if (!started) worker.terminate();
    return started;
  };
  const taken = run()
    .catch(() => false)
    .then((yes) => {
      if (!yes) fallback();
      return yes;
    });
  return { location, taken, answer };
}
