/**
 * The storefront runtime, imported lazily by `clickwise.js`: creates the recommender, learns from
 * clicks on `[data-clickwise-item]` (present at load or added later), and fills every
 * `[data-clickwise-slot]` with recommendations, as text only, refreshed after each click.
 *
 * Slot markup: `data-k` (default 4), `data-exclude` (an id not to show, e.g. the product on the
 * page), `data-href` (a link pattern with `{id}`), and an optional `<template>` for one entry
 * whose elements carry `data-field="title|description|category|price|because|image|link"`.
 */
import type { BackendRequest, Recommendation, Recommender } from '../core/index.js';
import { createRecommender } from '../index.js';

/** What the tag's data attributes say, resolved to absolute URLs. */
export interface EmbedConfig {
  catalog: string;
  model: string;
  backend: string;
  namespace: string;
  wasmPaths: string;
}

/** A started runtime. */
export interface Runtime {
  recommender: Recommender;
  stop(): void;
}

const BACKENDS = ['auto', 'webgpu', 'wasm', 'webgl', 'cpu'];
/** Longest a link click waits for its click to be stored before navigating anyway. */
const NAVIGATION_WAIT_MS = 400;

function fill(el: Element, field: string, r: Recommendation, hrefPattern: string | null, titleOf: (id: string) => string): void {
  switch (field) {
    case 'title':
    case 'description':
    case 'category':
      el.textContent = r.item[field] ?? '';
      break;
    case 'price':
      el.textContent = r.item.price !== undefined ? r.item.price.toFixed(2) : '';
      break;
    case 'because':
      el.textContent = r.because[0] ? `because you viewed ${titleOf(r.because[0].id)}` : '';
      break;
    case 'image':
      if (r.item.image && /^(https?:|\/|\.|[\w-]+\/)/i.test(r.item.image)) el.setAttribute('src', r.item.image);
      el.setAttribute('alt', '');
      break;
    case 'link':
      if (hrefPattern) el.setAttribute('href', hrefPattern.replaceAll('{id}', encodeURIComponent(r.id)));
      break;
  }
}

/** Renders one slot. Only `textContent` and attribute setters: product text is never parsed as HTML. */
function renderSlot(slot: HTMLElement, recs: Recommendation[], titleOf: (id: string) => string): void {
  const template = slot.querySelector(':scope > template');
  const hrefPattern = slot.dataset['href'] ?? null;
  const list = document.createElement('ol');
  list.className = 'clickwise-list';
  for (const r of recs) {
    let entry: Element;
    if (template instanceof HTMLTemplateElement) {
      const frag = template.content.cloneNode(true) as DocumentFragment;
      entry = frag.firstElementChild ?? document.createElement('li');
      for (const el of Array.from(frag.querySelectorAll('[data-field]')))
        fill(el, el.getAttribute('data-field') ?? '', r, hrefPattern, titleOf);
      if (entry.hasAttribute('data-field')) fill(entry, entry.getAttribute('data-field') ?? '', r, hrefPattern, titleOf);
    } else {
      entry = document.createElement('li');
      const text = document.createElement(hrefPattern ? 'a' : 'span');
      text.textContent = r.item.title;
      if (hrefPattern) text.setAttribute('href', hrefPattern.replaceAll('{id}', encodeURIComponent(r.id)));
      entry.appendChild(text);
    }
    entry.setAttribute('data-clickwise-item', r.id);
    list.appendChild(entry);
  }
  for (const old of Array.from(slot.children)) if (old.tagName !== 'TEMPLATE') old.remove();
  slot.appendChild(list);
  slot.setAttribute('aria-live', 'polite');
}

/** Starts Clickwise on this page. */
export async function start(config: EmbedConfig): Promise<Runtime> {
  if (!config.catalog) {
    throw new Error('clickwise.js needs data-catalog: add data-catalog="/path/to/catalog.json" to its <script> tag.');
  }
  if (!BACKENDS.includes(config.backend)) {
    throw new Error(`data-backend="${config.backend}" is not valid. Use one of: ${BACKENDS.join(', ')}.`);
  }
  const rec = await createRecommender({
    catalog: config.catalog,
    modelUrl: config.model,
    backend: config.backend as BackendRequest,
    namespace: config.namespace,
    wasmPaths: config.wasmPaths,
    onWarning: (w) => console.warn(`Clickwise: ${w.message}`),
  });
  const titles = new Map(rec.items.map((i) => [i.id, i.title]));
  const titleOf = (id: string): string => titles.get(id) ?? id;
  const reported = new Set<string>();

  const onClick = (ev: MouseEvent): void => {
    const target = ev.target instanceof Element ? ev.target.closest('[data-clickwise-item]') : null;
    if (!target) return;
    const id = target.getAttribute('data-clickwise-item') ?? '';
    if (!titles.has(id)) {
      if (!reported.has(id)) {
        reported.add(id);
        console.error(
          `Clickwise: data-clickwise-item="${id}" is not in the catalogue, so clicks on it are not learned. Use the catalogue's item ids.`,
        );
      }
      return;
    }
    const done = rec.click(id).catch((err: unknown) => console.error('Clickwise: a click could not be learned', err));
    // A plain left click on a link that leaves the page: wait (briefly) for the click to be stored.
    const link = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
    if (
      link instanceof HTMLAnchorElement &&
      ev.button === 0 &&
      !ev.defaultPrevented &&
      !(ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) &&
      (!link.target || link.target === '_self') &&
      !link.hasAttribute('download') &&
      new URL(link.href, location.href).href.split('#')[0] !== location.href.split('#')[0]
    ) {
      ev.preventDefault();
      const go = (): void => location.assign(link.href);
      void Promise.race([done, new Promise((r) => setTimeout(r, NAVIGATION_WAIT_MS))]).then(go);
    }
  };
  document.addEventListener('click', onClick, true);

  let frame = 0;
  const refresh = (): void => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      void renderAll();
    });
  };
  const renderAll = async (): Promise<void> => {
    const slots = Array.from(document.querySelectorAll<HTMLElement>('[data-clickwise-slot]'));
    const shown: string[] = [];
    for (const slot of slots) {
      const kRaw = Number(slot.dataset['k'] ?? 4);
      const k = Number.isInteger(kRaw) && kRaw > 0 ? kRaw : 4;
      const exclude = (slot.dataset['exclude'] ?? '').split(/\s+/).filter((x) => x);
      try {
        const recs = await rec.recommend({ k, exclude });
        renderSlot(slot, recs, titleOf);
        shown.push(...recs.map((r) => r.id));
      } catch (err) {
        console.error('Clickwise: could not fill a recommendation slot', err);
      }
    }
    if (shown.length) rec.impression(shown);
  };
  const offUpdate = rec.on('update', refresh);
  // Slots added later (client-side rendering) are filled too.
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of Array.from(r.addedNodes)) {
        if (n instanceof Element && (n.matches('[data-clickwise-slot]') || n.querySelector('[data-clickwise-slot]'))) {
          refresh();
          return;
        }
      }
    }
  });
  observer.observe(document.body, { childList: true, subtree: true });
  await renderAll();
  return {
    recommender: rec,
    stop() {
      document.removeEventListener('click', onClick, true);
      observer.disconnect();
      offUpdate();
      rec.dispose();
    },
  };
}
