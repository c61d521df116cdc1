/**
 * The demo storefront, built only on the `clickwise/react` hooks. Settings come from the URL:
 * `?catalog=` (a catalogue URL; default the shipped `catalog.json`), `?backend=`, `?storage=`,
 * `?namespace=`.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { BackendRequest, Item } from '../core/index.js';
import type { StorageKind } from '../index.js';
import { useRecommendations, useRecommender, useRecommenderStats } from '../react/index.js';
import { LearningPanel } from './LearningPanel.js';
import { ProductCard } from './ProductCard.js';
import { Rail } from './Rail.js';

const params = new URLSearchParams(location.search);
const CATALOG = params.get('catalog') ?? 'catalog.json';
const BACKEND = (params.get('backend') ?? 'auto') as BackendRequest;
const STORAGE = (params.get('storage') ?? 'indexeddb') as StorageKind;
const NAMESPACE = params.get('namespace') ?? 'demo';

function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

const PHASES: Record<string, string> = {
  catalog: 'Loading the catalogue',
  download: 'Downloading the model',
  encode: 'Reading every product description',
  ready: 'Ready',
};

export function App() {
  const { rec, progress, error } = useRecommender({
    catalog: CATALOG,
    modelUrl: 'models/',
    backend: BACKEND,
    storage: STORAGE,
    namespace: NAMESPACE,
    wasmPaths: 'tfjs/',
  });
  const stats = useRecommenderStats(rec);
  const route = useRoute();
  const productId = route.startsWith('#/p/') ? decodeURIComponent(route.slice(4)) : null;
  const items = rec?.items ?? [];
  const product = productId ? items.find((i) => i.id === productId) : undefined;
  const exclude = useMemo(() => (productId ? [productId] : []), [productId]);
  const recs = useRecommendations(rec, { k: 10, exclude });
  const [query, setQuery] = useState('');
  const [department, setDepartment] = useState<string | null>(null);
  const [clickTimes, setClickTimes] = useState<number[]>([]);

  const departments = useMemo(() => [...new Set(items.map((i) => i.category).filter((c): c is string => !!c))], [items]);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return items.filter(
      (i) =>
        (!department || i.category === department) &&
        (!q || `${i.title} ${i.description ?? ''} ${i.category ?? ''}`.toLowerCase().includes(q)),
    );
  }, [items, query, department]);

  // Recommendations on screen are impressions: shown, and a negative unless clicked next.
  useEffect(() => {
    if (rec && recs.items.length) rec.impression(recs.items.map((r) => r.id));
  }, [rec, recs.items]);

  const learn = useCallback(
    (item: Item) => {
      if (!rec) return;
      const t0 = performance.now();
      rec.click(item.id).then(
        () => setClickTimes((ts) => [...ts.slice(-29), performance.now() - t0]),
        (err: unknown) => console.error('Clickwise: click not learned', err),
      );
    },
    [rec],
  );

  // Opening a product page is the click we learn from (also when it comes from the rail).
  useEffect(() => {
    if (product) learn(product);
  }, [product, learn]);

  if (error) {
    return (
      <main className="shop">
        <div className="error" role="alert">
          <h1>The recommender could not start</h1>
          <p>{error.message}</p>
        </div>
      </main>
    );
  }

  return (
    <div className="shop">
      <header className="top">
        <a className="brand" href="#/">
          Clickwise <span>Goods</span>
        </a>
        <input
          className="search"
          type="search"
          placeholder="Search the shop"
          aria-label="Search products"
          value={query}
          onChange={(e) => {
            setQuery(e.target.value);
            if (productId) location.hash = '#/';
          }}
        />
      </header>
      {progress && (
        <div className="loading" role="status" aria-live="polite">
          <strong>{PHASES[progress.phase] ?? progress.phase}</strong>
          <progress max={progress.total || 1} value={progress.done} />
          <span>
            {progress.phase === 'download'
              ? `${(progress.done / 1e6).toFixed(1)} / ${(progress.total / 1e6).toFixed(1)} MB`
              : `${progress.done} / ${progress.total}`}
          </span>
        </div>
      )}
      <div className="layout">
        <main>
          {product ? (
            <article className="product" aria-labelledby="product-title">
              <a href="#/" className="back">
                ← All products
              </a>
              <div className="product-body">
                {product.image && <img src={product.image} alt="" width={240} height={220} />}
                <div>
                  <p className="dept">{product.category}</p>
                  <h1 id="product-title">{product.title}</h1>
                  <p>{product.description}</p>
                  {product.price !== undefined && <p className="price">£{product.price.toFixed(2)}</p>}
                </div>
              </div>
            </article>
          ) : (
            <>
              <nav className="departments" aria-label="Departments">
                <button type="button" aria-pressed={department === null} onClick={() => setDepartment(null)}>
                  All
                </button>
                {departments.map((d) => (
                  <button type="button" key={d} aria-pressed={department === d} onClick={() => setDepartment(d)}>
                    {d}
                  </button>
                ))}
              </nav>
              <ul className="grid" aria-label="Products">
                {shown.map((item) => (
                  <li key={item.id}>
                    <ProductCard item={item} />
                  </li>
                ))}
              </ul>
              {rec && shown.length === 0 && <p>No product matches “{query}”.</p>}
            </>
          )}
        </main>
        <aside className="side">
          <Rail recs={recs.items} version={recs.version} items={items} clicks={stats?.clicks ?? 0} />
          <LearningPanel stats={stats} clickTimes={clickTimes} refreshMs={recs.refreshMs} onReset={() => void rec?.reset()} />
        </aside>
      </div>
    </div>
  );
}
