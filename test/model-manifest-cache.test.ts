/**
 * The model folder's manifest.json is replaced in place by each maintenance run, and the head
 * folder it names before goes at the next run: a browser asks for it revalidated, never from a
 * stale cached copy, while the files it names (written once) are asked for as usual.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultFetcher, fetchJson, prefetchingFetcher } from '../src/core/model-io.js';
import { loadModelManifest } from '../src/core/model.js';

afterEach(() => vi.unstubAllGlobals());

/** A global fetch that records each request's init and answers `body`. */
function recordingFetch(body: unknown): { url: string; init: RequestInit | undefined }[] {
  const seen: { url: string; init: RequestInit | undefined }[] = [];
  vi.stubGlobal('fetch', (url: string, init?: RequestInit) => {
    seen.push({ url, init });
    return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
  });
  return seen;
}

describe('the model manifest in a browser', () => {
  it('is fetched with cache: no-cache; other files are not', async () => {
    const seen = recordingFetch({ format: 1, version: 'v', encoder: 'encoder/', head: 'head/' });
    await loadModelManifest(defaultFetcher, 'https://shop.test/models/').catch(() => undefined);
    expect(seen.map((s) => s.url)).toEqual(['https://shop.test/models/manifest.json']);
    expect(seen[0]!.init?.cache).toBe('no-cache');
    await fetchJson(defaultFetcher, 'https://shop.test/models/head-abc/manifest.json');
    expect(seen[1]!.init?.cache).toBeUndefined();
  });

  it('is fetched revalidated through the tag’s prefetching fetcher too, once its early response is used', async () => {
    const seen = recordingFetch({});
    const early = new Map([['https://shop.test/models/manifest.json', Promise.resolve(new Response('{}'))]]);
    const fetcher = prefetchingFetcher(early);
    await fetcher('https://shop.test/models/manifest.json', { revalidate: true });
    expect(seen).toEqual([]);
    await fetcher('https://shop.test/models/manifest.json', { revalidate: true });
    expect(seen[0]!.init?.cache).toBe('no-cache');
  });
});
