/** IdSet (src/cli/stream/id-set.ts): the stream job's ids of events taken, as 64-bit hashes. */
import { describe, expect, it } from 'vitest';
import { IdSet } from '../src/cli/stream/id-set.js';
import { mulberry32 } from '../src/core/rng.js';

describe('IdSet', () => {
  it('answers as a Set of the ids would, through many doublings, odd ids included', () => {
    const rand = mulberry32(9);
    const ids = Array.from({ length: 60_000 }, (_, k) =>
      k % 4 === 0 ? `order-${k}` : k % 4 === 1 ? `€😀,"${k}"` : k % 4 === 2 ? String(Math.floor(rand() * 1e12)) : `${k}`,
    );
    ids.push('', ' ', 'constructor', '__proto__');
    const plain = new Set<string>();
    const set = new IdSet(2);
    for (const id of ids) {
      expect(set.add(id)).toBe(!plain.has(id));
      plain.add(id);
      // A retry of an id taken a while before.
      const again = ids[Math.floor(rand() * ids.length)]!;
      expect(set.add(again)).toBe(!plain.has(again));
      plain.add(again);
    }
    expect(set.size).toBe(plain.size);
    for (const id of [...ids, 'absent', 'order-60001', '60000', 'Order-0']) expect(set.has(id)).toBe(plain.has(id));
  });

  it('keeps 8 to 23 bytes an id, whatever the ids’ length', () => {
    const set = new IdSet();
    for (let k = 0; k < 100_000; k++) set.add(`a-long-order-id-from-the-shop-backend-${k}-${'x'.repeat(40)}`);
    expect(set.size).toBe(100_000);
    expect(set.bytes / set.size).toBeGreaterThanOrEqual(8 / 0.7);
    expect(set.bytes / set.size).toBeLessThanOrEqual(8 / 0.35);
  });

  it('takes a million distinct ids of the shapes shops use as a million', () => {
    const set = new IdSet();
    const uuid = (k: number): string => {
      const h = (j: number): string => (Math.imul(k + 1, 2654435761 + j * 40503) >>> 0).toString(16).padStart(8, '0');
      const x = h(0) + h(1) + h(2) + h(3);
      return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
    };
    for (let k = 0; k < 500_000; k++) {
      set.add(`o${k}`);
      set.add(uuid(k));
    }
    expect(set.size).toBe(1_000_000);
  });

  it('never passes its load in a table it has left: a table read while ids come is one a set can have', () => {
    const set = new IdSet(4);
    for (const id of ['a', 'b']) set.add(id);
    // The table as a checkpoint written in turns holds it: the set's own array.
    const before = set.state().keys;
    // The third id passes the load of 4 slots (2.8): the set doubles.
    set.add('c');
    expect(set.state().keys).not.toBe(before);
    let held = 0;
    for (let k = 1; k < before.length; k += 2) if (before[k] !== 0) held++;
    expect(held).toBe(2);
    const copy = IdSet.fromState({ keys: before.slice(), size: held });
    expect(['a', 'b', 'c'].map((id) => copy.has(id))).toEqual([true, true, false]);
  });

  it('refuses a first size that is not a power of two', () => {
    for (const bad of [0, 1, 3, 1000, -4, 2.5]) expect(() => new IdSet(bad)).toThrow(/power of two/);
  });
});
