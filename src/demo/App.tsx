/**
 * The demo storefront, built only on the `clickwise/react` hooks. Settings come from the URL:
 * `?catalog=` (a catalogue URL; default the shipped `catalog.json`), `?backend=`, `?storage=`,
 * `?namespace=`.
 *
 * The shop does not wait for Clickwise: products show as soon as the catalogue is read, the rail
 * fills in when the recommender is ready, and if it cannot start the shop still works. A second
 * recommender that never learns (learning rate 0: the shop's model alone, fed the same clicks)
 * shows what the list would be without the learning; a third, which knows only the product on
 * screen, shows what a "similar products" widget would, without the shopper's earlier clicks.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { BackendRequest, Item } from '../core/index.js';
import type { Recommender, StorageKind } from '../index.js';
import { createRecommender } from '../index.js';
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

/** The catalogue, read by the shop itself, so products show before the recommender is ready. */
function useCatalog(url: string): { items: Item[]; error: string | null } {
  const [state, setState] = useState<{ items: Item[]; error: string | null }>({ items: [], error: null });
  useEffect(() => {
    let cancelled = false;
    fetch(url)
      .then((r) => (r.ok ? (r.json() as Promise<unknown>) : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then(
        (data) => {
          if (!cancelled)
            setState({ items: Array.isArray(data) ? (data as Item[]) : [], error: Array.isArray(data) ? null : 'not a list of products' });
        },
        (err: unknown) => {
          if (!cancelled) setState({ items: [], error: String(err) });
        },
      );
    return () => {
      cancelled = true;
    };
  }, [url]);
  return state;
}

/**
 * A second recommender that never learns (learning rate 0), in a namespace of its own and kept in
 * `storage` (the page's, unless said), made while `wanted` holds and disposed when it stops.
 */
function useUnlearned(wanted: boolean, namespace: string, storage: StorageKind = STORAGE): Recommender | null {
  const [rec, setRec] = useState<Recommender | null>(null);
  useEffect(() => {
    if (!wanted) return;
    let cancelled = false;
    let created: Recommender | null = null;
    createRecommender({ ...OPTIONS, namespace, storage, head: FROZEN }).then(
      (r) => {
        created = r;
        if (cancelled) r.dispose();
        else setRec(r);
      },
      (err: unknown) => console.warn('Clickwise demo: the comparison list could not start', err),
    );
    return () => {
      cancelled = true;
      created?.dispose();
      setRec(null);
    };
  }, [wanted, namespace, storage]);
  return rec;
}

/**
 * The same clicks, never learned from: the shop's model alone. Started once the shopper's
 * recommender is ready, so it takes the catalogue's vectors from the cache that one filled and
 * does not slow the first recommendations.
 */
function useComparison(ready: Recommender | null): { rec: Recommender | null } {
  return { rec: useUnlearned(ready !== null, `${NAMESPACE}-without-learning`) };
}

/**
 * A recommender that knows only the product on screen (started when the shopper asks for the
 * comparison): at each product it forgets everything, then takes that one click, never learned
 * from. Its list is what a "similar products" widget shows, whatever came before.
 */
function useProductAlone(wanted: boolean, productId: string | null): { rec: Recommender | null; product: string | null } {
  // It starts again at every product, so nothing of it needs to outlive the page: kept in memory,
  // its resets and clicks write nothing to the shopper's browser.
  const rec = useUnlearned(wanted, `${NAMESPACE}-this-product-alone`, 'memory');
  const [product, setProduct] = useState<string | null>(null);
  const chain = useRef<Promise<unknown>>(Promise.resolve());
  const current = useRef<Recommender | null>(null);
  current.current = rec;
  useEffect(() => {
    if (!rec) {
      setProduct(null);
      return;
    }
    const id = productId && rec.item(productId) !== undefined ? productId : null;
    // One product after another, in order: a quick second product waits for the first's reset.
    chain.current = chain.current
      .then(async () => {
        await rec.reset();
        if (id) await rec.click(id);
        if (current.current === rec) setProduct(id);
      })
      .catch((err: unknown) => console.error('Clickwise demo: the comparison could not follow the product', err));
  }, [productId, rec]);
  return { rec, product };
}

type Comparison = 'none' | 'alone' | 'frozen';
const COMPARISONS: Record<Comparison, string> = {
  none: 'nothing',
  alone: 'this product alone',
  frozen: 'the list without learning',
};

const OPTIONS = { catalog: CATALOG, modelUrl: 'models/', backend: BACKEND, storage: STORAGE, wasmPaths: 'tfjs/' } as const;
const FROZEN = { learningRate: 0 };

export function App() {
  const { rec, progress, error } = useRecommender({ ...OPTIONS, namespace: NAMESPACE });
  const frozen = useComparison(rec);
  const stats = useRecommenderStats(rec);
  const route = useRoute();
  const productId = route.startsWith('#/p/') ? decodeURIComponent(route.slice(4)) : null;
  const catalog = useCatalog(CATALOG);
  const items = rec?.items ?? catalog.items;
  const product = productId ? items.find((i) => i.id === productId) : undefined;
  const exclude = useMemo(() => (productId ? [productId] : []), [productId]);
  // While the shopper's pointer or focus is on the rail, another tab's clicks do not move its entries.
  const [railHeld, setRailHeld] = useState(false);
  const recs = useRecommendations(rec, { k: 10, exclude, hold: railHeld });
  const [compare, setCompare] = useState<Comparison>('none');
  const alone = useProductAlone(compare === 'alone', productId);
  const base = useRecommendations(compare === 'frozen' ? frozen.rec : compare === 'alone' ? alone.rec : null, { k: 10, exclude });
  // The second list's heading and what it says of itself.
  const comparison =
    compare === 'frozen'
      ? {
          title: 'Without learning',
          note: "The shop's model alone, after the same clicks: what the list would be if Clickwise did not learn.",
        }
      : {
          title: 'This product alone',
          note: !productId
            ? 'No product open: what every shopper is shown before a click.'
            : product && alone.product === productId
              ? `Only ${product.title}, none of your earlier clicks: what a "similar products" widget shows.`
              : 'Taking this product…',
        };

  // A product page opens at its top (on a phone the rail, above it, is then in view too).
  useEffect(() => {
    if (productId) window.scrollTo(0, 0);
  }, [productId]);
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

  // Opening a product page is the click we learn from (also when it comes from the rail). Each
  // recommender takes it once, when it is ready: the comparison gets the same clicks, unlearned.
  // Keyed by the id, not the item object: the list of items is replaced once the recommender is ready.
  useEffect(() => {
    if (!productId || !rec || !rec.items.some((i) => i.id === productId)) return;
    const t0 = performance.now();
    rec.click(productId).then(
      () => setClickTimes((ts) => [...ts.slice(-29), performance.now() - t0]),
      (err: unknown) => console.error('Clickwise: click not learned', err),
    );
  }, [productId, rec]);
  const frozenRec = frozen.rec;
  useEffect(() => {
    if (productId && frozenRec && frozenRec.items.some((i) => i.id === productId)) {
      frozenRec.click(productId).catch((err: unknown) => console.error('Clickwise: click not recorded for the comparison', err));
    }
  }, [productId, frozenRec]);

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
      {progress && !error && (
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
      <div className={compare !== 'none' ? 'layout comparing' : 'layout'}>
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
              {catalog.error && !rec && (
                <p className="error" role="alert">
                  The products could not be loaded ({catalog.error}).
                </p>
              )}
              {items.length > 0 && shown.length === 0 && <p>No product matches “{query}”.</p>}
            </>
          )}
        </main>
        <aside className="side">
          {error ? (
            <section className="rail unavailable" aria-label="Recommended for you">
              <h2>Recommended for you</h2>
              <p role="status">Recommendations are not available right now; the shop works as usual. ({error.message})</p>
            </section>
          ) : (
            <>
              <label className="compare">
                Compare with
                <select value={compare} onChange={(e) => setCompare(e.target.value as Comparison)} disabled={!rec}>
                  {(Object.keys(COMPARISONS) as Comparison[]).map((c) => (
                    <option key={c} value={c} disabled={c === 'frozen' && !frozen.rec}>
                      {COMPARISONS[c]}
                    </option>
                  ))}
                </select>
              </label>
              <div className={compare !== 'none' ? 'rails two' : 'rails'}>
                <Rail recs={recs.items} version={recs.version} items={items} clicks={stats?.clicks ?? 0} onHold={setRailHeld} />
                {compare !== 'none' && (
                  <Rail
                    key={compare}
                    recs={base.items}
                    version={base.version}
                    items={items}
                    clicks={stats?.clicks ?? 0}
                    title={comparison.title}
                    note={comparison.note}
                  />
                )}
              </div>
              <LearningPanel
                stats={stats}
                recs={recs.items}
                items={items}
                clickTimes={clickTimes}
                refreshMs={recs.refreshMs}
                onReset={() => {
                  void rec?.reset();
                  void frozen.rec?.reset();
                }}
              />
            </>
          )}
        </aside>
      </div>
    </div>
  );
}
