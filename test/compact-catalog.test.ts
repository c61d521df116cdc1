/**
 * A compacted catalogue (src/core/catalog.ts, `compactCatalog`): the file's text deflated in
 * blocks gives every item exactly as the file does, in any order of asking, items larger than a
 * block included, while holding far fewer bytes; and a swappable catalogue takes only an equal one.
 */
import * as fflate from 'fflate';
import { describe, expect, it, vi } from 'vitest';
import type { Catalog } from '../src/core/catalog.js';
import {
  buildCategories,
  catalogAhead,
  catalogOverText,
  checkCategories,
  compactCatalog,
  compactText,
  compactParsed,
  COMPACT_BLOCK_BYTES,
  lazyCatalogFrom,
  NO_CATEGORY,
  noCategory,
  swappable,
  validateCatalog,
} from '../src/core/catalog.js';
import { IdTable } from '../src/core/id-table.js';
import type { BlockBatch, BlockDeflater, DeflatedBlocks } from '../src/core/deflate-blocks.js';
import { deflateBlocks, joinBlocks } from '../src/core/deflate-blocks.js';
import { JsonBounds, parseJsonArraySliced } from '../src/core/json-array.js';
import { mulberry32 } from '../src/core/rng.js';
import { Slicer } from '../src/core/slice.js';

/** A file of n items (some odd, a few larger than a block, one invalid) and what a load finds in it. */
async function file(n: number): Promise<{ bytes: Uint8Array; bounds: Uint32Array; ids: IdTable; skipped: string[]; items: unknown[] }> {
  const rand = mulberry32(3);
  const words = ['oak', 'mug', 'lamp', 'garden', 'tent', 'blue', 'tea', 'kettle', '"quoted"', 'naïve', '😀', 'a,b', '}{'];
  const raw: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const len = i % 97 === 5 ? 18_000 : 4 + Math.floor(rand() * 6);
    const title = Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]).join(' ');
    raw.push(
      i === 11
        ? { id: 'bad', title: '' }
        : { id: i % 3 ? `sku-${i}` : i, title, price: Math.round(rand() * 1e4) / 100, category: `Dept ${i % 7}` },
    );
  }
  const bytes = new TextEncoder().encode(JSON.stringify(raw, null, i2(n)));
  const elements = new JsonBounds();
  const parsed = await parseJsonArraySliced(bytes, new Slicer(), elements);
  const catalog = validateCatalog(parsed);
  const b = elements.view();
  const bounds = new Uint32Array(2 * catalog.size);
  for (let i = 0; i < catalog.size; i++) {
    bounds[2 * i] = b[catalog.rawIndex[i]!]! + 1;
    bounds[2 * i + 1] = b[catalog.rawIndex[i]! + 1]!;
  }
  const ids = await IdTable.build(catalog.id, catalog.size, new Slicer());
  return { bytes, bounds, ids, skipped: [...catalog.skipped], items: [...catalog.items] };
}

const i2 = (n: number): number => n % 2; // indented on odd sizes: whitespace between items

// The compaction's deflate, counted (the module's own function).
vi.mock('fflate', async (importOriginal) => {
  const m = await importOriginal<typeof fflate>();
  return { ...m, deflateSync: vi.fn(m.deflateSync), inflateSync: vi.fn(m.inflateSync) };
});

