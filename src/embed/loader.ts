/**
 * `clickwise.js`: the one tag a shop adds. This classic script is tiny on purpose: it reads its
 * own data attributes, defines `window.Clickwise.ready`, records clicks made before Clickwise is
 * ready, and only after the page has loaded does it import the runtime (tfjs, the chosen backend
 * and the model) from next to itself.
 *
 *   <script src="/clickwise/clickwise.js" data-catalog="/catalog.json" data-model="/clickwise/models/"></script>
 *
 * Markup on the page can shadow `document` properties (an `<img name="currentScript">` makes
 * `document.currentScript` that image: "DOM clobbering"). Everything this script reads from
 * `document` or `window` is therefore read through the prototypes' own getters, and checked.
 */
import type { EarlyIndex } from '../early-index.js';
import { startEarlyIndex } from '../early-index.js';
import type { PendingClick } from './pending.js';
import { pushPending } from './pending.js';
import type { EarlyClicks, EmbedConfig, Runtime } from './runtime.js';

interface ClickwiseGlobal {
  ready: Promise<unknown>;
  version: string;
}

declare global {
  interface Window {
    Clickwise?: ClickwiseGlobal;
  }
}

declare const __CLICKWISE_VERSION__: string;

(() => {
  const docGet = <T>(name: string): T => Object.getOwnPropertyDescriptor(Document.prototype, name)!.get!.call(document) as T;
  const script = docGet<unknown>('currentScript');
  if (!(script instanceof HTMLScriptElement)) {
    console.error('Clickwise: clickwise.js must be loaded by its own classic <script src> tag; it did not start.');
    return;
  }
  // Only a real earlier tag counts: an element with id="Clickwise" is not an own property of window.
  if (Object.getOwnPropertyDescriptor(window, 'Clickwise')) return;
  const d = script.dataset;
  const scriptUrl = script.src || location.href;
  const namespace = d['namespace'] ?? 'default';
  const config: EmbedConfig = {
    catalog: d['catalog'] ? new URL(d['catalog'], script.baseURI).href : '',
    model: new URL(d['model'] ?? 'models/', scriptUrl).href,
    backend: d['backend'] ?? 'auto',
    namespace,
    wasmPaths: new URL('tfjs/', scriptUrl).href,
    // Absent: the model's own default for the shop.
    ...(d['recommendViewed'] !== undefined ? { recommendViewed: d['recommendViewed'] !== 'false' } : {}),
    ...(d['latestDepartments'] !== undefined ? { keepLatestDepartments: d['latestDepartments'] !== 'false' } : {}),
    ...(d['compactAbove'] !== undefined ? { compactAbove: d['compactAbove'] } : {}),
  };
  let settle: { resolve: (v: unknown) => void; reject: (e: unknown) => void } = { resolve: () => undefined, reject: () => undefined };
  const ready = new Promise<unknown>((resolve, reject) => (settle = { resolve, reject }));
  // The page may never await `ready`: the console error below is the one report of a failure.
  ready.catch(() => undefined);
  Object.defineProperty(window, 'Clickwise', { value: { ready, version: __CLICKWISE_VERSION__ }, configurable: true });

  // Clicks before the runtime is ready: kept in localStorage (a link may leave the page first),
  // or in memory where storage is blocked. The runtime learns them, then takes over.
  const memory: PendingClick[] = [];
  let n = 0;
  const onEarlyClick = (ev: Event): void => {
    const el = ev.target instanceof Element ? ev.target.closest('[data-clickwise-item]') : null;
    const id = el?.getAttribute('data-clickwise-item');
    if (!id) return;
    const click = { key: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${n++}`, id, t: Date.now() };
    if (!pushPending(namespace, click)) memory.push(click);
  };
  const addListener = EventTarget.prototype.addEventListener;
  const removeListener = EventTarget.prototype.removeEventListener;
  addListener.call(window, 'click', onEarlyClick, true);
  const early: EarlyClicks = {
    memory,
    stop: () => removeListener.call(window, 'click', onEarlyClick, true),
  };

  const start = (): void => {
    // The model's manifest downloads while the runtime's code does; so does the catalogue, by the
    // catalogue's worker, which parses it meanwhile (a first visit) or checks it against what was
    // saved (a later one); by the page where the worker cannot start.
    const prefetched = new Map<string, Promise<Response>>();
    const prefetch = (url: string, init?: RequestInit): void => {
      const pending = fetch(url, init);
      pending.catch(() => undefined);
      prefetched.set(url, pending);
    };
    // The model's manifest is replaced in place by each maintenance run: checked with the server.
    prefetch(config.model.endsWith('/') ? `${config.model}manifest.json` : `${config.model}/manifest.json`, { cache: 'no-cache' });
    const earlyIndex = config.catalog
      ? startEarlyIndex(
          config.catalog,
          config.catalog,
          // The catalogue named after `#` (never sent): the worker asks for it as it starts.
          () =>
            new Worker(new URL(`embed/catalog-worker.js#${encodeURIComponent(config.catalog)}`, scriptUrl).href, {
              type: 'module',
              name: 'clickwise-catalog',
            }),
          () => prefetch(config.catalog),
          undefined,
          config.model,
          config.compactAbove,
        )
      : undefined;
    import(/* @vite-ignore */ new URL('embed/runtime.js', scriptUrl).href)
      .then((m: { start(c: EmbedConfig, e: EarlyClicks, p: Map<string, Promise<Response>>, i?: EarlyIndex): Promise<Runtime> }) =>
        // The runtime's modules have just been evaluated, in this same task: Clickwise starts in
        // the next one, so that the two do not make one long task.
        new Promise<void>((r) => setTimeout(r, 0)).then(() => m.start(config, early, prefetched, earlyIndex)),
      )
      .then(
        (rt) => settle.resolve(rt.recommender),
        (err: unknown) => {
          early.stop();
          console.error(`Clickwise: ${err instanceof Error ? err.message : String(err)}`);
          settle.reject(err);
        },
      );
  };
  // Load after the page's own content, when the browser is idle.
  const idle = (): void => {
    const ric = (window as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => void }).requestIdleCallback;
    if (typeof ric === 'function') ric.call(window, start, { timeout: 2000 });
    else setTimeout(start, 1);
  };
  if (docGet<string>('readyState') === 'complete') idle();
  else addListener.call(window, 'load', idle, { once: true });
})();
