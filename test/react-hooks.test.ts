/**
 * The React hooks' options as the README gives them. The hooks need a DOM to run (the demo's and
 * the package's end-to-end tests drive them in Chromium); here the options' types are checked:
 * `npm run typecheck` fails where the hook lacks one the README names.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { useRecommendations } from '../src/react/hooks.js';

type Options = NonNullable<Parameters<typeof useRecommendations>[1]>;

describe('useRecommendations', () => {
  it("takes every option the README names (the list's own and hold)", () => {
    expectTypeOf<Options>().toHaveProperty('k');
    expectTypeOf<Options>().toHaveProperty('exclude');
    expectTypeOf<Options>().toHaveProperty('includeViewed');
    expectTypeOf<Options>().toHaveProperty('diversify');
    expectTypeOf<Options>().toHaveProperty('hold');
    const readme = readFileSync(resolve(import.meta.dirname, '..', 'README.md'), 'utf8');
    const named = /`useRecommendations\(rec, \{ ([^}]*) \}\)`/.exec(readme);
    expect(named, 'the README names the hook with its options').not.toBeNull();
    expect(named![1]!.split(',').map((o) => o.trim())).toEqual(['k', 'exclude', 'includeViewed', 'diversify', 'hold']);
  });
});
