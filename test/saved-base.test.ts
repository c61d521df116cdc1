/**
 * A later visit takes the base aligned with its catalogue from the prepared entry, with the item
 * matrix, rather than downloading the base's files (`head.bin`: tens of MB for a base that knows
 * 100,000 items) to read, check and align them again.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignBase, alignedFromSaved, loadHeadModel, savedBaseOf } from '../src/core/model.js';
import type { AlignedBase, HeadModel } from '../src/core/model.js';
import { defaultFetcher, joinLocation } from '../src/core/model-io.js';
import { MemoryPreparedCache } from '../src/core/prepared.js';
import type { SavedBase } from '../src/core/prepared.js';
import type { CoreRecommenderOptions, Recommender } from '../src/core/recommender.js';
import { publishDelta } from '../src/cli/stream/publish.js';
import { Slicer } from '../src/core/slice.js';
import { DEFAULT_HEAD_OPTIONS, transitionP, transitionVotes } from '../src/core/head.js';
import type { Item } from '../src/core/types.js';
import { clickSession, loadShop, shopWithVectors, useBackend, writeTrainedBase } from './helpers.js';

let dir = '';
let models = '';
let file = '';
let catalog: Item[] = [];

beforeAll(async () => {
  ({ dir, models, file, catalog } = await shopWithVectors('clickwise-saved-base-'));
  // The base's rows in another order than the catalogue's: an item's row is not its catalogue index.
  writeTrainedBase(models, [...catalog].reverse());
  await useBackend('cpu');
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A load of the catalogue file with `cache`: what it asked for, and what it warned of. */
async function load(
  cache: MemoryPreparedCache | undefined,
  more: Partial<CoreRecommenderOptions> = {},
): Promise<{ rec: Recommender; asked: string[]; warnings: string[]; saved: Promise<void> }> {
  const { rec, asked, warnings, saved } = await loadShop(file, models, { ...(cache ? { preparedCache: cache } : {}), ...more });
  return { rec, asked, warnings: warnings.map((w) => w.message), saved };
}

/** A session on a load, then the load let go and its entry written. */
async function sessionOf(
  cache: MemoryPreparedCache | undefined,
  more: Partial<CoreRecommenderOptions> = {},
): Promise<{ session: Awaited<ReturnType<typeof clickSession>>; asked: string[]; warnings: string[] }> {
  const { rec, asked, warnings, saved } = await load(cache, more);
  const session = await clickSession(rec);
  rec.dispose();
  // The entry is written once the shopper is quiet (here, once let go): waited for, not timed.
  await saved;
  return { session, asked, warnings };
}

const readsBase = (asked: string[]): boolean => asked.some((x) => x.endsWith('head.bin') || x.endsWith('items.txt'));

