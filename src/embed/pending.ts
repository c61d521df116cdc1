/**
 * Clicks made before Clickwise is ready (the runtime loads after the page, when the browser is
 * idle). The tag records them here at once, and the runtime learns them when it starts. They are
 * kept in `localStorage` under `clickwise:pending:<namespace>`, so a click on a product link that
 * leaves the page before the runtime has loaded is learned by the next page of the shop. Nothing
 * here leaves the browser. Where `localStorage` is blocked they are kept in memory for this page.
 */

/** One click recorded before the runtime was ready. */
export interface PendingClick {
  /** Unique per click, so that an entry is removed exactly once when it has been learned. */
  key: string;
  id: string;
  t: number;
}

/** More than this many clicks before ready are not kept (the oldest go first). */
export const MAX_PENDING = 50;

export const pendingKey = (namespace: string): string => `clickwise:pending:${namespace}`;

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // blocked storage throws on access
  }
}

/** The clicks waiting for `namespace`, oldest first. Malformed entries are ignored. */
export function readPending(namespace: string): PendingClick[] {
  try {
    const raw: unknown = JSON.parse(storage()?.getItem(pendingKey(namespace)) ?? '[]');
    if (!Array.isArray(raw)) return [];
    return raw.filter(
      (p: unknown): p is PendingClick =>
        typeof p === 'object' &&
        p !== null &&
        typeof (p as PendingClick).key === 'string' &&
        typeof (p as PendingClick).id === 'string' &&
        typeof (p as PendingClick).t === 'number',
    );
  } catch {
    return [];
  }
}

function writePending(namespace: string, list: PendingClick[]): boolean {
  const s = storage();
  if (!s) return false;
  try {
    if (list.length) s.setItem(pendingKey(namespace), JSON.stringify(list.slice(-MAX_PENDING)));
    else s.removeItem(pendingKey(namespace));
    return true;
  } catch {
    return false; // quota, or storage blocked
  }
}

/** Records a click; returns false when it could be kept in memory only. */
export function pushPending(namespace: string, click: PendingClick): boolean {
  return writePending(namespace, [...readPending(namespace), click]);
}

/** Removes one learned click. */
export function removePending(namespace: string, key: string): void {
  const list = readPending(namespace);
  const rest = list.filter((p) => p.key !== key);
  if (rest.length !== list.length) writePending(namespace, rest);
}
