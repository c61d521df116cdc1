/**
 * The folder the visit tools serve: a synthetic catalogue of n items, a copy of the shipped
 * model and the catalogue vectors and index `npm run vectors -- --catalog F` makes for it, computed once and kept in the
 * system's temporary folder (minutes at 1,000,000 items).
 */
import { cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VectorsReport } from '../cli/vectors/vectors.js';
import { INDEX_FILE, writeVectors } from '../cli/vectors/vectors.js';
import { HEADERS_STORE, PREPARED_DB } from '../storage/prepared-probe.js';
import { COPIES_DIR, TEXT_SUFFIX } from '../storage/file-copy.js';
import { DEFAULT_COMPACT_ABOVE } from '../core/recommender.js';
import { syntheticCatalog } from './synthetic-catalog.js';
import { longTaskObserver } from './long-tasks.js';
import { defaultHead, INT4_RESIDUALS_FROM, writeHeadModel, writeModelManifest } from '../cli/train/head-io.js';
import type { EncoderManifest } from '../core/encoder.js';
import type { HeadManifest, ModelManifest } from '../core/model.js';
import { mulberry32 } from '../core/rng.js';

/** Served under `/p/`: the catalogue is `/p/<n>/catalog.json`, the model `/p/<n>/models/`. */
export const VISIT_ROOT = join(tmpdir(), 'clickwise-profile-visit');

/** A long-task observer for a measuring page (`longTaskObserver`): `window.__tasks` holds { start, ms }. */
export const TASK_OBSERVER = longTaskObserver('{ start: Math.round(start), ms: Math.round(ms) }');

/**
 * Source of a page function that resolves whether the prepared cache holds an entry (its header is
 * written last): the visit tools load the next visit only once the first one's entry is saved.
 */
export const SAVED_ENTRY = `() => new Promise((resolve) => {
  const req = indexedDB.open(${JSON.stringify(PREPARED_DB)});
  req.onerror = () => resolve(false);
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(${JSON.stringify(HEADERS_STORE)})) return (db.close(), resolve(false));
    const count = db.transaction(${JSON.stringify(HEADERS_STORE)}, 'readonly').objectStore(${JSON.stringify(HEADERS_STORE)}).count();
    count.onsuccess = () => (db.close(), resolve(count.result > 0));
    count.onerror = () => (db.close(), resolve(false));
  };
})`;

/**
 * Source of a page function that resolves whether the catalogue's compacted text is kept (a
 * non-empty `.text` file among the copies in the private file system: written whole when its
 * writer closes). A catalogue file at or over `compactCatalogAbove` is compacted once the first
 * visit is ready, and its text kept for the next: the visit tools wait for it too.
 */
export const SAVED_TEXT = `async () => {
  try {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(${JSON.stringify(COPIES_DIR)});
    for await (const [name, handle] of dir.entries()) {
      if (name.endsWith(${JSON.stringify(TEXT_SUFFIX)}) && (await handle.getFile()).size > 0) return true;
    }
  } catch {}
  return false;
}`;

/** Whether the catalogue in `dir` is compacted once a visit is ready (at the default `compactCatalogAbove`). */
export const compacts = (dir: string): boolean => statSync(join(dir, 'catalog.json')).size >= DEFAULT_COMPACT_ABOVE;

/** Makes the folder for n items if it is not there yet; returns its path. */
export async function visitFolder(n: number): Promise<string> {
  if (!existsSync('dist/clickwise.js')) throw new Error('dist/clickwise.js is missing: run npm run build first.');
  const dir = join(VISIT_ROOT, String(n));
  // A folder made before the catalogue's index was shipped is made again.
  if (!existsSync(join(dir, 'models', 'vectors', INDEX_FILE))) {
    mkdirSync(dir, { recursive: true });
    const catalog = syntheticCatalog(n);
    const json = JSON.stringify(catalog);
    writeFileSync(join(dir, 'catalog.json'), json);
    cpSync('models', join(dir, 'models'), { recursive: true });
    console.log(`computing the vectors and the index of ${n} items (once; kept in ${dir})`);
    const report = await writeVectors({ modelDir: join(dir, 'models'), items: catalog, catalogFile: new TextEncoder().encode(json) });
    writeFileSync(join(dir, 'vectors-report.json'), JSON.stringify(report));
  }
  return dir;
}

/**
 * Successors per item in {@link trainedBase}'s transitions: Online Retail's trained base had 38 on
 * average while bases kept up to 50 an item. Bases now keep 10 at most (`TRANSITION_TOP`: 9.4 on
 * average there); the bench keeps the denser base, so that its figures stay comparable across
 * versions and a shop that keeps more (`BaseOptions.successors`) is covered.
 */
export const TRAINED_SUCCESSORS = 38;

/**
 * A model folder beside `models/` (`models-trained-i4/`, made once) whose base knows every item of
 * the folder's catalogue, as a base `npm run maintain` trained on a shop of that size would:
 * a bias, a residual of d numbers, what sold lately and {@link TRAINED_SUCCESSORS} transitions
 * for each item (made-up values from a fixed seed; the shipped base knows no item, so the visit
 * tools would otherwise never load a large base). Returns its URL path under `/p/`. `successors`:
 * another number of successors an item (as `npm run maintain` keeps, 10 at most), in a folder of
 * its own (`models-trained-i4-s10/` for 10).
 */
