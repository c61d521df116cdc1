/**
 * `clickwise/react`: hooks for React storefronts. React is a peer dependency.
 *
 * - `useRecommender(options)` creates a recommender once (per `namespace` / catalogue / model
 *   URL), reports loading progress, and disposes it on unmount.
 * - `useRecommendations(rec, { k, exclude })` returns the current list and refreshes it after
 *   every learned click, here or in another tab.
 */
export { useRecommender, useRecommendations, useRecommenderStats } from './hooks.js';
export type { RecommenderState, RecommendationsState } from './hooks.js';
