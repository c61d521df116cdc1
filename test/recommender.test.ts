import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Item, Recommender } from '../src/index.js';
import { ArgumentError, CatalogError, createRecommender, UnknownItemError } from '../src/index.js';
import { MemoryDeltaStore } from '../src/core/store.js';
import { createRecommenderCore } from '../src/core/recommender.js';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoCatalog, MODELS, tempFolder, useBackend } from './helpers.js';
import { mulberry32 } from '../src/core/rng.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { defaultHead, writeHeadModel } from '../src/cli/train/head-io.js';

const catalog = demoCatalog();
const open: Recommender[] = [];
async function make(extra: Partial<Parameters<typeof createRecommender>[0]> = {}): Promise<Recommender> {
  const rec = await createRecommender({ catalog, modelUrl: MODELS, backend: 'cpu', ...extra });
  open.push(rec);
  return rec;
}
afterEach(() => {
  open.splice(0).forEach((r) => r.dispose());
});
beforeAll(async () => {
  await useBackend('cpu');
});

const share = (recs: { item: Item }[], category: string): number => recs.filter((r) => r.item.category === category).length / recs.length;

describe('createRecommender (Node, cpu)', () => {
  it('runs the README example', async () => {
    const rec = await make();
    await rec.click('kit-01a');
    const top = await rec.recommend({ k: 10 });
    expect(top).toHaveLength(10);
    expect(top[0]).toMatchObject({ id: expect.any(String), score: expect.any(Number), item: expect.any(Object) });
    expect(rec.stats()).toMatchObject({ backend: 'cpu', clicks: 1, storage: 'memory', items: catalog.length, transitions: 'none' });
  });

  it('moves the top 10 toward the category clicked (a simulated click loop)', async () => {
    const rec = await make();
    const garden = catalog.filter((i) => i.category === 'Garden');
    const before = share(await rec.recommend({ k: 10 }), 'Garden');
    for (let i = 0; i < 12; i++) {
      const shown = await rec.recommend({ k: 10 });
      rec.impression(shown.map((s) => s.id));
      await rec.click(garden[(i * 7) % garden.length]!.id);
    }
    const after = share(await rec.recommend({ k: 10 }), 'Garden');
    expect(after).toBeGreaterThanOrEqual(0.8);
    expect(after).toBeGreaterThan(before);
  });

  it('learns, not echoes: 3 clicks in one department and 1 in another share the top 10; viewed items are not shown back', async () => {
    const rec = await make();
    const garden = catalog.filter((i) => i.category === 'Garden').map((i) => i.id);
    const toys = catalog.filter((i) => i.category === 'Toys').map((i) => i.id);
    const clicked = [garden[0]!, garden[5]!, garden[10]!, toys[3]!];
    for (const id of clicked) await rec.click(id);
    const top = await rec.recommend({ k: 10 });
    expect(share(top, 'Garden') * 10, JSON.stringify(top.map((t) => t.id))).toBeGreaterThanOrEqual(3);
    expect(share(top, 'Toys') * 10, JSON.stringify(top.map((t) => t.id))).toBeGreaterThanOrEqual(3);
    expect(top.filter((t) => clicked.includes(t.id))).toEqual([]);
    // The Garden entries are explained by the Garden clicks, not only by the last (Toys) click.
    const gardenEntry = top.find((t) => t.item.category === 'Garden')!;
    expect(gardenEntry.because[0]!.id).toMatch(/^gar/);
    expect(clicked.slice(0, 3)).toContain(gardenEntry.because[0]!.id);
    // For shops where shoppers re-buy, viewed items can be shown back.
    const again = await rec.recommend({ k: 200, includeViewed: true });
    expect(again.some((t) => clicked.includes(t.id))).toBe(true);
    // Each says so (a page writes "you viewed this before"), and only those.
    for (const t of again) expect([t.id, t.viewed === true]).toEqual([t.id, clicked.includes(t.id)]);
    expect(top.every((t) => t.viewed === undefined)).toBe(true);
    // Without sharing, the earlier interest loses places to the latest one and to what the head
    // finds like it (what the head alone ranks): the places kept are the sharing's doing.
    const plain = await rec.recommend({ k: 10, diversify: false });
    expect(share(plain, 'Garden')).toBeLessThan(share(top, 'Garden'));
  });

  it('shares an interest among its clicks: after a tent, a water bottle and a puzzle, on a head torch, the tent and the bottle each have an entry', async () => {
    const clicked = ['out-01a', 'out-04b', 'toy-02a', 'out-06c'];
    const rec = await make();
    for (const id of clicked) await rec.click(id);
    const top = await rec.recommend({ k: 10 });
    const at = JSON.stringify(top.map((t) => [t.id, t.because[0]?.id]));
    // Each Outdoor click explains an entry of its own, not the head torch alone.
    for (const id of ['out-01a', 'out-04b', 'out-06c'])
      expect(
        top.some((t) => t.because[0]?.id === id),
        `${id} in ${at}`,
      ).toBe(true);
    // The puzzle's department keeps its three places, and no viewed item is shown back.
    expect(share(top, 'Toys') * 10, at).toBeGreaterThanOrEqual(3);
    expect(top.filter((t) => clicked.includes(t.id))).toEqual([]);
    // The head's own ranking (no sharing) gives the last click most of Outdoor.
    const ranking = await rec.recommend({ k: 10, diversify: false });
    expect(ranking.filter((t) => t.because[0]?.id === 'out-01a' || t.because[0]?.id === 'out-04b').length).toBeLessThan(
      top.filter((t) => t.because[0]?.id === 'out-01a' || t.because[0]?.id === 'out-04b').length,
    );
    // A shop whose maintenance job found that sharing costs its lists ships false, and its pages
    // keep the departments' places alone; a page's own option wins either way.
    const dir = tempFolder('clickwise-share-clicks-model-');
    cpSync(MODELS, dir, { recursive: true });
    const manifest = join(dir, 'head', 'manifest.json');
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), shareInterestClicks: false }));
    const cited = async (extra: Partial<Parameters<typeof createRecommender>[0]>): Promise<string[]> => {
      const r = await make(extra);
      for (const id of clicked) await r.click(id);
      return (await r.recommend({ k: 10 })).map((t) => t.because[0]?.id ?? '');
    };
    expect(await cited({ modelUrl: dir })).not.toContain('out-04b');
    expect(await cited({ modelUrl: dir, shareInterestClicks: true })).toContain('out-04b');
    expect(await cited({ shareInterestClicks: false })).not.toContain('out-04b');
  });

  it('does not echo the last click for a shopper who wanders through five departments, unless the shop chose the ranking', async () => {
    const clicked = ['kit-01a', 'gar-01a', 'out-01a', 'toy-01a', 'pet-01a'];
    const rec = await make();
    for (const id of clicked) await rec.click(id);
    const top = await rec.recommend({ k: 10 });
    const at = JSON.stringify(top.map((t) => t.id));
    // The head's ranking is the last click's department alone; the list keeps places for the two before it.
    expect(share(await rec.recommend({ k: 10, diversify: false }), 'Pets')).toBe(1);
    expect(
      [share(top, 'Pets'), share(top, 'Toys'), share(top, 'Outdoor')].map((x) => Math.round(x * 10)),
      at,
    ).toEqual([6, 2, 2]);
    // Each is explained by the click in its own department.
    expect(top.find((t) => t.item.category === 'Toys')!.because[0]!.id).toBe('toy-01a');
    // A shop whose maintenance job found the places cost its lists turns them off.
    const ranked = await make({ keepLatestDepartments: false });
    for (const id of clicked) await ranked.click(id);
    expect(share(await ranked.recommend({ k: 10 }), 'Pets')).toBe(1);
  });

  it('shows each of the last three departments of a wandering shopper, whatever the order of their clicks', async () => {
    // Shoppers who click once in each of five departments, in orders drawn with a fixed seed: the
    // head's ranking, led by the last click, can show the last department nine times and the one
    // before it once, which leaves the third out; the list keeps two places for each.
    const departments = [...new Set(catalog.map((i) => i.category!))].sort();
    const rand = mulberry32(17);
    let ranked = 0;
    for (let path = 0; path < 12; path++) {
      const order = [...departments];
      for (let j = order.length - 1; j > 0; j--) {
        const r = Math.floor(rand() * (j + 1));
        [order[j], order[r]] = [order[r]!, order[j]!];
      }
      const clicked = order.slice(0, 5).map((g) => {
        const own = catalog.filter((i) => i.category === g);
        return own[Math.floor(rand() * own.length)]!.id;
      });
      const rec = await make();
      for (const id of clicked) await rec.click(id);
      const cats = (await rec.recommend({ k: 10 })).map((t) => t.item.category);
      const plain = (await rec.recommend({ k: 10, diversify: false })).map((t) => t.item.category);
      const last = order.slice(2, 5);
      if (last.some((g) => !plain.includes(g))) ranked++;
      for (const g of last) expect(cats.filter((c) => c === g).length, `${order.join('>')}: ${cats.join(',')}`).toBeGreaterThanOrEqual(2);
      rec.dispose();
    }
    // The head's ranking alone left one of them out on some of the paths.
    expect(ranked).toBeGreaterThan(0);
  });

  it('shows the viewed items back by default where the model says the shop re-buys, unless the page says otherwise', async () => {
    // The shipped model with the maintenance job's answer for a shop of re-buyers in its head manifest.
    const dir = tempFolder('clickwise-viewed-model-');
    cpSync(MODELS, dir, { recursive: true });
    const at = join(dir, 'head', 'manifest.json');
    writeFileSync(at, JSON.stringify({ ...JSON.parse(readFileSync(at, 'utf8')), recommendViewed: true }));
    const clicked = ['gar-01a', 'gar-02a'];
    const lists = async (extra: { recommendViewed?: boolean }, modelUrl: string): Promise<string[]> => {
      const rec = await make({ modelUrl, ...extra });
      for (const id of clicked) await rec.click(id);
      return (await rec.recommend({ k: 200 })).map((t) => t.id);
    };
    expect((await lists({}, dir)).filter((id) => clicked.includes(id))).not.toEqual([]);
    expect((await lists({ recommendViewed: false }, dir)).filter((id) => clicked.includes(id))).toEqual([]);
    // The shipped model makes no such claim: the viewed items stay out unless the page asks.
    expect((await lists({}, MODELS)).filter((id) => clicked.includes(id))).toEqual([]);
    expect((await lists({ recommendViewed: true }, MODELS)).filter((id) => clicked.includes(id))).not.toEqual([]);
  });

  it('before any click, spreads the list across departments instead of the first items', async () => {
    const rec = await make();
    const top = await rec.recommend({ k: 8 });
    expect(new Set(top.map((t) => t.item.category)).size).toBe(8);
    expect(top.every((t) => t.because.length === 0)).toBe(true);
    const filtered = await rec.recommend({ k: 3, filter: (i) => i.category === 'Toys', exclude: ['toy-01a'] });
    expect(filtered.map((t) => t.id)).toEqual(['toy-01b', 'toy-01c', 'toy-01d']);
  });

  it('explains each recommendation by the clicked items behind it', async () => {
    const rec = await make();
    await rec.click('pet-01a');
    await rec.click('pet-02b');
    const top = await rec.recommend({ k: 5, exclude: ['pet-01a', 'pet-02b'] });
    expect(top.map((t) => t.id)).not.toContain('pet-01a');
    for (const t of top) {
      expect(t.because.length).toBeGreaterThan(0);
      expect(t.because.every((b) => ['pet-01a', 'pet-02b'].includes(b.id))).toBe(true);
      expect(t.because.reduce((s, b) => s + b.weight, 0)).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('cites the click whose transition or own-order vote put an item in the list, not only those alike in content', async () => {
    // A base that knows every item, whose transitions send kit-01a's buyers to pet-05c (another
    // department, unlike it in content), with the transitions and the shopper's own order weighing
    // much more than content: pet-05c is in the list for kit-01a's vote.
    const dir = tempFolder('clickwise-because-votes-');
    cpSync(MODELS, dir, { recursive: true });
    const encoder = JSON.parse(readFileSync(join(dir, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    const ids = catalog.map((i) => i.id);
    const from = ids.indexOf('kit-01a');
    const to = ids.indexOf('pet-05c');
    writeHeadModel(join(dir, 'head'), {
      ...defaultHead(encoder),
      ids,
      bias: new Float32Array(ids.length),
      transitions: {
        ptr: Int32Array.from({ length: ids.length + 1 }, (_, i) => (i > from ? 1 : 0)),
        to: Int32Array.of(to),
        p: Float32Array.of(1),
      },
      // transitions, counts, own order, visit starts, own popularity, this visit: mid-visit, then at a start.
      mix: [20, 20, 0, 0, 20, 20, 0, 0, 0, 0, 0, 0],
    });
    // The transitions' votes are what the test is of: the lists wait for them however long they take.
    const rec = await make({ modelUrl: dir, transitionsWaitMs: Infinity });
    for (const id of ['gar-01a', 'kit-01a', 'gar-02a']) await rec.click(id);
    const top = await rec.recommend({ k: 10 });
    expect(rec.stats().transitions).toBe('in');
    const pet = top.find((t) => t.id === 'pet-05c');
    expect(pet, JSON.stringify(top.map((t) => t.id))).toBeDefined();
    expect(pet!.because[0]).toMatchObject({ id: 'kit-01a' });
    expect(pet!.because[0]!.weight).toBeGreaterThan(0.5);
    // The shopper's own order (a shopper who never clicks kit-01a): pet-05c follows gar-01a in
    // their clicks, and gar-01a is clicked again, then another garden item (the latest click).
    const own = await make({ modelUrl: dir, transitionsWaitMs: Infinity });
    for (const id of ['gar-01a', 'pet-05c', 'gar-03a', 'gar-05a', 'gar-01a', 'gar-04a']) await own.click(id);
    const again = await own.recommend({ k: 10, includeViewed: true });
    const followed = again.find((t) => t.id === 'pet-05c');
    expect(followed, JSON.stringify(again.map((t) => t.id))).toBeDefined();
    expect(followed!.because[0]).toMatchObject({ id: 'gar-01a' });
    expect(followed!.because[0]!.weight).toBeGreaterThan(0.5);
  });

  it('applies filter and exclude', async () => {
    const rec = await make();
    const top = await rec.recommend({ k: 7, filter: (i) => i.category === 'Toys', exclude: ['toy-01a'] });
    expect(top).toHaveLength(7);
    expect(top.every((t) => t.item.category === 'Toys' && t.id !== 'toy-01a')).toBe(true);
  });

  it('emits update after each click and forgets everything on reset', async () => {
    const rec = await make();
    const updates: number[] = [];
    rec.on('update', (u) => updates.push(u.clicks));
    await rec.click('kit-02a');
    await rec.click('kit-03a');
    expect(updates.slice(-1)).toEqual([2]);
    const fresh = await rec.recommend();
    await rec.reset();
    expect(rec.stats()).toMatchObject({ clicks: 0, deltaNorm: 0 });
    expect(updates.at(-1)).toBe(0);
    const base = await (await make()).recommend();
    expect((await rec.recommend()).map((r) => r.id)).toEqual(base.map((r) => r.id));
    expect(fresh.map((r) => r.id)).not.toEqual(base.map((r) => r.id));
  });

  it('restores the same recommendations from a store (snapshot + events)', async () => {
    const store = new MemoryDeltaStore();
    const a = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store, snapshotEvery: 5 });
    open.push(a);
    for (const id of ['hom-01a', 'hom-02b', 'hom-03c', 'out-01a', 'out-02a', 'out-03b', 'hom-04d']) await a.click(id);
    const ra = await a.recommend();
    const b = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store, snapshotEvery: 5 });
    open.push(b);
    const rb = await b.recommend();
    expect(b.stats().clicks).toBe(7);
    expect(rb.map((r) => r.id)).toEqual(ra.map((r) => r.id));
    rb.forEach((r, i) => expect(r.score).toBeCloseTo(ra[i]!.score, 4));
  });

  it('stores with each click the top of the ranking before it, and learns from it as from the store', async () => {
    // Off by default: nothing ranked is stored.
    const plainStore = new MemoryDeltaStore();
    const off = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store: plainStore });
    open.push(off);
    await off.recommend({ k: 5 });
    await off.click('hom-01a');
    expect((await plainStore.load()).events[0]!.ranked).toBeUndefined();
    const head = { rankedNegatives: 50 };
    const store = new MemoryDeltaStore();
    const a = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store, head });
    open.push(a);
    await a.click('hom-01a');
    // Nothing ranked yet: the first click has no ranking to pass over.
    expect((await store.load()).events[0]!.ranked).toBeUndefined();
    const shown = await a.recommend({ k: 5 });
    const pick = shown[2]!.id;
    await a.click(pick);
    const ranked = (await store.load()).events[1]!.ranked!;
    // The head's best 50 before any was left out (the viewed hom-01a may be among them), but the
    // clicked one, which was among them.
    expect(ranked).toHaveLength(49);
    expect(ranked).not.toContain(pick);
    for (const r of shown) if (r.id !== pick) expect(ranked).toContain(r.id);
    // The same events with the ranking taken out learn another φ: the ranking is learned from.
    const without = new MemoryDeltaStore();
    for (const e of (await store.load()).events)
      await without.append({ type: 'click', itemId: e.itemId, t: e.t, impressions: e.impressions });
    const b = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store: without, head });
    open.push(b);
    const c = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', store, head });
    open.push(c);
    const [sa, sb, sc] = [await a.recommend({ k: 10 }), await b.recommend({ k: 10 }), await c.recommend({ k: 10 })];
    sc.forEach((r, i) => expect(r.score).toBeCloseTo(sa[i]!.score, 4));
    expect(Math.max(...sb.map((r, i) => Math.abs(r.score - sa[i]!.score)))).toBeGreaterThan(1e-4);
    // A reset forgets the ranking with the rest.
    await a.reset();
    await a.click('hom-02b');
    expect((await store.load()).events.at(-1)!.ranked).toBeUndefined();
  });

  it('survives a flood of 10,000 clicks without blocking the event loop or exploding', async () => {
    await useBackend('wasm');
    const rec = await make({ backend: 'wasm' });
    // A task of the page's own at every turn of the event loop (Node's check phase, where the
    // learning's yields resume too), noting how many clicks were learned by then. Counted in turns,
    // not in time: a timer's count followed the machine's speed (1 ms apart at least) and fell
    // under a fixed bound on a fast run.
    const learnedAt: number[] = [];
    let running = true;
    const tick = (): void => {
      learnedAt.push(rec.stats().clicks);
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const all: Promise<void>[] = [];
    for (let i = 0; i < 10_000; i++) all.push(rec.click(i % 100 === 0 ? 'toy-03b' : 'kit-01a'));
    await Promise.all(all);
    running = false;
    const st = rec.stats();
    expect(st.clicks).toBe(10_000);
    expect(Number.isFinite(st.deltaNorm)).toBe(true);
    // Learning yielded to the event loop every 32 clicks at most instead of running as one long
    // task: the page's task ran between any two runs of 32.
    const most = Math.max(...learnedAt.slice(1).map((c, j) => c - learnedAt[j]!));
    expect(most).toBeLessThanOrEqual(32);
    expect(learnedAt.length).toBeGreaterThanOrEqual(10_000 / 32);
    // The head is still responsive: a few clicks on another department take over the rail.
    for (const id of ['sta-01a', 'sta-02a', 'sta-03a', 'sta-04a']) await rec.click(id);
    expect(share(await rec.recommend({ k: 10 }), 'Stationery')).toBeGreaterThanOrEqual(0.5);
    await useBackend('cpu');
  });

  it('keeps the tensor count flat across 1,000 clicks through the public API', async () => {
    const rec = await make();
    await rec.click('kit-01a');
    await rec.recommend();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      await rec.click(catalog[(i * 37) % catalog.length]!.id);
      if (i % 50 === 0) {
        rec.impression((await rec.recommend()).map((r) => r.id));
        rec.stats();
      }
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('bad input: a clear, typed error, and no state changed', () => {
  // A catalogue with some usable items is accepted with a warning (test/reliability.test.ts);
  // these have none.
  it.each([
    ['a missing id', [{ title: 'A' }], /has no id/],
    ['an empty title', [{ id: 'a', title: '  ' }], /empty title/],
    ['a non-string title', [{ id: 'a', title: 5 }], /non-string title/],
    ['a non-finite price', [{ id: 'a', title: 'A', price: Number.NaN }], /price NaN.*finite number/],
    ['an empty catalogue', [], /empty/],
    ['not an array', { id: 'a' }, /must be a JSON array/],
  ])('rejects a catalogue with %s', async (_name, bad, message) => {
    const err = await createRecommender({ catalog: bad as Item[], modelUrl: MODELS, backend: 'cpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as Error).message).toMatch(message);
  });

  it('rejects a click on an unknown id and learns nothing', async () => {
    const rec = await make();
    await rec.click('kit-01a');
    const before = await rec.recommend();
    const normBefore = rec.stats().deltaNorm;
    await expect(rec.click('no-such-item')).rejects.toThrow(UnknownItemError);
    await expect(rec.click('no-such-item')).rejects.toThrow(/Unknown item id "no-such-item".*same ids as the catalogue/);
    expect(() => rec.impression(['kit-01a', 'nope'])).toThrow(UnknownItemError);
    expect(rec.stats()).toMatchObject({ clicks: 1, deltaNorm: normBefore });
    expect((await rec.recommend()).map((r) => r.id)).toEqual(before.map((r) => r.id));
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects recommend with k = %s', async (k) => {
    const rec = await make();
    await expect(rec.recommend({ k })).rejects.toThrow(ArgumentError);
    await expect(rec.recommend({ k })).rejects.toThrow(/k to be a positive integer/);
  });

  it('rejects an unknown backend or storage, listing the valid values', async () => {
    await expect(createRecommender({ catalog, modelUrl: MODELS, backend: 'tpu' as 'cpu' })).rejects.toThrow(
      /'auto', 'webgpu', 'wasm', 'webgl', 'cpu'/,
    );
    await expect(createRecommender({ catalog, modelUrl: MODELS, storage: 'disk' as 'memory' })).rejects.toThrow(/'indexeddb', 'memory'/);
  });
});
