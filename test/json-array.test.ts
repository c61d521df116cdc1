import { describe, expect, it } from 'vitest';
import type { ArrivingBytes } from '../src/core/json-array.js';
import { JsonBounds, parseJsonArrayFrom, parseJsonArraySliced } from '../src/core/json-array.js';
import { Slicer } from '../src/core/slice.js';
import { syntheticCatalog } from '../src/bench/synthetic-catalog.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const parse = (s: string): Promise<unknown> => parseJsonArraySliced(enc(s), new Slicer());

describe('parseJsonArraySliced', () => {
  it('equals JSON.parse on a large catalogue that spans many pieces, strings full of brackets and commas included', async () => {
    const items: unknown[] = syntheticCatalog(6000);
    items.push({ id: 'tricky', title: 'a "quoted" title, with }, { and ], [ inside', description: 'back\\slash \\" é ✓ 😀' });
    items.push([1, [2, { a: '],[' }]], 'a string', 42, null, true);
    const text = `\n  ${JSON.stringify(items, null, 1)}  \n`;
    expect(text.length).toBeGreaterThan(600_000);
    expect(await parse(text)).toEqual(JSON.parse(text));
  });

  it('splits a multi-byte character across pieces correctly', async () => {
    const long = 'é'.repeat(200_000);
    const text = JSON.stringify([{ t: long }, { t: '😀'.repeat(100_000) }]);
    expect(await parse(text)).toEqual(JSON.parse(text));
  });

  it('gives what JSON.parse gives for small and non-array input', async () => {
    for (const s of ['[]', ' [ ] ', '[1]', '{"a":1}', '"x"', '3']) expect(await parse(s)).toEqual(JSON.parse(s));
  });

  it('throws a SyntaxError wherever JSON.parse would', async () => {
    const big = JSON.stringify(syntheticCatalog(3000));
    for (const bad of [
      '',
      '[',
      '[1,]',
      '[1,2',
      '[1] x',
      '[{"a":1}}',
      big.slice(0, -1),
      big + ']',
      big.replace('"s2000"', '"s2000'),
      `${big.slice(0, -1)},]`,
    ]) {
      expect(() => JSON.parse(bad), bad.slice(0, 20)).toThrow(SyntaxError);
      await expect(parse(bad), bad.slice(0, 20)).rejects.toThrow(SyntaxError);
    }
  });
});

