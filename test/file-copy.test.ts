/**
 * The catalogue file's copy in the origin's private file system (`storage/file-copy.ts`), on a
 * file system in memory.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  copying,
  copyName,
  HEAD_BYTES,
  MAX_COPIES,
  noteDigest,
  openCopy,
  openTextCopy,
  readEntryCopy,
  startCopy,
  startEntryCopy,
  strongEtag,
  TEXT_SUFFIX,
} from '../src/storage/file-copy.js';
import type { CompactText } from '../src/core/catalog.js';
import { withAsciiText } from '../src/core/id-table.js';
import type { PreparedCatalog, PreparedMatrix } from '../src/core/prepared.js';
import { digestBytes, streamDigest } from '../src/core/prepared.js';
import { ENCODE_PIECE } from '../src/core/id-text.js';
import { Slicer } from '../src/core/slice.js';
import 'fake-indexeddb/auto';
import { IndexedDbPreparedCache } from '../src/storage/prepared-cache.js';
import { fakeFileSystem } from './helpers.js';

/** The copy kept with `etag` for `location`, read whole with its noted digest, or null. */
async function readCopy(location: string, etag: string): Promise<{ bytes: Uint8Array; digest: string | null } | null> {
  const copy = await openCopy(location, etag);
  if (!copy) return null;
  try {
    const bytes = copy.read();
    return bytes && { bytes, digest: copy.digest };
  } finally {
    copy.close();
  }
}

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);
const textOf = (copy: { bytes: Uint8Array } | null): string | null => copy && new TextDecoder().decode(copy.bytes);

/** Keeps `text` as the copy of `location` sent with `etag`, in pieces of `piece` bytes. */
async function keep(location: string, etag: string, text: string, piece = 3): Promise<void> {
  const copy = (await startCopy(location, etag))!;
  const bytes = bytesOf(text);
  for (let at = 0; at < bytes.length; at += piece) copy.write(bytes.subarray(at, at + piece));
  await copy.finish();
}

/**
 * The entry read from its copy with its ids' text decoded from the copy's UTF-8 bytes, as the page
 * decodes them: the copy leaves the text empty and gives its length in UTF-16 units.
 */
async function readEntryText(location: string, generation: string) {
  const copy = await readEntryCopy(location, generation);
  if (!copy) return null;
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(copy.idText);
  expect(copy.catalog.ids.text).toBe('');
  expect(copy.idTextLength).toBe(text.length);
  return { ...copy, catalog: { ...copy.catalog, ids: { ...copy.catalog.ids, text } } };
}

