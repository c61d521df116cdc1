/**
 * A string-keyed map split over many `Map`s by a hash of the key. A `Map` grows by copying every
 * entry into a table twice the size, in one call: at 524,288 ids that one `set` held the page for
 * far longer than a slice. Split 64 ways, each copy is 64 times smaller.
 */
import { hashId } from './id-table.js';

/** Shards: a power of two. */
const SHARDS = 64;

export class ShardedMap<V> {
  private readonly shards: Map<string, V>[] = Array.from({ length: SHARDS }, () => new Map<string, V>());

  private shard(key: string): Map<string, V> {
    return this.shards[hashId(key) & (SHARDS - 1)]!;
  }

  get(key: string): V | undefined {
    return this.shard(key).get(key);
  }

  has(key: string): boolean {
    return this.shard(key).has(key);
  }

  set(key: string, value: V): this {
    this.shard(key).set(key, value);
    return this;
  }

  get size(): number {
    return this.shards.reduce((a, m) => a + m.size, 0);
  }
}