describe('catalogAhead', () => {
  it('answers ids at once, items only once its bytes are filled in, and then as the file does', async () => {
    const f = await file(500);
    const ahead = catalogAhead(f.ids, f.bounds, f.skipped);
    const c = ahead.catalog;
    expect(c.size).toBe(f.items.length);
    expect(c.indexOf(c.id(7))).toBe(7);
    expect(c.held).toEqual({ form: 'file', bytes: 0 });
    expect(() => c.item(0)).toThrow(/before the catalogue's file was read/);
    let materialised = false;
    const waiting = c.materialise(new Slicer()).then(() => (materialised = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(materialised).toBe(false);
    // Bytes the bounds do not fit change nothing.
    expect(ahead.fill(f.bytes.subarray(0, 10))).toBe(false);
    expect(() => c.item(0)).toThrow();
    expect(ahead.fill(f.bytes)).toBe(true);
    expect(c.held).toEqual({ form: 'file', bytes: f.bytes.length });
    expect(c.item(3)).toEqual(f.items[3]);
    await waiting;
    expect(c.items).toEqual(f.items);
  });

  it('takes a compacted text instead of the bytes, as the catalogue over it gives it, and refuses one that does not hold its items', async () => {
    const f = await file(500);
    const text = await compactText(f.bytes, f.bounds, f.ids.size, new Slicer());
    const ahead = catalogAhead(f.ids, f.bounds, f.skipped);
    const c = ahead.catalog;
    let materialised = false;
    const waiting = c.materialise(new Slicer()).then(() => (materialised = true));
    // Blocks that hold one item fewer than the catalogue: refused, nothing changed.
    const short = { ...text, blocks: { ...text.blocks, counts: Uint32Array.from(text.blocks.counts, (x, b) => (b === 0 ? x - 1 : x)) } };
    expect(await ahead.fillText(short)).toBe(false);
    expect(c.held).toEqual({ form: 'file', bytes: 0 });
    expect(() => c.item(0)).toThrow(/before the catalogue's file was read/);
    await new Promise((r) => setTimeout(r, 10));
    expect(materialised).toBe(false);
    expect(await ahead.fillText(text)).toBe(true);
    const over = await catalogOverText(text, f.ids, f.skipped, null);
    expect(c.held).toEqual(over.held);
    expect(c.held.form).toBe('compressed');
    expect(c.item(499 - 11)).toEqual(f.items[499 - 11]);
    await waiting;
    expect(c.items).toEqual(f.items);
    // Filled once: a second text or the bytes after it are not taken.
    expect(await ahead.fillText(text)).toBe(false);
  });

  it('fails a wait for bytes that will not come', async () => {
    const f = await file(3);
    const ahead = catalogAhead(f.ids, f.bounds, f.skipped);
    const waiting = ahead.catalog.materialise(new Slicer());
    ahead.fail(new Error('not the file'));
    await expect(waiting).rejects.toThrow('not the file');
  });
});

describe('compactCatalog', () => {
  it('gives every item as the file does, in any order, and holds a fraction of the bytes', async () => {
    for (const n of [1, 2, 500, 3001]) {
      const f = await file(n);
      const plain = lazyCatalogFrom(f.bytes, f.ids, f.bounds, f.skipped);
      const compact = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer());
      expect(plain.held).toEqual({ form: 'file', bytes: f.bytes.length });
      expect(compact.held.form).toBe('compressed');
      if (n >= 500) expect(compact.held.bytes).toBeLessThan(f.bytes.length / 2.5);
      expect(compact.size).toBe(f.items.length);
      expect(compact.skipped).toEqual(f.skipped);
      const order = Array.from({ length: compact.size }, (_, i) => i);
      const rand = mulberry32(n);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const i of order) {
        expect(compact.item(i)).toEqual(f.items[i]);
        expect(compact.indexOf(compact.id(i))).toBe(i);
      }
      expect(compact.items).toEqual(f.items);
      // Every item parsed: the text is let go.
      expect(compact.held).toEqual({ form: 'parsed', bytes: 0 });
      expect(compact.item(compact.size - 1)).toEqual(f.items[compact.size - 1]);
      expect(() => compact.item(compact.size)).toThrow(RangeError);
    }
  });

  it('yields to the page between the copies of its blocks into one buffer, not only between deflates', async () => {
    const f = await file(3001);
    const deflates = vi.mocked(fflate.deflateSync);
    deflates.mockClear();
    let yields = 0;
    // A slice of 0 ms: every chance to yield is taken, and counted.
    const slicer = new Slicer(0, () => {
      yields++;
      return Promise.resolve();
    });
    const compact = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, slicer);
    const blocks = deflates.mock.calls.length;
    expect(blocks).toBeGreaterThan(3);
    // One after each block's deflate, and one after each block's copy into the packed buffer.
    expect(yields).toBeGreaterThanOrEqual(2 * blocks);
    expect(compact.items).toEqual(f.items);
  });

  it('inflates a small block to show an item, and holds no more than large blocks would', async () => {
    const f = await file(3001);
    const compact = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer());
    const inflates = vi.mocked(fflate.inflateSync);
    inflates.mockClear();
    // Items of ordinary size, far apart, some just before an item larger than a block: each is a block of its own to inflate.
    const asked = [40, 391, 900, 1700, 2500, 2990];
    for (const i of asked) {
      expect(JSON.stringify(f.items[i]).length).toBeLessThan(200);
      expect(compact.item(i)).toEqual(f.items[i]);
    }
    expect(inflates).toHaveBeenCalledTimes(asked.length);
    // What one shown item costs: at most 32 KiB of text inflated (it was 64 KiB and more).
    for (const [, o] of inflates.mock.calls) expect((o as { out: Uint8Array }).out.length).toBeLessThanOrEqual(32 * 1024);
    // The same text in blocks of 64 KiB with no dictionary, as before: the small blocks hold no more.
    const { deflateSync } = await vi.importActual<typeof fflate>('fflate');
    const enc = new TextEncoder();
    let large = 0;
    for (let i = 0; i < f.items.length;) {
      const parts: string[] = [];
      let size = 0;
      do {
        const t = new TextDecoder().decode(f.bytes.subarray(f.bounds[2 * i], f.bounds[2 * i + 1]));
        parts.push(t);
        size += t.length + 1;
        i++;
      } while (i < f.items.length && size < 64 * 1024);
      large += deflateSync(enc.encode(parts.join('\u0000') + '\u0000'), { level: 6 }).length;
    }
    expect(compact.held.bytes).toBeLessThanOrEqual(large * 1.05);
  });

  it('gives an item larger than a block a block of its own', async () => {
    const f = await file(300);
    const big = f.items.findIndex((x) => JSON.stringify(x).length > COMPACT_BLOCK_BYTES);
    expect(big).toBeGreaterThan(0);
    const compact = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer());
    expect(compact.item(big)).toEqual(f.items[big]);
    expect(compact.item(big - 1)).toEqual(f.items[big - 1]);
    expect(compact.item(big + 1)).toEqual(f.items[big + 1]);
  });

  it('compacts parsed items as well as a file: the same items, the text let go', async () => {
    const f = await file(3001);
    // A lone surrogate and a control character survive being written back as JSON.
    f.items[7] = { ...(f.items[7] as object), title: 'lone \ud800 surrogate', description: 'tab\there, nul\u0000 too' };
    const eager = validateCatalog(f.items);
    const compact = await compactParsed(eager, f.ids, new Slicer());
    expect(compact.held.form).toBe('compressed');
    expect(compact.held.bytes).toBeLessThan(new TextEncoder().encode(JSON.stringify(f.items)).length / 2.5);
    for (let i = compact.size - 1; i >= 0; i -= 7) expect(compact.item(i)).toEqual(f.items[i]);
    expect(compact.items).toEqual(f.items);
    await expect(compactParsed(validateCatalog(f.items.slice(1)), f.ids, new Slicer())).rejects.toThrow(RangeError);
  });

  it('is the compacted text and the catalogue over it, which refuses blocks that do not fit together', async () => {
    const f = await file(700);
    const text = await compactText(f.bytes, f.bounds, f.ids.size, new Slicer());
    const whole = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer());
    const over = await catalogOverText(text, f.ids, f.skipped, null);
    expect(over.held).toEqual(whole.held);
    expect(over.items).toEqual(f.items);
    const { blocks } = text;
    const m = blocks.ends.length;
    expect(m).toBeGreaterThan(2);
    const bad: [string, typeof blocks][] = [
      ['an end past the text', { ...blocks, ends: Uint32Array.from(blocks.ends, (e, b) => (b === m - 1 ? e + 1 : e)) }],
      ['ends that go back', { ...blocks, ends: Uint32Array.from(blocks.ends, (e, b) => (b === 0 ? blocks.ends[1]! + 1 : e)) }],
      ['a block missing its size', { ...blocks, raw: blocks.raw.subarray(1) }],
      ['more items than the catalogue', { ...blocks, counts: Uint32Array.from(blocks.counts, (x, b) => (b === 1 ? x + 1 : x)) }],
    ];
    for (const [why, b] of bad) {
      await expect(catalogOverText({ blocks: b, dictionary: text.dictionary }, f.ids, f.skipped, null), why).rejects.toThrow(
        /do not fit together|hold \d+ items of/,
      );
    }
  });

  it('refuses bounds that pass the end of the file', async () => {
    const f = await file(50);
    await expect(compactCatalog(f.bytes.subarray(0, 100), f.ids, f.bounds, f.skipped, new Slicer())).rejects.toThrow(RangeError);
  });
});

