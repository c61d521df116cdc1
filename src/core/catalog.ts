/** Catalogue validation: every problem is reported before anything is built or changed. */
import { CatalogError } from './errors.js';
import type { Slicer } from './slice.js';
import type { Item } from './types.js';

/** A validated catalogue with an id → index map. Items are frozen copies of the input. */
export interface Catalog {
  readonly items: readonly Item[];
  indexOf(id: string): number | undefined;
  readonly size: number;
  /** What was wrong with the items that were skipped (empty when every item was usable). */
  readonly skipped: readonly string[];
}

const MAX_LISTED = 5;

/**
 * Checks and copies a catalogue. An item with a problem (no id, a duplicated id, an empty or
 * non-string title, a price that is not a finite number ≥ 0, a non-string text field) is skipped
 * and described in `skipped`: one bad row in a feed of 50,000 must not switch recommendations off
 * for the whole shop. Throws a `CatalogError` only when no item is usable (or the input is not a
 * non-empty array), listing the first problems and how to fix them. The input is not mutated.
 */
export function validateCatalog(input: unknown): Catalog {
  const builder = new CatalogBuilder(input);
  const raw = input as unknown[];
  for (let i = 0; i < raw.length; i++) builder.add(raw[i], i);
  return builder.finish();
}

/** {@link validateCatalog} in time slices (a catalogue of 100,000 items takes about 100 ms). */
export async function validateCatalogSliced(input: unknown, slicer: Slicer): Promise<Catalog> {
  const builder = new CatalogBuilder(input);
  const raw = input as unknown[];
  for (let i = 0; i < raw.length; i++) {
    builder.add(raw[i], i);
    if ((i & 511) === 511) await slicer.maybeYield();
  }
  return builder.finish();
}

class CatalogBuilder {
  private readonly problems: string[] = [];
  private readonly items: Item[] = [];
  private readonly index = new Map<string, number>();

  constructor(input: unknown) {
    if (!Array.isArray(input)) {
      throw new CatalogError(
        'catalog/not-array',
        `The catalogue must be a JSON array of items { id, title, description?, price?, category?, image? }, got ${input === null ? 'null' : typeof input}.`,
      );
    }
    if (input.length === 0) {
      throw new CatalogError('catalog/empty', 'The catalogue is empty: give at least one item { id, title }.');
    }
  }

  add(raw: unknown, i: number): void {
    const { problems, index, items } = this;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(`item ${i} is not an object`);
      return;
    }
    const r = raw as Record<string, unknown>;
    const idRaw = r['id'];
    if (idRaw === undefined || idRaw === null || idRaw === '' || (typeof idRaw !== 'string' && typeof idRaw !== 'number')) {
      problems.push(`item ${i} has no id (a non-empty string or number is required)`);
      return;
    }
    const id = String(idRaw);
    if (index.has(id)) {
      problems.push(`id ${JSON.stringify(id)} is duplicated (items ${index.get(id)} and ${i}); ids must be unique`);
      return;
    }
    const title = r['title'];
    if (typeof title !== 'string' || title.trim() === '') {
      problems.push(
        `item ${JSON.stringify(id)} has ${typeof title === 'string' ? 'an empty' : 'a non-string'} title; give every item a non-empty text title`,
      );
      return;
    }
    const item: Item = { id, title };
    for (const key of ['description', 'category', 'image'] as const) {
      const v = r[key];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') {
        problems.push(`item ${JSON.stringify(id)} has a non-string ${key}`);
        return;
      }
      item[key] = v;
    }
    const price = r['price'];
    if (price !== undefined && price !== null) {
      if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
        problems.push(`item ${JSON.stringify(id)} has price ${String(price)}; a price must be a finite number ≥ 0 or left out`);
        return;
      }
      item.price = price;
    }
    index.set(id, items.length);
    items.push(Object.freeze(item));
  }

  finish(): Catalog {
    const { problems, index, items } = this;
    if (items.length === 0) {
      throw new CatalogError(
        'catalog/invalid',
        `The catalogue has no usable item: ${describeProblems(problems)}. Fix these items; nothing was loaded.`,
      );
    }
    Object.freeze(items);
    return { items, size: items.length, indexOf: (id: string) => index.get(String(id)), skipped: Object.freeze(problems) };
  }
}

/** "3 invalid items: a; b; c (and 2 more)". */
export function describeProblems(problems: readonly string[]): string {
  const more = problems.length > MAX_LISTED ? ` (and ${problems.length - MAX_LISTED} more)` : '';
  return `${problems.length} invalid item${problems.length > 1 ? 's' : ''}: ${problems.slice(0, MAX_LISTED).join('; ')}${more}`;
}
