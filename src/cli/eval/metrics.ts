/** Ranking metrics at k, from the 0-based rank of the true item (Infinity when not ranked). */

/** Sums of HR@k, NDCG@k and MRR@k over events; divide by `events` for the means. */
export class RankMetrics {
  hits = 0;
  ndcgSum = 0;
  mrrSum = 0;
  events = 0;
  constructor(readonly k: number) {}

  /** Adds one event whose true item was ranked `rank` (0 = first). */
  add(rank: number): void {
    this.events++;
    if (rank < this.k) {
      this.hits++;
      this.ndcgSum += 1 / Math.log2(rank + 2);
      this.mrrSum += 1 / (rank + 1);
    }
  }

  /** Means, rounded to 4 decimals. */
  summary(): { hr: number; ndcg: number; mrr: number; events: number } {
    const n = Math.max(1, this.events);
    const r = (x: number): number => Math.round((x / n) * 10_000) / 10_000;
    return { hr: r(this.hits), ndcg: r(this.ndcgSum), mrr: r(this.mrrSum), events: this.events };
  }
}
