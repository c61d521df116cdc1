/**
 * A {@link CatalogIndexer} that runs in a Web Worker (`catalog-worker.ts`): a first visit parses
 * its catalogue there, so the page's main thread keeps only the file's bytes and the index, as on
 * a later visit. One worker per file, ended when it has answered. The storefront tag also asks
 * the worker to download the file itself, as soon as it knows a visit is a first one
 * (`early-index.ts`).
 */
import type {
  CatalogIndex,
  CatalogIndexer,
  CompactText,
  EarlyCatalog,
  EarlyResult,
  PreparedCatalog,
  PreparedMatrix,
} from './core/index.js';
import type { LaterText } from './core/catalog-index.js';
import type { EarlyIndex } from './early-index.js';
import { CatalogError, Slicer } from './core/index.js';
import { idTextFrom } from './core/id-text.js';
import { withAsciiText } from './core/id-table.js';
import type { IdTableData } from './core/id-table.js';

/**
 * What the page posts to the worker: the file's bytes, or its URL for the worker to download.
 * With `saved` (a later visit: the prepared cache may hold an entry for the file), the worker
 * downloads the whole file, digests it and reads the saved entry meanwhile: where the entry is
 * for these bytes it hands it back, else it indexes the file. With `model` (the model's folder,
 * an absolute URL) on a first visit, it asks for the catalogue index the shop ships with the
 * model (`core/catalog-index-file.ts`), which stands for the parse where it was made from the
 * file's very bytes. With `compactAbove` (the page's `compactCatalogAbove`, as the tag's
 * `data-compact-above` gives it: a number of bytes, or `never`), a later visit's worker sends a
 * compacted text kept for the file only where its items' text holds at least that many bytes (the
 * page would compact it); without, any it finds.
 */
export type IndexRequest =
  { location: string; buffer: ArrayBuffer } | { location: string; url: string; saved?: boolean; model?: string; compactAbove?: string };

/**
 * What the worker posts back: that it has started (`ready`), that it has the request (`taken`),
 * then the file's bytes, with the index, the saved entry's catalogue part, or why there is
 * neither. After a saved entry's catalogue part, the entry's item matrix follows
 * ({@link MatrixReply}).
 */
export type IndexReply = { ready: true } | { taken: true } | IndexAnswer | MatrixReply | FileReply;

/**
 * The saved entry's item matrix (null where it could not be read). Where the entry's answer came
 * without the file's bytes (`later`), they follow in a {@link FileReply}: the page builds the
 * head from the matrix while they are read.
 */
export interface MatrixReply {
  matrix: PreparedMatrix | null;
  /** Where the file's bytes follow (the entry was sent ahead of them). */
  follows?: true;
  marks?: WorkerMarks;
}

/**
 * The file's bytes, after the matrix of an entry sent ahead of them (`later`), with their digest,
 * which the page compares with the entry's; `file` null where the worker could not send them, or
 * sent instead the catalogue's compacted text an earlier visit kept for these bytes (`text`,
 * about a quarter of their size: `storage/file-copy.ts`).
 */
export interface FileReply {
  file: ArrayBuffer | null;
  text?: CompactText;
  digest?: string;
  marks?: WorkerMarks;
}

/**
 * When the worker did each step since its last message, in ms since the epoch (`performance.timeOrigin
 * + performance.now()`, comparable between the worker and the page): the page records each as a
 * User Timing mark `clickwise:worker-<step>` (`recordWorkerMarks` below). Steps:
 * `request` (the file asked for), `response` (its headers), `shipped-index` (the catalogue index
 * the shop ships, read), `file` (its last byte), `copy` (the
 * worker's own copy of the file read instead, `storage/file-copy.ts`), `digest`, `entry-copy`
 * (the saved entry read from the worker's copy of it), `entry` (the saved entry's catalogue part
 * read), `matrix` (its item matrix read), `index` (the file parsed and indexed).
 */
export type WorkerMarks = [step: string, at: number][];

