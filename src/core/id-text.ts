/**
 * The catalogue's ids text as it crosses from the catalogue's worker to the page. A string is
 * copied by `postMessage` and rebuilt on the receiving thread in one go: at 1,000,000 items the
 * ids are one string of about 7 million characters, and the page's task that took the worker's
 * answer lasted 50 to 76 ms, nearly all of it before the page's handler ran (the worker's marks
 * beside the Long Tasks API, `npm run bench:visit-plain -- --items 1000000 --phases`). As UTF-8
 * bytes the text is moved, not copied, and the page decodes it in slices.
 */
import type { Slicer } from './slice.js';

/** Characters decoded per step on the page (at most 3 bytes each in UTF-8). */
const DECODE_PIECE = 1 << 18;

/** Whether `text` has no lone surrogate, which UTF-8 cannot carry. */
function wellFormed(text: string): boolean {
  const own = (text as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof own === 'function') return own.call(text);
  return !/[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/.test(text);
}

/**
 * `text` as UTF-8 bytes in a buffer of their own, to move with a message; null where it holds a
 * lone surrogate (the text then goes as a string: rare, and exact either way).
 */
export function idTextBytes(text: string): ArrayBuffer | null {
  if (!wellFormed(text)) return null;
  const bytes = new TextEncoder().encode(text);
  return bytes.byteLength === bytes.buffer.byteLength ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}

/** Characters encoded per step by {@link idTextBytesSliced}. */
export const ENCODE_PIECE = 1 << 18;

/**
 * What {@link idTextBytes} gives, made a piece of `piece` characters at a time with `pause()`
 * between pieces (a cut never splits a surrogate pair): the page that keeps a copy of its saved
 * entry encodes the ids of a million items, 7 million characters, which in one go held the page
 * for over 100 ms. Each piece is encoded into a scratch buffer to count its bytes, then into one
 * buffer of the whole size.
 */
export async function idTextBytesSliced(text: string, pause: () => Promise<void>, piece = ENCODE_PIECE): Promise<ArrayBuffer | null> {
  const step = Math.max(2, piece);
  const parts: string[] = [];
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + step);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(at, end));
    at = end;
  }
  const encoder = new TextEncoder();
  // At most 3 bytes a UTF-16 unit (a pair of units is 4 bytes).
  const scratch = new Uint8Array(3 * Math.min(step, text.length));
  let size = 0;
  for (const part of parts) {
    if (!wellFormed(part)) return null;
    size += encoder.encodeInto(part, scratch).written;
    await pause();
  }
  const out = new Uint8Array(size);
  let written = 0;
  for (const part of parts) {
    written += encoder.encodeInto(part, out.subarray(written)).written;
    await pause();
  }
  return out.buffer;
}

/**
 * The text that {@link idTextBytes} gave `bytes` for, decoded a piece at a time with a check of
 * `slicer` between pieces. `piece` (bytes a step) is made small by tests.
 */
export async function idTextFrom(bytes: ArrayBuffer, slicer: Slicer, piece = 3 * DECODE_PIECE): Promise<string> {
  const all = new Uint8Array(bytes);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const parts: string[] = [];
  for (let at = 0; at < all.length; at += piece) {
    const end = Math.min(all.length, at + piece);
    // A character cut at the piece's end is held by the decoder until the next piece.
    parts.push(decoder.decode(all.subarray(at, end), { stream: end < all.length }));
    await slicer.maybeYield();
  }
  return parts.join('');
}
