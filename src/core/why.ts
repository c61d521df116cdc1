/** What a page says of why an item is in a shopper's list, the same on the tag and in React storefronts. */
import type { Recommendation } from './recommender.js';

/**
 * Why `r` is recommended, in words: the click that put it there most; for an item in a place
 * kept for new products, that it is new (and, for a launch among the shop's best sellers now,
 * that it sells), since no click put it there; for an item the shopper clicked before, shown
 * back (a shop of re-buys), that; for one that what the shop sells now put there more than the
 * clicks did, that it is popular now; else nothing (the empty string).
 */
export function whyText(r: Recommendation, titleOf: (id: string) => string): string {
  if (r.place === 'launch') return 'new, and selling fast';
  if (r.place === 'new') return 'new in the shop';
  if (r.viewed) return 'you viewed this before';
  if (r.selling) return 'popular right now';
  return r.because[0] ? `because you viewed ${titleOf(r.because[0].id)}` : '';
}
