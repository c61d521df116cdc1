/**
 * The saved form of a catalogue's ids (src/core/id-table.ts): every id found at its index and
 * nothing else found, odd ids included, through a save as structured data; and a damaged table
 * refused rather than used.
 */
import { describe, expect, it } from 'vitest';
import type { IdTableData } from '../src/core/id-table.js';
import { IdTable, withAsciiText } from '../src/core/id-table.js';
import { inRanges, Slicer } from '../src/core/slice.js';
import { buildCategories, checkBounds, checkCategories, validateCatalogSliced } from '../src/core/catalog.js';

const odd = (i: number): string =>
  i % 5 === 0 ? `a,"b"\n${i}` : i % 5 === 1 ? `sku-${i}` : i % 5 === 2 ? `€-${i}-😀` : i % 5 === 3 ? `${i}` : `SKU-${i}`;

describe('IdTable', () => {
  it('finds every id at its index, and no id that is not there', async () => {
    const s = new Slicer();
    for (const n of [1, 2, 3, 1000, 20_000]) {
      const ids = Array.from({ length: n }, (_, i) => odd(i));
      const made = await IdTable.build((i) => ids[i]!, n, s);
      // Through a copy, as IndexedDB hands it back.
      const back = await IdTable.check(structuredClone(made.saved), s);
      for (const t of [made, back]) {
        expect(t.size).toBe(n);
        for (let i = 0; i < n; i++) {
          expect(t.id(i)).toBe(ids[i]);
          expect(t.indexOf(ids[i]!)).toBe(i);
        }
        for (const absent of ['', 'sku-', `sku-${n + 7}`, `${ids[0]}x`, ids[0]!.slice(1), `${n}${n}`])
          expect(t.indexOf(absent)).toBeUndefined();
        expect(() => t.id(n)).toThrow(RangeError);
      }
      // At most three quarters full, and no more slots than that needs.
      expect(made.saved.slots.length).toBe(Math.ceil((4 * n) / 3));
    }
  });

  it('keeps one byte of length an id where ids are short, and wider lengths where one is long', async () => {
    const s = new Slicer();
    const short = await IdTable.build((i) => `sku-${i}`, 1000, s);
    expect(short.saved.lengths).toBeInstanceOf(Uint8Array);
    expect(short.saved.marks.length).toBe(Math.ceil(1000 / 64));
    for (const long of [300, 70_000]) {
      const ids = ['a', 'x'.repeat(long), 'b', ...Array.from({ length: 200 }, (_, i) => `i${i}`)];
      const t = await IdTable.check(structuredClone((await IdTable.build((i) => ids[i]!, ids.length, s)).saved), s);
      expect(t.saved.lengths).toBeInstanceOf(long < 65536 ? Uint16Array : Uint32Array);
      ids.forEach((id, i) => {
        expect(t.id(i)).toBe(id);
        expect(t.indexOf(id)).toBe(i);
      });
    }
  });

  it('makes from the ids and their lengths alone the table that build makes, and refuses a repeated id or lengths that do not fit', async () => {
    const s = new Slicer();
    for (const n of [1, 3, 1000, 20_000]) {
      const ids = Array.from({ length: n }, (_, i) => odd(i));
      const made = (await IdTable.build((i) => ids[i]!, n, s)).saved;
      const again = await IdTable.fromText(made.text, made.lengths, s);
      expect(again.saved).toEqual(made);
    }
    const lengths = Uint8Array.of(1, 2, 1);
    await expect(IdTable.fromText('abca', lengths, s)).rejects.toThrow('listed twice');
    await expect(IdTable.fromText('abcd', lengths, s)).resolves.toBeDefined();
    await expect(IdTable.fromText('abcde', lengths, s)).rejects.toThrow(RangeError);
    await expect(IdTable.fromText('abc', lengths, s)).rejects.toThrow(RangeError);
  });

  it("checks a table whose text goes on as bytes against the text's length given", async () => {
    const s = new Slicer();
    const made = await IdTable.build((i) => `sku-${i}-é`, 500, s);
    const length = made.saved.text.length;
    const bare = { ...structuredClone(made.saved), text: '' };
    await expect(IdTable.check(bare, s, length)).resolves.toBeInstanceOf(IdTable);
    await expect(IdTable.check(bare, s, length - 1)).rejects.toThrow('do not add up');
    await expect(IdTable.check(bare, s)).rejects.toThrow('do not add up');
  });

  it('refuses a repeated id, and a damaged table', async () => {
    const s = new Slicer();
    await expect(IdTable.build((i) => ['a', 'b', 'a'][i]!, 3, s)).rejects.toThrow(/twice/);
    const good = (await IdTable.build((i) => `id-${i}`, 150, s)).saved;
    const damaged: IdTableData[] = [
      { ...good, slots: good.slots.subarray(0, good.slots.length / 2) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 8 : x)) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 0 : x)) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 151 : x)) },
      // A length changed: the next mark, or the total, no longer fits.
      { ...good, lengths: good.lengths.map((x, i) => (i === 10 ? x + 1 : x)) },
      { ...good, lengths: good.lengths.map((x, i) => (i === 140 ? x - 1 : x)) },
      { ...good, marks: good.marks.map((x, k) => (k === 1 ? x + 1 : x)) },
      { ...good, marks: good.marks.subarray(0, 2) },
      { ...good, text: good.text.slice(1) },
      { ...good, lengths: new Uint8Array(0), marks: new Uint32Array(0), slots: new Int32Array(0) },
      { ...good, lengths: Float32Array.from(good.lengths) } as unknown as IdTableData,
      { text: 1, lengths: good.lengths, marks: good.marks, slots: good.slots } as unknown as IdTableData,
    ];
    for (const bad of damaged) await expect(IdTable.check(bad, s)).rejects.toThrow(RangeError);
    await expect(IdTable.check(good, s)).resolves.toBeInstanceOf(IdTable);
  });
});

