/**
 * A first visit ranks its first list without the base's transitions (`transitions.bin`, most of a
 * large base's bytes and of its reading) and reads them after. Nothing waits for them: a click is
 * learned and a list ranked without their votes meanwhile (a returning shopper's stored clicks
 * too), and once they are in, what was learned is learned again with them, so that the lists are
 * what a load that had them from the start gives. A base written in one file (by an earlier
 * version) loads as before.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { manifestFile } from '../src/cli/common.js';
import type { HeadManifest } from '../src/core/model.js';
import type { HeadState } from '../src/core/head.js';
import type { Fetcher } from '../src/core/model-io.js';
import { MemoryPreparedCache } from '../src/core/prepared.js';
import { DEFAULT_TRANSITIONS_WAIT_MS } from '../src/core/recommender.js';
import type { Recommender, RecommenderEvents } from '../src/core/recommender.js';
import { MemoryDeltaStore } from '../src/core/store.js';
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

/** The next 'update' the recommender emits. */
const nextUpdate = (rec: Recommender): Promise<RecommenderEvents['update']> =>
  new Promise((resolve) => {
    const off = rec.on('update', (u) => {
      off();
      resolve(u);
    });
  });

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
  it('is ready, and ranks its first list, while transitions.bin has not come; clicks and lists do not wait for it, and once it is in, the lists are what a load that had it gives', async () => {
    const cache = new MemoryPreparedCache();
    const held = holding();
    const store = new MemoryDeltaStore();
    // A snapshot after every click: none may hold what was learned without the transitions.
    const { rec, saved } = await within(
      // As a page waits for them: a second (the default), then goes on without them.
      loadShop(file, models, {
        fetcher: held.fetcher,
        preparedCache: cache,
        store,
        snapshotEvery: 1,
        transitionsWaitMs: DEFAULT_TRANSITIONS_WAIT_MS,
      }),
      60_000,
      'ready',
    );
    expect(held.asked.some((x) => x.endsWith('head.bin'))).toBe(true);
    const first = [await top(rec)];
    // The list after a click needs that click's votes, and the second click's lesson the first's:
    // both come at once, learned and ranked without them for now.
    await within(rec.click(clicks[0]!), 10_000, 'a click learned');
    expect(await within(top(rec), 10_000, 'a list after a click')).toHaveLength(10);
    await within(rec.click(clicks[1]!), 10_000, 'a second click learned');
    expect(await within(top(rec), 10_000, 'a list after the second click')).toHaveLength(10);
    // The snapshot after the first click may stand (it needed no votes); the second's may not.
    expect((await store.load()).snapshot?.seq ?? 0).toBeLessThanOrEqual(1);
    expect(rec.stats().transitions).toBe('reading');
    // Once they are in, what was learned is learned again with them, and the page is told.
    const updated = nextUpdate(rec);
    held.release();
    expect((await within(updated, 30_000, 'an update once the transitions are in')).source).toBe('load');
    expect(rec.stats().transitions).toBe('in');
    // The snapshot skipped meanwhile is taken once they are learned again.
    await vi.waitFor(async () => expect((await store.load()).snapshot?.seq).toBe(2), { timeout: 10_000 });
    first.push(await top(rec));
    await rec.click(clicks[2]!);
    first.push(await top(rec));
    // The third click's snapshot is written after the click resolves: waited for, not timed.
    await vi.waitFor(async () => expect((await store.load()).snapshot?.seq).toBe(3), { timeout: 10_000 });
    rec.dispose();
    // The entry for the next visit is written once the shopper is quiet (here, once let go).
    await saved;
    // A plain load with the transitions from the start, through the same clicks: the same lists.
    const plain = await loadShop(file, models);
    const expected = await session(plain.rec);
    plain.rec.dispose();
    expectSameLists(first, [expected[0]!, expected[2]!, expected[3]!]);
    // A later visit takes the base from the saved entry and φ from the store's snapshot: the same.
    const again = countingFetcher();
    const later = await loadShop(file, models, { fetcher: again.fetcher, preparedCache: cache, store });
    expect(again.asked.some((x) => x.endsWith('.bin') && x.includes('head'))).toBe(false);
    expect((await store.load()).snapshot?.seq).toBe(3);
    expect(later.rec.stats().transitions).toBe('in');
    expectSameLists([await top(later.rec)], [expected[3]!]);
    later.rec.dispose();
  });

  it('serves a returning shopper on a new base before transitions.bin comes, then relearns their clicks with it', async () => {
    // Clicks stored on an earlier visit, and a snapshot of φ learned on another base: the clicks
    // are replayed at load (the rebase).
    const store = new MemoryDeltaStore();
    const before = await loadShop(file, models, { store });
    const expected = await session(before.rec);
    before.rec.dispose();
    await new Promise((r) => setTimeout(r, 20));
    await store.saveSnapshot({ seq: clicks.length, modelVersion: 'an-earlier-base', state: {} as HeadState, savedAt: Date.now() });
    const held = holding();
    const { rec, warnings } = await within(loadShop(file, models, { fetcher: held.fetcher, store, transitionsWaitMs: 0 }), 60_000, 'ready');
    expect(await within(top(rec), 10_000, 'the first list')).toHaveLength(10);
    const updated = nextUpdate(rec);
    held.release();
    await within(updated, 30_000, 'an update once the transitions are in');
    expectSameLists([await top(rec)], [expected[3]!]);
    // The clicks are learned again, not stored again, and the rebase is told of once.
    expect((await store.load()).events).toHaveLength(clicks.length);
    expect(rec.stats().transitions).toBe('in');
    expect(warnings.filter((w) => w.code.startsWith('rebase/')).map((w) => w.code)).toEqual(['rebase/replay']);
    rec.dispose();
  });

  it('serves a returning shopper whose snapshot holds their clicks before transitions.bin comes, then ranks with it', async () => {
    const store = new MemoryDeltaStore();
    const before = await loadShop(file, models, { store, snapshotEvery: 1 });
    const expected = await session(before.rec);
    // The last click's snapshot is written after the click resolves: waited for, not timed.
    await vi.waitFor(async () => expect((await store.load()).snapshot?.seq).toBe(clicks.length), { timeout: 10_000 });
    before.rec.dispose();
    const held = holding();
    const { rec } = await within(loadShop(file, models, { fetcher: held.fetcher, store, transitionsWaitMs: 0 }), 60_000, 'ready');
    expect(await within(top(rec), 10_000, 'the first list')).toHaveLength(10);
    const updated = nextUpdate(rec);
    held.release();
    await within(updated, 30_000, 'an update once the transitions are in');
    expectSameLists([await top(rec)], [expected[3]!]);
    rec.dispose();
  });

  it('brings back nothing a reset forgot when they come after it', async () => {
    const held = holding();
    const store = new MemoryDeltaStore();
    const { rec } = await loadShop(file, models, { fetcher: held.fetcher, store, transitionsWaitMs: 0 });
    const cold = await top(rec);
    await rec.click(clicks[0]!);
    await rec.click(clicks[1]!);
    await rec.reset();
    held.release();
    // However the transitions' coming is told, the shopper stays forgotten.
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.stats()).toMatchObject({ clicks: 0, deltaNorm: 0 });
    expect(await store.load()).toEqual({ snapshot: null, events: [] });
    expectSameLists([await top(rec)], [cold]);
    rec.dispose();
  });

  describe('a returning shopper on a new base whose transitions.bin is some twenty times the bytes of its other files', () => {
    let heavy = '';
    beforeAll(() => {
      heavy = join(dir, 'models-heavy');
      cpSync(models, heavy, { recursive: true });
      writeTrainedBase(heavy, catalog, 1000);
    });

    /** A store holding the session's clicks and a snapshot of another base's φ: the clicks are replayed at load. */
    async function returning(): Promise<MemoryDeltaStore> {
      const store = new MemoryDeltaStore();
      const before = await loadShop(file, heavy, { store });
      await session(before.rec);
      before.rec.dispose();
      await new Promise((r) => setTimeout(r, 20));
      await store.saveSnapshot({ seq: clicks.length, modelVersion: 'an-earlier-base', state: {} as HeadState, savedAt: Date.now() });
      return store;
    }

    /** `held`'s fetcher on a slow link: head.bin takes a second, so transitions.bin would take some twenty. */
    const headTakesASecond =
      (held: ReturnType<typeof holding>): Fetcher =>
      async (location, options) => {
        if (location.endsWith('head.bin')) await new Promise((r) => setTimeout(r, 1000));
        return held.fetcher(location, options);
      };

    it('is not held for them where, at the rate the rest of the base came, they would come long after the wait', async () => {
      const store = await returning();
      const held = holding();
      const slow = headTakesASecond(held);
      const waitMs = 8000;
      const started = Date.now();
      // Before, the stored clicks' replay waited the whole of the 8 s for them.
      const { rec, warnings } = await within(loadShop(file, heavy, { fetcher: slow, store, transitionsWaitMs: waitMs }), 20_000, 'ready');
      expect(Date.now() - started).toBeLessThan(waitMs);
      expect(rec.stats().transitions).toBe('reading');
      expect(await within(top(rec), 10_000, 'the first list')).toHaveLength(10);
      expect(warnings.filter((w) => w.code.startsWith('rebase/')).map((w) => w.code)).toEqual(['rebase/replay']);
      // Once they are in, the clicks are learned again with them.
      const updated = nextUpdate(rec);
      held.release();
      expect((await within(updated, 30_000, 'an update once the transitions are in')).source).toBe('load');
      expect(rec.stats().transitions).toBe('in');
      rec.dispose();
    });

    it('is not held for them where they would come after the wait, if within twice it', async () => {
      const store = await returning();
      const held = holding();
      // transitions.bin would take some twenty seconds: more than the wait of 14 s, less than
      // twice it. The version before waited all of the 14 s, to go on without them.
      const slow = headTakesASecond(held);
      const waitMs = 14_000;
      const started = Date.now();
      const { rec } = await within(loadShop(file, heavy, { fetcher: slow, store, transitionsWaitMs: waitMs }), 30_000, 'ready');
      expect(Date.now() - started).toBeLessThan(waitMs / 2);
      expect(rec.stats().transitions).toBe('reading');
      expect(await within(top(rec), 10_000, 'the first list')).toHaveLength(10);
      held.release();
      rec.dispose();
    });

    it('waits for them where they can come within the wait: the replay has their votes at once', async () => {
      const store = await returning();
      const held = holding();
      // The files come at once; transitions.bin a moment after the rest.
      const fast: Fetcher = async (location, options) => {
        if (location.endsWith('transitions.bin')) setTimeout(held.release, 300);
        return held.fetcher(location, options);
      };
      const { rec } = await within(loadShop(file, heavy, { fetcher: fast, store, transitionsWaitMs: 20_000 }), 30_000, 'ready');
      expect(rec.stats().transitions).toBe('in');
      rec.dispose();
    });
  });

  it('refuses a wait that is not a number of milliseconds', async () => {
    for (const bad of [-1, Number.NaN, '1000' as unknown as number]) {
      await expect(loadShop(file, models, { transitionsWaitMs: bad })).rejects.toThrow(
        /transitionsWaitMs must be a number of milliseconds/,
      );
    }
  });

  it('goes on without them where transitions.bin cannot be read, says so, and saves no base for the next visit', async () => {
    const cache = new MemoryPreparedCache();
    const refused = holding(true);
    const { rec, warnings, saved } = await loadShop(file, models, { fetcher: refused.fetcher, preparedCache: cache });
    const lists = await session(rec);
    expect(lists.every((l) => l.length === 10)).toBe(true);
    expect(warnings.map((w) => w.code)).toContain('model/transitions');
    expect(rec.stats().transitions).toBe('none');
    rec.dispose();
    await saved;
    // The entry is written, its matrix without the base.
    expect(cache.entries.get(file)?.matrix).toBeDefined();
    expect(cache.entries.get(file)!.matrix!.base).toBeUndefined();
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
