/**
 * Clickwise as an evaluation method: the head the browser builds (`loadHead`, the same code as
 * `createRecommender`), scored with `head.scores()` as `recommend()` does, learning each event
 * with `head.learnOne()` as a click. One head serves every shopper in turn: a shopper's φ is
 * saved when another shopper's turn comes and restored on theirs, as their own browser would
 * keep it. A frozen head (learning rate 0) keeps the click history but never moves φ: the base
 * alone.
 */
import type { HeadState, IncrementalHead } from '../core/head.js';
import type { OnlineMethod, ReplayEvent } from './replay.js';

/** A newer base published by the maintenance job at time `at` (built from events before it). */
export interface Rebase {
  at: number;
  load: () => Promise<IncrementalHead>;
}

/**
 * @param rebases newer bases in time order: from `at` on, shoppers are scored on that base. Their
 *   φ is kept across (a base of the same encoder is published as compatible, as `maintain` does).
 */
export function clickwiseMethod(name: string, first: IncrementalHead, rebases: readonly Rebase[] = []): OnlineMethod {
  let head = first;
  let next = 0;
  const states = new Map<string, HeadState>();
  /** Events learned lazily, when the shopper is next scored (the order within a shopper is kept). */
  const pending = new Map<string, ReplayEvent[]>();
  let current: string | null = null;
  /** Puts the current shopper's φ aside, as their browser would keep it. */
  const park = async (): Promise<void> => {
    if (current !== null) states.set(current, await head.save());
    current = null;
  };
  const switchTo = async (user: string): Promise<void> => {
    if (current === user) return;
    await park();
    const s = states.get(user);
    if (s) head.load(s);
    else head.reset();
    current = user;
  };
  return {
    name,
    kind: 'online',
    async score(user, t) {
      while (next < rebases.length && t >= rebases[next]!.at) {
        await park();
        head.dispose();
        head = await rebases[next++]!.load();
      }
      await switchTo(user);
      const queue = pending.get(user);
      if (queue) {
        for (const e of queue) head.learnOne({ item: e.item, impressions: [], time: e.t });
        pending.delete(user);
      }
      const s = head.scores();
      const data = (await s.data()) as Float32Array;
      s.dispose();
      return data;
    },
    observe(e) {
      const q = pending.get(e.user) ?? [];
      q.push(e);
      pending.set(e.user, q);
    },
    dispose: () => head.dispose(),
  };
}
