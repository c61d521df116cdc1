/**
 * `npm run bench:storage`: how much one shopper's store holds after 1,000 / 10,000 / 100,000
 * clicks. Runs the real recommender (wasm backend, demo catalogue) on the real IndexedDB store code
 * over an in-memory IndexedDB, and counts records and their serialised bytes. Writes JSON.
 *
 * The bound: at most keepEvents + snapshotEvery events (500 + 50) plus one snapshot, whose size
 * is O(d² + items the shopper touched), independent of the number of clicks.
 */
import 'fake-indexeddb/auto';
import { readFileSync, writeFileSync } from 'node:fs';
import { openDB } from 'idb';
import { createRecommenderCore } from '../core/recommender.js';
import type { Item } from '../core/types.js';
import { IndexedDbDeltaStore } from '../storage/idb-store.js';
import { outputFile, parseArgs, progressBar } from '../cli/common.js';

async function measure(name: string): Promise<{ events: number; snapshots: number; bytes: number }> {
  const db = await openDB(name);
  let bytes = 0;
  let events = 0;
  let snapshots = 0;
  for (const store of ['events', 'snapshots', 'meta', 'quarantine'] as const) {
    const all = (await db.getAll(store)) as unknown[];
    if (store === 'events') events = all.length;
    if (store === 'snapshots') snapshots = all.length;
    for (const rec of all) bytes += new TextEncoder().encode(JSON.stringify(rec)).length;
  }
  db.close();
  return { events, snapshots, bytes };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), { clicks: 'number', out: 'string' });
  // The folder of --out is made now, not found missing after the run.
  const out = args['out'] ? outputFile(args['out']) : null;
  const total = Number(args['clicks'] ?? 100_000);
  const catalog = JSON.parse(readFileSync('public/catalog.json', 'utf8')) as Item[];
  const namespace = `bound-${Date.now()}`;
  const store = await IndexedDbDeltaStore.open({ namespace });
  const rec = await createRecommenderCore({ catalog, modelUrl: 'models/', backend: 'wasm', store });
  const checkpoints = [1_000, 10_000, 100_000].filter((c) => c <= total);
  const rows: { clicks: number; events: number; snapshots: number; bytes: number }[] = [];
  const bar = progressBar('clicks', total);
  const t0 = Date.now();
  for (let i = 1; i <= total; i++) {
    // A shopper browsing: mostly one department at a time, with returns to earlier items.
    const dept = Math.floor(i / 40) % 8;
    const item = catalog[(dept * 35 + ((i * 7) % 35)) % catalog.length]!;
    rec.impression([catalog[(i * 13) % catalog.length]!.id, catalog[(i * 29) % catalog.length]!.id]);
    await rec.click(item.id);
    if (i % 1000 === 0) bar.tick(i);
    if (checkpoints.includes(i)) rows.push({ clicks: i, ...(await measure(`clickwise:${namespace}`)) });
  }
  bar.end();
  rec.dispose();
  const result = {
    command: `npm run bench:storage -- --clicks ${total}`,
    seconds: (Date.now() - t0) / 1000,
    keepEvents: 500,
    snapshotEvery: 50,
    rows,
  };
  console.table(rows);
  if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
}

void main();