/** The worker's answer to a request. */
export type IndexAnswer =
  /** `shipped`: the index is the one the shop shipped, made from these very bytes (the file was not parsed). */
  (
    | { buffer: ArrayBuffer; index: CatalogIndex; digest?: string; shipped?: true }
    /**
     * With `later`, the buffer is empty: the worker found the entry to be for the file (by the
     * digest noted in its copy), and sends its matrix, then the file's bytes once read
     * ({@link FileReply}), while the page builds the head; `textFollows` where it expects to send
     * the compacted text an earlier visit kept instead of the bytes. `checked`: the worker checked
     * the entry's catalogue part (`checkSavedCatalog`), which the page then takes as it is.
     */
    | { buffer: ArrayBuffer; digest: string; saved: PreparedCatalog; later?: true; textFollows?: true; checked?: true }
    | { buffer: ArrayBuffer; error: { name: string; code: string | null; message: string } }
  ) & {
    marks?: WorkerMarks;
    /**
     * The ids' text (`index.ids.text` or `saved.ids.text`, then left empty) as UTF-8 bytes
     * (`idTextBytes`): moved, where a string would be copied and rebuilt on the page in one task.
     * {@link withIdText} puts it back.
     */
    idText?: ArrayBuffer;
    /** Every byte of `idText` is one character (ASCII): the page reads the bytes as they are. */
    idTextAscii?: true;
  };

/**
 * How long a worker may take to say it has started: one that never starts (a browser that
 * neither runs it nor reports an error) must not hold the page's recommendations back for good.
 */
export const START_TIMEOUT_MS = 10_000;

/** The worker's indexer, or undefined where there are no module workers (Node). */
export function workerCatalogIndexer(
  start: () => Worker = startCatalogWorker,
  startTimeoutMs = START_TIMEOUT_MS,
): CatalogIndexer | undefined {
  if (typeof Worker === 'undefined') return undefined;
  return (location, bytes) =>
    new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        worker = start();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const timer = setTimeout(() => {
        worker.terminate();
        reject(new Error(`the catalogue's worker did not start within ${startTimeoutMs / 1000} s`));
      }, startTimeoutMs);
      worker.onmessage = (ev: MessageEvent<IndexReply>) => {
        clearTimeout(timer);
        const reply = ev.data;
        if ('marks' in reply && reply.marks) recordWorkerMarks(reply.marks);
        if ('ready' in reply || 'taken' in reply || 'matrix' in reply || 'file' in reply) return;
        worker.terminate();
        withIdText(reply).then(indexResult).then(resolve, reject);
      };
      // The worker did not start (a Content-Security-Policy, a missing file) or died.
      worker.onerror = (ev) => {
        ev.preventDefault();
        clearTimeout(timer);
        worker.terminate();
        reject(new Error(ev.message || "the catalogue's worker could not start"));
      };
      // The whole buffer moves to the worker (no copy); a view of part of one is copied.
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const buffer = whole ? (bytes.buffer as ArrayBuffer) : bytes.slice().buffer;
      const request: IndexRequest = { location, buffer };
      worker.postMessage(request, [buffer]);
    });
}

/**
 * The worker's answer as an indexer gives it: the file's bytes and the index; else the
 * `CatalogError` of a catalogue that is not usable, or an Error where the worker could not do
 * the work.
 */
export function indexResult(answer: IndexAnswer): { bytes: Uint8Array; index: CatalogIndex } {
  if ('index' in answer) return { bytes: new Uint8Array(answer.buffer), index: answer.index };
  if ('saved' in answer) throw new Error("the catalogue's worker answered with a saved entry, which was not asked for");
  if (answer.error.name === 'CatalogError' && answer.error.code) throw new CatalogError(answer.error.code, answer.error.message);
  throw new Error(`the catalogue's worker failed: ${answer.error.message}`);
}

/**
 * The worker's answer with its ids' text put back where it came as bytes (`idText`), decoded in
 * slices of `slicer`; any other answer as it is.
 */