describe("the catalogue file's copy", () => {
  afterEach(() => vi.unstubAllGlobals());

  it('gives back the bytes kept with the same ETag, and nothing for another ETag or location', async () => {
    fakeFileSystem(vi.stubGlobal);
    await keep('/catalog.json', '"v1"', '[{"id":"a","title":"Apple €"}]');
    expect(textOf(await readCopy('/catalog.json', '"v1"'))).toBe('[{"id":"a","title":"Apple €"}]');
    expect(await readCopy('/catalog.json', '"v2"')).toBeNull();
    expect(await readCopy('/other.json', '"v1"')).toBeNull();
    // A new copy replaces the old one.
    await keep('/catalog.json', '"v2"', '[]');
    expect(await readCopy('/catalog.json', '"v1"')).toBeNull();
    expect(textOf(await readCopy('/catalog.json', '"v2"'))).toBe('[]');
  });

  it('reads as missing until it is finished, and after a failed download or a damaged header', async () => {
    const files = fakeFileSystem(vi.stubGlobal);
    const copy = (await startCopy('/c.json', '"v1"'))!;
    copy.write(bytesOf('[{"id":'));
    // Another tab's worker meanwhile: the handle is held, so it does without.
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
    expect(await startCopy('/c.json', '"v1"')).toBeNull();
    copy.abort();
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
    expect(files.get(copyName('/c.json'))!.data.length).toBe(0);

    await keep('/c.json', '"v1"', '[1,2,3]');
    const file = files.get(copyName('/c.json'))!;
    expect(file.data.length).toBe(HEAD_BYTES + 7);
    // Cut short (a write that did not end): the length no longer matches.
    file.data = file.data.slice(0, file.data.length - 1);
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
    await keep('/c.json', '"v1"', '[1,2,3]');
    const head = files.get(copyName('/c.json'))!.data;
    head[0] = head[0]! ^ 0xff;
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
  });

  it('notes a digest in the copy kept with the same ETag only, and a new copy drops it', async () => {
    fakeFileSystem(vi.stubGlobal);
    await keep('/c.json', '"v1"', '[1]');
    expect((await readCopy('/c.json', '"v1"'))!.digest).toBeNull();
    await noteDigest('/c.json', '"v2"', 'k64:other:3');
    expect((await readCopy('/c.json', '"v1"'))!.digest).toBeNull();
    await noteDigest('/c.json', '"v1"', 'k64:0011223344556677:3');
    expect(await readCopy('/c.json', '"v1"')).toEqual({ bytes: bytesOf('[1]'), digest: 'k64:0011223344556677:3' });
    await keep('/c.json', '"v1"', '[2]');
    expect(await readCopy('/c.json', '"v1"')).toEqual({ bytes: bytesOf('[2]'), digest: null });
  });

  it(`keeps the ${MAX_COPIES} most recently written copies`, async () => {
    const files = fakeFileSystem(vi.stubGlobal);
    for (const name of ['a', 'b', 'c', 'd']) await keep(`/${name}.json`, '"v"', `"${name}"`);
    expect(files.size).toBe(MAX_COPIES);
    expect(await readCopy('/a.json', '"v"')).toBeNull();
    for (const name of ['b', 'c', 'd']) expect(textOf(await readCopy(`/${name}.json`, '"v"'))).toBe(`"${name}"`);
  });

  it('keeps nothing where there is no private file system, or no sync access handles (a page)', async () => {
    vi.stubGlobal('navigator', {});
    expect(await startCopy('/c.json', '"v1"')).toBeNull();
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
    const dir = {
      getDirectoryHandle: () => Promise.resolve(dir),
      getFileHandle: () => Promise.resolve({}),
    };
    vi.stubGlobal('navigator', { storage: { getDirectory: () => Promise.resolve(dir) } });
    expect(await startCopy('/c.json', '"v1"')).toBeNull();
    vi.stubGlobal('navigator', { storage: { getDirectory: () => Promise.reject(new DOMException('denied', 'SecurityError')) } });
    expect(await startCopy('/c.json', '"v1"')).toBeNull();
  });

  it('keeps and reads nothing with sync access handles whose methods give promises (browsers before the synchronous API)', async () => {
    const files = fakeFileSystem(vi.stubGlobal);
    await keep('/c.json', '"v1"', '[1]');
    const root = await (
      navigator as unknown as { storage: { getDirectory(): Promise<{ getFileHandle: (...a: unknown[]) => Promise<unknown> }> } }
    ).storage.getDirectory();
    // The same files, behind handles of the older, asynchronous kind.
    const dir = {
      ...root,
      getDirectoryHandle: () => Promise.resolve(dir),
      async getFileHandle(name: string, options?: { create?: boolean }) {
        const file = (await root.getFileHandle(name, options)) as {
          createSyncAccessHandle(): Promise<Record<string, (...a: unknown[]) => unknown>>;
        };
        return {
          ...file,
          async createSyncAccessHandle() {
            const h = await file.createSyncAccessHandle();
            return Object.fromEntries(Object.entries(h).map(([k, f]) => [k, (...a: unknown[]) => Promise.resolve(f(...a))]));
          },
        };
      },
    };
    vi.stubGlobal('navigator', { storage: { getDirectory: () => Promise.resolve(dir) } });
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
    expect(await startCopy('/c.json', '"v2"')).toBeNull();
    expect(await startEntryCopy('/c.json', 'g1')).toBeNull();
    // Nothing was written, and no handle is left holding the file.
    expect(files.get(copyName('/c.json'))!.locked).toBe(false);
    expect(files.get(copyName('/c.json'))!.data.length).toBe(HEAD_BYTES + 3);
  });

  it('takes only strong ETags', () => {
    const etagOf = (etag?: string): string | null => strongEtag(new Response('', etag ? { headers: { etag } } : {}));
    expect(etagOf('"5f-1a2b"')).toBe('"5f-1a2b"');
    expect(etagOf('W/"5f-1a2b"')).toBeNull();
    expect(etagOf('5f-1a2b')).toBeNull();
    expect(etagOf()).toBeNull();
  });

  it('copies and digests a body as it passes, finished at its end with the digest, and dropped when it fails', async () => {
    fakeFileSystem(vi.stubGlobal);
    const text = '[{"id":"a"},{"id":"b"}]';
    const tap = copying(new Response(text).body!, await startCopy('/c.json', '"v1"'), streamDigest());
    expect(await new Response(tap.body).text()).toBe(text);
    const digest = await digestBytes(bytesOf(text), new Slicer(Infinity));
    expect(await tap.digest).toBe(digest);
    expect(await readCopy('/c.json', '"v1"')).toEqual({ bytes: bytesOf(text), digest });
    // Without a copy to keep, or a digest to make.
    const plain = copying(new Response(text).body!, null, null);
    expect(await new Response(plain.body).text()).toBe(text);
    expect(await plain.digest).toBeNull();

    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 2) c.enqueue(bytesOf('[1,'));
        else c.error(new TypeError('network error'));
      },
    });
    const broken = copying(failing, await startCopy('/c.json', '"v2"'), streamDigest());
    await expect(new Response(broken.body).text()).rejects.toThrow('network error');
    expect(await broken.digest).toBeNull();
    expect(await readCopy('/c.json', '"v2"')).toBeNull();
    expect(await readCopy('/c.json', '"v1"')).toBeNull();
  });

  /** A small entry's catalogue part and matrix. */
  const entryOf = (text: string, categories: boolean): { catalog: PreparedCatalog; matrix: PreparedMatrix } => ({
    catalog: {
      digest: 'k64:0123456789abcdef:42',
      ids: { text, lengths: Uint8Array.of(1, text.length - 1), marks: Uint32Array.of(0), slots: Int32Array.of(1, 0, 2) },
      bounds: Uint32Array.of(1, 20, 21, 40),
      skipped: ['item 3: no title'],
      spread: Int32Array.of(1, 0),
      categories: categories ? { names: ['Fruit', 'Fish'], codes: Uint8Array.of(1, 0) } : null,
    },
    matrix: {
      modelKey: 'enc-1|head|vectors',
      dims: 2,
      codes: Int8Array.of(-128, 5, 127, 0),
      scales: Float32Array.of(0.25, 0.5),
      embeddings: { shipped: 2, cached: 0, encoded: 0 },
      // The base aligned with the catalogue, kept with the matrix.
      base: {
        W: Float32Array.of(1, 0, 0, 1),
        rowIndex: Int32Array.of(1, 0),
        rowBias: Float32Array.of(0.5, -1),
        transPtr: Int32Array.of(0, 1),
        transTo: Int32Array.of(1),
        transP: Float32Array.of(1),
        transRows: Int32Array.of(0),
      },
    },
  });

  it("keeps a saved entry's copy for its generation, readable once finished, with or without a matrix or categories", async () => {
    fakeFileSystem(vi.stubGlobal);
    for (const categories of [true, false]) {
      const { catalog, matrix } = entryOf('aé😀', categories);
      const w = (await startEntryCopy('/c.json', 'g1'))!;
      expect(w.catalog(catalog)).toBe(true);
      expect(await readEntryText('/c.json', 'g1')).toBeNull();
      await w.finish(matrix);
      const got = (await readEntryText('/c.json', 'g1'))!;
      expect(got.catalog).toEqual(catalog);
      expect(await got.matrix).toEqual(matrix);
      expect(await readEntryText('/c.json', 'g2')).toBeNull();
      expect(await readEntryText('/d.json', 'g1')).toBeNull();
    }
    const w = (await startEntryCopy('/c.json', 'g2'))!;
    w.catalog(entryOf('ab', true).catalog);
    await w.finish(null);
    expect(await (await readEntryText('/c.json', 'g2'))!.matrix).toBeNull();
    expect(await readEntryText('/c.json', 'g1')).toBeNull();
  });

  it('keeps no entry copy for ids UTF-8 cannot carry, and drops both copies of a location evicted', async () => {
    const files = fakeFileSystem(vi.stubGlobal);
    const odd = (await startEntryCopy('/odd.json', 'g1'))!;
    expect(odd.catalog(entryOf('a\ud800', true).catalog)).toBe(false);
    expect(await readEntryText('/odd.json', 'g1')).toBeNull();
    await odd.finish(null);
    expect(await readEntryText('/odd.json', 'g1')).toBeNull();

    await keep('/a.json', '"v"', '"a"');
    const w = (await startEntryCopy('/a.json', 'g1'))!;
    w.catalog(entryOf('ab', true).catalog);
    await w.finish(null);
    for (const name of ['b', 'c', 'd']) await keep(`/${name}.json`, '"v"', `"${name}"`);
    expect(await readCopy('/a.json', '"v"')).toBeNull();
    expect(await readEntryText('/a.json', 'g1')).toBeNull();
    expect([...files.keys()].filter((n) => n.startsWith(copyName('/a.json').replace(/\.bin$/, '')))).toEqual([]);
  });

  it("encodes a page's ids a piece at a time, each after a pause, as it keeps the entry's copy", async () => {
    fakeFileSystem(vi.stubGlobal, { writable: true });
    const cache = await IndexedDbPreparedCache.open();
    const { catalog, matrix } = entryOf('é'.padEnd(3 * ENCODE_PIECE + 5, 'x'), true);
    const longest: number[] = [];
    const encode = vi.spyOn(TextEncoder.prototype, 'encode');
    const encodeInto = vi.spyOn(TextEncoder.prototype, 'encodeInto');
    try {
      await cache.put('/long.json', { catalog, matrix }, () => Promise.resolve());
      for (const call of [...encode.mock.calls, ...encodeInto.mock.calls]) longest.push(String(call[0] ?? '').length);
    } finally {
      encode.mockRestore();
      encodeInto.mockRestore();
    }
    // Never the whole text in one call: at most a piece of it.
    expect(Math.max(...longest)).toBeLessThanOrEqual(ENCODE_PIECE);
    const got = (await readEntryText('/long.json', (await cache.generationOf('/long.json'))!))!;
    expect(got.catalog).toEqual(catalog);
    cache.close();
  });

  it("keeps a catalogue's compacted text beside the file's copy, read back whole for its digest; none without a file copy; dropped with the location's other copies", async () => {
    const files = fakeFileSystem(vi.stubGlobal, { writable: true });
    const text: CompactText = {
      blocks: {
        packed: Uint8Array.from({ length: 1001 }, (_, i) => (i * 7) & 255),
        ends: Uint32Array.of(400, 1001),
        counts: Uint32Array.of(3, 2),
        raw: Uint32Array.of(900, 1500),
      },
      dictionary: Uint8Array.of(1, 2, 3),
    };
    const cache = await IndexedDbPreparedCache.open();
    // No copy of the file: the worker would never get to the text, so none is kept.
    await cache.keepText('/t.json', 'k64:aa:5', text);
    expect(await openTextCopy('/t.json')).toBeNull();
    await keep('/t.json', '"v"', '"t"');
    const paused: number[] = [];
    await cache.keepText('/t.json', 'k64:aa:5', text, () => Promise.resolve(void paused.push(1)));
    expect(paused.length).toBeGreaterThan(0);
    const opened = (await openTextCopy('/t.json'))!;
    expect(opened.digest).toBe('k64:aa:5');
    expect(opened.read()).toEqual(text);
    // Read once: the handle is let go (another tab may take it).
    expect(opened.read()).toBeNull();
    expect(await openTextCopy('/u.json')).toBeNull();
    // Cut short: read as missing.
    const name = copyName('/t.json', TEXT_SUFFIX);
    const whole = files.get(name)!.data;
    files.get(name)!.data = whole.slice(0, whole.length - 1);
    expect(await openTextCopy('/t.json')).toBeNull();
    files.get(name)!.data = whole;
    // A part that cannot be read whole: the text reads as null.
    files.get(name)!.failFrom = 30;
    expect((await openTextCopy('/t.json'))?.read() ?? null).toBeNull();
    delete files.get(name)!.failFrom;
    // Evicted with the location's other copies.
    for (const other of ['b', 'c', 'd']) await keep(`/${other}.json`, '"v"', `"${other}"`);
    expect(files.has(name)).toBe(false);
    expect(await openTextCopy('/t.json')).toBeNull();
    cache.close();
  });

  it("saves ids that came as ASCII bytes, and keeps their copy, without making the whole text's string", async () => {
    fakeFileSystem(vi.stubGlobal, { writable: true });
    // Pieces of 64 bytes: the text is cut into many.
    const cache = await IndexedDbPreparedCache.open(undefined, 64);
    const long = 'x'.padEnd(1000, 'y');
    const { catalog, matrix } = entryOf(long, true);
    const { text, ...rest } = catalog.ids;
    const ascii = { ...catalog, ids: withAsciiText(rest, new TextEncoder().encode(text)) };
    const decode = vi.spyOn(TextDecoder.prototype, 'decode');
    try {
      await cache.put('/ascii.json', { catalog: ascii, matrix });
      // Pieces decoded from their own bytes, never the whole text.
      expect(decode.mock.results.filter((r) => r.value === text)).toHaveLength(0);
      expect(decode.mock.results.some((r) => typeof r.value === 'string' && r.value.length > 0 && text.startsWith(r.value))).toBe(true);
    } finally {
      decode.mockRestore();
    }
    const got = (await cache.get('/ascii.json'))!;
    expect(got.catalog).toEqual(catalog);
    expect(await got.matrix).toEqual(matrix);
    const copy = (await readEntryText('/ascii.json', (await cache.generationOf('/ascii.json'))!))!;
    expect(copy.catalog).toEqual(catalog);
    cache.close();
  });

  it('is kept by the page that saves an entry, for the generation saved, and read by the next visit', async () => {
    fakeFileSystem(vi.stubGlobal, { writable: true });
    const cache = await IndexedDbPreparedCache.open();
    const paused: number[] = [];
    const { catalog, matrix } = entryOf('aé😀', true);
    await cache.put('/page.json', { catalog, matrix }, () => Promise.resolve(void paused.push(1)));
    const generation = (await cache.generationOf('/page.json'))!;
    // The header alone says a base is kept with the matrix, and of which model.
    expect(await cache.shapeOf('/page.json')).toEqual({ n: 2, dims: 2, modelKey: matrix.modelKey, base: true });
    const got = (await readEntryText('/page.json', generation))!;
    expect(got.catalog).toEqual(catalog);
    expect(await got.matrix).toEqual(matrix);
    // Each piece of the copy waited for the shopper to be quiet, as the entry's own pieces do.
    expect(paused.length).toBeGreaterThan(1);
    // A new entry: the copy follows it.
    const next = entryOf('xy', false);
    await cache.put('/page.json', { catalog: next.catalog, matrix: null });
    const renewed = (await readEntryText('/page.json', (await cache.generationOf('/page.json'))!))!;
    expect(renewed.catalog).toEqual(next.catalog);
    expect(await readEntryText('/page.json', generation)).toBeNull();
    cache.close();
  });
});
