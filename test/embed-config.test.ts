/** The tag's `data-compact-above` (src/embed/runtime.ts): a size in bytes, or `never`; anything else is refused by name. */
import { describe, expect, it } from 'vitest';
import { compactAbove } from '../src/embed/runtime.js';

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