export async function withIdText(answer: IndexAnswer, slicer: Slicer = new Slicer()): Promise<IndexAnswer> {
  const { idText } = answer;
  if (!idText) return answer;
  // ASCII ids are read as their bytes: no string of every id is made (7 MB at a million ids,
  // one task of about 50 ms to join), unless something asks for the text.
  const ascii = answer.idTextAscii === true;
  const withText = async (ids: IdTableData): Promise<IdTableData> =>
    ascii ? withAsciiText(ids, new Uint8Array(idText)) : { ...ids, text: await idTextFrom(idText, slicer) };
  const out: IndexAnswer =
    'index' in answer
      ? { ...answer, index: { ...answer.index, ids: await withText(answer.index.ids) } }
      : 'saved' in answer
        ? { ...answer, saved: { ...answer.saved, ids: await withText(answer.saved.ids) } }
        : { ...answer };
  delete out.idText;
  delete out.idTextAscii;
  return out;
}

/**
 * The answer to a request made from the tag (`early-index.ts`) as the load takes it: the
 * file indexed, with its digest where the worker made it; or the saved entry for the file, whose
 * item matrix comes in `after`, the worker's message after the answer, and, for an answer sent
 * ahead of the file's bytes, the bytes in `file`, the message after that.
 */
export function earlyResult(answer: IndexAnswer, after: Promise<MatrixReply>, file?: Promise<FileReply>): EarlyResult {
  if ('saved' in answer) {
    const matrix = after.then((r) => r.matrix);
    const saved = { catalog: answer.saved, matrix };
    const checked = answer.checked ? { checked: true as const } : {};
    if (!answer.later) return { bytes: new Uint8Array(answer.buffer), digest: answer.digest, saved, ...checked };
    const later = (file ?? Promise.resolve<FileReply>({ file: null })).then((r): LaterText => {
      const digest = r.digest;
      if (digest === undefined || (!r.file && !r.text)) throw new Error("the catalogue's worker did not send the file");
      const got = r.text ? { text: r.text, digest } : { bytes: new Uint8Array(r.file!), digest };
      // The worker's message lets go of them: the load holds them from here.
      r.file = null;
      delete r.text;
      return got;
    });
    later.catch(() => undefined);
    const hint = answer.textFollows ? { textFollows: true as const } : {};
    return { bytes: new Uint8Array(0), digest: answer.digest, saved, later, ...hint, ...checked };
  }
  const got = indexResult(answer);
  return {
    ...got,
    ...('digest' in answer && answer.digest !== undefined ? { digest: answer.digest } : {}),
    ...('shipped' in answer && answer.shipped ? { shipped: true as const } : {}),
  };
}

/**
 * Records the worker's steps as User Timing marks (`clickwise:worker-<step>`), at the times the
 * worker took them, beside the load's own (`clickwise:catalog`, …): a shop sees in its browser's
 * performance panel what the page waited for, and `npm run bench:visit-plain -- --phases` prints
 * them. Nothing where the page has no timeline or it refuses a mark.
 */
export function recordWorkerMarks(marks: WorkerMarks): void {
  const perf = (globalThis as { performance?: Performance }).performance;
  if (!perf || typeof perf.mark !== 'function' || typeof perf.timeOrigin !== 'number') return;
  for (const [step, at] of marks) {
    try {
      perf.mark(`clickwise:worker-${step}`, { startTime: Math.max(0, at - perf.timeOrigin) });
    } catch {
      /* a timeline that refuses marks: nothing to record */
    }
  }
}

/**
 * What the catalogue's worker made of the catalogue, as the load takes it (core option
 * `earlyCatalog`). The worker's steps are recorded as marks once its answer, the saved entry's
 * matrix, and the file's bytes sent after it, are here.
 */
export function earlyCatalogOf(e: EarlyIndex): EarlyCatalog {
  const record = (): void => recordWorkerMarks(e.marks.splice(0));
  void e.answer.then(record, () => undefined);
  void e.matrix.then(record, () => undefined);
  void e.file.then(record, () => undefined);
  const result = e.answer.then(async (a) => earlyResult(await withIdText(a), e.matrix, e.file));
  // Its failure may come before the load asks (a missing file): the load reports it then.
  result.catch(() => undefined);
  return { location: e.location, taken: e.taken, checksSaved: e.checksSaved, result };
}

/** Starts the catalogue's worker (written so that a bundler that builds the page finds and builds it). */
export function startCatalogWorker(): Worker {
  return new Worker(new URL('./catalog-worker.js', import.meta.url), { type: 'module', name: 'clickwise-catalog' });
}
