/**
 * The browser's side of the shop delta: downloads `delta/manifest.json` with a conditional GET
 * (no query string, no body, no cookie; the browser's HTTP cache sends If-None-Match /
 * If-Modified-Since, and in Node the client sends them itself), then the payload it names, checks
 * it, and hands ψ over to be fused. Anything wrong (another base, a torn or corrupt file, a
 * network error) is reported once and the last good delta stays in force.
 */
import { alignShopDelta, parseShopDeltaManifest, parseShopDeltaPayload, rowsFit } from './shop-delta.js';
import type { DeltaTarget, ShopDeltaManifest } from './shop-delta.js';
import { hasPage, isUrl, joinLocation, sha256Hex } from './model-io.js';

/** The delta in force, as `stats().shopDelta` reports it. */
export interface ShopDeltaInfo {
  seq: number;
  baseVersion: string;
  /** Items of this catalogue that ψ moves. */
  items: number;
  /**
   * Items of this catalogue whose figure of what sells now the delta carries (the shopper's own
   * items rank by them); 0 where it carries none, and the base's figures stay.
   */
  recentItems: number;
  /** Time of the newest event the shop had learned (ISO 8601), or null. */
  eventsThrough: string | null;
}

/** Reads a location: status 304 (unchanged), 404 (none), or 200 with the bytes. */
export type ConditionalFetch = (
  location: string,
  validators: { etag: string | null; lastModified: string | null },
) => Promise<{ status: 200 | 304 | 404; bytes?: ArrayBuffer; etag?: string | null; lastModified?: string | null }>;

/** `fetch` for URLs (a browser revalidates from its cache; Node sends the validators), `fs` for Node paths. */
export const defaultConditionalFetch: ConditionalFetch = async (location, validators) => {
  if (isUrl(location) || hasPage()) {
    const page = hasPage();
    const headers: Record<string, string> = {};
    // In a page the HTTP cache adds the validators itself; set by hand they would make a
    // cross-origin request need a preflight.
    if (!page && validators.etag) headers['if-none-match'] = validators.etag;
    if (!page && validators.lastModified) headers['if-modified-since'] = validators.lastModified;
    const res = await fetch(location, { cache: 'no-cache', credentials: 'omit', headers });
    if (res.status === 304) return { status: 304 };
    if (res.status === 404) return { status: 404 };
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return { status: 200, bytes: await res.arrayBuffer(), etag: res.headers.get('etag'), lastModified: res.headers.get('last-modified') };
  }
  const path = location.startsWith('file://') ? new URL(location).pathname : location;
  const fsName = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsName)) as { readFile(p: string): Promise<Uint8Array> };
  try {
    const buf = await fs.readFile(path);
    return { status: 200, bytes: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer };
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { status: 404 };
    throw err;
  }
};

/** What one refresh found. */
export type RefreshResult = 'applied' | 'unchanged' | 'missing' | 'rejected';

export class ShopDeltaClient {
  private etag: string | null = null;
  private lastModified: string | null = null;
  private current: ShopDeltaManifest | null = null;
  private readonly warned = new Set<string>();
  private running: Promise<RefreshResult> | null = null;
  info: ShopDeltaInfo | null = null;

  /**
   * @param folder the delta folder (URL or Node path), e.g. `<modelUrl>/delta/`.
   * @param target the catalogue's ids, and the base's rows where the page has the base's items
   *   (a payload lists the items the base knows by row).
   * @param apply fuses ψ (dense over the catalogue) into the head, with what sold lately where
   *   the delta has it (else null: the base's stays).
   * @param warnMissing warn (once) when there is no delta: true when the page asked for one.
   */
  constructor(
    private readonly folder: string,
    private readonly baseVersion: string,
    private readonly target: DeltaTarget,
    private readonly apply: (psi: Float32Array, info: ShopDeltaInfo, recent: Float32Array | null) => void,
    private readonly warn: (code: string, message: string) => void,
    private readonly warnMissing: boolean,
    private readonly fetcher: ConditionalFetch = defaultConditionalFetch,
  ) {}

  private once(key: string, code: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.warn(code, message);
  }

  /** Fetches the manifest and, when it names a new payload, the payload; fuses it. Never throws. */
  refresh(): Promise<RefreshResult> {
    // One at a time: a refresh asked for while one runs gets that one's answer.
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<RefreshResult> {
    const where = joinLocation(this.folder, 'manifest.json');
    let manifest: ShopDeltaManifest;
    try {
      const r = await this.fetcher(where, { etag: this.etag, lastModified: this.lastModified });
      if (r.status === 304) return 'unchanged';
      if (r.status === 404) {
        if (this.warnMissing)
          this.once(
            'missing',
            'shop-delta/missing',
            `No shop delta at ${where}; recommending from the base${this.info ? ' and the last delta' : ''}. Is the stream job (npm run stream) publishing there?`,
          );
        return 'missing';
      }
      manifest = parseShopDeltaManifest(new TextDecoder().decode(r.bytes!), where);
      if (this.current && manifest.seq === this.current.seq && manifest.sha256 === this.current.sha256) {
        this.etag = r.etag ?? null;
        this.lastModified = r.lastModified ?? null;
        return 'unchanged';
      }
      if (manifest.baseVersion !== this.baseVersion) {
        this.once(
          `base:${manifest.baseVersion}`,
          'shop-delta/base',
          `The shop delta at ${where} was learned on base ${manifest.baseVersion}, not on this page's ${this.baseVersion}; it is ignored${this.info ? ' and the last good one stays' : ''} until the stream job publishes one for this base.`,
        );
        return 'rejected';
      }
      const at = joinLocation(this.folder, manifest.path);
      const p = await this.fetcher(at, { etag: null, lastModified: null });
      if (p.status !== 200) throw new Error(`${at} is missing`);
      const payload = parseShopDeltaPayload(p.bytes!, await sha256Hex(p.bytes!), manifest, at);
      // The rows are read once the page's base can name their items.
      if (this.target.ready) await this.target.ready;
      if (!rowsFit(payload, manifest, this.target)) {
        this.once(
          `items:${manifest.baseItems ?? 'none'}`,
          'shop-delta/base',
          `The shop delta at ${where} lists items by their row in a base item list (items.txt ${manifest.baseItems ?? 'not named'}) that is not this page's; it is ignored${this.info ? ' and the last good one stays' : ''} until the stream job publishes one for this base.`,
        );
        return 'rejected';
      }
      const { psi, recent, items, recentItems } = alignShopDelta(payload, this.target);
      const info: ShopDeltaInfo = {
        seq: manifest.seq,
        baseVersion: manifest.baseVersion,
        items,
        recentItems,
        eventsThrough: manifest.eventsThrough,
      };
      this.apply(psi, info, recent);
      this.info = info;
      this.current = manifest;
      this.etag = r.etag ?? null;
      this.lastModified = r.lastModified ?? null;
      return 'applied';
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.once(
        `bad:${reason}`,
        'shop-delta/unusable',
        `The shop delta at ${this.folder} cannot be used (${reason}); ${this.info ? 'the last good one stays' : 'recommending from the base alone'}.`,
      );
      return 'rejected';
    }
  }
}
