/** ShardedMap (src/core/sharded-map.ts): a Map's answers, from many small Maps. */
import { describe, expect, it } from 'vitest';
import { ShardedMap } from '../src/core/sharded-map.js';

describe('ShardedMap', () => {
  it('answers as one Map would, odd keys included', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? `sku-${i}` : i % 3 === 1 ? `€😀,"${i}"` : String(i)));
    keys.push('', ' ', 'constructor', '__proto__');
    const plain = new Map<string, number>();
    const sharded = new ShardedMap<number>();
    keys.forEach((k, i) => {
      plain.set(k, i);
      sharded.set(k, i);
    });
    sharded.set('sku-0', -1);
    plain.set('sku-0', -1);
    expect(sharded.size).toBe(plain.size);
    for (const k of [...keys, 'absent', 'sku-5001', '5000']) {
      expect(sharded.has(k)).toBe(plain.has(k));
      expect(sharded.get(k)).toBe(plain.get(k));
    }
  });

  it('never grows one table by more than a small part of its keys at once', () => {
    // A Map of 1,000,000 ids grew by copying 524,288 entries in one call.
    const m = new ShardedMap<number>();
    for (let i = 0; i < 100_000; i++) m.set(`s${i}`, i);
    const biggest = Math.max(...(m as unknown as { shards: Map<string, number>[] }).shards.map((s) => s.size));
    expect(biggest).toBeLessThan(100_000 / 16);
  });
});
