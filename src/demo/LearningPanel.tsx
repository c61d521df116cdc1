import type { Item, Recommendation, RecommenderStats } from '../core/index.js';

function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) return <svg className="spark" width="120" height="28" aria-hidden="true" />;
  const max = Math.max(...values, 1);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * 118 + 1},${27 - (v / max) * 25}`).join(' ');
  return (
    <svg className="spark" width="120" height="28" aria-hidden="true">
      <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

/**
 * What the shopper leans to, read from the recommendations themselves: each entry names the
 * clicks that drive it (`because`), so their items and departments, by weight, are what was learned.
 */
export function leaning(recs: readonly Recommendation[], items: readonly Item[]): { departments: string[]; items: string[] } {
  const byItem = new Map<string, number>();
  for (const r of recs) for (const b of r.because) byItem.set(b.id, (byItem.get(b.id) ?? 0) + Math.abs(b.weight));
  const item = (id: string): Item | undefined => items.find((i) => i.id === id);
  const byDept = new Map<string, number>();
  for (const [id, w] of byItem) {
    const d = item(id)?.category;
    if (d) byDept.set(d, (byDept.get(d) ?? 0) + w);
  }
  const order = (m: Map<string, number>): string[] => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  return { departments: order(byDept), items: order(byItem).map((id) => item(id)?.title ?? id) };
}

/** What Clickwise learned, in plain words; the technical figures fold away. */
export function LearningPanel({
  stats,
  recs,
  items,
  clickTimes,
  refreshMs,
  onReset,
}: {
  stats: RecommenderStats | null;
  recs: readonly Recommendation[];
  items: readonly Item[];
  clickTimes: number[];
  refreshMs: number | null;
  onReset: () => void;
}) {
  const last = clickTimes.at(-1);
  const clicks = stats?.clicks ?? 0;
  const lean = leaning(recs, items);
  return (
    <section className="panel" aria-label="Learning panel">
      <h2>What Clickwise learned</h2>
      <dl>
        <dt>You lean to</dt>
        <dd data-testid="leaning">
          {clicks === 0 || lean.departments.length === 0 ? 'Nothing yet: open a few products.' : lean.departments.slice(0, 3).join(', ')}
        </dd>
        {clicks > 0 && lean.items.length > 0 && (
          <>
            <dt>Because you looked at</dt>
            <dd data-testid="because-items">{lean.items.slice(0, 3).join(', ')}</dd>
          </>
        )}
        <dt>Clicks learned</dt>
        <dd data-testid="clicks">{clicks}</dd>
        <dt>Kept</dt>
        <dd data-testid="storage">
          {stats
            ? stats.storage === 'indexeddb'
              ? 'In this browser only (IndexedDB). Nothing is sent anywhere.'
              : 'In memory only: forgotten on reload. Nothing is sent anywhere.'
            : '…'}
        </dd>
        {stats && stats.warnings.length > 0 && (
          <>
            <dt>Warnings</dt>
            <dd className="warn">{stats.warnings.at(-1)}</dd>
          </>
        )}
      </dl>
      <button type="button" onClick={onReset} disabled={!stats}>
        Forget me (reset)
      </button>
      <details className="tech">
        <summary>Technical details</summary>
        <dl>
          <dt>Runs on</dt>
          <dd data-testid="backend" data-backend={stats?.backend ?? ''}>
            {stats?.backendReason ?? '…'}
          </dd>
          <dt>Last click</dt>
          <dd>
            <span data-testid="last-update">{last !== undefined ? `${last.toFixed(1)} ms click → learned` : '—'}</span>
            {refreshMs !== null && <span className="sub"> · list {refreshMs.toFixed(1)} ms</span>}
            <Sparkline values={clickTimes} />
          </dd>
          <dt>Moved from the shop's model</dt>
          <dd data-testid="delta-norm">‖φ‖ = {(stats?.deltaNorm ?? 0).toFixed(3)}</dd>
          <dt>Shop's model</dt>
          <dd className="small">{stats?.modelVersion}</dd>
        </dl>
      </details>
    </section>
  );
}
