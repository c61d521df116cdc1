/**
 * The catalogue's Web Worker: parses, checks and indexes a catalogue file off the page's main
 * thread (see `core/catalog-index.ts`), for {@link workerCatalogIndexer} in `catalog-indexer.ts`
 * and the storefront tag (`early-index.ts`). It imports only what that work needs (no
 * tfjs). The page hands it the file's bytes, or the file's URL: it then downloads the file and
 * parses each part as it arrives. The bytes go back with the index, by transfer.
 *
 * On a later visit the tag asks it to check the saved entry (`saved`): it downloads the file,
 * digests it and reads the prepared cache's entry meanwhile, all off the page's main thread, and
 * hands back the entry's catalogue part where it is for these bytes and its parts fit together
 * (`checkSavedCatalog`, run here: the page takes the part as it is), then its item matrix. Where
 * the entry is missing, damaged or for other bytes, it indexes the file as on a first visit.
 *
 * The worker digests a file as it downloads it, and, where the server sends it with a strong
 * `ETag`, keeps a copy of it with that digest (`storage/file-copy.ts`). A later visit whose
 * response carries the same `ETag` reads that copy instead of the body; the saved entry comes
 * from its own copy (the page keeps one when it saves the entry; this worker when it reads one
 * from IndexedDB) while the entry stays the same. Where both copies are read, the entry goes to
 * the page ahead of the file's bytes, and its matrix follows at once: the page checks the entry
 * and builds the head while the bytes are read, which come last.
 */
