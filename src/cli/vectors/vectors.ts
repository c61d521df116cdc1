/**
 * `npm run vectors -- --catalog public/catalog.json [--model models] [--subspaces 16]`: computes
 * the catalogue's vectors once, on the shop's side, and writes them next to the model
 * (`<model>/vectors/`, product-quantised, see `src/core/vectors.ts`), so that a browser downloads
 * about 20 bytes per item instead of encoding the whole catalogue. The model manifest then names
 * them. Run it again when the catalogue changes; until then browsers encode only the items that
 * are new or changed. `--items F` takes the tools' items CSV instead of a catalogue JSON.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { initBackend } from '../../core/backend.js';
import type { EncoderManifest } from '../../core/encoder.js';
import { loadEncoder } from '../../core/encoder.js';
import type { ModelManifest } from '../../core/model.js';
import type { Item } from '../../core/types.js';
import type { VectorsManifest } from '../../core/vectors.js';
import { catalogHash, decodeRow, encodePq, itemKeys, packKeys, packVectors, trainPq } from '../../core/vectors.js';
import type { Command } from '../common.js';
import { isEntry, manifestFile, packageModels, parseArgs, progressBar, runCommand, sha256Bytes, UsageError } from '../common.js';
import { columnsOf, readCatalogFile } from '../data.js';
import { writeAtomically } from '../train/head-io.js';
import { indexCatalog } from '../../core/catalog-index.js';
import { packCatalogIndex } from '../../core/catalog-index-file.js';
import { digestBytes } from '../../core/prepared.js';
import { Slicer } from '../../core/slice.js';

/** What {@link writeVectors} reports. */
export interface VectorsReport {
  count: number;
  subspaces: number;
  /** vectors.bin: what a browser downloads when its catalogue is the one the file was made from. */
  bytes: number;
  gzipBytes: number;
  /** keys.bin: what it downloads as well when its catalogue has changed since. */
  keyBytes: number;
  keyGzipBytes: number;
  /** catalog-index.bin, where the catalogue's file was given: what a first visit downloads instead of parsing the file. */
  indexBytes: number | null;
  indexGzipBytes: number | null;
  /** Mean cosine between each item's exact and quantised vector. */
  meanCosine: number;
  seconds: number;
}

/**
 * Encodes `items` with the model's encoder, quantises the vectors and writes `<modelDir>/vectors/`
 * (file first, then its manifest, then the model manifest, each atomically, so a browser never
 * sees a manifest naming a file that is not there).
 */
export async function writeVectors(o: {
  modelDir: string;
  items: readonly Item[];
  /**
   * The catalogue file the pages serve, as it is served (its bytes): its index is written too
   * (`catalog-index.bin`), with its digest. Its kept items must be `items`.
   */
  catalogFile?: Uint8Array;
  subspaces?: number;
  onProgress?: (phase: string, done: number, total: number) => void;
}): Promise<VectorsReport> {
  const t0 = Date.now();
  const M = o.subspaces ?? 16;
  const modelManifest = JSON.parse(readFileSync(join(o.modelDir, 'manifest.json'), 'utf8')) as ModelManifest;
  const encDir = join(o.modelDir, modelManifest.encoder);
  const encManifest = JSON.parse(readFileSync(join(encDir, 'manifest.json'), 'utf8')) as EncoderManifest;
  const d = encManifest.dims;
  if (d % M !== 0) throw new Error(`--subspaces must divide the encoder's ${d} dims (e.g. 8, 16 or 32), got ${M}.`);
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`vectors runs on the wasm backend, which could not start: ${backend.reason}`);
  const encoder = await loadEncoder({ modelUrl: encDir + '/' });
  const n = o.items.length;
  let data: Float32Array;
  try {
    const t = await encoder.encode(o.items, { batchSize: 512, onProgress: (p) => o.onProgress?.('encode', p.done, n) });
    data = (await t.data()) as Float32Array;
    t.dispose();
  } finally {
    encoder.dispose();
  }
  const codebook = trainPq(data, n, d, { subspaces: M, onProgress: (done, total) => o.onProgress?.('quantise', done, total) });
  const codes = encodePq(data, n, d, codebook, M);
  const { keys } = await itemKeys(o.items);
  // Made before anything is written: a file that is not the items' leaves the folder as it was.
  const indexBin = o.catalogFile ? await catalogIndexFile(o.catalogFile, keys) : null;
  const bin = packVectors(codebook, codes);
  const keyBin = packKeys(keys);
  let cos = 0;
  const row = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    decodeRow({ codebook, codes }, M, d, i, row, 0);
    let dot = 0;
    let nn = 0;
    for (let k = 0; k < d; k++) {
      dot += row[k]! * data[i * d + k]!;
      nn += row[k]! * row[k]!;
    }
    cos += dot / Math.max(1e-12, Math.sqrt(nn));
  }
  const dir = join(o.modelDir, 'vectors');
  mkdirSync(dir, { recursive: true });
  writeAtomically(join(dir, 'vectors.bin'), bin);
  writeAtomically(join(dir, 'keys.bin'), keyBin);
  if (indexBin) writeAtomically(join(dir, INDEX_FILE), indexBin.file);
  const manifest: VectorsManifest = {
    format: 'clickwise-vectors',
    formatVersion: 2,
    encoderVersion: encManifest.version,
    dims: d,
    count: n,
    catalogHash: catalogHash(keys),
    quantisation: { kind: 'pq', subspaces: M, centroids: 256 },
    files: [manifestFile('vectors.bin', bin), manifestFile('keys.bin', keyBin)],
    ...(indexBin
      ? {
          catalogIndex: {
            path: INDEX_FILE,
            sha256: sha256Bytes(indexBin.file),
            bytes: indexBin.file.byteLength,
            digest: indexBin.digest,
            fileBytes: indexBin.fileBytes,
          },
        }
      : {}),
    createdAt: new Date().toISOString(),
  };
  writeAtomically(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  writeAtomically(join(o.modelDir, 'manifest.json'), JSON.stringify({ ...modelManifest, vectors: 'vectors/' }, null, 2) + '\n');
  return {
    count: n,
    subspaces: M,
    bytes: bin.byteLength,
    gzipBytes: gzipSync(bin, { level: 9 }).byteLength,
    keyBytes: keyBin.byteLength,
    keyGzipBytes: gzipSync(keyBin, { level: 9 }).byteLength,
    indexBytes: indexBin ? indexBin.file.byteLength : null,
    indexGzipBytes: indexBin ? gzipSync(indexBin.file, { level: 9 }).byteLength : null,
    meanCosine: Number((cos / Math.max(1, n)).toFixed(4)),
    seconds: (Date.now() - t0) / 1000,
  };
}

