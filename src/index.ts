/**
 * `clickwise`: the public entry. `createRecommender` is the core recommender wired to the
 * storage layer (IndexedDB with a memory fallback in browsers; memory in Node).
 */
import type { CoreRecommenderOptions, Recommender } from './core/index.js';
import { ArgumentError, createRecommenderCore } from './core/index.js';
import type { StorageKind } from './storage/index.js';
import { IndexedDbEmbeddingCache, IndexedDbPreparedCache, openDeltaStore } from './storage/index.js';
import { earlyCatalogOf, startCatalogWorker, workerCatalogIndexer } from './catalog-indexer.js';
import { workerCatalogCompactor } from './catalog-compactor.js';
import { startEarlyIndex } from './early-index.js';

// What a shop uses, and nothing else: every name here is a promise kept across versions. The
// tools and tests import internals from their own modules.
export {
  ArgumentError,
  BackendError,
  CatalogError,
  ChecksumError,
  ClickwiseError,
  DisposedError,
  ModelLoadError,
  UnknownItemError,
} from './core/index.js';
export type {
  BackendName,
  BackendRequest,
  HeadOptions,
  Item,
  Progress,
  ProgressCallback,
  ProgressPhase,
  Recommendation,
  RecommendOptions,
  Recommender,
  RecommenderEvents,
  RecommenderStats,
} from './core/index.js';
export type { ShopDeltaInfo } from './core/shop-delta-client.js';
export type { StorageKind } from './storage/index.js';

/** Options of {@link createRecommender}. */
export interface RecommenderOptions extends Omit<CoreRecommenderOptions, 'store'> {
  /** `'indexeddb'` (default; falls back to memory with a warning) or `'memory'`. */
  storage?: StorageKind;
  /** Separates stores (shops, experiments) on one origin. Default `'default'`. */
  namespace?: string;
}

/** IndexedDB in browsers; memory in Node, which has no IndexedDB (and needs no warning about it). */
function defaultStorage(): StorageKind {
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  return isNode && typeof globalThis.indexedDB === 'undefined' ? 'memory' : 'indexeddb';
}

/**
 * In Node, the `models/` folder shipped in this package (found from this file: `dist/lib/` in the
 * installed package, `src/` in a checkout); in a page, undefined (the default stays `/models/`,
 * which the page's server serves).
 */
async function nodePackageModels(): Promise<string | undefined> {
  const isNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  if (!isNode || typeof (globalThis as { document?: unknown }).document !== 'undefined') return undefined;
  // Built at run time, so that no bundler takes these for assets of the page.
  const names = ['node:fs', 'node:url'];
  const fs = (await import(/* @vite-ignore */ names[0]!)) as { existsSync(p: string): boolean };
  const url = (await import(/* @vite-ignore */ names[1]!)) as { fileURLToPath(u: URL): string };
  for (const up of [['..', '..'], ['..']]) {
    const dir = url.fileURLToPath(new URL([...up, 'models', ''].join('/'), import.meta.url));
    if (fs.existsSync(`${dir}manifest.json`)) return dir;
  }
  return undefined;
}

/**
 * Where the page's `clickwise/vite` plugin put the model and the WASM binaries
 * (`<meta name="clickwise-assets" content="/clickwise/">`), or undefined.
 */
function pageAssets(): string | undefined {
  const doc = (globalThis as { document?: Document }).document;
  const content = doc?.querySelector?.('meta[name="clickwise-assets"]')?.getAttribute('content');
  if (!content) return undefined;
  return new URL(content.endsWith('/') ? content : `${content}/`, doc!.baseURI).href;
}

/**
 * The catalogue at a URL, taken by the catalogue's worker from now on (see `early-index.ts`):
 * downloaded and parsed there as it arrives on a first visit, checked against what was saved on a
 * later one. Only in a page with workers, for a catalogue given by URL, and where the shop gave no
 * fetcher of its own (the worker downloads with plain `fetch`).
 */