describe('a base kept with the item matrix', () => {
  it('is taken on a later visit instead of the base’s files, with the same recommendations', async () => {
    const plain = await sessionOf(undefined);
    const cache = new MemoryPreparedCache();
    const first = await sessionOf(cache);
    expect(readsBase(first.asked)).toBe(true);
    expect(first.session).toEqual(plain.session);
    const saved = cache.entries.get(file)!.matrix!.base!;
    expect(saved.transTo).toBeInstanceOf(Int32Array);
    expect(saved.recentItems!.length).toBe(catalog.length);
    // The probabilities as the base's file holds them, float16 bits (two bytes each, not four),
    // and the same numbers as a load that decodes them: every item's votes alike.
    expect(saved.transP).toBeInstanceOf(Uint16Array);
    expect(saved.transP!.length).toBe(saved.transTo!.length);
    const decoded = alignBase(
      await loadHeadModel(defaultFetcher, joinLocation(models, 'head'), { withResidual: false }),
      catalog.map((i) => i.id),
      {
        withResidual: false,
      },
    ).transitions!;
    expect(decoded.p).toBeInstanceOf(Float32Array);
    const kept = await alignedFromSaved(
      (await loadHeadModel(defaultFetcher, joinLocation(models, 'head'), { withResidual: false })).manifest,
      saved,
      catalog.length,
      new Slicer(),
    );
    const read = transitionP(kept.transitions!);
    expect(Float32Array.from(decoded.p, (_, k) => read(k))).toEqual(decoded.p);
    for (let i = 0; i < catalog.length; i += 7)
      expect(transitionVotes(kept.transitions!, [i, (i + 3) % catalog.length], DEFAULT_HEAD_OPTIONS)).toEqual(
        transitionVotes(decoded, [i, (i + 3) % catalog.length], DEFAULT_HEAD_OPTIONS),
      );

    const second = await sessionOf(cache);
    expect(readsBase(second.asked)).toBe(false);
    // The base's manifest is still read: what is not in the arrays (α, the mix, the delta's weights) comes from it.
    expect(second.asked.some((x) => x.endsWith(joinLocation('head', 'manifest.json')))).toBe(true);
    expect(second.warnings.filter((w) => w.includes('saved base'))).toEqual([]);
    expect(second.session).toEqual(plain.session);
  });

  it('is made again from the base’s files where it does not fit, or was not kept, and saved again', async () => {
    const plain = await sessionOf(undefined);
    const cache = new MemoryPreparedCache();
    await sessionOf(cache);
    const base = cache.entries.get(file)!.matrix!.base!;
    // A successor out of the catalogue's range.
    base.transTo![3] = catalog.length + 7;
    const damaged = await sessionOf(cache);
    expect(readsBase(damaged.asked)).toBe(true);
    expect(damaged.warnings.some((w) => w.includes('saved base could not be used'))).toBe(true);
    expect(damaged.session).toEqual(plain.session);
    // Saved again, whole: the next visit takes it.
    expect(cache.entries.get(file)!.matrix!.base!.transTo![3]).toBeLessThan(catalog.length);
    expect(readsBase((await sessionOf(cache)).asked)).toBe(false);

    // An entry of an earlier version: a matrix without its base.
    delete cache.entries.get(file)!.matrix!.base;
    const older = await sessionOf(cache);
    expect(readsBase(older.asked)).toBe(true);
    expect(older.warnings).toEqual(damaged.warnings.filter((w) => !w.includes('saved base')));
    expect(older.session).toEqual(plain.session);
    expect(cache.entries.get(file)!.matrix!.base).toBeDefined();
    expect(readsBase((await sessionOf(cache)).asked)).toBe(false);
  });
});

