/**
 * The catalogue, downloaded by the catalogue's worker from the moment the storefront tag starts,
 * while the runtime's code still loads, and made ready there off the page's main thread:
 * - on a first visit (nothing saved for the catalogue) parsed and indexed as it arrives: that
 *   is most of a first visit's wait;
 * - on a later visit digested while the worker reads the saved entry, which it hands back where
 *   it is for these bytes: the page neither reads the file's bytes nor the entry itself.
 * Only with a worker that has started; otherwise the page downloads the file as usual. The
 * storefront tag starts it as soon as it runs, the package entry when `createRecommender` is
 * called. Small on purpose: it is part of `clickwise.js`.
 */
import type { FileReply, IndexAnswer, IndexReply, IndexRequest, MatrixReply, WorkerMarks } from './catalog-indexer.js';
import { mayHavePrepared } from './storage/prepared-probe.js';

/** What the tag hands the runtime. */
export interface EarlyIndex {
  location: string;
  /** True once the worker has started on the file; false where it will not (the page downloads it). */
  taken: Promise<boolean>;
  /** Whether the worker was asked to check the file against a saved entry (resolves before `taken`). */
  checksSaved: Promise<boolean>;
  /** The worker's answer, once `taken` is true (never settles otherwise). */
  answer: Promise<IndexAnswer>;
  /** After an answer with a saved entry: the message with the entry's item matrix (null where it could not be read). */
  matrix: Promise<MatrixReply>;
  /** After the matrix of an entry sent ahead of the file's bytes (`later`): the message with the bytes. */
  file: Promise<FileReply>;
  /** The worker's steps so far, for the runtime to record (`earlyCatalogOf`); the tag only keeps them. */
  marks: WorkerMarks;
}

/** How long the worker may take to start before the page downloads the file itself. */
const START_TIMEOUT_MS = 10_000;

/**
 * Gives the catalogue at `location` (its key in the prepared cache, and the load's `catalog`) to
 * a catalogue worker that `start` starts, to download from `url` (absolute: a worker resolves a
 * relative URL against its own script) and index, where nothing is saved for it, or check
 * against what is saved; where the worker does not start, calls `fallback` (which may start the
 * page's own download) before `taken` resolves false. `model` (the model's folder, absolute) lets
 * a first visit's worker take the catalogue index the shop ships with the model instead of
 * parsing the file (`core/catalog-index-file.ts`).
 */
export function startEarlyIndex(
  location: string,
  url: string,
  start: () => Worker,
  fallback: () => void = () => undefined,
  startTimeoutMs = START_TIMEOUT_MS,
  model?: string,
  compactAbove?: string,
): EarlyIndex {
  const marks: WorkerMarks = [];
  let answered: (a: IndexAnswer) => void = () => undefined;
  const answer = new Promise<IndexAnswer>((r) => (answered = r));
  let matrixRead: (m: MatrixReply) => void = () => undefined;
  const matrix = new Promise<MatrixReply>((r) => (matrixRead = r));
  let fileRead: (m: FileReply) => void = () => undefined;
  const file = new Promise<FileReply>((r) => (fileRead = r));
  let probed: (saved: boolean) => void = () => undefined;
  const checksSaved = new Promise<boolean>((r) => (probed = r));
  const run = async (): Promise<boolean> => {
    if (typeof Worker !== 'function') return false;
    // The worker's script loads while IndexedDB is asked whether anything is saved.
    const worker = start();
    const probe = mayHavePrepared(location);
    let posted: Promise<void> = Promise.resolve();
    const started = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), startTimeoutMs);
      worker.onmessage = (ev: MessageEvent<IndexReply>) => {
        const reply = ev.data;
        if ('marks' in reply && reply.marks) marks.push(...reply.marks);
        if ('ready' in reply) {
          clearTimeout(timer);
          resolve(true);
        } else if ('file' in reply) {
          worker.terminate();
          fileRead(reply);
        } else if ('matrix' in reply) {
          // The file's bytes follow the matrix of an entry sent ahead of them.
          if (!reply.follows) worker.terminate();
          matrixRead(reply);
        } else if (!('taken' in reply)) {
          // A saved entry's matrix follows it.
          if (!('saved' in reply)) worker.terminate();
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
        matrixRead({ matrix: null });
        fileRead({ file: null });
        answered({
          buffer: new ArrayBuffer(0),
          error: { name: 'Error', code: null, message: ev.message || "the catalogue's worker stopped" },
        });
      };
      posted = probe.then((saved) => {
        probed(saved);
        const request: IndexRequest = {
          location,
          url,
          ...(saved ? { saved } : {}),
          ...(model ? { model } : {}),
          ...(compactAbove !== undefined ? { compactAbove } : {}),
        };
        worker.postMessage(request);
      });
    });
    if (!started) worker.terminate();
    // `checksSaved` is settled before `taken` is.
    else await posted;
    return started;
  };
  const taken = run()
    .catch(() => false)
    .then((yes) => {
      probed(false); // where the probe did not run (no workers) or failed
      if (!yes) fallback();
      return yes;
    });
  return { location, taken, checksSaved, answer, matrix, file, marks };
}