/** The catalogue's index, beside the vectors. */
export const INDEX_FILE = 'catalog-index.bin';

/**
 * The index of the catalogue file `bytes` (`core/catalog-index-file.ts`), with the file's digest,
 * as a browser's worker would make them; `keys` are the vectors' rows' keys, which the index's
 * must equal (the vectors are for this file's items, in its order).
 */
async function catalogIndexFile(bytes: Uint8Array, keys: Uint32Array): Promise<{ file: Uint8Array; digest: string; fileBytes: number }> {
  const slicer = new Slicer(Infinity);
  const index = await indexCatalog('catalog', bytes, slicer);
  if (index.keys.length !== keys.length || index.keys.some((k, i) => k !== keys[i])) {
    throw new Error("the catalogue file's items are not the items the vectors were made for");
  }
  const digest = await digestBytes(bytes, slicer);
  const file = packCatalogIndex(index, digest);
  if (!file) throw new Error('the catalogue has an id that is not valid Unicode (a lone surrogate): its index cannot be written');
  return { file, digest, fileBytes: bytes.byteLength };
}

/** The dims of the encoder the model folder names. */
function encoderDims(modelDir: string): number {
  const modelManifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as ModelManifest;
  return (JSON.parse(readFileSync(join(modelDir, modelManifest.encoder, 'manifest.json'), 'utf8')) as EncoderManifest).dims;
}

export const USAGE = `Usage: clickwise vectors --catalog F [--model DIR] [--subspaces 16]
       (in a checkout: npm run vectors -- --catalog F ...)

Encodes the catalogue once, product-quantises the vectors and writes them next to the model
(DIR/vectors/, named in DIR/manifest.json), so browsers download them instead of encoding.
With --catalog, it also writes the catalogue file's index (DIR/vectors/catalog-index.bin), so
that a first visit whose file is this one takes it instead of parsing the whole file.

  --catalog F        the catalogue JSON the pages serve (or --items F: an items CSV)
  --columns L        the files' own names of their columns, where they are not the tools' ones:
                     user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate,title=Description
  --model DIR        the model folder the pages load (default: this package's models/)
  --subspaces M      bytes per item vector: 16 (default) or 8 (smaller, a little worse)`;

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, { catalog: 'string', items: 'string', columns: 'string', model: 'string', subspaces: 'number' });
  const source = args['catalog'] ?? args['items'];
  if (source === undefined) throw new UsageError('Missing --catalog F (or --items F).');
  const columns = columnsOf(args['columns']);
  // The model and the number of subspaces are checked before the catalogue is read (a large one takes a while).
  const modelDir = resolve(String(args['model'] ?? packageModels()));
  if (!existsSync(join(modelDir, 'manifest.json'))) throw new Error(`${modelDir} holds no manifest.json: --model must be a model folder.`);
  if (args['subspaces'] !== undefined) {
    const m = Number(args['subspaces']);
    const d = encoderDims(modelDir);
    if (!(Number.isInteger(m) && m >= 1 && d % m === 0))
      throw new UsageError(
        `--subspaces must be a whole number that divides the encoder's ${d} dims (8, 16 or 32), got ${String(args['subspaces'])}.`,
      );
  }
  const items = await readCatalogFile(String(source), columns);
  // The file the pages serve, as it is: its index is shipped with the vectors.
  const catalogFile =
    args['catalog'] !== undefined && !/\.csv(\.gz)?$/.test(String(source)) ? new Uint8Array(readFileSync(String(source))) : undefined;
  const bars = new Map<string, ReturnType<typeof progressBar>>();
  const r = await writeVectors({
    modelDir,
    items,
    ...(catalogFile ? { catalogFile } : {}),
    ...(args['subspaces'] !== undefined ? { subspaces: Number(args['subspaces']) } : {}),
    onProgress: (phase, done, total) => {
      if (!bars.has(phase)) bars.set(phase, progressBar(phase, total));
      bars.get(phase)!.tick(done);
      if (done === total) bars.get(phase)!.end();
    },
  });
  console.log(
    `wrote ${join(modelDir, 'vectors')}: ${r.count} items, ${r.subspaces} bytes each, ${r.bytes} bytes (${r.gzipBytes} gzipped) of vectors, and ${r.keyBytes} bytes (${r.keyGzipBytes} gzipped) of keys that only a changed catalogue downloads${r.indexBytes !== null ? `, and ${r.indexBytes} bytes (${r.indexGzipBytes} gzipped) of the catalogue's index that a first visit downloads instead of parsing the file` : ''}; mean cosine to the exact vectors ${r.meanCosine}, in ${r.seconds.toFixed(1)} s`,
  );
}

export const command: Command = { usage: USAGE, run: main };

if (isEntry(import.meta.url)) runCommand(command, process.argv.slice(2));
