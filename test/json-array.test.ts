import { describe, expect, it } from 'vitest';
import { parseJsonArraySliced } from '../src/core/json-array.js';
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
