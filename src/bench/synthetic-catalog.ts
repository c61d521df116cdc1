/**
 * Deterministic synthetic catalogues of any size for the load benchmark and the large-catalogue
 * end-to-end test: titles of 3 to 6 words drawn from a fixed word list, 24 departments, a short
 * description. Realistic enough for the encoder's cost (tokens per item), not for quality.
 */
import { mulberry32 } from '../core/rng.js';
import type { Item } from '../core/types.js';

const WORDS = (
  'oak linen cotton steel copper glass ceramic wool leather bamboo velvet marble rattan walnut ' +
  'mug lamp chair table sofa rug vase bowl plate kettle pan knife spoon fork cup jar basket shelf ' +
  'tent torch stove bottle boot jacket scarf hat glove sock shirt dress trouser belt bag wallet ' +
  'pen pencil notebook planner card tape ruler stapler folder puzzle kite ball block doll robot ' +
  'train car drum bell blue red green black white grey pink yellow brown small large mini deluxe ' +
  'classic vintage modern rustic nordic retro garden kitchen office travel winter summer party ' +
  'set pack pair twin single double round square tall slim soft warm cosy bright dark light heavy'
).split(' ');
const DEPARTMENTS = Array.from({ length: 24 }, (_, i) => `Department ${String.fromCharCode(65 + i)}`);

/** `n` items with ids `s0`, `s1`, …; the same `n` and `seed` give the same catalogue. */
export function syntheticCatalog(n: number, seed = 7): Item[] {
  const rand = mulberry32(seed);
  const word = (): string => WORDS[Math.floor(rand() * WORDS.length)]!;
  const items: Item[] = new Array<Item>(n);
  for (let i = 0; i < n; i++) {
    const len = 3 + Math.floor(rand() * 4);
    const title = Array.from({ length: len }, word).join(' ');
    items[i] = {
      id: `s${i}`,
      title: title[0]!.toUpperCase() + title.slice(1),
      category: DEPARTMENTS[Math.floor(rand() * DEPARTMENTS.length)]!,
      description: Array.from({ length: 6 }, word).join(' '),
      price: Math.round(rand() * 10_000) / 100,
    };
  }
  return items;
}
