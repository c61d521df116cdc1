/** Shared test helpers: backends, the demo catalogue, the real-data location. */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, onTestFinished } from 'vitest';
import { initBackend } from '../src/core/backend.js';
import type { Fetcher } from '../src/core/model-io.js';
import { defaultFetcher } from '../src/core/model-io.js';
import type { CoreRecommenderOptions, Recommender } from '../src/core/recommender.js';
import { createRecommenderCore } from '../src/core/recommender.js';
import type { Item } from '../src/core/types.js';
import type { LogEvent } from '../src/cli/data.js';
import { writeVectors } from '../src/cli/vectors/vectors.js';
import { defaultHead, writeHeadModel } from '../src/cli/train/head-io.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { mulberry32 } from '../src/core/rng.js';

export const MODELS = resolve(import.meta.dirname, '..', 'models');

/** The demo shop's catalogue (written for this project, shipped in public/). */
export function demoCatalog(): Item[] {
  return JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'public', 'catalog.json'), 'utf8')) as Item[];
}

/**
 * A new temporary folder (its name begins with `prefix`, which begins `clickwise-`), removed when
 * the test that asks for it ends, or, asked for at a file's top level, when its file's tests end
 * (`test/temp-folders.ts` fails a run that leaves one behind).
 */
export function tempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    onTestFinished(remove);
  } catch {
    afterAll(remove);
  }
  return dir;
}

/** Switches the global tfjs backend. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  const choice = await initBackend(name);
  if (choice.name !== name) throw new Error(`backend ${name} unavailable: ${choice.reason}`);
  await tf.ready();
}

/** Folder of the real datasets, or null (with the reason printed) when absent and not required. */
export function dataDir(): string | null {
  const dir = resolve(process.env['CLICKWISE_DATA_DIR'] ?? resolve(import.meta.dirname, '..', '..', 'shared', 'data'));
  if (existsSync(resolve(dir, 'uci-online-retail', 'online_retail_clean.csv.gz'))) return dir;
  if (process.env['CLICKWISE_REQUIRE_DATA'] === '1') {
    throw new Error(`CLICKWISE_REQUIRE_DATA=1 but the dataset is missing under ${dir}. Set CLICKWISE_DATA_DIR.`);
  }
  console.warn(`skipping real-data tests: no dataset under ${dir} (set CLICKWISE_DATA_DIR)`);
  return null;
}

/** Reads files like the default fetcher, and remembers every location asked for. */
export function countingFetcher(): { fetcher: Fetcher; asked: string[] } {
  const asked: string[] = [];
  return { asked, fetcher: (loc) => (asked.push(loc), defaultFetcher(loc)) };
}

/**
 * `more`'s `afterSaved` wrapped so that `saved` also resolves once a load's background writes
 * (the prepared entry, the vectors) have ended: a test waits for them rather than for a while.
 */
export function whenSaved(more: Partial<CoreRecommenderOptions>): { saved: Promise<void>; afterSaved: () => void } {
  let done: () => void = () => undefined;
  const saved = new Promise<void>((resolve) => (done = resolve));
  return {
    saved,
    afterSaved: () => {
      done();
      more.afterSaved?.();
    },
  };
}

/**
 * A load of the catalogue file `file` with the model at `models` on the CPU backend, with `more`
 * options: the recommender, what it asked the fetcher for, and the warnings it gave.
 */
export async function loadShop(
  file: string,
  models: string,
  more: Partial<CoreRecommenderOptions> = {},
): Promise<{ rec: Recommender; asked: string[]; warnings: { code: string; message: string }[]; saved: Promise<void> }> {
  const { fetcher, asked } = countingFetcher();
  const warnings: { code: string; message: string }[] = [];
  const { saved, afterSaved } = whenSaved(more);
  const rec = await createRecommenderCore({
    catalog: file,
    modelUrl: models,
    backend: 'cpu',
    fetcher,
    onWarning: (w) => warnings.push(w),
    // Lists compared across loads wait for the base's transitions however long a busy machine
    // takes to read them (a page waits a second, then ranks without them and again once they are in).
    transitionsWaitMs: Infinity,
    ...more,
    afterSaved,
  });
  return { rec, asked, warnings, saved };
}

