/**
 * `clickwise.js`: the one tag a shop adds. This classic script is tiny on purpose: it reads its
 * own data attributes, defines `window.Clickwise.ready`, and only after the page has loaded does
 * it import the runtime (tfjs, the chosen backend and the model) from next to itself.
 *
 *   <script src="/clickwise/clickwise.js" data-catalog="/catalog.json" data-model="/clickwise/models/"></script>
 */
import type { EmbedConfig, Runtime } from './runtime.js';

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
  const script = document.currentScript as HTMLScriptElement | null;
  if (!script || window.Clickwise) return;
  const d = script.dataset;
  const scriptUrl = script.src || location.href;
  const config: EmbedConfig = {
    catalog: d['catalog'] ? new URL(d['catalog'], document.baseURI).href : '',
    model: new URL(d['model'] ?? 'models/', scriptUrl).href,
    backend: d['backend'] ?? 'auto',
    namespace: d['namespace'] ?? 'default',
    wasmPaths: new URL('tfjs/', scriptUrl).href,
  };
  let settle: { resolve: (v: unknown) => void; reject: (e: unknown) => void } = { resolve: () => undefined, reject: () => undefined };
  const ready = new Promise<unknown>((resolve, reject) => (settle = { resolve, reject }));
  // The page may never await `ready`: the console error below is the one report of a failure.
  ready.catch(() => undefined);
  window.Clickwise = { ready, version: __CLICKWISE_VERSION__ };

  const start = (): void => {
    import(/* @vite-ignore */ new URL('embed/runtime.js', scriptUrl).href)
      .then((m: { start(c: EmbedConfig): Promise<Runtime> }) => m.start(config))
      .then(
        (rt) => settle.resolve(rt.recommender),
        (err: unknown) => {
          console.error(`Clickwise: ${err instanceof Error ? err.message : String(err)}`);
          settle.reject(err);
        },
      );
  };
  // Load after the page's own content, when the browser is idle.
  const idle = (): void => {
    const ric = (window as { requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => void }).requestIdleCallback;
    if (ric) ric(start, { timeout: 2000 });
    else setTimeout(start, 1);
  };
  if (document.readyState === 'complete') idle();
  else addEventListener('load', idle, { once: true });
})();
