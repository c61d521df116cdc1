/**
 * A first visit ranks its first list without the base's transitions (`transitions.bin`, most of a
 * large base's bytes and of its reading) and reads them after: what the head scores and learns
 * with a click in its memory waits for them, and is then what a load that had them from the start
 * gives. A base written in one file (by an earlier version) loads as before.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestFile } from '../src/cli/common.js';
import type { HeadManifest } from '../src/core/model.js';
import type { Fetcher } from '../src/core/model-io.js';
import { MemoryPreparedCache } from '../src/core/prepared.js';
import type { Recommender } from '../src/core/recommender.js';
import type { Item } from '../src/core/types.js';
import { countingFetcher, loadShop, shopWithVectors, useBackend, writeTrainedBase } from './helpers.js';

let dir = '';
let models = '';
let file = '';
let catalog: Item[] = [];

beforeAll(async () => {
  ({ dir, models, file, catalog } = await shopWithVectors('clickwise-deferred-transitions-'));
  writeTrainedBase(models, catalog);
  await useBackend('cpu');
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fetcher that holds `transitions.bin` until `release`, or refuses it with `refuse`; what it was asked for. */
function holding(refuse = false): { fetcher: Fetcher; asked: string[]; release: () => void } {
  const { fetcher, asked } = countingFetcher();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  return {
    asked,
    release,
    fetcher: async (location, options) => {
      if (location.endsWith('transitions.bin')) {
        if (refuse) throw new Error(`404 for ${location}`);
        await gate;
      }
      return fetcher(location, options);
    },
  };
}

/** Within `ms`, or a rejection saying what did not come. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, no) => setTimeout(() => no(new Error(`${what} within ${ms} ms`)), ms))]);
}

type Top = { id: string; score: number }[];
const top = async (rec: Recommender, k = 10): Promise<Top> => (await rec.recommend({ k })).map((r) => ({ id: r.id, score: r.score }));
const clicks = ['gar-01a', 'kit-01a', 'gar-02b'];

/** The session every load here runs: the first list, then a list after each click. */
async function session(rec: Recommender): Promise<Top[]> {
  const lists = [await top(rec)];
  for (const id of clicks) {
    await rec.click(id);
    lists.push(await top(rec));
  }
  return lists;
}

function expectSameLists(a: Top[], b: Top[]): void {
  expect(a.map((l) => l.map((r) => r.id))).toEqual(b.map((l) => l.map((r) => r.id)));
  a.forEach((l, i) => l.forEach((r, j) => expect(r.score).toBeCloseTo(b[i]![j]!.score, 5)));
}

describe('a base whose transitions are read after the first list', () => {
  it('is ready, and ranks its first list, while transitions.bin has not come; a list after a click waits for it, then equals a load that had it', async () => {
    const cache = new MemoryPreparedCache();
    const held = holding();
    const { rec } = await within(loadShop(file, models, { fetcher: held.fetcher, preparedCache: cache }), 60_000, 'ready');
    expect(held.asked.some((x) => x.endsWith('head.bin'))).toBe(true);
    const first = [await top(rec)];
    await rec.click(clicks[0]!);
    // The transitions' votes of that click are needed now.
    let listed = false;
    const after = top(rec).then((l) => ((listed = true), l));
    await new Promise((r) => setTimeout(r, 100));
    expect(listed).toBe(false);
    held.release();
    first.push(await after);
    for (const id of clicks.slice(1)) {
      await rec.click(id);
      first.push(await top(rec));
    }
    rec.dispose();
    await new Promise((r) => setTimeout(r, 20));
    // A later visit takes the base from the saved entry, its transitions in it from the start.
    const again = countingFetcher();
    const later = await loadShop(file, models, { fetcher: again.fetcher, preparedCache: cache });
    expect(again.asked.some((x) => x.endsWith('.bin') && x.includes('head'))).toBe(false);
    const lists = await session(later.rec);
    later.rec.dispose();
    expectSameLists(first, lists);
    // And a load with no cache, whose transitions come as soon as asked.
    const plain = await loadShop(file, models);
    expectSameLists(first, await session(plain.rec));
    plain.rec.dispose();
  });

  it('goes on without them where transitions.bin cannot be read, says so, and saves no base for the next visit', async () => {
    const cache = new MemoryPreparedCache();
    const refused = holding(true);
    const { rec, warnings } = await loadShop(file, models, { fetcher: refused.fetcher, preparedCache: cache });
    const lists = await session(rec);
    expect(lists.every((l) => l.length === 10)).toBe(true);
    expect(warnings.map((w) => w.code)).toContain('model/transitions');
    rec.dispose();
    await new Promise((r) => setTimeout(r, 20));
    // The next visit reads the base's files again, and has the transitions.
    const next = countingFetcher();
    const later = await loadShop(file, models, { fetcher: next.fetcher, preparedCache: cache });
    expect(next.asked.some((x) => x.endsWith('transitions.bin'))).toBe(true);
    const plain = await loadShop(file, models);
    expectSameLists(await session(later.rec), await session(plain.rec));
    later.rec.dispose();
    plain.rec.dispose();
  });

  it('loads a base written in one file, as the version before wrote it, with the same lists', async () => {
    const split = await loadShop(file, models);
    const expected = await session(split.rec);
    split.rec.dispose();
    // head.bin and transitions.bin as one head.bin: the transitions' tensors after the rest.
    const headDir = join(models, 'head');
    const manifestPath = join(headDir, 'manifest.json');
    const before = readFileSync(manifestPath, 'utf8');
    const head = readFileSync(join(headDir, 'head.bin'));
    const trans = readFileSync(join(headDir, 'transitions.bin'));
    try {
      const m = JSON.parse(before) as HeadManifest;
      const at = Math.ceil(head.byteLength / 4) * 4;
      const one = new Uint8Array(at + trans.byteLength);
      one.set(head);
      one.set(trans, at);
      writeFileSync(join(headDir, 'head.bin'), one);
      const tensors = m.tensors.map((t) => (t.file === 'transitions.bin' ? { ...t, file: 'head.bin', offset: t.offset + at } : t));
      const files = m.files
        .filter((f) => f.path !== 'transitions.bin')
        .map((f) => (f.path === 'head.bin' ? manifestFile('head.bin', one) : f));
      writeFileSync(manifestPath, JSON.stringify({ ...m, tensors, files }));
      const held = holding();
      const { rec } = await loadShop(file, models, { fetcher: held.fetcher });
      expect(held.asked.some((x) => x.endsWith('transitions.bin'))).toBe(false);
      expectSameLists(await session(rec), expected);
      rec.dispose();
    } finally {
      writeFileSync(join(headDir, 'head.bin'), head);
      writeFileSync(manifestPath, before);
    }
  });
});