describe('a base kept with the item matrix, and the shop delta', () => {
  it('finds the items a delta names by their row in the base from the rows kept, as a load from the files does', async () => {
    const head = JSON.parse(readFileSync(join(models, 'head', 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    const { version } = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')) as { version: string };
    // The base's rows are the items in reverse catalogue order.
    const named = catalog[40]!.id;
    const rows = [...catalog].reverse();
    publishDelta(models, {
      baseVersion: version,
      seq: 1,
      ids: [named],
      bias: [30],
      baseRow: (id) => rows.findIndex((i) => i.id === id),
      baseItems: head.files.find((f) => f.path === 'items.txt')!.sha256,
      events: 1,
      eventsThrough: null,
    });
    const more = { shopDelta: join(models, 'delta') };
    const plain = await sessionOf(undefined, more);
    expect(plain.session.cold[0]).toBe(named);
    const cache = new MemoryPreparedCache();
    await sessionOf(cache, more);
    const later = await sessionOf(cache, more);
    expect(readsBase(later.asked)).toBe(false);
    expect(later.session).toEqual(plain.session);
  });
});

describe('alignedFromSaved', () => {
  let head: HeadModel;
  let aligned: AlignedBase;
  const ids = (): string[] => catalog.map((i) => i.id);
  beforeAll(async () => {
    head = await loadHeadModel(defaultFetcher, joinLocation(models, 'head'), { withResidual: false });
    // The catalogue's order, not the base's rows': the rows' catalogue indices are not the rows.
    aligned = alignBase(head, ids(), { withResidual: false });
  });
  const saved = async (): Promise<SavedBase> => {
    const s = await savedBaseOf(aligned, new Slicer());
    const copy: SavedBase = {};
    for (const [k, v] of Object.entries(s)) (copy as Record<string, unknown>)[k] = v.slice();
    return copy;
  };

  it('gives back the base as aligned', async () => {
    expect(aligned.transitions!.to.length).toBe(5 * catalog.length);
    const back = await alignedFromSaved(head.manifest, await saved(), catalog.length, new Slicer());
    expect(back).toEqual(aligned);
  });

  it('takes the probabilities as float16 bits (as a page keeps them) or as numbers (an entry of the version before)', async () => {
    const halves = alignBase(
      await loadHeadModel(defaultFetcher, joinLocation(models, 'head'), { withResidual: false, halves: true }),
      ids(),
      {
        withResidual: false,
      },
    );
    expect(halves.transitions!.p).toBeInstanceOf(Uint16Array);
    const kept = await savedBaseOf(halves, new Slicer());
    const back = await alignedFromSaved(head.manifest, kept, catalog.length, new Slicer());
    expect(back).toEqual(halves);
    const read = transitionP(back.transitions!);
    expect(Float32Array.from(aligned.transitions!.p, (_, k) => read(k))).toEqual(aligned.transitions!.p);
    // A half that is ±∞ or NaN (its exponent all ones) is refused, as a number that is not finite is.
    for (const bits of [0x7c00, 0xfc00, 0x7e00]) {
      const spoilt = { ...kept, transP: (kept.transP as Uint16Array).slice() };
      spoilt.transP[2] = bits;
      await expect(alignedFromSaved(head.manifest, spoilt, catalog.length, new Slicer())).rejects.toThrow(RangeError);
    }
    // The version before's entry: numbers.
    expect(aligned.transitions!.p).toBeInstanceOf(Float32Array);
    expect(await alignedFromSaved(head.manifest, await saved(), catalog.length, new Slicer())).toEqual(aligned);
  });

  it('gives back a base that knows part of the catalogue, with the new-item bias, and rows the catalogue lacks', async () => {
    const partial: HeadModel = { ...head, manifest: { ...head.manifest, newItemBias: 0.7 } };
    // Five of the base's items are not in this catalogue, and three of its items are new.
    const some = [...ids().slice(5), 'new-1', 'new-2', 'new-3'];
    const base = alignBase(partial, some, { withResidual: false });
    expect(base.rowIndex.filter((i) => i < 0)).toHaveLength(5);
    expect(base.bias.at(-1)).toBeCloseTo(0.7);
    const kept = await savedBaseOf(base, new Slicer());
    // The biases of the base's rows only, not one per catalogue item.
    expect(kept.rowBias).toHaveLength(head.itemIndex.size);
    expect(await alignedFromSaved(partial.manifest, kept, some.length, new Slicer())).toEqual(base);
  });

  it('refuses arrays that do not fit the catalogue or the base', async () => {
    const n = catalog.length;
    const cases: [string, (s: SavedBase) => void][] = [
      ['a bias missing', (s) => delete s.rowBias],
      ['biases of another length', (s) => (s.rowBias = new Float32Array(n + 1))],
      ['a bias not a number', (s) => (s.rowBias![2] = NaN)],
      ['biases of another type', (s) => (s.rowBias = new Int32Array(n))],
      ['W of another size', (s) => (s.W = new Float32Array(3))],
      ['a row past the catalogue', (s) => (s.rowIndex![0] = n)],
      ['a row below -1', (s) => (s.rowIndex![0] = -2)],
      ['two rows of one item', (s) => (s.rowIndex![1] = s.rowIndex![0]!)],
      ['rows of another count', (s) => (s.rowIndex = new Int32Array(n - 1))],
      ['a successor below 0', (s) => (s.transTo![0] = -1)],
      ['a probability not finite', (s) => (s.transP![1] = Infinity)],
      ['row starts out of order', (s) => (s.transPtr![2] = s.transPtr![1]! - 1)],
      ['transition rows out of order', (s) => (s.transRows![1] = s.transRows![0]!)],
      ['a transition part missing', (s) => delete s.transP],
      ['the last row start not the entries’ count', (s) => (s.transPtr![s.transPtr!.length - 1] = 3)],
      ['what sold lately of another length', (s) => (s.recentValues = new Float32Array(1))],
      ['what sold lately for an item past the catalogue', (s) => (s.recentItems![0] = n + 3)],
      ['what sold lately at 0', (s) => (s.recentValues![0] = 0)],
    ];
    for (const [what, spoil] of cases) {
      const s = await saved();
      spoil(s);
      await expect(alignedFromSaved(head.manifest, s, n, new Slicer()), what).rejects.toThrow(RangeError);
    }
    // For a smaller catalogue (one whose size the saved matrix has, checked with it: the base's
    // arrays are of the base's size, not the catalogue's).
    await expect(alignedFromSaved(head.manifest, await saved(), n - 1, new Slicer())).rejects.toThrow(RangeError);
  });
});
