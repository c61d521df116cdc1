/**
 * Every error class names itself: `name` is the class's exported name however the code is built
 * (the storefront tag's minifier renames classes, and `new.target.name` then read "z").
 */
import { describe, expect, it } from 'vitest';
import * as errors from '../src/core/errors.js';

describe('the error classes', () => {
  it('each give their own exported name as `name`, and `String(err)` starts with it', () => {
    const made = (C: unknown): Error => {
      try {
        return new (C as new (...a: string[]) => Error)('some/code', 'what went wrong', 'x');
      } catch (err) {
        return err as Error;
      }
    };
    const classes = Object.entries(errors).filter(([, C]) => typeof C === 'function');
    expect(classes.length).toBeGreaterThanOrEqual(8);
    for (const [key, C] of classes) {
      // A class bound to another name, as a minifier binds it, still names itself.
      const Renamed = { z: C }.z;
      const err = made(Renamed);
      expect(err).toBeInstanceOf(errors.ClickwiseError);
      expect(err.name).toBe(key);
      expect(String(err).startsWith(`${key}: `)).toBe(true);
    }
  });
});
