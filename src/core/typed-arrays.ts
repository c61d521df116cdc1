/**
 * The typed arrays a saved entry or a shop's catalogue index holds, by name, as the prepared cache
 * (`storage/prepared-cache.ts`), the entry's copy (`storage/file-copy.ts`) and the catalogue
 * index file (`catalog-index-file.ts`) write and read them back.
 */
export type Numbers = Int8Array | Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array;
export const KINDS = { Int8Array, Uint8Array, Uint16Array, Int32Array, Uint32Array, Float32Array } as const;
export type Kind = keyof typeof KINDS;

/** The name of `a`'s type. */
export function kindOf(a: Numbers): Kind {
  for (const k of Object.keys(KINDS) as Kind[]) if (a instanceof KINDS[k]) return k;
  throw new TypeError('not a supported typed array');
}
