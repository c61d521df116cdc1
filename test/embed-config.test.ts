/** The tag's helpers (src/embed/runtime.ts): `data-compact-above` (a size in bytes, or `never`; anything else is refused by name), and what a `because` field says. */
import { describe, expect, it } from 'vitest';
import { compactAbove, whyText } from '../src/embed/runtime.js';

describe('data-compact-above', () => {
  it('reads a size in bytes, 0 and never', () => {
    expect(compactAbove('0')).toBe(0);
    expect(compactAbove(' 33554432 ')).toBe(33_554_432);
    expect(compactAbove('1e7')).toBe(1e7);
    expect(compactAbove('never')).toBe(Number.POSITIVE_INFINITY);
  });

  it('refuses what is not a size, naming the attribute', () => {
    for (const bad of ['', ' ', '32MB', '-1', 'Infinity', 'NaN', 'true']) {
      expect(() => compactAbove(bad)).toThrow(/data-compact-above=".*" is not valid/);
    }
  });
});

describe('what the tag says of why an item is recommended', () => {
  const item = { id: 'b', title: 'B' };
  const titleOf = (id: string): string => `the ${id}`;
  it('names the click that put it there, and says an item in a place kept for new products is new', () => {
    const base = { id: 'b', score: 1, item, because: [{ id: 'a', weight: 1 }] };
    expect(whyText(base, titleOf)).toBe('because you viewed the a');
    expect(whyText({ ...base, place: 'launch' }, titleOf)).toBe('new, and selling fast');
    expect(whyText({ ...base, place: 'new' }, titleOf)).toBe('new in the shop');
    expect(whyText({ ...base, because: [] }, titleOf)).toBe('');
    // An item the shopper clicked before, shown back (a shop of re-buys): that, not another click.
    expect(whyText({ ...base, viewed: true }, titleOf)).toBe('you viewed this before');
    expect(whyText({ ...base, because: [], viewed: true }, titleOf)).toBe('you viewed this before');
    // One that what the whole shop sells now put there more than the clicks did: that.
    expect(whyText({ ...base, selling: true }, titleOf)).toBe('popular right now');
    expect(whyText({ ...base, selling: true, viewed: true }, titleOf)).toBe('you viewed this before');
  });
});