describe('compactCatalog with a deflater elsewhere (a worker)', () => {
  /** A deflater that deflates each batch as the compaction's worker does, and counts. */
  async function counted(failAt = Infinity): Promise<{ deflater: BlockDeflater; batches: BlockBatch[]; closed: () => number }> {
    const { deflateSync } = await vi.importActual<typeof fflate>('fflate');
    const batches: BlockBatch[] = [];
    const kept: DeflatedBlocks[] = [];
    let closed = 0;
    return {
      batches,
      closed: () => closed,
      deflater: {
        add: (b) => {
          batches.push(b);
          if (batches.length > failAt) return Promise.reject(new Error('the worker died'));
          kept.push(deflateBlocks(b, deflateSync));
          return Promise.resolve(b);
        },
        finish: () => Promise.resolve(joinBlocks(kept)),
        close: () => void closed++,
      },
    };
  }

  it("leaves every block's deflate to it, in batches, and holds the blocks the page would make", async () => {
    for (const n of [1, 500, 3001]) {
      const f = await file(n);
      const c = await counted();
      const deflates = vi.mocked(fflate.deflateSync);
      deflates.mockClear();
      const there = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer(), null, c.deflater);
      expect(deflates).not.toHaveBeenCalled();
      expect(c.closed()).toBe(1);
      if (n === 3001) expect(c.batches.length).toBeGreaterThan(2);
      // About half a megabyte of text a batch: one item larger than a block, at most, goes past it.
      for (const b of c.batches) expect(b.text.length).toBeLessThan(512 * 1024 + 20_000 * 12);
      // The page fills the same few buffers again: two in flight, and a larger one for a batch that needs it.
      expect(new Set(c.batches.map((b) => b.text.buffer)).size).toBeLessThanOrEqual(3);
      const here = await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer());
      expect(there.held).toEqual(here.held);
      for (let i = 0; i < f.items.length; i += 13) expect(there.item(i)).toEqual(f.items[i]);
      expect(there.items).toEqual(f.items);
    }
  });

  it('fails where the deflater fails, and closes it', async () => {
    const f = await file(3001);
    const c = await counted(1);
    await expect(compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer(), null, c.deflater)).rejects.toThrow('the worker died');
    expect(c.closed()).toBe(1);
  });

  it('deflateBlocks refuses bounds that pass the end of its text; joinBlocks keeps every block in order', () => {
    const text = new TextEncoder().encode('{"id":"a"}{"id":"b"}');
    const dictionary = new Uint8Array(0);
    expect(() => deflateBlocks({ text, bounds: Uint32Array.of(0, 10, 10, 30), dictionary }, fflate.deflateSync)).toThrow(RangeError);
    const ok = deflateBlocks({ text, bounds: Uint32Array.of(0, 10, 10, 20), dictionary }, fflate.deflateSync);
    expect(Array.from(ok.counts)).toEqual([2]);
    expect(Array.from(ok.raw)).toEqual([22]);
    expect(new TextDecoder().decode(fflate.inflateSync(ok.packed))).toBe('{"id":"a"}\u0000{"id":"b"}\u0000');
    const one = deflateBlocks({ text, bounds: Uint32Array.of(10, 20), dictionary }, fflate.deflateSync);
    const both = joinBlocks([ok, one]);
    expect(Array.from(both.counts)).toEqual([2, 1]);
    expect(Array.from(both.raw)).toEqual([22, 11]);
    expect(both.ends[1]).toBe(both.packed.length);
    expect(new TextDecoder().decode(fflate.inflateSync(both.packed.subarray(both.ends[0], both.ends[1])))).toBe('{"id":"b"}\u0000');
  });
});

