/**
 * The catalogue's index made by the shop (`npm run vectors -- --catalog F`) and shipped beside its
 * vectors: the file round-trips to the index a browser would make of the catalogue, names the
 * digest of the file it was made from, and anything damaged, cut short or for another file is
 * refused, never used.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexCatalog } from '../src/core/catalog-index.js';
import { checkShippedIndex, fetchShippedIndex, packCatalogIndex, readCatalogIndex } from '../src/core/catalog-index-file.js';
import { ChecksumError } from '../src/core/errors.js';
import { defaultFetcher } from '../src/core/model-io.js';
import { digestBytes } from '../src/core/prepared.js';
import { Slicer } from '../src/core/slice.js';
import type { VectorsManifest } from '../src/core/vectors.js';
import { INDEX_FILE, writeVectors } from '../src/cli/vectors/vectors.js';
import { syntheticCatalog } from '../src/bench/synthetic-catalog.js';
import { demoCatalog, MODELS } from './helpers.js';

const slicer = (): Slicer => new Slicer(Infinity);
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('the catalogue index file', () => {
  const rows: unknown[] = [
    { id: 'a', title: 'Apple', category: 'Fruit' },
    { id: 'b', title: '' },
    { id: 'café-€-😀', title: 'Cake', category: 'Bakery' },
    ...syntheticCatalog(500),
  ];
  const file = enc(`\uFEFF${JSON.stringify(rows, null, 1)}\n`);

  it('round-trips the index a browser makes of the file, with the digest it names', async () => {
    const index = await indexCatalog('x', file, slicer());
    const digest = await digestBytes(file, slicer());
    const packed = packCatalogIndex(index, digest)!;
    // At any offset in a larger buffer, as a download may hand it.
    const inside = new Uint8Array(packed.length + 3);
    inside.set(packed, 3);
    for (const bytes of [packed, inside.subarray(3)]) {
      const got = await readCatalogIndex(bytes, slicer());
      expect(got.digest).toBe(digest);
      expect(got.index).toEqual(index);
      await expect(checkShippedIndex(got.index, file, slicer())).resolves.toBeUndefined();
    }
    expect(index.skipped).toHaveLength(1);
    expect(index.categories).not.toBeNull();
    // Without categories too.
    const plain = enc(JSON.stringify([{ id: 'p', title: 'Pear' }]));
    const plainIndex = { ...(await indexCatalog('p', plain, slicer())), categories: null };
    expect((await readCatalogIndex(packCatalogIndex(plainIndex, 'd')!, slicer())).index).toEqual(plainIndex);
  });

  it('cannot carry ids that are not valid Unicode', async () => {
    const odd = await indexCatalog('o', enc(JSON.stringify([{ id: 'x\ud800y', title: 'Odd' }])), slicer());
    expect(packCatalogIndex(odd, 'd')).toBeNull();
  });

  it('refuses a file that is not an index, is cut short or damaged', async () => {
    const index = await indexCatalog('x', file, slicer());
    const packed = packCatalogIndex(index, 'k64:0:1')!;
    const header = JSON.parse(new TextDecoder().decode(packed.subarray(8, 8 + new DataView(packed.buffer).getUint32(4, true)))) as {
      parts: Record<string, { kind: string; length: number; at: number }>;
    };
    /** The file with its header replaced by `edit(header)` (its arrays moved along). */
    const withHeader = (edit: (h: typeof header) => unknown): Uint8Array => {
      const json = enc(JSON.stringify(edit(structuredClone(header))));
      const oldData = Math.ceil((8 + new DataView(packed.buffer).getUint32(4, true)) / 8) * 8;
      const data = Math.ceil((8 + json.length) / 8) * 8;
      const out = new Uint8Array(data + packed.length - oldData);
      new DataView(out.buffer).setUint32(0, 0x31495743, true);
      new DataView(out.buffer).setUint32(4, json.length, true);
      out.set(json, 8);
      out.set(packed.subarray(oldData), data);
      return out;
    };
    // The edit itself keeps a good file good.
    expect(
      (
        await readCatalogIndex(
          withHeader((h) => h),
          slicer(),
        )
      ).index,
    ).toEqual(index);
    const bad: [string, Uint8Array][] = [
      ['empty', new Uint8Array(0)],
      ['not an index', enc('[{"id":"a","title":"A"}]')],
      ['cut short', packed.subarray(0, packed.length - 1)],
      ['header cut', packed.subarray(0, 20)],
      ['another format', withHeader((h) => ({ ...h, format: 'something-else' }))],
      ['another version', withHeader((h) => ({ ...h, formatVersion: 2 }))],
      ['no sizes', withHeader((h) => ({ ...h, parts: { ...h.parts, sizes: undefined } }))],
      ['gaps for fewer items', withHeader((h) => ({ ...h, parts: { ...h.parts, gaps: { ...h.parts['gaps']!, length: 3 } } }))],
      ['lengths that pass the ids', withHeader((h) => ({ ...h, parts: { ...h.parts, text: { ...h.parts['text']!, length: 10 } } }))],
      [
        'lengths of floats',
        withHeader((h) => ({ ...h, parts: { ...h.parts, lengths: { ...h.parts['lengths']!, kind: 'Float32Array' } } })),
      ],
      ['an unknown kind', withHeader((h) => ({ ...h, parts: { ...h.parts, keys: { ...h.parts['keys']!, kind: 'constructor' } } }))],
      ['a part past the end', withHeader((h) => ({ ...h, parts: { ...h.parts, keys: { ...h.parts['keys']!, at: packed.length } } }))],
      ['a negative offset', withHeader((h) => ({ ...h, parts: { ...h.parts, text: { ...h.parts['text']!, at: -8 } } }))],
    ];
    for (const [why, bytes] of bad) await expect(readCatalogIndex(bytes, slicer()), why).rejects.toThrow(RangeError);
    // An id listed twice (the ids' text edited in place: "s1" becomes "s2").
    const twice = packed.slice();
    const textAt = Math.ceil((8 + new DataView(packed.buffer).getUint32(4, true)) / 8) * 8 + header.parts['text']!.at;
    // A byte offset: the text before is not all ASCII.
    const at = Buffer.from(twice.subarray(textAt, textAt + header.parts['text']!.length)).indexOf('s1s');
    expect(at).toBeGreaterThan(0);
    twice[textAt + at + 1] = '2'.charCodeAt(0);
    await expect(readCatalogIndex(twice, slicer())).rejects.toThrow('listed twice');
  });

  it("checks that an index fits the file's bytes: its ids, bounds, keys and categories", async () => {
    const index = await indexCatalog('x', file, slicer());
    const n = index.bounds.length / 2;
    const cases: [string, typeof index, Uint8Array][] = [
      ['a shorter file', index, file.subarray(0, file.length - 10)],
      ['bounds out of order', { ...index, bounds: index.bounds.slice().reverse() }, file],
      ['a key short', { ...index, keys: index.keys.subarray(0, n - 1) }, file],
      ['slots that lose an id', { ...index, ids: { ...index.ids, slots: new Int32Array(index.ids.slots.length) } }, file],
      ['a category out of range', { ...index, categories: { ...index.categories!, codes: new Uint8Array(n).fill(200) } }, file],
    ];
    for (const [why, bad, bytes] of cases) await expect(checkShippedIndex(bad, bytes, slicer()), why).rejects.toThrow(RangeError);
  });
});

