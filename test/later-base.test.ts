/**
 * A page of this version that meets a base of a later version (a format it does not read) loads
 * the base in force before it, which `npm run maintain` keeps beside the new one and names in the
 * model's manifest (`previous`), with one warning; where none is named it refuses the model with
 * an error that names the later version.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HeadManifest, ModelManifest } from '../src/core/model.js';
import { MemoryDeltaStore } from '../src/core/store.js';
import { loadShop, shopWithVectors, useBackend } from './helpers.js';

let dir = '';
let models = '';
let file = '';
let original = '';

beforeAll(async () => {
  ({ dir, models, file } = await shopWithVectors('clickwise-later-base-'));
  original = readFileSync(join(models, 'manifest.json'), 'utf8');
  await useBackend('cpu');
}, 180_000);
afterEach(() => writeFileSync(join(models, 'manifest.json'), original));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The model folder with a head of a later format beside the one in force, named in its manifest with or without `previous`. */
function publishLater(withPrevious: boolean): { model: ModelManifest; before: ModelManifest } {
  const path = join(models, 'manifest.json');
  const before = JSON.parse(readFileSync(path, 'utf8')) as ModelManifest;
  cpSync(join(models, before.head), join(models, 'head-later'), { recursive: true });
  const headPath = join(models, 'head-later', 'manifest.json');
  const head = JSON.parse(readFileSync(headPath, 'utf8')) as HeadManifest;
  writeFileSync(headPath, JSON.stringify({ ...head, formatVersion: 2, version: 'a-later-base' }));
  const model: ModelManifest = {
    ...before,
    version: `${before.version.split('+')[0]}+a-later-base`,
    head: 'head-later/',
    ...(withPrevious ? { previous: { version: before.version, encoder: before.encoder, head: before.head } } : {}),
  };
  writeFileSync(path, JSON.stringify(model));
  return { model, before };
}

describe('a base of a later version', () => {
  it('is passed over for the base in force before, which the manifest names: the page recommends from it and learns on it', async () => {
    const plain = await loadShop(file, models);
    const expected = (await plain.rec.recommend({ k: 10 })).map((r) => r.id);
    plain.rec.dispose();
    const { before } = publishLater(true);
    const store = new MemoryDeltaStore();
    const { rec, warnings } = await loadShop(file, models, { store });
    // One warning of the model's (the catalogue's unusable row has its own).
    const said = warnings.filter((w) => w.code.startsWith('model/'));
    expect(said.map((w) => w.code)).toEqual(['model/later']);
    expect(said[0]!.message).toMatch(/written by a later version.*the base in force before it \(/);
    expect(rec.stats().modelVersion).toBe(before.version);
    expect((await rec.recommend({ k: 10 })).map((r) => r.id)).toEqual(expected);
    // What it learns is stored against the base it runs, so a page that reads the later base rebases.
    await rec.click('gar-01a');
    rec.dispose();
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.load()).events).toHaveLength(1);
  });

  it('with an encoder of a later format is passed over the same way', async () => {
    const before = JSON.parse(original) as ModelManifest;
    cpSync(join(models, before.encoder), join(models, 'encoder-later'), { recursive: true });
    const encoderPath = join(models, 'encoder-later', 'manifest.json');
    writeFileSync(
      encoderPath,
      JSON.stringify({ ...JSON.parse(readFileSync(encoderPath, 'utf8')), formatVersion: 2, version: 'enc-later' }),
    );
    writeFileSync(
      join(models, 'manifest.json'),
      JSON.stringify({
        ...before,
        version: 'enc-later+base',
        encoder: 'encoder-later/',
        previous: { version: before.version, encoder: before.encoder, head: before.head },
      }),
    );
    const { rec, warnings } = await loadShop(file, models);
    expect(warnings.filter((w) => w.code.startsWith('model/')).map((w) => w.code)).toEqual(['model/later']);
    expect(rec.stats().modelVersion).toBe(before.version);
    expect(await rec.recommend({ k: 10 })).toHaveLength(10);
    rec.dispose();
    // Without a base before it, the encoder is named a later version's.
    writeFileSync(join(models, 'manifest.json'), JSON.stringify({ ...before, version: 'enc-later+base', encoder: 'encoder-later/' }));
    await expect(loadShop(file, models)).rejects.toThrow(/encoder of format version 2, which this version of Clickwise does not read/);
  });

  it('is refused, naming the later version, where the manifest names no base before it', async () => {
    publishLater(false);
    await expect(loadShop(file, models)).rejects.toThrow(/written by a later version/);
  });
});
