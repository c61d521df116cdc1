/**
 * Catalogue vectors computed by the shop (`npm run vectors`): the PQ format, the keys the tool
 * and the browser must agree on, and a recommender that takes them instead of encoding, encodes
 * only what changed, and falls back with one warning when they cannot be used.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError } from '../src/core/errors.js';
import { createRecommenderCore, loadHead, loadModelParts, readiedMatrix } from '../src/core/recommender.js';
import { MemoryPreparedCache } from '../src/core/prepared.js';
import type { ItemMatrix } from '../src/core/item-matrix.js';
import { loadModelManifest } from '../src/core/model.js';
import { defaultFetcher } from '../src/core/model-io.js';
import { mulberry32 } from '../src/core/rng.js';
import type { Item } from '../src/core/types.js';
import type { VectorsManifest } from '../src/core/vectors.js';
import {
  catalogHash,
  catalogHashSliced,
  decodeRow,
  encodePq,
  itemKeys,
  itemText,
  packKeys,
  packVectors,
  textHashes,
  trainPq,
  unpackKeys,
  unpackVectors,
} from '../src/core/vectors.js';
import { fnv1a } from '../src/core/tokenizer.js';
import { Slicer } from '../src/core/slice.js';
import { writeVectors } from '../src/cli/vectors/vectors.js';
import { writeHeadModel } from '../src/cli/train/head-io.js';
import { countingFetcher, demoCatalog, MODELS, useBackend } from './helpers.js';

const catalog = demoCatalog();
let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clickwise-vectors-'));
  cpSync(MODELS, join(dir, 'models'), { recursive: true });
  await writeVectors({ modelDir: join(dir, 'models'), items: catalog });
  await useBackend('cpu');
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('product quantisation', () => {
  it('keeps vectors close, and the file round-trips', () => {
    const rand = mulberry32(3);
    const n = 3000;
    const d = 16;
    // Clustered unit vectors, like a catalogue's.
    const centres = Array.from({ length: 20 }, () => Array.from({ length: d }, () => rand() - 0.5));
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const c = centres[i % 20]!;
      let norm = 0;
      for (let k = 0; k < d; k++) norm += (data[i * d + k] = c[k]! + (rand() - 0.5) * 0.2) ** 2;
      for (let k = 0; k < d; k++) data[i * d + k]! /= Math.sqrt(norm);
    }
    const codebook = trainPq(data, n, d, { subspaces: 4, seed: 1 });
    const codes = encodePq(data, n, d, codebook, 4);
    const row = new Float32Array(d);
    let worst = 1;
    for (let i = 0; i < n; i++) {
      decodeRow({ codebook, codes }, 4, d, i, row, 0);
      let dot = 0;
      let nn = 0;
      for (let k = 0; k < d; k++) {
        dot += row[k]! * data[i * d + k]!;
        nn += row[k]! ** 2;
      }
      worst = Math.min(worst, dot / Math.sqrt(nn));
    }
    expect(worst).toBeGreaterThan(0.95);
    const keys = Uint32Array.from({ length: n }, (_, i) => i * 7919);
    const manifest = { dims: d, count: n, quantisation: { kind: 'pq', subspaces: 4, centroids: 256 } } as VectorsManifest;
    const bin = packVectors(codebook, codes);
    const back = unpackVectors(bin.buffer as ArrayBuffer, manifest, 'v.bin');
    expect(back.codebook).toEqual(codebook);
    expect(back.codes).toEqual(codes);
    expect(unpackKeys(packKeys(keys).buffer as ArrayBuffer, n, 'k.bin')).toEqual(keys);
    expect(() => unpackVectors(bin.slice(1).buffer, manifest, 'v.bin')).toThrow(ModelLoadError);
    expect(() => unpackKeys(packKeys(keys).slice(4).buffer, n, 'k.bin')).toThrow(ModelLoadError);
    expect(() => trainPq(data, n, d, { subspaces: 5 })).toThrow(/divide/);
  });

  it('the browser and the tool key an item by the same hash of its text', async () => {
    const items: Item[] = [
      { id: 'a', title: 'Mug', category: 'Kitchen', description: 'Stoneware' },
      { id: 'b', title: 'Mug', category: 'Kitchen' },
      { id: 'c', title: 'Mug', description: 'Kitchen' },
      { id: 'd', title: 'Mug é 😀' },
    ];
    const { keys, long } = await itemKeys(items);
    items.forEach((it, i) => {
      expect(keys[i]).toBe(textHashes(it)[0]);
      expect(keys[i]).toBe(fnv1a(itemText(it)));
      expect(long(i)).toMatch(/^[0-9a-f]{16}$/);
    });
    // Fields are kept apart: the same words in another field are another text.
    expect(new Set(keys).size).toBe(items.length);
    expect(catalogHash(keys)).not.toBe(catalogHash(keys.slice().reverse()));
  });

  it('hashes the catalogue in slices to the same hash, giving the page a turn every few thousand keys', async () => {
    let turns = 0;
    const eager = new Slicer(0, async () => void turns++);
    for (const n of [0, 1, 4095, 4096, 4097, 20_000]) {
      const keys = Uint32Array.from({ length: n }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0);
      turns = 0;
      expect(await catalogHashSliced(keys, eager)).toBe(catalogHash(keys));
      expect(turns).toBe(Math.ceil(n / 4096));
    }
  });
});

describe('a recommender on shipped vectors', () => {
  it('takes every vector from the file and never downloads the encoder weights', async () => {
    const { fetcher, asked } = countingFetcher();
    const rec = await createRecommenderCore({ catalog, modelUrl: join(dir, 'models'), backend: 'cpu', fetcher });
    expect(rec.stats().embeddings).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: 0 });
    expect(asked.some((a) => a.endsWith('weights.bin') && a.includes('encoder'))).toBe(false);
    expect(asked.some((a) => a.endsWith('vectors.bin'))).toBe(true);
    // The catalogue is the file's: rows are taken by position, and the keys are never downloaded.
    expect(asked.some((a) => a.endsWith('keys.bin'))).toBe(false);
    // The same shopper gets much the same list as on exact vectors.
    const exact = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu' });
    for (const r of [rec, exact]) for (const id of ['gar-01a', 'gar-02b', 'gar-03c']) await r.click(id);
    const a = (await rec.recommend({ k: 10 })).map((r) => r.id);
    const b = (await exact.recommend({ k: 10 })).map((r) => r.id);
    expect(a.filter((id) => b.includes(id)).length).toBeGreaterThanOrEqual(7);
    rec.dispose();
    exact.dispose();
  });

  it("makes the rows of a catalogue in the file's order ahead of it, to the matrix a load makes after it", async () => {
    // A base that knows a few of the items: their rows get its residuals.
    const modelUrl = join(dir, 'models-residual');
    cpSync(join(dir, 'models'), modelUrl, { recursive: true });
    const shipped = JSON.parse(readFileSync(join(modelUrl, 'head', 'manifest.json'), 'utf8')) as {
      version: string;
      encoderVersion: string;
      dims: number;
    };
    const d = shipped.dims;
    const rand = mulberry32(5);
    const known = [catalog[0]!.id, catalog[7]!.id, catalog[catalog.length - 1]!.id];
    writeHeadModel(join(modelUrl, 'head'), {
      version: `${shipped.version}-residual`,
      encoderVersion: shipped.encoderVersion,
      dims: d,
      alpha: 0,
      W: Float32Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 5 : 0)),
      ids: known,
      bias: new Float32Array(known.length),
      residual: Float32Array.from({ length: known.length * d }, () => rand() - 0.5),
      deltaCompatibleWith: [],
      provenance: { builtBy: 'test' },
    });
    const parts = await loadModelParts(defaultFetcher, modelUrl, await loadModelManifest(defaultFetcher, modelUrl), () => undefined);
    // As a first visit does while its catalogue is parsed elsewhere.
    const started = parts.ahead();
    const ahead = await loadHead({ catalog, modelUrl, parts, keepMatrix: true });
    const after = await loadHead({ catalog, modelUrl, parts: { ...parts, ahead: () => Promise.resolve(null) }, keepMatrix: true });
    // Taken by one head, and let go: no other head shares its matrix.
    expect(await started).toEqual({ vectors: null, matrix: null });
    expect(ahead.head).not.toBe(after.head);
    // The base's residuals are added to the rows of the items it knows (and to no other), as
    // after the catalogue: against the content alone, only those rows differ.
    expect(ahead.base.known.reduce((a, k) => a + k, 0)).toBe(known.length);
    const content = await loadHead({
      catalog,
      modelUrl,
      parts: { ...parts, ahead: () => Promise.resolve(null) },
      keepMatrix: true,
      contentOnly: true,
    });
    const rowOf = (codes: Int8Array, i: number): number[] => Array.from(codes.subarray(i * d, (i + 1) * d));
    catalog.forEach((item, i) => {
      const same = JSON.stringify(rowOf(ahead.made!.codes, i)) === JSON.stringify(rowOf(content.made!.codes, i));
      expect(same, item.id).toBe(!known.includes(item.id));
    });
    content.head.dispose();
    expect(ahead.made!.codes).toEqual(after.made!.codes);
    expect(ahead.made!.scales).toEqual(after.made!.scales);
    expect(ahead.embeddingStats).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: 0 });
    expect(ahead.embeddingStats).toEqual(after.embeddingStats);
    ahead.head.dispose();
    after.head.dispose();
    // A catalogue not in the file's order takes its rows by key: what was begun ahead is let go.
    const other = await loadModelParts(defaultFetcher, modelUrl, await loadModelManifest(defaultFetcher, modelUrl), () => undefined);
    void other.ahead();
    const reordered = await loadHead({ catalog: [...catalog].reverse(), modelUrl, parts: other });
    expect(reordered.embeddingStats).toEqual({ shipped: catalog.length, cached: 0, encoded: 0, prepared: 0 });
    expect(await other.ahead()).toBeNull();
    reordered.head.dispose();
  });

  it('takes an item matrix readied ahead where it has the shape the head needs, and makes one where it has not', async () => {
    const modelUrl = join(dir, 'models');
    // Rows made here (none made ahead from the shop's file), into the matrix the head takes.
    const parts = async (): Promise<Awaited<ReturnType<typeof loadModelParts>>> => ({
      ...(await loadModelParts(defaultFetcher, modelUrl, await loadModelManifest(defaultFetcher, modelUrl), () => undefined)),
      ahead: () => Promise.resolve(null),
    });
    const matrixOf = (h: { head: unknown }): ItemMatrix => (h.head as { items: ItemMatrix }).items;
    const d = (await parts()).encoderManifest.dims;
    const ready = await readiedMatrix({ n: catalog.length, dims: d }, new Slicer());
    expect(ready && [ready.n, ready.dims, ready.codes.every((x) => x === 0)]).toEqual([catalog.length, d, true]);
    const taken = await loadHead({ catalog, modelUrl, parts: await parts(), keepMatrix: true, matrixAhead: Promise.resolve(ready) });
    expect(taken.made!.codes.buffer).toBe(ready!.codes.buffer);
    const wrong = await readiedMatrix({ n: catalog.length + 1, dims: d }, new Slicer());
    const made = await loadHead({ catalog, modelUrl, parts: await parts(), keepMatrix: true, matrixAhead: Promise.resolve(wrong) });
    expect(made.made!.codes.buffer).not.toBe(wrong!.codes.buffer);
    expect(made.made!.codes).toEqual(taken.made!.codes);
    // A saved matrix is copied into one readied ahead.
    const again = await readiedMatrix({ n: catalog.length, dims: d }, new Slicer());
    const saved = await loadHead({ catalog, modelUrl, parts: await parts(), prepared: made.made, matrixAhead: Promise.resolve(again) });
    expect(matrixOf(saved)).toBe(again);
    expect(again!.codes).toEqual(made.made!.codes);
    expect(matrixOf(made)).not.toBe(wrong);
    for (const h of [taken, made, saved]) h.head.dispose();
    // A shape no matrix can have (a damaged header): none readied.
    expect(await readiedMatrix({ n: -1, dims: d }, new Slicer())).toBeNull();
    expect(await readiedMatrix({ n: 10, dims: 1000 }, new Slicer())).toBeNull();

    // A later load asks the cache for the saved matrix's shape, and gives what a load without it gives.
    const cache = new MemoryPreparedCache();
    const asked: string[] = [];
    const shapeOf = cache.shapeOf.bind(cache);
    cache.shapeOf = (location) => (asked.push(location), shapeOf(location));
    const file = join(dir, 'shape-catalog.json');
    writeFileSync(file, JSON.stringify(catalog));
    const lists: string[][] = [];
    for (let visit = 0; visit < 2; visit++) {
      const rec = await createRecommenderCore({ catalog: file, modelUrl, backend: 'cpu', preparedCache: cache });
      await new Promise((r) => setTimeout(r, 20));
      expect(rec.stats().embeddings.prepared).toBe(visit === 0 ? 0 : catalog.length);
      await rec.click(catalog[3]!.id);
      lists.push((await rec.recommend({ k: 10 })).map((r) => r.id));
      rec.dispose();
    }
    expect(asked).toEqual([file, file]);
    expect(lists[1]).toEqual(lists[0]);
  });

  it('encodes only the items that are new or changed since the file was made', async () => {
    const changed = catalog.map((it, i) => (i < 3 ? { ...it, title: `${it.title} (new edition)` } : it));
    changed.push({ id: 'brand-new-1', title: 'Copper Kettle', category: 'Kitchen' }, { id: 'brand-new-2', title: 'Linen Apron' });
    const { fetcher, asked } = countingFetcher();
    const rec = await createRecommenderCore({ catalog: changed, modelUrl: join(dir, 'models'), backend: 'cpu', fetcher });
    expect(rec.stats().embeddings).toEqual({ shipped: catalog.length - 3, cached: 0, encoded: 5, prepared: 0 });
    expect(asked.filter((a) => a.endsWith('keys.bin'))).toHaveLength(1);
    rec.dispose();
    // Keys that cannot be had (here, corrupt): one warning, and the browser encodes everything.
    const bad = join(dir, 'bad-keys');
    cpSync(join(dir, 'models'), bad, { recursive: true });
    const kb = readFileSync(join(bad, 'vectors', 'keys.bin'));
    kb[0] = kb[0]! ^ 0xff;
    writeFileSync(join(bad, 'vectors', 'keys.bin'), kb);
    const warnings: string[] = [];
    const rec2 = await createRecommenderCore({
      catalog: changed,
      modelUrl: bad,
      backend: 'cpu',
      onWarning: (w) => warnings.push(w.message),
    });
    expect(rec2.stats().embeddings).toEqual({ shipped: 0, cached: 0, encoded: changed.length, prepared: 0 });
    expect(warnings.filter((w) => w.includes('keys'))).toHaveLength(1);
    rec2.dispose();
  });

  it('ignores a corrupt file or another encoder version with one warning, and encodes instead', async () => {
    for (const spoil of ['corrupt', 'version'] as const) {
      const bad = join(dir, `bad-${spoil}`);
      cpSync(join(dir, 'models'), bad, { recursive: true });
      if (spoil === 'corrupt') {
        const bin = readFileSync(join(bad, 'vectors', 'vectors.bin'));
        bin[bin.length - 1] = bin[bin.length - 1]! ^ 0xff;
        writeFileSync(join(bad, 'vectors', 'vectors.bin'), bin);
      } else {
        const m = JSON.parse(readFileSync(join(bad, 'vectors', 'manifest.json'), 'utf8')) as VectorsManifest;
        writeFileSync(join(bad, 'vectors', 'manifest.json'), JSON.stringify({ ...m, encoderVersion: 'cw-enc-other' }));
      }
      const warnings: string[] = [];
      const rec = await createRecommenderCore({
        catalog,
        modelUrl: bad,
        backend: 'cpu',
        onWarning: (w) => warnings.push(w.message),
      });
      expect(rec.stats().embeddings).toEqual({ shipped: 0, cached: 0, encoded: catalog.length, prepared: 0 });
      expect(warnings.filter((w) => w.includes('catalogue vectors'))).toHaveLength(1);
      expect(warnings[0]).toMatch(spoil === 'corrupt' ? /checksum|sha256/i : /cw-enc-other/);
      expect((await rec.recommend({ k: 5 })).length).toBe(5);
      rec.dispose();
    }
  });

  it('a base retrained by maintain keeps naming the vectors of its encoder', async () => {
    const { writeModelManifest } = await import('../src/cli/train/head-io.js');
    const m = writeModelManifest(join(dir, 'models'));
    expect(m.vectors).toBe('vectors/');
  });
});

describe('npm run vectors: bad usage', () => {
  it('refuses a number of subspaces that does not divide the encoder dims, before it reads the catalogue', () => {
    const root = join(import.meta.dirname, '..');
    for (const bad of ['3', '0', '2.5']) {
      const r = spawnSync(
        join(root, 'node_modules/.bin/tsx'),
        ['src/cli/vectors/vectors.ts', '--catalog', 'no-such-catalog.json', '--subspaces', bad],
        {
          cwd: root,
          encoding: 'utf8',
        },
      );
      // Before, it read the catalogue first (a missing one failed there) and said so only after, with exit 1.
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(
        new RegExp(
          `--subspaces must be a whole number that divides the encoder's 64 dims \\(8, 16 or 32\\), got ${bad.replace('.', '\\.')}\\.`,
        ),
      );
    }
  });
});
