/**
 * The ids of the events a stream job has taken, kept to drop a retry: not the ids themselves but
 * a 64-bit hash of each, in an open-addressing table of typed arrays. A busy shop's log holds tens
 * of millions of events; as strings in sets their ids took 2.23 GB of the JS heap at 20 million
 * (whose default limit is about 4 GiB), here 8 bytes a slot, outside the heap.
 *
 * Two different ids whose hashes are equal would read as one: the second would be dropped as a
 * retry. With 64 bits the chance that this happens at all among n ids is about n² / 2⁶⁵, one in
 * 90,000 at 20 million events, and it would cost one event of them, not the job.
 */

import { hashId } from '../../core/id-table.js';

/** The table doubles once more than this share of its slots is taken. */
const MAX_LOAD = 0.7;

/** A multiply-rotate hash over the code units, apart from `hashId`'s FNV-1a: the hash's other 32 bits. */
function hashB(id: string): number {
  let h = 0x9747b28c ^ id.length;
  for (let k = 0; k < id.length; k++) {
    h = Math.imul(h ^ id.charCodeAt(k), 0x5bd1e995);
    h = (h << 13) | (h >>> 19);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The low half of an id's hash: `hashB`, with 0 read as 1 so that no hash is the empty slot's 0, 0. */
function lowHalf(id: string): number {
  return hashB(id) || 1;
}

export class IdSet {
  /** Slot s holds a hash as keys[2s] (high) and keys[2s + 1] (low, never 0); 0, 0 is an empty slot. */
  private keys: Uint32Array;
  private mask: number;
  /** Ids added. */
  size = 0;

  /** @param slots the table's first size, a power of two (it doubles as ids come). */
  constructor(slots = 1024) {
    if (!(Number.isInteger(slots) && slots >= 2 && (slots & (slots - 1)) === 0))
      throw new RangeError(`slots must be a power of two ≥ 2, got ${slots}.`);
    this.keys = new Uint32Array(2 * slots);
    this.mask = slots - 1;
  }

  /** The table (the set's own array, not a copy) and how many ids it holds, to write down. */
  state(): { keys: Uint32Array; size: number } {
    return { keys: this.keys, size: this.size };
  }

  /**
   * A set holding what `state` gave of another, taking `keys` as its own table (not copied: the
   * caller lets go of it); a table that no set could have is a RangeError.
   */
  static fromState(s: { keys: Uint32Array; size: number }): IdSet {
    const slots = s.keys.length / 2;
    if (
      !(Number.isInteger(slots) && slots >= 2 && (slots & (slots - 1)) === 0) ||
      !(Number.isInteger(s.size) && s.size >= 0 && s.size <= MAX_LOAD * slots)
    )
      throw new RangeError(`a table of ${s.keys.length} numbers cannot hold ${s.size} ids`);
    let taken = 0;
    for (let k = 1; k < s.keys.length; k += 2) if (s.keys[k] !== 0) taken++;
    if (taken !== s.size) throw new RangeError(`the table holds ${taken} ids, not the ${s.size} it says`);
    const set = new IdSet(2);
    set.keys = s.keys;
    set.mask = slots - 1;
    set.size = s.size;
    return set;
  }

  /** Bytes the table holds. */
  get bytes(): number {
    return this.keys.byteLength;
  }

  has(id: string): boolean {
    return this.keys[2 * this.slotOf(hashId(id), lowHalf(id)) + 1] !== 0;
  }

  /**
   * Adds `id`; false where it (or an id of the same hash) was there already. A table is replaced
   * by one twice its size before it would pass its load, and is never changed after, so that a
   * checkpoint written from it while ids come (`writeCheckpointInTurns`) holds a table a set can have.
   */
  add(id: string): boolean {
    const a = hashId(id);
    const b = lowHalf(id);
    let s = this.slotOf(a, b);
    if (this.keys[2 * s + 1] !== 0) return false;
    if (this.size + 1 > MAX_LOAD * (this.mask + 1)) {
      this.grow();
      s = this.slotOf(a, b);
    }
    this.keys[2 * s] = a;
    this.keys[2 * s + 1] = b;
    this.size++;
    return true;
  }

  /** The slot holding the hash a, b, or the empty slot where it would go (linear probing). */
  private slotOf(a: number, b: number): number {
    const keys = this.keys;
    let s = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask;
    for (;;) {
      const hi = keys[2 * s]!;
      const lo = keys[2 * s + 1]!;
      // An empty slot's low half is 0, which no hash's is.
      if ((hi === a && lo === b) || lo === 0) return s;
      s = (s + 1) & this.mask;
    }
  }

  /** Doubles the table, placing every hash again. */
  private grow(): void {
    const old = this.keys;
    this.keys = new Uint32Array(2 * old.length);
    this.mask = old.length - 1;
    for (let s = 0; s < old.length; s += 2) {
      const a = old[s]!;
      const b = old[s + 1]!;
      if (b === 0) continue;
      const t = this.slotOf(a, b);
      this.keys[2 * t] = a;
      this.keys[2 * t + 1] = b;
    }
  }
}
