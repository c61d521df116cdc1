/**
 * The ids' text as UTF-8 bytes between the catalogue's worker and the page (`core/id-text.ts`):
 * moved instead of copied, and decoded on the page in slices, to the same string.
 */
import { describe, expect, it } from 'vitest';
import { idTextBytes, idTextBytesSliced, idTextFrom } from '../src/core/id-text.js';
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
});
