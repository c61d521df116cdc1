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
import { prefetchingFetcher, whyText } from '../core/index.js';
import { earlyCatalogOf } from '../catalog-indexer.js';
import { createRecommender } from '../index.js';
import type { EarlyIndex } from '../early-index.js';
import type { PendingClick } from './pending.js';
import { readPending, removePending } from './pending.js';

/** What the tag's data attributes say, resolved to absolute URLs. */
export interface EmbedConfig {
  catalog: string;
  model: string;
  backend: string;
  namespace: string;
  wasmPaths: string;
  /** `data-recommend-viewed`: show recently clicked items again (repeat-purchase shops); `="false"`: never; absent: as the model says of the shop. */
  recommendViewed?: boolean;
  /** `data-latest-departments`: keep places for the shopper's latest departments; `="false"`: never; absent: as the model says of the shop. */
  keepLatestDepartments?: boolean;
  /** `data-compact-above`: the attribute's text (a number of bytes, or `never`), unchecked. */
  compactAbove?: string;
}

/** Clicks the tag recorded before the runtime was ready (see `pending.ts`). */
export interface EarlyClicks {
  /** Clicks kept in memory because localStorage was unusable. */
  memory: PendingClick[];
  /** Stops the tag's own recording (the runtime has taken over). */
  stop(): void;
}

/** A started runtime. */
export interface Runtime {
  recommender: Recommender;
  stop(): void;
}

const BACKENDS = ['auto', 'webgpu', 'wasm', 'webgl', 'cpu'];

/**
 * The link for an id, or null when none can be made safely. Ids are percent-encoded (a lone
 * surrogate, which `encodeURIComponent` rejects, becomes U+FFFD first). An id made only of dots
 * would be a `.` or `..` path segment, a link to a parent folder, so it gets no link.
 */
export function hrefFor(pattern: string, id: string): string | null {
  if (/^\.+$/.test(id)) return null;
  const wellFormed = id.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return pattern.replaceAll('{id}', encodeURIComponent(wellFormed));
}

/**
 * The ids of a slot's `data-exclude`: a JSON array (`["a b", "c"]`) for ids holding spaces, or
 * ids separated by spaces.
 */
export function parseExclude(raw: string | undefined): string[] {
  const text = (raw ?? '').trim();
  if (text.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(text);
      if (Array.isArray(v)) return v.filter((x) => typeof x === 'string' || typeof x === 'number').map(String);
    } catch {
      /* not JSON: fall through to the space-separated form */
    }
  }
  return text.split(/\s+/).filter((x) => x);
}
/** The events that tell which kind of pointer the shopper last used (see `touched` in `start`). */
const POINTER_EVENTS = ['pointerover', 'pointerdown'];

/** Longest a link click waits for its click to be stored before navigating anyway. */
const NAVIGATION_WAIT_MS = 400;

/** What a `data-field="because"` element says of a recommendation (the same words as a React storefront's). */
export { whyText };

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
      el.textContent = whyText(r, titleOf);
      break;
    case 'image':
      if (r.item.image && /^(https?:|\/|\.|[\w-]+\/)/i.test(r.item.image)) el.setAttribute('src', r.item.image);
      el.setAttribute('alt', '');
      break;
    case 'link': {
      const href = hrefPattern ? hrefFor(hrefPattern, r.id) : null;
      if (href !== null) el.setAttribute('href', href);
      break;
    }
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
      const href = hrefPattern ? hrefFor(hrefPattern, r.id) : null;
      const text = document.createElement(href !== null ? 'a' : 'span');
      text.textContent = r.item.title;
      if (href !== null) text.setAttribute('href', href);
      entry.appendChild(text);
    }
    entry.setAttribute('data-clickwise-item', r.id);
    list.appendChild(entry);
  }
  for (const old of Array.from(slot.children)) if (old.tagName !== 'TEMPLATE') old.remove();
  slot.appendChild(list);
  slot.setAttribute('aria-live', 'polite');
}

/** Whether a click on `link` is a plain same-tab navigation to another page. */
function leavesPage(ev: MouseEvent, link: HTMLAnchorElement): boolean {
  if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return false;
  if ((link.target && link.target !== '_self') || link.hasAttribute('download')) return false;
  try {
    const to = new URL(link.href, location.href);
    if (to.protocol !== 'http:' && to.protocol !== 'https:') return false;
    return to.href.split('#')[0] !== location.href.split('#')[0];
  } catch {
    return false; // an href the browser cannot parse: leave it to the browser
  }
}

