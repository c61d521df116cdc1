/** A recommender fuses the shop delta: base + ψ + φ, with the last good delta kept through bad ones. */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Recommender } from '../src/index.js';
import { createRecommender } from '../src/index.js';
import { ShopDeltaClient } from '../src/core/shop-delta-client.js';
import { publishDelta } from '../src/cli/stream/publish.js';
import { defaultHead, writeHeadModel } from '../src/cli/train/head-io.js';
import type { EncoderManifest } from '../src/core/encoder.js';
import { demoCatalog, MODELS, tempFolder, useBackend } from './helpers.js';

const catalog = demoCatalog();
const open: Recommender[] = [];
afterEach(() => open.splice(0).forEach((r) => r.dispose()));
beforeAll(async () => {
  await useBackend('cpu');
});

const version = (JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8')) as { version: string }).version;

/** A copy of the shipped model folder (without the encoder's large files being rewritten). */
function modelCopy(): string {
  const dir = join(tempFolder('clickwise-delta-'), 'model');
  cpSync(MODELS, dir, { recursive: true });
  return dir;
}

async function make(
  modelUrl: string,
  extra: Partial<Parameters<typeof createRecommender>[0]> = {},
): Promise<{ rec: Recommender; warnings: string[] }> {
  const warnings: string[] = [];
  const rec = await createRecommender({
    catalog,
    modelUrl,
    backend: 'cpu',
    storage: 'memory',
    onWarning: (w) => warnings.push(w.message),
    ...extra,
  });
  open.push(rec);
  return { rec, warnings };
}

/**
 * A copy of the model whose base knows the first 200 items, each with a bias of about 5; the rest
 * are new to it (bias 0). `head` writes that base with the places given; `ids` lists a
 * recommender's ids as the head ranks them.
 */
function shopOfNewProducts(): {
  model: string;
  head: (places: { newSlots?: number; launchSlots?: number }) => void;
  baseIds: string[];
  known: Set<string>;
  ids: (rec: Recommender, o?: Parameters<Recommender['recommend']>[0]) => Promise<string[]>;
} {
  const model = modelCopy();
  const encoder = JSON.parse(readFileSync(join(MODELS, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
  const baseIds = catalog.slice(0, 200).map((i) => i.id);
  const bias = Float32Array.from({ length: 200 }, (_, j) => 5 + j / 1000);
  return {
    model,
    head: (places) => writeHeadModel(join(model, 'head'), { ...defaultHead(encoder), ids: baseIds, bias, residual: null, ...places }),
    baseIds,
    known: new Set(baseIds),
    ids: async (rec, o = {}) => (await rec.recommend({ diversify: false, ...o })).map((r) => r.id),
  };
}

/** Waits until a warning has been given, then over several more looks checks it stays one. */
async function seenOnce(count: () => number): Promise<void> {
  await vi.waitFor(() => expect(count()).toBeGreaterThan(0), { timeout: 20_000, interval: 20 });
  await new Promise((r) => setTimeout(r, 200));
  expect(count()).toBe(1);
}

const nextUpdate = (rec: Recommender): Promise<void> =>
  new Promise((ok) => {
    const off = rec.on('update', (u) => {
      if (u.source === 'shop') {
        off();
        ok();
      }
    });
  });

describe('the shop delta in the recommender', () => {
  it('fuses a published delta into every score and reports it; no delta means no warning', async () => {
    const model = modelCopy();
    const plain = await make(model);
    expect(plain.rec.stats().shopDelta).toBeNull();
    expect(plain.warnings).toEqual([]);
    const before = await plain.rec.recommend({ k: catalog.length, diversify: false });
    const last = before[before.length - 1]!;
    publishDelta(model, {
      baseVersion: version,
      seq: 1,
      ids: [last.id, 'not-in-this-catalogue'],
      bias: [40, 3],
      events: 12,
      eventsThrough: Date.parse('2026-11-01T00:00:00Z'),
    });
    const { rec, warnings } = await make(model);
    expect(warnings).toEqual([]);
    expect(rec.stats().shopDelta).toEqual({
      seq: 1,
      baseVersion: version,
      items: 1,
      recentItems: 0,
      eventsThrough: '2026-11-01T00:00:00.000Z',
    });
    const top = await rec.recommend({ k: 3, diversify: false });
    expect(top[0]!.id).toBe(last.id);
    expect(top[0]!.score).toBeCloseTo(last.score + 40, 3);
  });

  it('reads a delta that lists the items the base knows by their row in it, as one that lists them by id', async () => {
    const model = modelCopy();
    const encoder = JSON.parse(readFileSync(join(MODELS, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    // A base that knows the first 200 items of the catalogue, in reverse order (its rows are not
    // the catalogue's indices), with no biases.
    const baseIds = catalog
      .slice(0, 200)
      .map((i) => i.id)
      .reverse();
    writeHeadModel(join(model, 'head'), { ...defaultHead(encoder), ids: baseIds, bias: new Float32Array(baseIds.length), residual: null });
    const { rec: plain } = await make(model);
    const before = new Map((await plain.recommend({ k: catalog.length, diversify: false })).map((r) => [r.id, r.score]));
    // Two items the base knows (by row), one new to it and one this catalogue lacks (by id).
    const [x, y, fresh] = [catalog[7]!.id, catalog[150]!.id, catalog[250]!.id];
    const row = new Map(baseIds.map((id, j) => [id, j]));
    const head = JSON.parse(readFileSync(join(model, 'head', 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    const baseItems = head.files.find((f) => f.path === 'items.txt')!.sha256;
    const m = publishDelta(model, {
      baseVersion: version,
      seq: 1,
      ids: [x, y, fresh, 'not-in-this-catalogue'],
      bias: [30, -20, 25, 3],
      baseRow: (id) => row.get(id),
      baseItems,
      events: 4,
      eventsThrough: null,
    }).manifest;
    expect(m.baseItems).toBe(baseItems);
    const payload = JSON.parse(readFileSync(join(model, 'delta', m.path), 'utf8')) as { psi: { rows: number[]; ids: string[] } };
    // In ascending order of rows: y's (the base lists the catalogue backwards), then x's, as a gap.
    expect(payload.psi.rows).toEqual([row.get(y)!, row.get(x)! - row.get(y)!]);
    expect(payload.psi.ids).toEqual([fresh, 'not-in-this-catalogue']);
    const { rec } = await make(model);
    expect(rec.stats().shopDelta).toMatchObject({ seq: 1, items: 3 });
    const after = new Map((await rec.recommend({ k: catalog.length, diversify: false })).map((r) => [r.id, r.score]));
    expect(after.get(x)! - before.get(x)!).toBeCloseTo(30, 3);
    expect(after.get(y)! - before.get(y)!).toBeCloseTo(-20, 3);
    expect(after.get(fresh)! - before.get(fresh)!).toBeCloseTo(25, 3);
    expect(after.get(catalog[8]!.id)! - before.get(catalog[8]!.id)!).toBeCloseTo(0, 3);
    // A delta whose rows are of another item list (a base of the same version made again, its
    // items in another order) is refused with a warning; the last good one stays.
    publishDelta(model, {
      baseVersion: version,
      seq: 2,
      ids: [x],
      bias: [5],
      baseRow: (id) => row.get(id),
      baseItems: 'f'.repeat(64),
      events: 5,
      eventsThrough: null,
    });
    const warned: string[] = [];
    const { rec: other } = await make(model, { onWarning: (w) => warned.push(w.message) });
    expect(warned.some((w) => /lists items by their row in a base item list \(items.txt f{64}\) that is not this page's/.test(w))).toBe(
      true,
    );
    expect(other.stats().shopDelta).toBeNull();
    // Without the list named, a delta is written by id alone, and read.
    const byId = publishDelta(model, {
      baseVersion: version,
      seq: 3,
      ids: [x],
      bias: [5],
      baseRow: (id) => row.get(id),
      events: 6,
      eventsThrough: null,
    });
    expect(JSON.parse(readFileSync(join(model, 'delta', byId.manifest.path), 'utf8'))).toMatchObject({ psi: { rows: [], ids: [x] } });
  });

  it('ranks the shopper’s own items by what the delta says sells now, where the base ships what sold lately', async () => {
    const model = modelCopy();
    const ids = catalog.map((i) => i.id);
    const encoder = JSON.parse(readFileSync(join(MODELS, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    // The content-only base, with no biases, and only the own-popularity weight mid-visit: the
    // shopper's own items rank by what sold lately. Lately a sold far better than b.
    const [a, b] = [ids[3]!, ids[8]!];
    const mix = new Array<number>(10).fill(0);
    mix[8] = 4;
    writeHeadModel(join(model, 'head'), {
      ...defaultHead(encoder),
      ids,
      bias: new Float32Array(ids.length),
      residual: null,
      recent: Float32Array.from(ids, (id) => (id === a ? 3 : id === b ? 0.5 : 0)),
      recentHalfLifeDays: 7,
      recentAt: Date.parse('2026-10-31T00:00:00Z'),
      // The stream's ψ is not trusted here; what sells now still comes with it.
      shopDeltaWeight: 0,
      mix,
    });
    const score = async (rec: Recommender, id: string): Promise<number> =>
      (await rec.recommend({ k: ids.length, diversify: false, includeViewed: true })).find((r) => r.id === id)!.score;
    // No per-click learning: φ's weights (of own popularity and of what sells now, whose values
    // the delta changes too) would move the gap by what the clicks taught them.
    const still = { head: { learningRate: 0 } };
    const { rec: before } = await make(model, still);
    await before.click(a);
    await before.click(b);
    const gapBefore = (await score(before, a)) - (await score(before, b));
    expect(gapBefore).toBeGreaterThan(0);
    // The stream job says b sells now, a no longer.
    publishDelta(model, {
      baseVersion: version,
      seq: 1,
      ids: [a],
      bias: [40],
      recent: { halfLifeDays: 7, ids: [b, 'not-in-this-catalogue'], values: [2.5, 9] },
      events: 40,
      eventsThrough: Date.parse('2026-11-01T00:00:00Z'),
    });
    const { rec, warnings } = await make(model, still);
    expect(warnings).toEqual([]);
    // The id this catalogue lacks is not counted.
    expect(rec.stats().shopDelta).toMatchObject({ seq: 1, items: 1, recentItems: 1 });
    await rec.click(a);
    await rec.click(b);
    // a loses 4 · 3 (its ψ has no weight), b gains 4 · (2.5 − 0.5).
    expect((await score(rec, a)) - (await score(rec, b))).toBeCloseTo(gapBefore - 4 * 3 - 4 * 2, 2);
  });

  it('ignores a delta of another base, a torn payload and a missing one with one warning each, keeping the last good one', async () => {
    const model = modelCopy();
    const ids = catalog.map((i) => i.id);
    publishDelta(model, { baseVersion: version, seq: 1, ids: [ids[5]!], bias: [30], events: 1, eventsThrough: null });
    const { rec, warnings } = await make(model, { shopDeltaRefreshMs: 20 });
    expect(rec.stats().shopDelta?.seq).toBe(1);
    const good = await rec.recommend({ k: 1, diversify: false });
    expect(good[0]!.id).toBe(ids[5]);
    // Another base's delta: one warning however many times it is seen.
    publishDelta(model, { baseVersion: 'some-other-base', seq: 2, ids: [ids[6]!], bias: [60], events: 1, eventsThrough: null });
    await seenOnce(() => warnings.filter((w) => /learned on base some-other-base/.test(w)).length);
    expect(rec.stats().shopDelta?.seq).toBe(1);
    // A torn payload (its bytes no longer match the manifest's sha256).
    const m = publishDelta(model, { baseVersion: version, seq: 3, ids: [ids[7]!], bias: [60], events: 1, eventsThrough: null }).manifest;
    writeFileSync(join(model, 'delta', m.path), '{"format":1,"baseVersion":');
    await seenOnce(() => warnings.filter((w) => /cannot be used.*Checksum mismatch/.test(w)).length);
    expect(rec.stats().shopDelta?.seq).toBe(1);
    expect((await rec.recommend({ k: 1, diversify: false }))[0]!.id).toBe(ids[5]);
    // A good one again is taken at the next look.
    const applied = nextUpdate(rec);
    publishDelta(model, { baseVersion: version, seq: 4, ids: [ids[8]!], bias: [60], events: 2, eventsThrough: null });
    await applied;
    expect(rec.stats().shopDelta?.seq).toBe(4);
    expect((await rec.recommend({ k: 1, diversify: false }))[0]!.id).toBe(ids[8]);
  });

  it('weighs the delta by the head’s shopDeltaWeight, and fetches none when the weight is 0', async () => {
    const model = modelCopy();
    const before = await (await make(model)).rec.recommend({ k: catalog.length, diversify: false });
    const last = before[before.length - 1]!;
    publishDelta(model, { baseVersion: version, seq: 1, ids: [last.id], bias: [40], events: 1, eventsThrough: null });
    const headManifest = join(model, 'head', 'manifest.json');
    const original = JSON.parse(readFileSync(headManifest, 'utf8')) as Record<string, unknown>;
    writeFileSync(headManifest, JSON.stringify({ ...original, shopDeltaWeight: 0.5 }));
    const half = await make(model);
    expect(half.rec.stats().shopDelta?.seq).toBe(1);
    const top = (await half.rec.recommend({ k: catalog.length, diversify: false })).find((r) => r.id === last.id)!;
    expect(top.score).toBeCloseTo(last.score + 20, 3);
    writeFileSync(headManifest, JSON.stringify({ ...original, shopDeltaWeight: 0 }));
    const asked: string[] = [];
    const none = await make(model, {
      fetcher: async (loc: string) => {
        asked.push(loc);
        return (await import('../src/core/model-io.js')).defaultFetcher(loc);
      },
    });
    expect(none.rec.stats().shopDelta).toBeNull();
    await new Promise((r) => setTimeout(r, 50));
    expect(asked.filter((loc) => loc.startsWith(join(model, 'delta')))).toEqual([]);
    expect(asked.length).toBeGreaterThan(0);
    // A base that trusts the delta on new products only still fetches it. This base knows no
    // product, so every one is new to it and takes that weight.
    writeFileSync(headManifest, JSON.stringify({ ...original, shopDeltaWeight: 0, shopDeltaWeightNew: 2 }));
    const newOnly = await make(model);
    expect(newOnly.rec.stats().shopDelta?.seq).toBe(1);
    const lifted = (await newOnly.rec.recommend({ k: catalog.length, diversify: false })).find((r) => r.id === last.id)!;
    expect(lifted.score).toBeCloseTo(last.score + 80, 3);
  });

  it('keeps the last places of a list for the best new products where the base asks for them and a delta is in force', async () => {
    const { model, head, known, ids } = shopOfNewProducts();
    head({ newSlots: 1 });
    // No delta yet: nothing tells the browser how the new products sell, and the list is the base's.
    const before = await ids((await make(model)).rec);
    expect(before).toHaveLength(10);
    expect(before.every((id) => known.has(id))).toBe(true);
    // The stream says a new product sells (ψ 2: still far below the known items' bias).
    const [fresh, other] = [catalog[catalog.length - 1]!.id, catalog[catalog.length - 2]!.id];
    publishDelta(model, { baseVersion: version, seq: 1, ids: [fresh, other], bias: [2, 1], events: 3, eventsThrough: null });
    const { rec } = await make(model);
    expect(rec.stats().shopDelta?.seq).toBe(1);
    const list = await ids(rec);
    expect(list).toEqual([...before.slice(0, 9), fresh]);
    // Its place is one kept for new products, and the list says so; no launch sells among the best here.
    expect((await rec.recommend({ diversify: false })).map((r) => r.place)).toEqual([...new Array<undefined>(9).fill(undefined), 'new']);
    // Two places in a list of twenty, and what the list leaves out is never put back.
    const long = await ids(rec, { k: 20 });
    expect(long.slice(18)).toEqual([fresh, other]);
    expect((await ids(rec, { exclude: [fresh] }))[9]).toBe(other);
    expect((await ids(rec, { filter: (item) => item.id !== fresh }))[9]).toBe(other);
    // A base that keeps no places ranks the new product by its score alone, below the known items.
    head({});
    const without = await ids((await make(model)).rec);
    expect(without.every((id) => known.has(id))).toBe(true);
    // Shared among a shopper's interests (here the items clicked: a catalogue without
    // departments, so each candidate goes to the click it is most like), the list is the one the
    // same shopper gets from a base without places, but for its last place.
    const plainCatalog = catalog.map(({ category: _, ...rest }) => rest);
    const clicked = [catalog[0]!.id, catalog[60]!.id, catalog[120]!.id];
    const sharedList = async (slots: number): Promise<string[]> => {
      head(slots > 0 ? { newSlots: slots } : {});
      const { rec: shopper } = await make(model, { catalog: plainCatalog });
      for (const id of clicked) await shopper.click(id);
      return (await shopper.recommend()).map((r) => r.id);
    };
    const plainShared = await sharedList(0);
    const withPlace = await sharedList(1);
    expect(known.has(withPlace[9]!)).toBe(false);
    expect(plainShared.every((id) => known.has(id))).toBe(true);
    expect(withPlace.slice(0, 9)).toEqual(plainShared.slice(0, 9));
  });

  it('gives a launch among the shop’s best sellers the last place of every list, where the base keeps places for launches', async () => {
    const { model, head, baseIds, known, ids } = shopOfNewProducts();
    head({ launchSlots: 1 });
    const before = await ids((await make(model)).rec);
    expect(before.every((id) => known.has(id))).toBe(true);
    const launch = catalog[catalog.length - 1]!.id;
    /** A delta whose figures of what sells now rank ten known items 10 … 1 and the launch at `sold`. */
    const publish = (seq: number, sold: number): void => {
      publishDelta(model, {
        baseVersion: version,
        seq,
        ids: [launch],
        bias: [0.5],
        events: 3,
        eventsThrough: null,
        recent: {
          halfLifeDays: 7,
          ids: [...baseIds.slice(0, 10), launch],
          values: [...Array.from({ length: 10 }, (_, j) => 10 - j), sold],
        },
      });
    };
    // The launch sells, but less than the shop's ten best sellers: no place, the base's list.
    publish(1, 0.5);
    expect(await ids((await make(model)).rec)).toEqual(before);
    // It sells among them: the last place of the list is its; one of twenty keeps it too.
    publish(2, 5.5);
    const { rec } = await make(model);
    expect(rec.stats().shopDelta?.seq).toBe(2);
    expect(await ids(rec)).toEqual([...before.slice(0, 9), launch]);
    // The list says why it is there: no click put it there.
    const places = (await rec.recommend({ diversify: false })).map((r) => r.place);
    expect(places).toEqual([...new Array<undefined>(9).fill(undefined), 'launch']);
    expect((await ids(rec, { k: 20 })).filter((id) => !known.has(id))).toEqual([launch]);
    // What the list leaves out is never put back.
    expect((await ids(rec, { exclude: [launch] })).every((id) => known.has(id))).toBe(true);
    // A base that keeps no places for launches ranks it by its score alone, below the known items.
    head({});
    expect(await ids((await make(model)).rec)).toEqual(before);
  });

  it('says an item is there because it sells now where that, not the clicks, put it there', async () => {
    const { model, baseIds } = shopOfNewProducts();
    const encoder = JSON.parse(readFileSync(join(MODELS, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
    // Known items with about the same bias; item 150 sold best lately, 40 a little, the rest nothing.
    const star = baseIds[150]!;
    const recent = Float32Array.from({ length: 200 }, (_, j) => (j === 150 ? 3 : j === 40 ? 0.5 : 0));
    const bias = Float32Array.from({ length: 200 }, (_, j) => 5 + j / 1000);
    const write = (startWeight: number): void => {
      writeHeadModel(join(model, 'head'), {
        ...defaultHead(encoder),
        ids: baseIds,
        bias,
        residual: null,
        recent,
        recentHalfLifeDays: 7,
        // Every feature 0 but what sells now at a visit's start.
        mix: [...new Array<number>(13).fill(0), startWeight],
      });
    };
    write(2);
    const { rec } = await make(model);
    // No click yet, a visit's start: the best seller leads, and the list says why.
    const list = await rec.recommend({ diversify: false });
    expect(list[0]!.id).toBe(star);
    expect(list[0]!.selling).toBe(true);
    expect(list[0]!.because).toEqual([]);
    // The one that sold a little comes next (5.04 + 2 × 0.5 against the others' 5.2 at most), for the same reason; no other.
    expect(list[1]!.id).toBe(baseIds[40]);
    expect(list.filter((r) => r.selling).map((r) => r.id)).toEqual([star, baseIds[40]]);
    // A base that gives it no weight: no item is there for it, and none says so.
    write(0);
    const { rec: plain } = await make(model);
    expect((await plain.recommend({ diversify: false })).filter((r) => r.selling)).toEqual([]);
  });

  it('warns once when a delta folder that was asked for has none, and never fetches with shopDelta: false', async () => {
    const model = modelCopy();
    const asked = await make(model, { shopDelta: join(model, 'delta/'), shopDeltaRefreshMs: 20 });
    await seenOnce(() => asked.warnings.filter((w) => /No shop delta at/.test(w)).length);
    publishDelta(model, { baseVersion: version, seq: 1, ids: [catalog[0]!.id], bias: [1], events: 1, eventsThrough: null });
    const off = await make(model, { shopDelta: false });
    expect(off.rec.stats().shopDelta).toBeNull();
  });
});

describe('ShopDeltaClient over HTTP', () => {
  it('asks again with the validators it got (a 304 costs no download), with no query string and no cookie', async () => {
    const model = modelCopy();
    const m = publishDelta(model, {
      baseVersion: version,
      seq: 1,
      ids: [catalog[0]!.id],
      bias: [1],
      events: 1,
      eventsThrough: null,
    }).manifest;
    const seen: { url: string; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      const file = join(model, 'delta', req.url!.replace('/delta/', ''));
      const etag = `"${m.sha256.slice(0, 16)}"`;
      if (req.url === '/delta/manifest.json' && req.headers['if-none-match'] === etag) {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { etag }).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const applied: number[] = [];
    const index = new Map(catalog.map((it, i) => [it.id, i]));
    const client = new ShopDeltaClient(
      `http://127.0.0.1:${port}/delta/`,
      version,
      { size: catalog.length, indexOf: (id) => index.get(id) },
      (_psi, info) => applied.push(info.seq),
      () => undefined,
      true,
    );
    expect(await client.refresh()).toBe('applied');
    expect(await client.refresh()).toBe('unchanged');
    server.close();
    expect(applied).toEqual([1]);
    expect(seen.map((s) => s.url)).toEqual(['/delta/manifest.json', `/delta/${m.path}`, '/delta/manifest.json']);
    expect(seen[2]!.headers['if-none-match']).toBe(`"${m.sha256.slice(0, 16)}"`);
    expect(seen.every((s) => s.headers.cookie === undefined && !s.url.includes('?'))).toBe(true);
  });
});
