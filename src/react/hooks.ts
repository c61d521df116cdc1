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

/**
 * The current top-k, refreshed after every learned click (here or in another tab) and reset.
 * `hold`: while true (the shopper's pointer or focus is on the list, say), an update the shopper
 * did not make here (another tab's click, the shop's delta, the base's transitions) waits, so
 * that the items do not move under the pointer; the list is refreshed once `hold` is false again.
 * A click or a reset here refreshes it at once.
 */
export function useRecommendations(
  rec: Recommender | null,
  options: { k?: number; exclude?: readonly string[]; includeViewed?: boolean; diversify?: boolean; hold?: boolean } = {},
): RecommendationsState {
  const [state, setState] = useState<RecommendationsState>({ items: [], version: 0, refreshMs: null });
  const k = options.k ?? 10;
  const excludeKey = (options.exclude ?? []).join('\u0000');
  const { includeViewed, diversify } = options;
  // Read by the update handler as it is now, without subscribing again when it changes.
  const hold = useRef(options.hold === true);
  hold.current = options.hold === true;
  /** The refresh an update that waited for `hold` runs once it is let go. */
  const waiting = useRef<(() => void) | null>(null);
  useEffect(() => {
    if (options.hold === true || !waiting.current) return;
    const run = waiting.current;
    waiting.current = null;
    run();
  }, [options.hold]);
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
          const items = await rec.recommend({
            k,
            exclude: excludeKey ? excludeKey.split('\u0000') : [],
            ...(includeViewed !== undefined ? { includeViewed } : {}),
            ...(diversify !== undefined ? { diversify } : {}),
          });
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
    const off = rec.on('update', (e) => {
      if (hold.current && e.source !== 'local' && e.source !== 'reset') waiting.current = () => void refresh();
      else {
        waiting.current = null;
        void refresh();
      }
    });
    return () => {
      alive = false;
      waiting.current = null;
      off();
    };
  }, [rec, k, excludeKey, includeViewed, diversify]);
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