export function trainedBase(n: number, dir: string, next = false, successors = TRAINED_SUCCESSORS): string {
  if (!(Number.isInteger(successors) && successors >= 1 && successors <= n))
    throw new RangeError(`successors must be a whole number from 1 to ${n}, got ${successors}.`);
  // A folder of its own, apart from `models-trained/` and `models-trained-dv/`, which versions
  // before the successors' delta varints and before int4 residuals make in their forms:
  // `bench:visit-ab` then serves each version a base it reads.
  const folder = `models-trained-i4${successors === TRAINED_SUCCESSORS ? '' : `-s${successors}`}`;
  const models = join(dir, folder);
  writeTrainedHead(n, models, 'head', false, successors, () => cpSync(join(dir, 'models'), models, { recursive: true }));
  if (!next) return `/p/${n}/${folder}/`;
  // `next`: the same base published again under another version, as a shop's next maintenance
  // run publishes it: a head folder of its own beside the one in force (`head-next/`), the
  // encoder's and the vectors' folders where they were (their files unchanged, so a page's cache
  // has them), and a manifest naming them (in `models-trained-i4-next/`, the later visits' model
  // URL, which stands for the shop's `manifest.json` replaced). A page that knew the first base
  // rebases onto it.
  writeTrainedHead(n, models, 'head-next', true, successors, () => undefined);
  const nextFolder = `${folder}-next`;
  mkdirSync(join(dir, nextFolder), { recursive: true });
  const m = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')) as ModelManifest;
  const up = (sub: string): string => `../${folder}/${sub}`;
  const headVersion = (JSON.parse(readFileSync(join(models, 'head-next', 'manifest.json'), 'utf8')) as HeadManifest).version;
  const encoderVersion = (JSON.parse(readFileSync(join(models, m.encoder, 'manifest.json'), 'utf8')) as EncoderManifest).version;
  const manifest: ModelManifest = {
    ...m,
    version: `${encoderVersion}+${headVersion}`,
    encoder: up(m.encoder),
    head: up('head-next/'),
    ...(m.vectors ? { vectors: up(m.vectors) } : {}),
  };
  writeFileSync(join(dir, nextFolder, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return `/p/${n}/${nextFolder}/`;
}

/**
 * Writes into `models/<head>` the bench's trained base of n items with `successors` an item
 * (`next`: under the next version), unless one of this layout is there: `fresh` first readies the
 * folder where it is not.
 */
function writeTrainedHead(n: number, models: string, head: string, next: boolean, successors: number, fresh: () => void): void {
  const headManifest = join(models, head, 'manifest.json');
  const current =
    existsSync(join(models, 'manifest.json')) &&
    existsSync(join(models, head, 'transitions.bin')) &&
    (JSON.parse(readFileSync(headManifest, 'utf8')) as HeadManifest).tensors.some(
      (t) => t.name === 'residual' && t.dtype === (n >= INT4_RESIDUALS_FROM ? 'int4' : 'int8'),
    );
  if (current) return;
  fresh();
  const encoder = JSON.parse(readFileSync(join(models, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
  const d = encoder.dims;
  const rand = mulberry32(n);
  const ids = Array.from({ length: n }, (_, i) => `s${i}`);
  const residual = Float32Array.from({ length: n * d }, () => (rand() - 0.5) * 0.2);
  const to = Int32Array.from({ length: n * successors }, () => Math.floor(rand() * n));
  writeHeadModel(join(models, head), {
    ...defaultHead(encoder),
    version: `bench-trained-${n}${next ? '-next' : ''}`,
    ids,
    bias: Float32Array.from(ids, () => rand() - 0.5),
    residual,
    recent: Float32Array.from(ids, (_, i) => Math.log1p(20 * Math.pow(1 - i / n, 8))),
    recentHalfLifeDays: 7,
    recentAt: Date.now(),
    transitions: {
      ptr: Int32Array.from({ length: n + 1 }, (_, i) => i * successors),
      to,
      p: Float32Array.from(to, () => rand() / successors),
    },
  });
  if (!next) writeModelManifest(models);
}

/** What `npm run vectors` reported when it made the folder's vectors (null for a folder made before it was kept). */
export function vectorsReport(dir: string): VectorsReport | null {
  const at = join(dir, 'vectors-report.json');
  return existsSync(at) ? (JSON.parse(readFileSync(at, 'utf8')) as VectorsReport) : null;
}

/** The tag as a shop adds it, for the folder of n items (its model with the vectors, unless another is given). */
export function tagHtml(n: number, namespace: string, model = `/p/${n}/models/`): string {
  return `<div data-clickwise-slot data-k="10"></div>
<script src="/clickwise.js" data-catalog="/p/${n}/catalog.json" data-model="${model}" data-backend="wasm" data-namespace="${namespace}"></script>`;
}
