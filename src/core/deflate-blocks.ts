/**
 * The blocks of a compacted catalogue (see `compactCatalog` in `catalog.ts`): consecutive items'
 * texts, each ended by NUL, deflated with one preset dictionary. The work needs no page and no
 * tfjs, so the catalogue's compaction can run in a Web Worker (`src/compact-worker.ts`) that
 * imports only this module and the deflate.
 */

/**
 * Bytes of raw text per compressed block of a compacted catalogue (an item larger than this has a
 * block of its own). An item shown for the first time costs the inflating of its block, so a
 * click's new items want small blocks; each block's deflate allocates its own tables (about 200 KB
 * whatever the block's size), so a compaction wants few. Blocks of 16 KiB made a click at
 * 1,000,000 items faster still, and gave the first visit's compaction, then on the page's main
 * thread, several pauses of the garbage collector over 50 ms (`npm run bench:load`;
 * docs/PERFORMANCE.md).
 */
export const COMPACT_BLOCK_BYTES = 32 * 1024;

/** A deflate with a preset dictionary: fflate's `deflateSync`. */
export type Deflate = (data: Uint8Array, options: { level: 6; mem: 0; dictionary: Uint8Array }) => Uint8Array;

/** Consecutive items to deflate in blocks: item k's text is `text[bounds[2k], bounds[2k + 1])`. */
export interface BlockBatch {
  text: Uint8Array;
  bounds: Uint32Array;
  /** The preset dictionary of every block (see `compactDictionary`). */
  dictionary: Uint8Array;
}

/** A {@link BlockBatch}'s blocks, deflated one after another in `packed`. */
export interface DeflatedBlocks {
  packed: Uint8Array;
  /** Where block b ends in `packed` (it begins where block b − 1 ends, the first at 0). */
  ends: Uint32Array;
  /** How many items block b holds, in order from the batch's first. */
  counts: Uint32Array;
  /** Block b's inflated size: its items' texts, each ended by NUL. */
  raw: Uint32Array;
}

/**
 * Where the block that begins at item `i` of `n` ends (the item after its last): items while
 * their texts, each with its NUL, fit in {@link COMPACT_BLOCK_BYTES}; an item larger than that
 * alone. `sizeOf(k)` is item k's text's length plus one.
 */
export function blockEnd(sizeOf: (k: number) => number, i: number, n: number): number {
  let size = sizeOf(i);
  let j = i + 1;
  while (j < n && size + sizeOf(j) <= COMPACT_BLOCK_BYTES) size += sizeOf(j++);
  return j;
}

/**
 * The block that begins at item `i` of `n` (see {@link blockEnd}): its items' texts from `text`,
 * each ended by NUL, in `scratch` where they fit; and the item after its last.
 */
export function nextBlock(
  text: Uint8Array,
  bounds: Uint32Array,
  i: number,
  n: number,
  scratch: Uint8Array,
): { block: Uint8Array; next: number } {
  const sizeOf = (k: number): number => bounds[2 * k + 1]! - bounds[2 * k]! + 1;
  const j = blockEnd(sizeOf, i, n);
  let size = 0;
  for (let k = i; k < j; k++) size += sizeOf(k);
  const block = size <= scratch.length ? scratch.subarray(0, size) : new Uint8Array(size);
  let at = 0;
  for (let k = i; k < j; k++) {
    block.set(text.subarray(bounds[2 * k], bounds[2 * k + 1]), at);
    at += bounds[2 * k + 1]! - bounds[2 * k]!;
    block[at++] = 0;
  }
  return { block, next: j };
}

/**
 * The batch's items in blocks (see {@link blockEnd}), each block deflated with the batch's
 * dictionary. A batch that begins at a block's first item and ends at a block's last gives the
 * same blocks as the whole catalogue would there.
 */
export function deflateBlocks(batch: BlockBatch, deflate: Deflate): DeflatedBlocks {
  const { text, bounds, dictionary } = batch;
  const n = bounds.length / 2;
  if (!Number.isInteger(n) || (n > 0 && bounds[2 * n - 1]! > text.length)) {
    throw new RangeError(`a batch's bounds do not fit its ${text.length} bytes of text`);
  }
  const parts: Uint8Array[] = [];
  const counts: number[] = [];
  const raw: number[] = [];
  const scratch = new Uint8Array(COMPACT_BLOCK_BYTES);
  for (let i = 0; i < n;) {
    const { block, next: j } = nextBlock(text, bounds, i, n, scratch);
    const size = block.length;
    // The smallest hash table (4,096 heads): a block is small, and each one's tables are fresh
    // memory; a larger table made the blocks no smaller on the bench's catalogue.
    parts.push(deflate(block, { level: 6, mem: 0, dictionary }));
    counts.push(j - i);
    raw.push(size);
    i = j;
  }
  const ends = new Uint32Array(parts.length);
  let total = 0;
  for (let b = 0; b < parts.length; b++) ends[b] = total += parts[b]!.length;
  const packed = new Uint8Array(total);
  for (let b = 0; b < parts.length; b++) packed.set(parts[b]!, b === 0 ? 0 : ends[b - 1]);
  return { packed, ends, counts: Uint32Array.from(counts), raw: Uint32Array.from(raw) };
}

/** Blocks deflated batch by batch, joined in order into one {@link DeflatedBlocks}. */
export function joinBlocks(list: readonly DeflatedBlocks[]): DeflatedBlocks {
  let bytes = 0;
  let blocks = 0;
  for (const d of list) {
    bytes += d.packed.length;
    blocks += d.ends.length;
  }
  const out: DeflatedBlocks = {
    packed: new Uint8Array(bytes),
    ends: new Uint32Array(blocks),
    counts: new Uint32Array(blocks),
    raw: new Uint32Array(blocks),
  };
  let at = 0;
  let b = 0;
  for (const d of list) {
    out.packed.set(d.packed, at);
    for (let k = 0; k < d.ends.length; k++) out.ends[b + k] = at + d.ends[k]!;
    out.counts.set(d.counts, b);
    out.raw.set(d.raw, b);
    at += d.packed.length;
    b += d.ends.length;
  }
  return out;
}

/**
 * Deflates a catalogue's blocks somewhere other than the page's main thread (a Web Worker:
 * `workerCatalogCompactor` in `src/catalog-compactor.ts`), batch by batch, and keeps them there,
 * so that the page allocates nothing for them until it takes them all at once.
 */
export interface BlockDeflater {
  /**
   * Deflates the batch's blocks ({@link deflateBlocks}) after those of the batches added before.
   * Resolves with the batch once its text and bounds may be filled again (their buffers may have
   * been moved there and back); rejects where that place cannot do the work.
   */
  add(batch: BlockBatch): Promise<BlockBatch>;
  /** Every batch's blocks, in the order added ({@link joinBlocks}). */
  finish(): Promise<DeflatedBlocks>;
  /** Lets it go (after `finish`, or to give up). */
  close(): void;
}