/** `data-compact-above`: bytes of catalogue file from which it is kept deflated; `never`. */
export function compactAbove(raw: string): number {
  const text = raw.trim();
  if (text === 'never') return Number.POSITIVE_INFINITY;
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || n < 0) {
    throw new Error(
      `data-compact-above="${raw}" is not valid. Give the catalogue file's size in bytes from which it is kept compressed (0: always), or "never".`,
    );
  }
  return n;
}

/** Starts Clickwise on this page. `early` holds clicks the tag recorded before this point. */
export async function start(
  config: EmbedConfig,
  early: EarlyClicks = { memory: [], stop: () => undefined },
  prefetched: Map<string, Promise<Response>> = new Map(),
  earlyIndex?: EarlyIndex,
): Promise<Runtime> {
  if (!config.catalog) {
    throw new Error('clickwise.js needs data-catalog: add data-catalog="/path/to/catalog.json" to its <script> tag.');
  }
  if (!BACKENDS.includes(config.backend)) {
    throw new Error(`data-backend="${config.backend}" is not valid. Use one of: ${BACKENDS.join(', ')}.`);
  }
  const compact = config.compactAbove === undefined ? undefined : compactAbove(config.compactAbove);
  const rec = await createRecommender({
    catalog: config.catalog,
    modelUrl: config.model,
    backend: config.backend as BackendRequest,
    namespace: config.namespace,
    wasmPaths: config.wasmPaths,
    ...(config.recommendViewed !== undefined ? { recommendViewed: config.recommendViewed === true } : {}),
    ...(config.keepLatestDepartments !== undefined ? { keepLatestDepartments: config.keepLatestDepartments === true } : {}),
    ...(compact !== undefined ? { compactCatalogAbove: compact } : {}),
    // The files the tag began to download are taken from there.
    fetcher: prefetchingFetcher(prefetched),
    // The catalogue, which the tag's worker took as it downloaded.
    ...(earlyIndex ? { earlyCatalog: earlyCatalogOf(earlyIndex) } : {}),
    onWarning: (w) => console.warn(`Clickwise: ${w.message}`),
  });
  const titleOf = (id: string): string => rec.item(id)?.title ?? id;
  const reported = new Set<string>();
  const known = (id: string): boolean => {
    if (rec.item(id) !== undefined) return true;
    if (!reported.has(id)) {
      reported.add(id);
      console.error(
        `Clickwise: data-clickwise-item="${id}" is not in the catalogue, so clicks on it are not learned. Use the catalogue's item ids.`,
      );
    }
    return false;
  };
  const learn = (id: string): Promise<void> =>
    rec.click(id).catch((err: unknown) => console.error('Clickwise: a click could not be learned', err));

  const addListener = EventTarget.prototype.addEventListener;
  const removeListener = EventTarget.prototype.removeEventListener;
  const onClick = (ev: MouseEvent): void => {
    const target = ev.target instanceof Element ? ev.target.closest('[data-clickwise-item]') : null;
    if (!target) return;
    const id = target.getAttribute('data-clickwise-item') ?? '';
    if (!known(id)) return;
    const done = learn(id);
    // A plain left click on a link that leaves the page: give the click a moment to be stored.
    // Decided after the page's own handlers have run (bubbling to window), so a page that calls
    // preventDefault (quick view, client-side router) keeps control of its link.
    const link = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
    if (!(link instanceof HTMLAnchorElement) || ev.defaultPrevented || !leavesPage(ev, link)) return;
    const afterPage = (late: Event): void => {
      if (late !== ev) return;
      removeListener.call(window, 'click', afterPage as EventListener, false);
      if (ev.defaultPrevented) return;
      ev.preventDefault();
      const go = (): void => location.assign(link.href);
      void Promise.race([done, new Promise((r) => setTimeout(r, NAVIGATION_WAIT_MS))]).then(go);
    };
    addListener.call(window, 'click', afterPage as EventListener, false);
    // If a handler stops propagation, the browser follows the link itself; drop the listener.
    setTimeout(() => removeListener.call(window, 'click', afterPage as EventListener, false), 0);
  };
  /**
   * Whether the last pointer the page saw is a touch: a touch screen leaves `:hover` on what was
   * tapped until the next tap elsewhere, with no pointer over it (and none to leave it).
   */
  let touched = false;
  const onPointer = (ev: PointerEvent): void => void (touched = ev.pointerType === 'touch');
  addListener.call(window, 'click', onClick as EventListener, true);
  for (const type of POINTER_EVENTS) addListener.call(window, type, onPointer as EventListener, true);
  // From here on this runtime learns clicks itself; then it learns those made before it was ready.
  early.stop();
  const drained = (async () => {
    for (const p of early.memory.splice(0)) if (known(p.id)) await learn(p.id);
    const run = async (): Promise<void> => {
      for (const p of readPending(config.namespace)) {
        if (known(p.id)) await learn(p.id);
        removePending(config.namespace, p.key);
      }
    };
    // Two tabs starting together must not both learn the same pending click.
    const locks = (navigator as { locks?: { request(name: string, cb: () => Promise<void>): Promise<void> } }).locks;
    if (locks) await locks.request(`clickwise:pending:${config.namespace}`, run);
    else await run();
  })().catch((err: unknown) => console.error('Clickwise: clicks made before loading could not be learned', err));

  let frame = 0;
  /** Whether the frame's render was asked for by the shopper here (a click, a reset), not only by another tab or a new file. */
  let asked = false;
  let stopped = false;
  const refresh = (byShopper = true): void => {
    // A slot left after stop() (its listeners are the slot's own) asks for nothing.
    if (stopped) return;
    asked ||= byShopper;
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const now = asked;
      asked = false;
      void renderAll(now);
    });
  };
  /**
   * A slot the shopper's pointer is on, or that holds the focus, is not redrawn for an update the
   * shopper did not make here (another tab's click, the shop's delta, the base's transitions, a
   * slot the page added elsewhere): its items would move under the pointer. It is drawn once the
   * pointer or the focus leaves it. An empty slot is always filled. A touch holds no slot (see
   * `touched`): the tapped slot keeps `:hover`, but no finger rests on it.
   */
  const inUse = (slot: HTMLElement): boolean => (!touched && slot.matches(':hover')) || slot.contains(document.activeElement);
  const held = new WeakSet<HTMLElement>();
  const holdUntilLeft = (slot: HTMLElement): void => {
    if (held.has(slot)) return;
    held.add(slot);
    const left = (): void => {
      if (inUse(slot)) return;
      held.delete(slot);
      slot.removeEventListener('pointerleave', left);
      slot.removeEventListener('focusout', later);
      refresh(false);
    };
    // The focus moves to its next element after focusout: read where it went then.
    const later = (): void => void setTimeout(left, 0);
    slot.addEventListener('pointerleave', left);
    slot.addEventListener('focusout', later);
  };
  const renderAll = async (byShopper = true): Promise<void> => {
    const slots = Array.from(document.querySelectorAll<HTMLElement>('[data-clickwise-slot]'));
    const shown: string[] = [];
    for (const slot of slots) {
      if (!byShopper && slot.childElementCount > 0 && inUse(slot)) {
        holdUntilLeft(slot);
        continue;
      }
      const kRaw = Number(slot.dataset['k'] ?? 4);
      const k = Number.isInteger(kRaw) && kRaw > 0 ? kRaw : 4;
      const exclude = parseExclude(slot.dataset['exclude']);
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
  const offUpdate = rec.on('update', (e) => refresh(e.source === 'local' || e.source === 'reset'));
  // Slots added later (client-side rendering) are filled too.
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      for (const n of Array.from(r.addedNodes)) {
        if (n instanceof Element && (n.matches('[data-clickwise-slot]') || n.querySelector('[data-clickwise-slot]'))) {
          refresh(false);
          return;
        }
      }
    }
  });
  observer.observe(document.body, { childList: true, subtree: true });
  await drained;
  await renderAll();
  return {
    recommender: rec,
    stop() {
      stopped = true;
      if (frame) cancelAnimationFrame(frame);
      removeListener.call(window, 'click', onClick as EventListener, true);
      for (const type of POINTER_EVENTS) removeListener.call(window, type, onPointer as EventListener, true);
      observer.disconnect();
      offUpdate();
      rec.dispose();
    },
  };
}
