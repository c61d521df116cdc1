import { useEffect, useRef, useState } from 'react';
import type { Progress, Recommendation, Recommender, RecommenderStats } from '../core/index.js';
import type { RecommenderOptions } from '../index.js';
import { createRecommender } from '../index.js';

/** State of {@link useRecommender}. */
export interface RecommenderState {
  rec: Recommender | null;
  /** Latest loading progress, or null once ready. */
  progress: Progress | null;
  error: Error | null;
}

/**
 * Creates a recommender and disposes it on unmount. It is recreated only when the catalogue
 * (by URL or array identity), `modelUrl`, `backend`, `storage` or `namespace` change.
 */
export function useRecommender(options: RecommenderOptions): RecommenderState {
  const [state, setState] = useState<RecommenderState>({ rec: null, progress: { phase: 'catalog', done: 0, total: 1 }, error: null });
  const optionsRef = useRef(options);
  optionsRef.current = options;
  const { catalog, modelUrl, backend, storage, namespace } = options;
  useEffect(() => {
    let cancelled = false;
    let created: Recommender | null = null;
    setState({ rec: null, progress: { phase: 'catalog', done: 0, total: 1 }, error: null });
    createRecommender({
      ...optionsRef.current,
      onProgress: (p) => {
        optionsRef.current.onProgress?.(p);
        if (!cancelled) setState((s) => ({ ...s, progress: p }));
      },
    }).then(
      (rec) => {
        created = rec;
        if (cancelled) rec.dispose();
        else setState({ rec, progress: null, error: null });
      },
      (err: unknown) => {
        if (!cancelled) setState({ rec: null, progress: null, error: err instanceof Error ? err : new Error(String(err)) });
      },
    );
    return () => {
      cancelled = true;
      created?.dispose();
    };
  }, [catalog, modelUrl, backend, storage, namespace]);
  return state;
}

/** State of {@link useRecommendations}. */
export interface RecommendationsState {
  items: Recommendation[];
  /** Increments on every refresh: use it to animate changes. */
  version: number;
  /** Milliseconds from the update event to the new list. */
  refreshMs: number | null;
}

/** The current top-k, refreshed after every learned click (here or in another tab) and reset. */
export function useRecommendations(
  rec: Recommender | null,
  options: { k?: number; exclude?: readonly string[] } = {},
): RecommendationsState {
  const [state, setState] = useState<RecommendationsState>({ items: [], version: 0, refreshMs: null });
  const k = options.k ?? 10;
  const excludeKey = (options.exclude ?? []).join('\u0000');
  useEffect(() => {
    if (!rec) return;
    let alive = true;
    let pending = false;
    let again = false;
    const refresh = async (): Promise<void> => {
      if (pending) {
        again = true;
        return;
      }
      pending = true;
      const t0 = performance.now();
      try {
        do {
          again = false;
          const items = await rec.recommend({ k, exclude: excludeKey ? excludeKey.split('\u0000') : [] });
          if (!alive) return;
          setState((s) => ({ items, version: s.version + 1, refreshMs: performance.now() - t0 }));
        } while (again && alive);
      } catch (err) {
        if (alive) console.error('Clickwise: could not refresh recommendations', err);
      } finally {
        pending = false;
      }
    };
    void refresh();
    const off = rec.on('update', () => void refresh());
    return () => {
      alive = false;
      off();
    };
  }, [rec, k, excludeKey]);
  return state;
}

/** `rec.stats()`, refreshed after every update. */
export function useRecommenderStats(rec: Recommender | null): RecommenderStats | null {
  const [stats, setStats] = useState<RecommenderStats | null>(null);
  useEffect(() => {
    if (!rec) return;
    setStats(rec.stats());
    return rec.on('update', () => setStats(rec.stats()));
  }, [rec]);
  return stats;
}
