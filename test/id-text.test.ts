/**
 * The ids' text as UTF-8 bytes between the catalogue's worker and the page (`core/id-text.ts`):
 * moved instead of copied, and decoded on the page in slices, to the same string.
 */
import { describe, expect, it } from 'vitest';
import { idTextBytes, idTextBytesSliced, idTextFrom, utf16Length } from '../src/core/id-text.js';
import { Slicer } from '../src/core/slice.js';

describe("the ids' text as bytes", () => {
  it('decodes to the same text, whatever pieces cut its characters', async () => {
    const text = ['sku-1', 'café', '€uro', '😀-smile', '東京', ''.padEnd(40, 'x'), 'ß'].join('');
    const bytes = idTextBytes(text)!;
    expect(bytes).toBeInstanceOf(ArrayBuffer);
    expect(bytes.byteLength).toBe(new TextEncoder().encode(text).byteLength);
    for (const piece of [1, 2, 3, 5, 7, 64, 1 << 20]) {
      const yields: number[] = [];
      const slicer = new Slicer(0, () => {
        yields.push(1);
        return Promise.resolve();
      });
      expect(await idTextFrom(bytes, slicer, piece)).toBe(text);
      // A slice ends between pieces: a long text never decodes in one task.
      expect(yields.length).toBe(Math.ceil(bytes.byteLength / piece));
    }
    expect(await idTextFrom(idTextBytes('')!, new Slicer())).toBe('');
  });

  it('are made a piece at a time, to the same bytes, never splitting a surrogate pair', async () => {
    const text = ['sku-1', 'café', '€uro', '😀😀-smile', '東京', ''.padEnd(40, 'x'), 'ß', '😀'].join('');
    const whole = new Uint8Array(idTextBytes(text)!);
    for (const piece of [1, 2, 3, 5, 7, 64, 1 << 20]) {
      let pauses = 0;
      const got = await idTextBytesSliced(text, () => Promise.resolve(void pauses++), piece);
      expect(new Uint8Array(got!)).toEqual(whole);
      // Counted, then encoded: two pauses a piece (a pair never split: a piece may be one shorter).
      expect(pauses).toBeGreaterThanOrEqual(2 * Math.ceil(text.length / Math.max(2, piece)));
      expect(pauses % 2).toBe(0);
    }
    expect(new Uint8Array((await idTextBytesSliced('', () => Promise.resolve()))!)).toEqual(new Uint8Array(0));
    for (const odd of ['a\ud800b', 'a\udc00', 'ab\ud800', '\udc00ab', 'x😀\ud800']) {
      for (const piece of [2, 3, 64]) expect(await idTextBytesSliced(odd, () => Promise.resolve(), piece)).toBeNull();
    }
  });

  it('leaves a text with a lone surrogate to go as a string, which UTF-8 cannot carry', () => {
    expect(idTextBytes('a\ud800b')).toBeNull();
    expect(idTextBytes('a\udc00')).toBeNull();
    expect(idTextBytes('\ud83d\ude00')).not.toBeNull();
  });

  it('keeps a first id that begins with U+FEFF (a byte order mark, to a decoder) whole', async () => {
    const text = '\ufeffsku-1sku-2';
    for (const piece of [1, 3, 1 << 20]) expect(await idTextFrom(idTextBytes(text)!, new Slicer(), piece)).toBe(text);
  });
});

describe('utf16Length', () => {
  /** What a strict decoder makes of `bytes`: its length, or null where it refuses them. */
  const decoded = (bytes: Uint8Array): number | null => {
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes).length;
    } catch {
      return null;
    }
  };

  it('gives the length of the text that UTF-8 bytes decode to, without decoding them', () => {
    for (const text of ['', 'sku-1', 'café', '€uro', '😀-smile', '東京', '\ufeffx', '\u0080\u07ff\u0800\uffff', '\u{10000}\u{10ffff}']) {
      const bytes = new TextEncoder().encode(text);
      expect(utf16Length(bytes)).toBe(text.length);
    }
  });

  it('refuses what a strict decoder refuses, and only that', () => {
    const cases = [
      [0x80], // a lone continuation
      [0xc0, 0x80], // overlong
      [0xc1, 0xbf],
      [0xc2], // cut short
      [0xe0, 0x80, 0x80], // overlong
      [0xe0, 0xa0], // cut short
      [0xed, 0xa0, 0x80], // a surrogate
      [0xef, 0xbf, 0xbf],
      [0xf0, 0x80, 0x80, 0x80], // overlong
      [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xf5, 0x80, 0x80, 0x80],
      [0xff],
      [0x61, 0xe2, 0x82], // cut short at the end
      [0xe2, 0x82, 0x61],
    ];
    for (const c of cases) expect(utf16Length(new Uint8Array(c))).toBe(decoded(new Uint8Array(c)));
    // Random bytes, mostly of the ranges that matter.
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pool = [
      0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
    ];
    let refused = 0;
    for (let k = 0; k < 5000; k++) {
      const bytes = Uint8Array.from({ length: 1 + Math.floor(next() * 6) }, () => pool[Math.floor(next() * pool.length)]!);
      const want = decoded(bytes);
      if (want === null) refused++;
      expect(utf16Length(bytes)).toBe(want);
    }
    expect(refused).toBeGreaterThan(100);
    expect(refused).toBeLessThan(5000);
  });
});
