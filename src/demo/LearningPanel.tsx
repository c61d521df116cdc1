import type { RecommenderStats } from '../core/index.js';

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

/** What the recommender is doing: backend and why, clicks, timings, distance from the base, storage. */
export function LearningPanel({
  stats,
  clickTimes,
  refreshMs,
  onReset,
}: {
  stats: RecommenderStats | null;
  clickTimes: number[];
  refreshMs: number | null;
  onReset: () => void;
}) {
  const last = clickTimes.at(-1);
  return (
    <section className="panel" aria-label="Learning panel">
      <h2>What Clickwise learned</h2>
      <dl>
        <dt>Backend</dt>
        <dd data-testid="backend" data-backend={stats?.backend ?? ''}>
          {stats?.backendReason ?? '…'}
        </dd>
        <dt>Clicks learned</dt>
        <dd data-testid="clicks">{stats?.clicks ?? 0}</dd>
        <dt>Last update</dt>
        <dd>
          <span data-testid="last-update">{last !== undefined ? `${last.toFixed(1)} ms click → learned` : '—'}</span>
          {refreshMs !== null && <span className="sub"> · rail {refreshMs.toFixed(1)} ms</span>}
          <Sparkline values={clickTimes} />
        </dd>
        <dt>Moved from the base</dt>
        <dd data-testid="delta-norm">‖φ‖ = {(stats?.deltaNorm ?? 0).toFixed(3)}</dd>
        <dt>Kept in</dt>
        <dd data-testid="storage">
          {stats ? (stats.storage === 'indexeddb' ? 'IndexedDB (this browser only)' : 'memory (lost on reload)') : '…'}
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
      <p className="small">{stats?.modelVersion}</p>
    </section>
  );
}