describe('category tables', () => {
  it("give every item's category without parsing it, and are checked before use", async () => {
    const f = await file(400);
    // Some items without a category.
    const items = f.items.map((x, i) => (i % 5 === 2 ? { ...(x as object), category: undefined } : x)) as { category?: string }[];
    const eager = validateCatalog(items);
    const table = (await buildCategories(eager, new Slicer()))!;
    expect(table.names).toEqual([...new Set(items.map((x) => x.category).filter((c) => c !== undefined))]);
    // A few categories: one byte an item, the largest value meaning none.
    expect(table.codes).toBeInstanceOf(Uint8Array);
    expect(table.codes.filter((c) => c === noCategory(table.codes))).toHaveLength(items.filter((x) => x.category === undefined).length);
    const bytes = new TextEncoder().encode(JSON.stringify(items));
    const g = { ...f, bytes };
    const elements = new JsonBounds();
    await parseJsonArraySliced(bytes, new Slicer(), elements);
    const b = elements.view();
    const bounds = Uint32Array.from({ length: 2 * eager.size }, (_, k) => b[eager.rawIndex[k >> 1]! + (k & 1)]! + (k & 1 ? 0 : 1));
    for (const made of [
      lazyCatalogFrom(g.bytes, g.ids, bounds, g.skipped, table),
      await compactCatalog(g.bytes, g.ids, bounds, g.skipped, new Slicer(), table),
    ]) {
      const form = made.held.form;
      for (let i = 0; i < made.size; i++) expect(made.category(i)).toBe(eager.item(i).category);
      // Not one item parsed for it: the text is still held.
      expect(made.held.form).toBe(form);
      expect(() => made.category(made.size)).toThrow(RangeError);
    }
    // Without a table the category comes from the parsed item.
    const plain = lazyCatalogFrom(g.bytes, g.ids, bounds, g.skipped);
    expect(plain.category(3)).toBe(eager.item(3).category);
    await checkCategories(table, eager.size, new Slicer());
    for (const bad of [
      { ...table, codes: table.codes.subarray(1) },
      { ...table, codes: table.codes.map((c, i) => (i === 9 ? table.names.length : c)) },
      { ...table, codes: Int32Array.from(table.codes) as unknown as Uint16Array },
      { ...table, names: [...table.names.slice(1), 7 as unknown as string] },
    ]) {
      await expect(checkCategories(bad, eager.size, new Slicer())).rejects.toThrow(RangeError);
    }
  });
});