import { catalogUnreachable, indexCatalog, indexCatalogStream } from './core/catalog-index.js';
import type { CatalogIndex } from './core/catalog-index.js';
import { ClickwiseError } from './core/errors.js';
import { defaultFetcher, httpError, lengthHint } from './core/model-io.js';
import { checkShippedIndex, findShippedIndex, readShippedIndex } from './core/catalog-index-file.js';
import type { ListedIndex, ShippedIndex } from './core/catalog-index-file.js';
import { Slicer } from './core/slice.js';
import { checkSavedCatalog, digestBytes, streamDigest } from './core/prepared.js';
import { idTextBytes } from './core/id-text.js';
import type { PreparedMatrix } from './core/prepared.js';
import type { IdTableData } from './core/id-table.js';
import type { CategoryTable } from './core/catalog.js';
import { IndexedDbPreparedCache } from './storage/prepared-cache.js';
import { copying, noteDigest, openCopy, openTextCopy, readEntryCopy, startCopy, startEntryCopy, strongEtag } from './storage/file-copy.js';
import type { OpenText } from './storage/file-copy.js';
import type { OpenCopy } from './storage/file-copy.js';
import type { SavedEntry } from './core/prepared.js';
import type { IndexReply, IndexRequest, WorkerMarks } from './catalog-indexer.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<IndexRequest>) => void) | null;
  postMessage(message: IndexReply, transfer: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

/** The steps taken since the last message (see {@link WorkerMarks}): each message takes them along. */
const marks: WorkerMarks = [];
const stamp = (step: string): void => {
  marks.push([step, performance.timeOrigin + performance.now()]);
};
/** `message` with the steps taken since the last one, which it takes away. */
const marked = <T extends object>(message: T): T & { marks: WorkerMarks } => ({ ...message, marks: marks.splice(0) });

/** A catalogue's file asked for, and its saved entry being read: {@link begin}. */
interface Begun {
  location: string;
  url: string;
  response: Promise<Response>;
  cache: Promise<IndexedDbPreparedCache | null>;
  saved: Promise<{ source: Promise<'copy' | 'db' | null>; entry: Promise<Saved | undefined> }>;
  /** The compacted text kept for the file, opened meanwhile (a later visit's only). */
  text: Promise<OpenText | null>;
}

/**
 * Asks for the file at `url` and starts reading what is saved for `location`, or gives what this
 * worker began for them at its start (the storefront tag names its catalogue in the script's
 * URL, after `#`, so that the worker starts before the tag's request comes).
 */
function begin(location: string, url: string, withEntry = true): Begun {
  if (early && early.location === location && early.url === url) {
    const b = early;
    early = null;
    return b;
  }
  stamp('request');
  const response = fetch(url);
  response.catch(() => undefined);
  // No page here: every piece of the entry is asked for at once.
  const cache = withEntry
    ? IndexedDbPreparedCache.open(undefined, undefined, undefined, Infinity).catch(() => null)
    : Promise.resolve(null);
  const saved = cache.then((c) =>
    c ? savedEntry(location, c) : { source: Promise.resolve<'copy' | 'db' | null>(null), entry: Promise.resolve(undefined) },
  );
  // Opened at once too: opening a copy takes tens of ms, and the text is read last.
  const text = withEntry ? openTextCopy(location).catch(() => null) : Promise.resolve(null);
  return { location, url, response, cache, saved, text };
}

/** The catalogue named in this script's URL, begun at once (see {@link begin}), until a request takes it. */
let early: Begun | null = null;

/**
 * The file at `url`, downloaded, digested and indexed as it arrives, or read from the copy kept
 * with the response's strong `ETag`. A server that answers no (a 404) gives the `CatalogError`
 * the page would give; a download that fails otherwise is an Error: the page then tries itself.
 */
async function download(
  location: string,
  url: string,
  slicer: Slicer,
  model?: string,
): Promise<{ bytes: Uint8Array; index: CatalogIndex; digest?: string; shipped?: true }> {
  const begun = begin(location, url, false);
  // Where the shop's index of its catalogue is, asked while the file downloads (see `shippedFor`).
  const listed = model ? listedIndex(model) : Promise.resolve(null);
  // Nothing saved to read on a first visit: the entry's cache and the text's copy, where the
  // worker began on the file at its start and opened them, are closed.
  void begun.cache.then((c) => c?.close());
  void begun.text.then((t) => t?.close());
  const res = await begun.response;
  stamp('response');
  // The server answered no (a 404): the page would get the same answer, so this is the load's
  // error, and the page does not ask again.
  if (!res.ok) throw catalogUnreachable(httpError(location, res));
  // A copy kept with the same strong `ETag` (nothing is saved for it yet, or the page keeps
  // nothing: its storage is in memory): read and indexed instead of the body, not written again.
  const etag = strongEtag(res);
  const copy = etag ? await openCopy(location, etag) : null;
  if (copy) {
    const bytes = readOpened(copy);
    if (bytes) {
      res.body?.cancel().catch(() => undefined);
      const digest = copy.digest ?? (await digestBytes(bytes, slicer));
      const found = await listed;
      return indexed(location, bytes, digest, found && found.file.fileBytes === bytes.length ? shippedIndex(found) : null, slicer);
    }
  }
  if (!res.body) throw new Error('the response has no body');
  const found = await listed;
  const length = plainLength(res);
  if (found && (length === 0 || length === found.file.fileBytes)) {
    // The shop's index stands for the parse where the file is the one it was made from: the
    // file is only downloaded and digested (and copied) here, and parsed only where it is not
    // (after the download: a file changed since the index was made, its length the same).
    const shipped = shippedIndex(found);
    const { bytes, digest } = await readBody(location, res, slicer);
    return indexed(location, bytes, digest, shipped, slicer);
  }
  // No index, or one made from a file of another length: parsed as it arrives.
  const tap = await kept(location, res, res.body);
  const got = await indexCatalogStream(location, tap.body, lengthHint(res), slicer, () => stamp('file'));
  const digest = await tap.digest;
  return digest ? { ...got, digest } : got;
}

/**
 * Where the model at `model` ships its catalogue's index (`core/catalog-index-file.ts`); null
 * where it ships none, or its manifests cannot be read (the file is then parsed, as without one).
 */
function listedIndex(model: string): Promise<ListedIndex | null> {
  return findShippedIndex(defaultFetcher, model).catch(() => null);
}

/**
 * The index `listed` names, downloaded, checked and read; null where it cannot be (the file is
 * then parsed). The step `shipped-index` is stamped where it came.
 */
function shippedIndex(listed: ListedIndex): Promise<ShippedIndex | null> {
  // Nothing else runs here: one slice, never a yield.
  return readShippedIndex(defaultFetcher, listed, new Slicer(Infinity)).then(
    (got) => {
      stamp('shipped-index');
      return got;
    },
    () => null,
  );
}

/**
 * The bytes of text from which the page compacts its catalogue, from its `compactAbove` (a number,
 * or `never`); 0 where it gave none (a compacted text is kept only by a page that compacted), NaN
 * (no text is taken) where it is not valid: the page reports that.
 */
function textAbove(compactAbove: string | undefined): number {
  if (compactAbove === undefined) return 0;
  const text = compactAbove.trim();
  return text === 'never' ? Infinity : text === '' ? NaN : Number(text);
}

/** The file length a digest names (`k64:…:LENGTH`, `sha256:…:LENGTH`); NaN where it names none. */
function digestLength(digest: string): number {
  const m = /:(\d+)$/.exec(digest);
  return m ? Number(m[1]) : NaN;
}

/**
 * The length of the response's body as it will be read, where the response says it for sure: a
 * same-origin response with a `Content-Length` and no `Content-Encoding` (a compressed body's
 * length is not the file's, and a cross-origin response may hide its encoding); else 0.
 */
function plainLength(res: Response): number {
  const encoding = res.headers.get('content-encoding');
  // 'default': a response made in the page's own code (a service worker's), headers unfiltered.
  const open = res.type === 'basic' || res.type === 'default';
  return open && (encoding === null || encoding === 'identity') ? lengthHint(res) : 0;
}

/**
 * The file's index: the shipped one (`shipped`, once read), where it was made from these very
 * bytes (their digest is its) and its shape fits them; else the file parsed here.
 */
async function indexed(
  location: string,
  bytes: Uint8Array,
  digest: string,
  shipped: Promise<ShippedIndex | null> | null,
  slicer: Slicer,
): Promise<{ bytes: Uint8Array; index: CatalogIndex; digest: string; shipped?: true }> {
  const got = await shipped;
  if (got && got.digest === digest) {
    try {
      await checkShippedIndex(got.index, bytes, slicer);
      return { bytes, index: got.index, digest, shipped: true };
    } catch {
      // Not whole, or not for these bytes: parsed below.
    }
  }
  return { bytes, index: await indexCatalog(location, bytes, slicer), digest };
}

/** The bytes of a copy opened with `openCopy`, which is closed; the step stamped where they were read. */
function readOpened(copy: OpenCopy): Uint8Array | null {
  const bytes = copy.read();
  copy.close();
  if (bytes) stamp('copy');
  return bytes;
}

/**
 * `body`, digested on the way where the digest kernel can run, and copied where the server gave
 * the file a strong `ETag` (`storage/file-copy.ts`): a later visit that gets the same `ETag`
 * reads the copy instead, and finds its digest noted in it.
 */
async function kept(
  location: string,
  res: Response,
  body: ReadableStream<Uint8Array>,
): Promise<{ body: ReadableStream<Uint8Array>; digest: Promise<string | null> }> {
  const etag = strongEtag(res);
  const copy = etag ? await startCopy(location, etag) : null;
  return copying(body, copy, streamDigest());
}

/**
 * Ids as a message carries them: their text as UTF-8 bytes (`idText`, moved) where it can, with
 * the text left empty (see `core/id-text.ts`), and `idTextAscii` where every byte is one
 * character (the page then reads the bytes as they are: `withAsciiText`); `part` goes into the
 * message, `moved` into its transfer list. `idText`: the bytes where they are at hand already (an
 * entry read from its copy), with the text's length (`textLength`, in UTF-16 units).
 */
function wired(
  ids: IdTableData,
  idText: ArrayBuffer | null = idTextBytes(ids.text),
  textLength = ids.text.length,
): { ids: IdTableData; part: { idText?: ArrayBuffer; idTextAscii?: true }; moved: ArrayBuffer[] } {
  if (!idText) return { ids, part: {}, moved: [] };
  const ascii = idText.byteLength === textLength ? { idTextAscii: true as const } : {};
  return { ids: { ...ids, text: '' }, part: { idText, ...ascii }, moved: [idText] };
}

/** The buffers behind typed arrays, each once: what a message moves with them. */
function buffersOf(...arrays: ArrayBufferView[]): ArrayBuffer[] {
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}

/** The typed arrays of a catalogue's ids and categories (an index's or a saved entry's). */
const idArrays = (ids: IdTableData, categories: CategoryTable | null): ArrayBufferView[] => [
  ids.lengths,
  ids.marks,
  ids.slots,
  ...(categories ? [categories.codes] : []),
];

/**
 * A later visit's file, checked against the saved entry, which is read meanwhile: the copy kept
 * on an earlier visit where the server sends the same strong `ETag` (the body is then not read),
 * else the file downloaded whole; either is digested. Answers with the entry's catalogue part
 * where it is for these bytes (then posts its matrix), else with the file indexed here, with its
 * digest.
 */
async function checkSaved(
  location: string,
  url: string,
  slicer: Slicer,
  model?: string,
  textAbove = 0,
): Promise<{ bytes: Uint8Array; index: CatalogIndex; digest: string; shipped?: true } | null> {
  const begun = begin(location, url);
  const response = begun.response;
  const cache = await begun.cache;
  try {
    const { source, entry } = await begun.saved;
    // Each step is stamped when it ends, not when it is awaited.
    void entry.then((e) => {
      if (!e) return;
      stamp('entry');
      void e.matrix.then(
        (m) => m && stamp('matrix'),
        () => undefined,
      );
    });
    const res = await response;
    stamp('response');
    if (!res.ok) throw catalogUnreachable(httpError(location, res));
    const etag = strongEtag(res);
    const copy = etag ? await openCopy(location, etag) : null;
    // The compacted text kept for the copy's bytes, opened while the entry was read, where the
    // page would compact them.
    const textCopy = begun.text.then((t) => {
      if (t && copy?.digest && t.digest === copy.digest && t.textBytes >= textAbove) return t;
      t?.close();
      return null;
    });
    if (copy) {
      try {
        const from = await source;
        const saved = from === 'copy' ? await entry : undefined;
        if (saved && copy.digest !== null && copy.digest === saved.catalog.digest) {
          // The server vouches for the copy's bytes, and the entry was made from them: the
          // entry, read from its own copy, goes ahead of the bytes, and the page checks it while
          // they are read here.
          const back = await handBack(
            location,
            saved,
            copy.digest,
            slicer,
            async () => {
              const bytes = readOpened(copy);
              if (bytes) {
                res.body?.cancel().catch(() => undefined);
                return { bytes, digest: copy.digest! };
              }
              // Gone meanwhile: the body after all (the page compares its digest).
              return readBody(location, res, slicer);
            },
            true,
            // The compacted text an earlier visit kept for these bytes, where there is one: a
            // quarter of the file's bytes to read and move.
            textCopy,
          );
          // Not read where the text went instead of the bytes (a body read is locked: a no-op).
          res.body?.cancel().catch(() => undefined);
          return back && { bytes: back.bytes, index: await indexCatalog(location, back.bytes, slicer), digest: back.digest };
        }
        // An entry from IndexedDB: the copy is read while IndexedDB reads the entry.
        const bytes = from !== null ? readOpened(copy) : null;
        copy.close();
        if (bytes) {
          // A copy with no digest noted (none could be made as it was kept) is digested once, here.
          const digest = copy.digest ?? (await digestBytes(bytes, slicer));
          if (!copy.digest) stamp('digest');
          const db = await entry;
          if (db && db.catalog.digest === digest) {
            res.body?.cancel().catch(() => undefined);
            if (!copy.digest) await noteDigest(location, etag!, digest);
            if (!(await handBack(location, db, digest, slicer, () => Promise.resolve({ bytes, digest }), false))) return null;
            // A damaged entry: the bytes are indexed, and the page saves a good one.
            return { bytes, index: await indexCatalog(location, bytes, slicer), digest };
          }
        }
      } finally {
        copy.close();
      }
    }
    void begun.text.then((t) => t?.close());
    // A file whose response says another length than the saved entry's has changed: the shop's
    // index for it, where it ships one, is asked for while it downloads (never on a visit that
    // cannot tell, so an unchanged file costs no request).
    const length = plainLength(res);
    const shipped =
      model && length > 0
        ? entry.then(async (e) => {
            const had = e ? digestLength(e.catalog.digest) : NaN;
            // Not known to have changed: no entry, or its digest names no length, or the same.
            if (Number.isNaN(had) || had === length) return null;
            const found = await listedIndex(model);
            return found && found.file.fileBytes === length ? shippedIndex(found) : null;
          })
        : null;
    const { bytes, digest } = await readBody(location, res, slicer);
    const saved = await entry;
    if (saved && saved.catalog.digest === digest) {
      if (!(await handBack(location, saved, digest, slicer, () => Promise.resolve({ bytes, digest }), false))) return null;
    }
    return indexed(location, bytes, digest, shipped, slicer);
  } finally {
    cache?.close();
  }
}

/**
 * A saved entry, with its generation where it came from IndexedDB (null where it came from its
 * copy); one from its copy keeps its ids' text as the copy's bytes (`idText`: see
 * `EntryWithIdText`), which go on to the page as they are.
 */
type Saved = SavedEntry & { generation: string | null; idText?: ArrayBuffer; idTextLength?: number };

/**
 * The entry saved for `location`: its copy (`storage/file-copy.ts`) where one is kept for the
 * entry's generation, else the entry itself, read from IndexedDB. `source` tells which as soon
 * as it is known (null: nothing saved), before an entry from IndexedDB has been read.
 */
function savedEntry(
  location: string,
  cache: IndexedDbPreparedCache,
): { source: Promise<'copy' | 'db' | null>; entry: Promise<Saved | undefined> } {
  let told: (from: 'copy' | 'db' | null) => void = () => undefined;
  const source = new Promise<'copy' | 'db' | null>((r) => (told = r));
  const entry = (async (): Promise<Saved | undefined> => {
    const generation = await cache.generationOf(location);
    if (generation === undefined) return undefined;
    const copy = await readEntryCopy(location, generation);
    if (copy) {
      stamp('entry-copy');
      told('copy');
      return { ...copy, generation: null };
    }
    told('db');
    return cache.get(location);
  })().catch(() => undefined);
  void entry.then(() => told(null));
  return { source, entry };
}

/**
 * The response's body, whole, with its digest (made as it comes where the kernel can run), and a
 * copy kept on the way where the server gave the file a strong `ETag`.
 */
async function readBody(location: string, res: Response, slicer: Slicer): Promise<{ bytes: Uint8Array; digest: string }> {
  const tap = res.body ? await kept(location, res, res.body) : null;
  const bytes = new Uint8Array(await new Response(tap?.body).arrayBuffer());
  stamp('file');
  const digest = (await tap?.digest) ?? (await digestBytes(bytes, slicer));
  stamp('digest');
  return { bytes, digest };
}

/**
 * Posts a saved entry whose digest is `digest`: its catalogue part, checked here
 * (`checkSavedCatalog`: the page's main thread then takes it as it is), then its item matrix. The
 * file's bytes (`file`) go with the catalogue part, or, with `later`, after the matrix, with the
 * digest of the bytes `file` gave in the end, which the page compares; there, the compacted text
 * `text` gives (kept for these bytes), where it gives one, goes instead of the bytes. A damaged
 * entry is not posted, nor, without `later`, one for which `file` gives bytes with another
 * digest: the bytes are then returned for the caller to index. An entry read from IndexedDB is copied on the way,
 * each part before it is moved, so that the next visit reads the copy instead.
 */
async function handBack(
  location: string,
  saved: Saved,
  digest: string,
  slicer: Slicer,
  file: () => Promise<{ bytes: Uint8Array; digest: string }>,
  later: boolean,
  text: Promise<OpenText | null> = Promise.resolve(null),
): Promise<{ bytes: Uint8Array; digest: string } | null> {
  // Whether the text is opened by the time the entry goes: the page then readies its inflate.
  let textOpen = false;
  void text.then((t) => (textOpen = t !== null));
  saved.matrix.catch(() => undefined);
  const c = saved.catalog;
  try {
    await checkSavedCatalog(c, slicer, saved.idText ? saved.idTextLength : undefined);
  } catch {
    return file();
  }
  const copy = saved.generation === null ? null : await startEntryCopy(location, saved.generation);
  const kept = copy ? copy.catalog(c) : false;
  const w = saved.idText ? wired(c.ids, saved.idText, saved.idTextLength) : wired(c.ids);
  const moved = [...w.moved, ...buffersOf(...idArrays(w.ids, c.categories), c.bounds, c.spread)];
  const entry = { digest, saved: { ...c, ids: w.ids }, checked: true as const, ...w.part };
  let got: { bytes: Uint8Array; digest: string } | null = null;
  if (later) {
    const hint = textOpen ? { textFollows: true as const } : {};
    scope.postMessage(marked({ ...entry, buffer: new ArrayBuffer(0), later: true as const, ...hint }), moved);
  } else {
    got = await file();
    if (got.digest !== digest) {
      // Not the entry's bytes after all: nothing is handed back, and the caller indexes them.
      copy?.abort();
      return got;
    }
    const buffer = got.bytes.buffer as ArrayBuffer;
    scope.postMessage(marked({ ...entry, buffer }), [buffer, ...moved]);
  }
  const matrix: PreparedMatrix | null = await saved.matrix.catch(() => null);
  if (kept) await copy!.finish(matrix);
  // Ahead of the bytes too, where they follow: the page builds the head while they are read.
  scope.postMessage(
    marked(got ? { matrix } : { matrix, follows: true as const }),
    matrix ? buffersOf(matrix.codes, matrix.scales, ...Object.values(matrix.base ?? {})) : [],
  );
  if (got) return null;
  const compact = (await text)?.read() ?? null;
  if (compact) {
    stamp('text');
    const { packed, ends, counts, raw } = compact.blocks;
    scope.postMessage(marked({ file: null, text: compact, digest }), buffersOf(packed, ends, counts, raw, compact.dictionary));
    return null;
  }
  const late = await file();
  const buffer = late.bytes.buffer as ArrayBuffer;
  scope.postMessage(marked({ file: buffer, digest: late.digest }), [buffer]);
  return null;
}

scope.onmessage = (ev) => {
  const request = ev.data;
  scope.postMessage({ taken: true }, []);
  // Nothing else runs here: one slice, never a yield.
  const slicer = new Slicer(Infinity);
  const work: Promise<{ bytes: Uint8Array; index: CatalogIndex; digest?: string; shipped?: true } | null> =
    'buffer' in request
      ? (() => {
          const bytes = new Uint8Array(request.buffer);
          return indexCatalog(request.location, bytes, slicer).then((index) => ({ bytes, index }));
        })()
      : request.saved
        ? checkSaved(request.location, request.url, slicer, request.model, textAbove(request.compactAbove))
        : download(request.location, request.url, slicer, request.model);
  void work.then(
    (done) => {
      if (!done) return; // the saved entry was handed back
      const { bytes, index, digest, shipped } = done;
      stamp('index');
      const buffer = bytes.buffer as ArrayBuffer;
      const w = wired(index.ids);
      const moved = [buffer, ...w.moved, ...buffersOf(...idArrays(w.ids, index.categories), index.bounds, index.keys)];
      const answer = { buffer, index: { ...index, ids: w.ids }, ...w.part, ...(shipped ? { shipped } : {}) };
      scope.postMessage(marked(digest === undefined ? answer : { ...answer, digest }), moved);
    },
    (err: unknown) => {
      const error =
        err instanceof ClickwiseError
          ? { name: err.name, code: err.code, message: err.message }
          : { name: 'Error', code: null, message: err instanceof Error ? err.message : String(err) };
      // The file given whole goes back; one the worker downloaded is read again by the page.
      const buffer = 'buffer' in request ? request.buffer : new ArrayBuffer(0);
      scope.postMessage(marked({ buffer, error }), [buffer]);
    },
  );
};

// The catalogue the tag named, asked for before its request comes.
const named = ((): string | null => {
  const hash = (globalThis as { location?: { hash?: string } }).location?.hash;
  try {
    return hash && hash.length > 1 ? decodeURIComponent(hash.slice(1)) : null;
  } catch {
    return null;
  }
})();
if (named) early = begin(named, named);

// The tag's first visit waits for this before it lets the runtime rely on the worker.
scope.postMessage({ ready: true }, []);
