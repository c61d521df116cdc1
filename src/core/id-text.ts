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
  // A first id that begins with U+FEFF keeps it: it is text here, not a byte order mark.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const parts: string[] = [];
  for (let at = 0; at < all.length; at += piece) {
    const end = Math.min(all.length, at + piece);
    // A character cut at the piece's end is held by the decoder until the next piece.
    parts.push(decoder.decode(all.subarray(at, end), { stream: end < all.length }));
    await slicer.maybeYield();
  }
  return parts.join('');
}

/**
 * The length (in UTF-16 units, as `String.length` counts) of the text that `bytes` decode to as
 * UTF-8, or null where a strict decoder would refuse them (an overlong form, a surrogate, a
 * sequence cut short, past U+10FFFF), found without making the text: the catalogue's worker
 * checks a saved id table against its ids' bytes, which go on to the page as they are.
 */
export function utf16Length(bytes: Uint8Array): number | null {
  const n = bytes.length;
  let units = 0;
  for (let i = 0; i < n;) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      units++;
      continue;
    }
    // The sequence's length, and the range of its second byte (the others: 0x80 to 0xbf).
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return null;
    // Cut short at the end.
    if (i + more >= n) return null;
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return null;
    for (let k = 2; k <= more; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return null;
    }
    i += more + 1;
    units += more === 3 ? 2 : 1;
  }
  return units;
}