function earlyCatalogFor(options: CoreRecommenderOptions): CoreRecommenderOptions['earlyCatalog'] {
  const doc = (globalThis as { document?: Document }).document;
  const { catalog } = options;
  if (typeof catalog !== 'string' || typeof Worker === 'undefined' || !doc || options.fetcher || options.catalogIndexer) return undefined;
  let url: string;
  try {
    url = new URL(catalog, doc.baseURI).href;
  } catch {
    return undefined; // not a URL: the load says so
  }
  // The model's folder, where the shop may ship the catalogue's index (as the load finds it below).
  const assets = pageAssets();
  const modelUrl = options.modelUrl ?? (assets ? `${assets}models/` : undefined);
  let model: string | undefined;
  try {
    model = modelUrl ? new URL(modelUrl, doc.baseURI).href : undefined;
  } catch {
    model = undefined; // the load reports a model it cannot find
  }
  // The compaction's threshold as the tag's attribute gives it (the load checks it).
  const above = options.compactCatalogAbove;
  return earlyCatalogOf(
    startEarlyIndex(catalog, url, startCatalogWorker, undefined, undefined, model, above === undefined ? undefined : String(above)),
  );
}

/** The page's visibility, where there is a page: the shop delta is looked for again when it comes back. */
function documentVisibility(): CoreRecommenderOptions['visibility'] {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc || typeof doc.addEventListener !== 'function') return undefined;
  return {
    isVisible: () => doc.visibilityState !== 'hidden',
    onChange(fn) {
      doc.addEventListener('visibilitychange', fn);
      return () => doc.removeEventListener('visibilitychange', fn);
    },
  };
}

const STORAGE_KINDS: readonly StorageKind[] = ['indexeddb', 'memory'];

/**
 * Creates a ready recommender: loads the catalogue and the model, picks a backend, embeds the
 * catalogue and restores this shopper's learning.
 *
 * @example
 * const rec = await createRecommender({ catalog: '/catalog.json', modelUrl: '/models/' });
 * await rec.click('sku-42');
 * const top = await rec.recommend({ k: 10 });
 */
export async function createRecommender(options: RecommenderOptions): Promise<Recommender> {
  const { storage = defaultStorage(), namespace = 'default', ...core } = options ?? ({} as RecommenderOptions);
  if (!STORAGE_KINDS.includes(storage)) {
    throw new ArgumentError('options/storage', `Unknown storage ${JSON.stringify(storage)}. Valid values: 'indexeddb', 'memory'.`);
  }
  if (typeof namespace !== 'string' || namespace === '') {
    throw new ArgumentError('options/namespace', 'namespace must be a non-empty string, e.g. the shop name.');
  }
  // The catalogue's worker starts on the file while the stores open and the runtime loads the model.
  const earlyCatalog = core.earlyCatalog ?? earlyCatalogFor(core);
  const { store } = await openDeltaStore(storage, namespace);
  // Catalogue vectors are cached wherever the shopper's state is kept on disk.
  // So is what a load of the catalogue makes (its index and item matrix), for the next visit.
  const onDisk = store.kind === 'indexeddb';
  const [embeddingCache, preparedCache] = await Promise.all([
    onDisk ? IndexedDbEmbeddingCache.open().catch(() => undefined) : undefined,
    onDisk ? IndexedDbPreparedCache.open().catch(() => undefined) : undefined,
  ]);
  // The caches are read while loading and written just after; closed once that is done.
  const closeCaches = (): void => {
    embeddingCache?.close();
    preparedCache?.close();
  };
  try {
    const visibility = core.visibility ?? documentVisibility();
    const assets = pageAssets();
    const modelUrl = core.modelUrl ?? (assets ? `${assets}models/` : await nodePackageModels());
    const wasmPaths = core.wasmPaths ?? (assets ? `${assets}tfjs/` : undefined);
    // A catalogue file that must be parsed (a first visit) is parsed in a Web Worker.
    const catalogIndexer = core.catalogIndexer ?? workerCatalogIndexer();
    // A large catalogue's compaction after ready deflates its blocks in another Web Worker.
    const catalogCompactor = core.catalogCompactor ?? workerCatalogCompactor();
    return await createRecommenderCore({
      ...core,
      store,
      ...(catalogIndexer ? { catalogIndexer } : {}),
      ...(catalogCompactor ? { catalogCompactor } : {}),
      ...(earlyCatalog ? { earlyCatalog } : {}),
      ...(modelUrl ? { modelUrl } : {}),
      ...(wasmPaths ? { wasmPaths } : {}),
      ...(embeddingCache ? { embeddingCache } : {}),
      ...(preparedCache ? { preparedCache } : {}),
      ...(visibility ? { visibility } : {}),
      afterSaved: () => {
        try {
          core.afterSaved?.();
        } finally {
          closeCaches();
        }
      },
    });
  } catch (err) {
    store.close();
    closeCaches();
    throw err;
  }
}