/** `bytes` arriving in parts cut at `cuts` (sorted offsets), each part only once asked for. */
function arriving(bytes: Uint8Array, cuts: number[]): ArrivingBytes & { asked: number } {
  const ends = [...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  let k = 0;
  let have = 0;
  return {
    asked: 0,
    get bytes() {
      return bytes.subarray(0, have);
    },
    async more() {
      this.asked++;
      await Promise.resolve();
      if (k >= ends.length) return false;
      have = ends[k++]!;
      return true;
    },
  };
}

/** Cut points: every `step` bytes, shifted by `shift` (so that cuts fall inside characters and strings). */
const cutsEvery = (n: number, step: number, shift = 0): number[] => Array.from({ length: Math.ceil(n / step) }, (_, i) => i * step + shift);

describe('parseJsonArrayFrom (a file that arrives in parts)', () => {
  const items: unknown[] = syntheticCatalog(4000);
  items.push({ id: 'tricky', title: 'a "quoted" title, with }, { and ], [ inside', description: 'back\\slash \\" é ✓ 😀' });
  const text = `\uFEFF \n${JSON.stringify(items, null, 1)}\n `;
  const bytes = enc(text);

  it('gives what a parse of the whole file gives, elements and their bounds, however the file is cut', async () => {
    const whole = new JsonBounds();
    const want = await parseJsonArraySliced(bytes, new Slicer(), whole);
    expect(want).toEqual(JSON.parse(text.slice(1)));
    for (const cuts of [[], cutsEvery(bytes.length, 1), cutsEvery(bytes.length, 7, 3), cutsEvery(bytes.length, 65_536, 1), [1, 2, 3]]) {
      const parts = new JsonBounds();
      const src = arriving(bytes, cuts);
      expect(await parseJsonArrayFrom(src, new Slicer(), parts)).toEqual(want);
      expect([...parts.view()]).toEqual([...whole.view()]);
      // Every part was asked for, and no more once the file had ended.
      expect(src.asked).toBe(Math.min(cuts.filter((c) => c > 0 && c < bytes.length).length, bytes.length) + 2);
    }
  }, 60_000);

  it('ends each string at its closing quote whatever run of backslashes stands before a quote, however the file is cut', async () => {
    // Runs of 0 to 5 backslashes before an inner quote and before the closing one: an odd run
    // escapes the quote, an even run is escaped backslashes and the quote closes the string.
    const strings: string[] = [];
    for (let n = 0; n <= 5; n++) {
      const run = '\\'.repeat(n);
      strings.push(`${run}`, `a${run}`, `${run}"`, `x${run}"],{,"y${run}`);
    }
    const tricky = [...strings.map((t, i) => ({ id: `b${i}`, title: t, tags: [t, { [t]: t }] })), strings];
    const text = JSON.stringify(tricky);
    const b = enc(text);
    const whole = new JsonBounds();
    expect(await parseJsonArraySliced(b, new Slicer(), whole)).toEqual(tricky);
    expect(whole.length).toBe(tricky.length + 1);
    for (const cuts of [cutsEvery(b.length, 1), cutsEvery(b.length, 3, 1)]) {
      const parts = new JsonBounds();
      expect(await parseJsonArrayFrom(arriving(b, cuts), new Slicer(), parts)).toEqual(tricky);
      expect([...parts.view()]).toEqual([...whole.view()]);
    }
  });

  it('parses the parts that have arrived before the rest comes', async () => {
    let parsedBeforeEnd = false;
    const half = Math.floor(bytes.length / 2);
    const src = arriving(bytes, cutsEvery(bytes.length, 4096));
    const originalParse = JSON.parse;
    let calls = 0;
    JSON.parse = ((t: string) => {
      calls++;
      if (src.bytes.length <= half) parsedBeforeEnd = true;
      return originalParse(t) as unknown;
    }) as typeof JSON.parse;
    try {
      await parseJsonArrayFrom(src, new Slicer());
    } finally {
      JSON.parse = originalParse;
    }
    expect(calls).toBeGreaterThan(1);
    expect(parsedBeforeEnd).toBe(true);
  });

  it('hands each element on, in order, as soon as it is parsed, before the rest of the file comes', async () => {
    const src = arriving(bytes, cutsEvery(bytes.length, 4096));
    const half = Math.floor(bytes.length / 2);
    const seen: unknown[] = [];
    let beforeHalf = 0;
    const got = await parseJsonArrayFrom(src, new Slicer(), undefined, (x, i) => {
      expect(i).toBe(seen.length);
      seen.push(x);
      if (src.bytes.length <= half) beforeHalf++;
    });
    expect(seen).toEqual(got);
    expect(beforeHalf).toBeGreaterThan(0);
    // A file that holds no array hands nothing on.
    const none: unknown[] = [];
    expect(await parseJsonArrayFrom(arriving(enc('{"a":[1,2]}'), [3]), new Slicer(), undefined, (x) => none.push(x))).toEqual({
      a: [1, 2],
    });
    expect(none).toEqual([]);
  });

  it('throws the SyntaxError a whole parse throws', async () => {
    const big = JSON.stringify(syntheticCatalog(2000));
    for (const bad of ['', '[', '[1,]', '[1] x', big.slice(0, -1), big + ']', `${big.slice(0, -1)},]`, '<!doctype html>']) {
      await expect(parseJsonArrayFrom(arriving(enc(bad), cutsEvery(bad.length, 1000, 5)), new Slicer()), bad.slice(0, 20)).rejects.toThrow(
        SyntaxError,
      );
    }
  });

  it('passes on an error of the download itself', async () => {
    const src: ArrivingBytes = {
      bytes: enc('[{"id":"a","title":"A"},'),
      more: () => Promise.reject(new TypeError('network error')),
    };
    await expect(parseJsonArrayFrom(src, new Slicer())).rejects.toThrow('network error');
  });
});