/**
 * A shop on disk for load tests: a folder holding a copy of the shipped model with the vectors of
 * `catalog`, and `catalog.json` of the demo items with one unusable row (its warning is checked
 * on every load). Remove `dir` afterwards (it is made in a file's `beforeAll`, where
 * {@link tempFolder} cannot hook in).
 */
export async function shopWithVectors(
  prefix: string,
): Promise<{ dir: string; models: string; file: string; catalog: Item[]; rows: unknown[] }> {
  const catalog = demoCatalog();
  const rows: unknown[] = [...catalog.slice(0, 5), { id: 'broken', title: '' }, ...catalog.slice(5)];
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const models = join(dir, 'models');
  cpSync(MODELS, models, { recursive: true });
  await writeVectors({ modelDir: models, items: catalog });
  const file = join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify(rows, null, 1));
  return { dir, models, file, catalog, rows };
}

/** A shopper's session: the list before any click, three clicks, and the list after them. */
export async function clickSession(rec: Recommender): Promise<{ cold: string[]; top: { id: string; score: number; title: string }[] }> {
  const cold = (await rec.recommend({ k: 8 })).map((r) => r.id);
  for (const id of ['gar-01a', 'gar-02b', 'kit-01a']) await rec.click(id);
  const top = (await rec.recommend({ k: 10 })).map((r) => ({ id: r.id, score: r.score, title: r.item.title }));
  return { cold, top };
}

/** A file of {@link fakeFileSystem}: its bytes, when last written, and whether a handle holds it. */
export interface FakeFile {
  data: Uint8Array;
  modified: number;
  locked: boolean;
  /** Reads from this offset on give nothing (a file gone bad under its handle). */
  failFrom?: number;
}

/**
 * An origin-private file system in memory, as `navigator.storage.getDirectory()` gives it in a
 * worker (one folder level, sync access handles that lock their file as a browser's do), and, with
 * `writable`, a page's async writer. Stubs `navigator`; the map holds every file of every folder
 * by name.
 */
export function fakeFileSystem(stub: (name: string, value: unknown) => void, { writable = false } = {}): Map<string, FakeFile> {
  const files = new Map<string, FakeFile>();
  let clock = 0;
  const handleOf = (f: FakeFile) => ({
    read(buf: Uint8Array, { at }: { at: number }): number {
      if (f.failFrom !== undefined && at >= f.failFrom) return 0;
      const n = Math.max(0, Math.min(buf.length, f.data.length - at));
      buf.set(f.data.subarray(at, at + n));
      return n;
    },
    write(buf: Uint8Array, { at }: { at: number }): number {
      if (at + buf.length > f.data.length) {
        const grown = new Uint8Array(at + buf.length);
        grown.set(f.data);
        f.data = grown;
      }
      f.data.set(buf, at);
      f.modified = ++clock;
      return buf.length;
    },
    truncate(size: number): void {
      const cut = new Uint8Array(size);
      cut.set(f.data.subarray(0, size));
      f.data = cut;
      f.modified = ++clock;
    },
    getSize: (): number => f.data.length,
    flush: (): void => undefined,
    close(): void {
      f.locked = false;
    },
  });
  const dir = {
    getDirectoryHandle: () => Promise.resolve(dir),
    getFileHandle(name: string, options?: { create?: boolean }) {
      let f = files.get(name);
      if (!f) {
        if (!options?.create) return Promise.reject(new DOMException('no such file', 'NotFoundError'));
        f = { data: new Uint8Array(0), modified: ++clock, locked: false };
        files.set(name, f);
      }
      const file = f;
      return Promise.resolve({
        createSyncAccessHandle() {
          if (file.locked) return Promise.reject(new DOMException('held by another handle', 'NoModificationAllowedError'));
          file.locked = true;
          return Promise.resolve(handleOf(file));
        },
        getFile: () => Promise.resolve({ lastModified: file.modified }),
        // A page's writer (where `writable`): a scratch copy that replaces the file when closed.
        ...(writable
          ? {
              createWritable() {
                if (file.locked) return Promise.reject(new DOMException('held by another handle', 'NoModificationAllowedError'));
                const scratch = { data: new Uint8Array(0), modified: 0, locked: false };
                const h = handleOf(scratch);
                return Promise.resolve({
                  write: ({ position, data }: { position: number; data: Uint8Array }) =>
                    Promise.resolve(void h.write(data, { at: position })),
                  close() {
                    file.data = scratch.data;
                    file.modified = ++clock;
                    return Promise.resolve();
                  },
                  abort: () => Promise.resolve(),
                });
              },
            }
          : {}),
      });
    },
    removeEntry(name: string) {
      files.delete(name);
      return Promise.resolve();
    },
    async *keys() {
      yield* [...files.keys()];
    },
  };
  stub('navigator', { storage: { getDirectory: () => Promise.resolve(dir) } });
  return files;
}

