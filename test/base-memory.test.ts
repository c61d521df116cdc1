/**
 * What a page keeps of its base once it is ready: the head holds the base aligned with the
 * catalogue, so the base as read (its residuals, its transitions over its own rows: tens of MB for
 * a base that knows 100,000 items) must be let go, while the shop delta still finds the base's ids.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRecommender } from '../src/index.js';
import type { Recommender } from '../src/index.js';
import { publishDelta } from '../src/cli/stream/publish.js';
import type { HeadModel } from '../src/core/model.js';
import type * as ModelModule from '../src/core/model.js';
import { demoCatalog, MODELS, tempFolder, useBackend, writeTrainedBase } from './helpers.js';

/** Every base read, as weak references to what it holds. */
const read = vi.hoisted(
  () => [] as { residual: WeakRef<object>; to: WeakRef<ArrayBuffer> | null; head: WeakRef<object>; ids: WeakRef<object> }[],
);
/** The residuals of every base aligned with a catalogue as one array of the catalogue's size (a page makes none). */
const aligned = vi.hoisted(() => [] as WeakRef<ArrayBuffer>[]);

vi.mock('../src/core/model.js', async (original) => {
  const m = await original<typeof ModelModule>();
  return {
    ...m,
    loadHeadModel: async (...args: Parameters<typeof m.loadHeadModel>): Promise<HeadModel> => {
      const head = await m.loadHeadModel(...args);
      // The residuals decoded, or read a row at a time where the file holds them (what a page asks for).
      const residual = head.residual?.buffer ?? head.residualRows;
      const later = head.transitionsLater;
      if (residual && (head.transitions || later)) {
        const entry: (typeof read)[number] = {
          residual: new WeakRef(residual),
          to: head.transitions ? new WeakRef(head.transitions.to.buffer as ArrayBuffer) : null,
          head: new WeakRef(head),
          ids: new WeakRef(head.itemIndex),
        };
        read.push(entry);
        // Transitions read after the head is made (a page's): their arrays once they are read.
        if (later)
          head.transitionsLater = async () => {
            const T = await later();
            if (T) entry.to = new WeakRef(T.to.buffer as ArrayBuffer);
            return T;
          };
      }
      return head;
    },
    alignBaseSteps: function* (...args: Parameters<typeof m.alignBaseSteps>) {
      const base = yield* m.alignBaseSteps(...args);
      if (base.residual) aligned.push(new WeakRef(base.residual.buffer as ArrayBuffer));
      return base;
    },
  };
});

/** A full garbage collection, on demand (V8's own, which Node exposes only behind a flag). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const catalog = demoCatalog();
const open: Recommender[] = [];
afterEach(() => open.splice(0).forEach((r) => r.dispose()));
beforeAll(async () => {
  await useBackend('cpu');
});

/** A copy of the shipped model whose base knows every item (see `writeTrainedBase`). */
function trainedModel(): string {
  const model = join(tempFolder('clickwise-base-memory-'), 'model');
  cpSync(MODELS, model, { recursive: true });
  writeTrainedBase(model, catalog);
  return model;
}

describe('a page with a base that knows every item', () => {
  it('lets go of the base as read once its head is made, and still scores with it and names its ids to the shop delta', async () => {
    const gc = collector();
    const model = trainedModel();
    let shown: () => void = () => undefined;
    // As on a page: the document's visibility, so that the shop delta is fetched again while the page is open.
    const rec = await createRecommender({
      catalog,
      modelUrl: model,
      backend: 'cpu',
      storage: 'memory',
      onWarning: () => undefined,
      visibility: { isVisible: () => true, onChange: (fn) => ((shown = fn), () => undefined) },
      // The folder a shop's stream job publishes to (none published yet).
      shopDelta: join(model, 'delta'),
      // The transitions' votes are checked below: the list waits for them however long they take.
      transitionsWaitMs: Infinity,
    });
    open.push(rec);
    expect(read.length).toBe(1);
    // The base's transitions drive what follows a click: an item's successors come first.
    await rec.click(catalog[10]!.id);
    const top = (await rec.recommend({ k: 10, diversify: false })).map((r) => r.id);
    expect(top).toContain(catalog[11]!.id);
    await new Promise((r) => setTimeout(r, 50));
    gc();
    expect(read[0]!.residual.deref()).toBeUndefined();
    expect(read[0]!.to).not.toBeNull();
    expect(read[0]!.to!.deref()).toBeUndefined();
    expect(read[0]!.head.deref()).toBeUndefined();
    // Nor its id map: the shop delta finds a row's item by the catalogue index the alignment gave it.
    expect(read[0]!.ids.deref()).toBeUndefined();
    // Nor did it ever hold the residuals as an array of every catalogue item (n × d floats: 256 MB
    // at 1,000,000 items, whatever share of them the base knows): they go into the item matrix
    // row by row, from the base's own rows.
    expect(aligned).toHaveLength(0);
    // The recommender works on, and a delta that names items by their row in the base is read.
    const before = (await rec.recommend({ k: catalog.length, diversify: false })).find((r) => r.id === catalog[40]!.id)!.score;
    const head = JSON.parse(readFileSync(join(model, 'head', 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string }[] };
    const { version } = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8')) as { version: string };
    const applied = new Promise<void>((ok) => {
      const off = rec.on('update', (u) => {
        if (u.source === 'shop') {
          off();
          ok();
        }
      });
    });
    const m = publishDelta(model, {
      baseVersion: version,
      seq: 1,
      ids: [catalog[40]!.id],
      bias: [30],
      baseRow: (id) => catalog.findIndex((i) => i.id === id),
      baseItems: head.files.find((f) => f.path === 'items.txt')!.sha256,
      events: 1,
      eventsThrough: null,
    }).manifest;
    expect(m.baseItems).toBeDefined();
    shown();
    await applied;
    expect(rec.stats().shopDelta).toMatchObject({ seq: 1, items: 1 });
    const after = (await rec.recommend({ k: catalog.length, diversify: false })).find((r) => r.id === catalog[40]!.id)!.score;
    expect(after - before).toBeCloseTo(30, 3);
  });
});
