/**
 * A catalogue file parsed and indexed: the work a first visit does on the file's bytes before it
 * can use them (parse, check, index the ids, number the categories). Its result is what a later
 * visit takes back from the prepared cache, so the page then holds the catalogue as a later
 * visit does: the file's bytes, and each item parsed as it is shown.
 *
 * The work needs no page: a {@link CatalogIndexer} can run it in a Web Worker, off the page's
 * main thread (`src/catalog-worker.ts`). Imports stay clear of tfjs, so that worker stays small.
 */
import type { CategoryTable, CompactText, ValidatedCatalog } from './catalog.js';
import { buildCategories, CatalogBuilder } from './catalog.js';
import { CatalogError } from './errors.js';
import type { IdTableData } from './id-table.js';
import { IdTable } from './id-table.js';
import type { ArrivingBytes } from './json-array.js';
import { JsonBounds, parseJsonArrayFrom } from './json-array.js';
import { GrowingBuffer, looksLikeHtml } from './model-io.js';
import type { SavedEntry } from './prepared.js';
import type { Slicer } from './slice.js';
import { itemKeys } from './vectors.js';

/** What {@link indexCatalog} makes of a file. */
export interface CatalogIndex {
  /** The kept items' ids, indexed (what {@link IdTable.build} makes). */
  ids: IdTableData;
  /** Two per kept item: the byte offsets of its element's start and end in the file. */
  bounds: Uint32Array;
  /** What was wrong with the items that were skipped. */
  skipped: string[];
  categories: CategoryTable | null;
  /** Every kept item's text key ({@link itemKeys}): what matches it to the shop's vectors. */
  keys: Uint32Array;
}

/**
 * Runs {@link indexCatalog} somewhere else (a Web Worker). It may take the bytes' buffer (a
 * transfer) and gives it back as `bytes`, with the index. A catalogue that is not usable rejects
 * with the `CatalogError` that {@link indexCatalog} throws (same code and message); any other
 * rejection means the indexer could not run, and the page does the work itself.
 */
export type CatalogIndexer = (location: string, bytes: Uint8Array) => Promise<{ bytes: Uint8Array; index: CatalogIndex }>;

/**
 * What a worker made of a catalogue file it took before the load began:
 * - the file indexed (a first visit, or a file that no longer matches what was saved), with the
 *   file's digest where the worker made it;
 * - or the file's digest and the prepared-cache entry saved for it, which the worker read and
 *   found to be for these very bytes (a later visit): the load takes it as it would take the
 *   entry it read itself, and checks it the same way.
 */
export type EarlyResult =
  /** `shipped`: the index the shop shipped for these very bytes (`catalog-index-file.ts`), not a parse of them. */
  | { bytes: Uint8Array; index: CatalogIndex; digest?: string; shipped?: true }
  | {
      bytes: Uint8Array;
      digest: string;
      saved: SavedEntry;
      /** The worker checked the entry's catalogue part (`checkSavedCatalog`): the load takes it as it is. */
      checked?: true;
      /**
       * Where the saved entry came ahead of the file's bytes (`bytes` then empty): the bytes the
       * worker read in the end, or the catalogue's compacted text an earlier visit kept for
       * them (`text`: about a quarter of their size), and their digest, which the load compares
       * with `digest`.
       */
      later?: Promise<LaterText>;
      /** Where `later` is expected to give the compacted text: the load readies its inflate meanwhile. */
      textFollows?: true;
    };

/** What comes after a saved entry sent ahead of its file: the file's bytes, or its compacted text. */
export type LaterText = { bytes: Uint8Array; digest: string } | { text: CompactText; digest: string };

/**
 * A catalogue file that a worker took as it downloaded, before the load began (the storefront
 * tag does so from its start). `taken` resolves false where it did not: the load then reads
 * the file itself. `result` is the worker's answer, once `taken` is true; a rejection with a
 * `CatalogError` is the load's error, any other means the load reads the file itself.
 */
export interface EarlyCatalog {
  location: string;
  taken: Promise<boolean>;
  /**
   * Resolves (before `taken`) true where the worker checks the file against a saved entry, so
   * that its answer may be that entry; false or absent where it indexes the file: the load then
   * knows at once that it makes the item matrix itself, and starts on it while the file is parsed.
   */
  checksSaved?: Promise<boolean>;
  result: Promise<EarlyResult>;
}