describe('swappable', () => {
  it('follows the swap, functions taken earlier included, and takes only a catalogue with the same items', async () => {
    const f = await file(200);
    const plain = lazyCatalogFrom(f.bytes, f.ids, f.bounds, f.skipped);
    const s = swappable(plain);
    const indexOf = s.indexOf;
    expect(s.held.form).toBe('file');
    s.swap(await compactCatalog(f.bytes, f.ids, f.bounds, f.skipped, new Slicer()));
    expect(s.held.form).toBe('compressed');
    expect(indexOf('sku-7')).toBe(f.ids.indexOf('sku-7'));
    expect(s.item(7)).toEqual(f.items[7]);
    const other: Catalog = validateCatalog(f.items.slice(1));
    expect(() => s.swap(other)).toThrow(/same items/);
    expect(s.held.form).toBe('compressed');
  });

  it('take two bytes an item where a catalogue has 255 categories or more', async () => {
    const items = Array.from({ length: 600 }, (_, i) => ({ id: `p${i}`, title: `t${i}`, ...(i % 7 ? { category: `c${i % 300}` } : {}) }));
    const eager = validateCatalog(items);
    const table = (await buildCategories(eager, new Slicer()))!;
    expect(table.codes).toBeInstanceOf(Uint16Array);
    expect(table.codes.filter((c) => c === NO_CATEGORY)).toHaveLength(items.filter((x) => !('category' in x)).length);
    await checkCategories(table, eager.size, new Slicer());
    const bytes = new TextEncoder().encode(JSON.stringify(items));
    const elements = new JsonBounds();
    await parseJsonArraySliced(bytes, new Slicer(), elements);
    const b = elements.view();
    const bounds = Uint32Array.from({ length: 2 * eager.size }, (_, k) => b[eager.rawIndex[k >> 1]! + (k & 1)]! + (k & 1 ? 0 : 1));
    const ids = await IdTable.build((i) => eager.item(i).id, eager.size, new Slicer());
    const made = lazyCatalogFrom(bytes, ids, bounds, eager.skipped, table);
    for (let i = 0; i < made.size; i++) expect(made.category(i)).toBe(eager.item(i).category);
  });
});