describe('npm run vectors with the catalogue file', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'clickwise-index-file-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes the file's index beside the vectors, named with its sha256 and the file's digest, which a browser reads back", async () => {
    const catalog = demoCatalog();
    const rows = [...catalog.slice(0, 3), { id: 'broken', title: '' }, ...catalog.slice(3)];
    const bytes = enc(JSON.stringify(rows, null, 1));
    const models = join(dir, 'models');
    cpSync(MODELS, models, { recursive: true });
    const report = await writeVectors({ modelDir: models, items: catalog, catalogFile: bytes });
    const manifest = JSON.parse(readFileSync(join(models, 'vectors', 'manifest.json'), 'utf8')) as VectorsManifest;
    const written = new Uint8Array(readFileSync(join(models, 'vectors', INDEX_FILE)));
    expect(manifest.catalogIndex).toEqual({
      path: INDEX_FILE,
      bytes: written.length,
      sha256: createHash('sha256').update(written).digest('hex'),
      digest: await digestBytes(bytes, slicer()),
      fileBytes: bytes.length,
    });
    expect(report.indexBytes).toBe(written.length);
    expect(report.indexGzipBytes).toBeGreaterThan(0);
    const shipped = await fetchShippedIndex(defaultFetcher, `${models}/`, slicer());
    expect(shipped!.digest).toBe(manifest.catalogIndex!.digest);
    expect(shipped!.index).toEqual(await indexCatalog('x', bytes, slicer()));

    // A file damaged after its manifest was written fails its checksum: the browser parses instead.
    const damaged = written.slice();
    damaged[damaged.length - 1]! ^= 1;
    writeFileSync(join(models, 'vectors', INDEX_FILE), damaged);
    await expect(fetchShippedIndex(defaultFetcher, `${models}/`, slicer())).rejects.toThrow(ChecksumError);

    // Vectors made without the file ship no index.
    await writeVectors({ modelDir: models, items: catalog });
    expect(await fetchShippedIndex(defaultFetcher, `${models}/`, slicer())).toBeNull();

    // A file whose items are not the vectors' is refused, and nothing is written.
    const before = readFileSync(join(models, 'vectors', 'vectors.bin'));
    await expect(writeVectors({ modelDir: models, items: catalog.slice(1), catalogFile: bytes })).rejects.toThrow(
      'not the items the vectors were made for',
    );
    expect(readFileSync(join(models, 'vectors', 'vectors.bin')).equals(before)).toBe(true);
  }, 120_000);
});