/** The error of a catalogue file that could not be read (`cause`: the fetcher's error). */
export function catalogUnreachable(cause: unknown): CatalogError {
  return new CatalogError(
    'catalog/unreachable',
    `Could not load the catalogue: ${cause instanceof Error ? cause.message : String(cause)} Check data-catalog / the catalog option: it must be the URL of a JSON array of items.`,
    { cause },
  );
}

/** Parses and checks a catalogue file, recording where each element lies in it. */
export async function parseCatalog(
  location: string,
  file: Uint8Array | ArrivingBytes,
  slicer: Slicer,
  keep = true,
): Promise<{ catalog: ValidatedCatalog; bounds: Uint32Array }> {
  const src = file instanceof Uint8Array ? { bytes: file, more: () => Promise.resolve(false) } : file;
  const elements = new JsonBounds();
  // Each element is checked as soon as it is parsed, while the rest of the file still arrives.
  const builder = new CatalogBuilder(keep);
  let parsed: unknown;
  try {
    parsed = await parseJsonArrayFrom(src, slicer, elements, (x, i) => builder.add(x, i));
  } catch (cause) {
    if (!(cause instanceof SyntaxError)) throw cause; // the download failed: not the file's fault
    const head = src.bytes.subarray(0, 64);
    const why = looksLikeHtml(head.slice().buffer) ? 'it is an HTML page: a wrong URL?' : String(cause);
    throw new CatalogError(
      'catalog/not-json',
      `The catalogue at ${location} is not valid JSON (${why}). Serve a JSON array of items { id, title, ... }.`,
      { cause },
    );
  }
  const catalog = builder.finish(parsed);
  // Item i is the bytes between its element's opening and closing separators.
  const b = elements.view();
  const bounds = new Uint32Array(2 * catalog.size);
  for (let i = 0; i < catalog.size; i++) {
    const r = catalog.rawIndex[i]!;
    bounds[2 * i] = b[r]! + 1;
    bounds[2 * i + 1] = b[r + 1]!;
    if ((i & 2047) === 2047) await slicer.maybeYield();
  }
  return { catalog, bounds };
}

/**
 * Parses, checks and indexes a catalogue file: {@link parseCatalog}, then its ids, categories and
 * text keys.
 * Throws a `CatalogError` as `parseCatalog` does. The parsed items are let go.
 */
export async function indexCatalog(location: string, file: Uint8Array | ArrivingBytes, slicer: Slicer): Promise<CatalogIndex> {
  // The items are let go once indexed: they need not be copied.
  const { catalog, bounds } = await parseCatalog(location, file, slicer, false);
  const ids = await IdTable.build(catalog.id, catalog.size, slicer);
  const categories = await buildCategories(catalog, slicer);
  const { keys } = await itemKeys(catalog.items, slicer);
  return { ids: ids.saved, bounds, skipped: [...catalog.skipped], categories, keys };
}

/**
 * {@link indexCatalog} on a file's body as it arrives, each part parsed as it comes. Gives the
 * whole file's bytes (a buffer of their exact length) with the index. A body that fails to arrive
 * rejects with its error, which is not a `CatalogError`. `arrived` is called once the body's last
 * byte is here.
 */
export async function indexCatalogStream(
  location: string,
  body: ReadableStream<Uint8Array>,
  lengthHint: number,
  slicer: Slicer,
  arrived?: () => void,
): Promise<{ bytes: Uint8Array; index: CatalogIndex }> {
  const out = new GrowingBuffer(lengthHint || 1 << 16);
  const reader = body.getReader();
  let done = false;
  const src: ArrivingBytes = {
    get bytes() {
      return out.bytes;
    },
    async more() {
      while (!done) {
        const r = await reader.read();
        if (r.done) {
          done = true;
          arrived?.();
        } else if (r.value.byteLength > 0) {
          out.append(r.value);
          return true;
        }
      }
      return false;
    },
  };
  const index = await indexCatalog(location, src, slicer);
  const bytes = out.bytes;
  return { bytes: bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(), index };
}
