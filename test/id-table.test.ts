/**
 * The saved form of a catalogue's ids (src/core/id-table.ts): every id found at its index and
 * nothing else found, odd ids included, through a save as structured data; and a damaged table
 * refused rather than used.
 */
import { describe, expect, it } from 'vitest';
import type { IdTableData } from '../src/core/id-table.js';
import { hashId, IdTable } from '../src/core/id-table.js';
import { Slicer } from '../src/core/slice.js';

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

  it('reads a table saved in the earlier layout (a power of two, at most half full)', async () => {
    const s = new Slicer();
    const n = 3000;
    const ids = Array.from({ length: n }, (_, i) => odd(i));
    const size = 8192;
    const slots = new Int32Array(size);
    ids.forEach((id, i) => {
      let j = hashId(id) & (size - 1);
      while (slots[j] !== 0) j = (j + 1) & (size - 1);
      slots[j] = i + 1;
    });
    const ends = new Uint32Array(n);
    ids.reduce((at, id, i) => (ends[i] = at + id.length), 0);
    const old = await IdTable.check({ text: ids.join(''), ends, slots }, s);
    for (let i = 0; i < n; i++) expect(old.indexOf(ids[i]!)).toBe(i);
    expect(old.indexOf('sku-x')).toBeUndefined();
  });

  it('refuses a repeated id, and a damaged table', async () => {
    const s = new Slicer();
    await expect(IdTable.build((i) => ['a', 'b', 'a'][i]!, 3, s)).rejects.toThrow(/twice/);
    const good = (await IdTable.build((i) => `id-${i}`, 50, s)).saved;
    const damaged: IdTableData[] = [
      { ...good, slots: good.slots.subarray(0, good.slots.length / 2) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 8 : x)) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 0 : x)) },
      { ...good, slots: good.slots.map((x) => (x === 7 ? 51 : x)) },
      { ...good, ends: good.ends.map((x, i) => (i === 10 ? 0 : x)) },
      { ...good, text: good.text.slice(1) },
      { ...good, ends: new Uint32Array(0), slots: new Int32Array(0) },
      { text: 1, ends: good.ends, slots: good.slots } as unknown as IdTableData,
    ];
    for (const bad of damaged) await expect(IdTable.check(bad, s)).rejects.toThrow(RangeError);
    await expect(IdTable.check(good, s)).resolves.toBeInstanceOf(IdTable);
  });
});
