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
 * for over 100 ms. The bytes are counted first, then encoded into one buffer of that size.
 */
export async function idTextBytesSliced(text: string, pause: () => Promise<void>, piece = ENCODE_PIECE): Promise<ArrayBuffer | null> {
  const step = Math.max(2, piece);
  const cuts = [0];
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + step);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    cuts.push(end);
    at = end;
  }
  let size = 0;
  for (let k = 0; k + 1 < cuts.length; k++) {
    const part = text.slice(cuts[k], cuts[k + 1]);
    if (!wellFormed(part)) return null;
    for (let j = 0; j < part.length; j++) {
      const c = part.charCodeAt(j);
      // A well-formed part: a high surrogate and its low one are 4 bytes together.
      size += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : c >= 0xdc00 && c <= 0xdfff ? 0 : 3;
    }
    await pause();
  }
  const out = new Uint8Array(size);
  const encoder = new TextEncoder();
  let written = 0;
  for (let k = 0; k + 1 < cuts.length; k++) {
    written += encoder.encodeInto(text.slice(cuts[k], cuts[k + 1]), out.subarray(written)).written;
    await pause();
  }
  if (written !== size) throw new Error(`the ids' text took ${written} bytes, ${size} counted`);
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