/**
 * A content model for hand-made held-out examples whose query is their scores: V is the n × n
 * identity and the biases are 0, so item i's base score is q[i].
 */
export function scoresAsQuery(n: number): { V: Float32Array; bias: Float32Array; n: number; d: number } {
  return { V: Float32Array.from({ length: n * n }, (_, j) => (j % (n + 1) === 0 ? 1 : 0)), bias: new Float32Array(n), n, d: n };
}

/**
 * Writes into the model folder `model` a base that knows every item of `items`: residuals, biases,
 * what sold lately, and `successors` successors each (default 5: item i is followed by the next
 * five in the list; more than the list holds go round it again, each equally likely).
 */
export function writeTrainedBase(model: string, items: readonly Item[], successors = 5): void {
  const encoder = JSON.parse(readFileSync(join(model, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
  const ids = items.map((i) => i.id);
  const n = ids.length;
  const rand = mulberry32(5);
  writeHeadModel(join(model, 'head'), {
    ...defaultHead(encoder),
    ids,
    bias: Float32Array.from(ids, () => rand() - 0.5),
    residual: Float32Array.from({ length: n * encoder.dims }, () => (rand() - 0.5) / 10),
    recent: Float32Array.from(ids, () => rand() * 3),
    recentHalfLifeDays: 7,
    recentAt: Date.parse('2026-11-01T00:00:00Z'),
    transitions: {
      ptr: Int32Array.from({ length: n + 1 }, (_, i) => i * successors),
      to: Int32Array.from({ length: n * successors }, (_, k) => (Math.floor(k / successors) + 1 + (k % successors)) % n),
      p: Float32Array.from({ length: n * successors }, () => 1 / successors),
    },
  });
}

/**
 * A log of `shoppers` shoppers over `days` days, a visit a day each: shopper u's visit on day d
 * is `visitOf(u, d)` (called shopper by shopper, day by day), purchases a minute apart from hour u
 * of the day after `t0`, one basket a visit. Sorted by time.
 */
export function dailyVisitsLog(
  shoppers: number,
  days: number,
  t0: number,
  visitOf: (u: number, day: number) => readonly string[],
): LogEvent[] {
  const events: LogEvent[] = [];
  for (let u = 0; u < shoppers; u++)
    for (let day = 0; day < days; day++)
      visitOf(u, day).forEach((item, k) =>
        events.push({
          user: `u${u}`,
          item,
          t: t0 + day * 86_400_000 + u * 3_600_000 + k * 60_000,
          event: 'purchase',
          quantity: 1,
          basket: `b${u}-${day}`,
        }),
      );
  return events.sort((a, b) => a.t - b.t);
}