describe('inRanges', () => {
  it('runs every index once, in order, in ranges of at most its step, and yields only where the slice is used up', async () => {
    const seen: number[] = [];
    const ranges: [number, number][] = [];
    let turns = 0;
    await inRanges(
      5_000,
      new Slicer(Infinity, async () => void turns++),
      (from, to) => {
        ranges.push([from, to]);
        for (let i = from; i < to; i++) seen.push(i);
      },
      2048,
    );
    expect(ranges).toEqual([
      [0, 2048],
      [2048, 4096],
      [4096, 5000],
    ]);
    expect(seen).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(turns).toBe(0);
    await inRanges(5_000, new Slicer(0, async () => void turns++), () => undefined, 1000);
    expect(turns).toBe(5);
  });
});

describe("the catalogue index's loops", () => {
  it('look at the clock every few thousand items, not every 16,384 or 65,536', async () => {
    // They run as first-run (slow) code on a visit: 16,384 or 65,536 items between looks at the
    // clock made tasks of over 50 ms. Here every look finds the slice used up and yields.
    let turns = 0;
    const eager = new Slicer(0, async () => void turns++);
    const n = 10_000;
    const ids = Array.from({ length: n }, (_, i) => `sku-${i}`);
    const made = await IdTable.build((i) => ids[i]!, n, new Slicer());
    const items = ids.map((id, i) => ({ id, title: `t ${i}`, category: `c${i % 7}` }));
    const catalog = await validateCatalogSliced(items, new Slicer());
    const categories = (await buildCategories(catalog, eager))!;
    expect(turns).toBeGreaterThanOrEqual(4);
    for (const check of [
      () => IdTable.check(made.saved, eager),
      () =>
        checkBounds(
          Uint32Array.from({ length: 2 * n }, (_, i) => i),
          n,
          eager,
        ),
      () => checkCategories(categories, n, eager),
    ]) {
      turns = 0;
      await check();
      expect(turns).toBeGreaterThanOrEqual(4);
    }
  });
});

describe('an id table over its ids as ASCII bytes (withAsciiText)', () => {
  it('answers as the table over the string does, long ids included, and makes the string only when asked', async () => {
    const ids = Array.from({ length: 3000 }, (_, i) => (i % 97 === 0 ? `sku-${i}-${'x'.repeat(300 + i)}` : `s${i}`));
    const table = await IdTable.build((i) => ids[i]!, ids.length, new Slicer());
    const { text, ...rest } = table.saved;
    const bytes = new TextEncoder().encode(text);
    expect(bytes.length).toBe(text.length);
    let decodes = 0;
    const decode = TextDecoder.prototype.decode;
    TextDecoder.prototype.decode = function (this: TextDecoder, ...args: Parameters<TextDecoder['decode']>): string {
      const out = decode.apply(this, args);
      if (out.length === text.length) decodes++;
      return out;
    };
    try {
      const data = withAsciiText(rest, bytes);
      const over = IdTable.adopt(data);
      for (let i = 0; i < ids.length; i++) {
        expect(over.id(i)).toBe(ids[i]);
        expect(over.indexOf(ids[i]!)).toBe(i);
      }
      for (const absent of ['s3000', 's1 ', '', 'sku-0-', `${ids[ids.length - 1]}x`]) expect(over.indexOf(absent)).toBeUndefined();
      expect(decodes).toBe(0);
      // Asked for (saving the entry again), the text is made once, and is the ids'.
      expect(data.text).toBe(text);
      expect(data.text).toBe(text);
      expect(decodes).toBe(1);
      expect(structuredClone(data)).toEqual(table.saved);
    } finally {
      TextDecoder.prototype.decode = decode;
    }
  });
});
