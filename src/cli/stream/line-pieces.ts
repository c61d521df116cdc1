/**
 * Reading a file of lines (an events file, the stream job's own log) in pieces of whole lines,
 * each decoded on its own: a file can be longer than the longest string the runtime can hold
 * (512 MiB in Node), and its lines need not all be in memory at once.
 */
import { readSync } from 'node:fs';

/** Bytes read at a time. */
export const PIECE_BYTES = 16 * 1024 * 1024;

/** A piece of whole lines: its bytes, ending with a newline, and the offset just after them. */
export interface LinePiece {
  bytes: Buffer;
  end: number;
}

/**
 * The whole lines of the open file `fd` from byte `from` to byte `to`, in pieces of about
 * `pieceBytes`: a line longer than that comes whole, in a piece of at most twice its length. What
 * follows the last newline (a line still being written, or torn) is not read.
 */
export function* fileLinePieces(fd: number, from: number, to: number, pieceBytes = PIECE_BYTES): Generator<LinePiece> {
  checkPieceBytes(pieceBytes);
  let offset = from;
  while (offset < to) {
    let want = Math.min(pieceBytes, to - offset);
    let bytes: Buffer;
    let last: number;
    for (;;) {
      bytes = Buffer.alloc(want);
      bytes = bytes.subarray(0, readSync(fd, bytes, 0, want, offset));
      last = bytes.lastIndexOf(0x0a);
      // A line longer than the piece: read a longer one, up to `to`.
      if (last >= 0 || bytes.length < want || want === to - offset) break;
      want = Math.min(2 * want, to - offset);
    }
    if (last < 0) return;
    offset += last + 1;
    yield { bytes: bytes.subarray(0, last + 1), end: offset };
  }
}

/**
 * The whole lines of chunks as they come (a file as it is unzipped), offsets counted over the
 * chunks' bytes: once `pieceBytes` have come, pieces of about that many are cut at newlines, so
 * no more than a piece and a chunk is held at a time (a line longer than a piece comes whole). A
 * last line without a newline is the last piece's end.
 */
export async function* chunkLinePieces(chunks: AsyncIterable<Buffer>, pieceBytes = PIECE_BYTES): AsyncGenerator<LinePiece> {
  checkPieceBytes(pieceBytes);
  let held: Buffer[] = [];
  let heldBytes = 0;
  let end = 0;
  for await (const chunk of chunks) {
    held.push(chunk);
    heldBytes += chunk.length;
    if (heldBytes < pieceBytes) continue;
    const all = Buffer.concat(held, heldBytes);
    let at = 0;
    while (all.length - at >= pieceBytes) {
      const within = all.lastIndexOf(0x0a, at + pieceBytes - 1);
      const nl = within >= at ? within : all.indexOf(0x0a, at + pieceBytes);
      // A line longer than a piece, not yet ended: wait for more.
      if (nl < 0) break;
      end += nl + 1 - at;
      yield { bytes: all.subarray(at, nl + 1), end };
      at = nl + 1;
    }
    held = at < all.length ? [all.subarray(at)] : [];
    heldBytes = all.length - at;
  }
  if (heldBytes > 0) yield { bytes: Buffer.concat(held, heldBytes), end: end + heldBytes };
}

function checkPieceBytes(n: number): void {
  if (!(Number.isInteger(n) && n > 0)) throw new RangeError(`A piece must be a whole number of bytes > 0, got ${n}.`);
}
