/**
 * `npm run maintain -- --events F --items F --until DATE --out DIR`: retrains the base θ from the
 * event logs up to DATE and writes a complete, versioned model folder to DIR (the shipped encoder
 * copied, a new `head/`, and `manifest.json`), which `createRecommender({ modelUrl: DIR })` loads.
 * What the base learns is described in `src/tools/base.ts`. Browsers on the previous base keep
 * their φ: a new base of the same encoder is declared compatible, since its parameters mean the
 * same.
 */
import { resolve } from 'node:path';
import { initBackend } from '../core/backend.js';
import { parseArgs, progressBar, sha256File } from './common.js';
import { DEFAULT_BASE_OPTIONS, trainBase, writeModelFolder } from './base.js';
import { parseTime, readEvents, readItems } from './data.js';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    events: 'string',
    items: 'string',
    until: 'string',
    out: 'string',
    models: 'string',
    'half-life-days': 'number',
    epochs: 'number',
  });
  for (const req of ['events', 'items', 'until', 'out']) {
    if (args[req] === undefined)
      throw new Error(`Missing --${req}. Usage: npm run maintain -- --events F --items F --until DATE --out DIR`);
  }
  const until = parseTime(String(args['until']));
  if (!Number.isFinite(until)) throw new Error(`--until ${String(args['until'])} is not a date (YYYY-MM-DD or ISO 8601).`);
  const models = resolve(String(args['models'] ?? 'models'));
  const out = resolve(String(args['out']));
  const t0 = Date.now();
  const eventsPath = String(args['events']);
  const itemsPath = String(args['items']);
  const events = readEvents(eventsPath);
  const items = readItems(itemsPath);
  // Training runs on the wasm backend, as the evaluation does (the plain-JS cpu backend is many times slower).
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`maintain trains on the wasm backend, which could not start: ${backend.reason}`);
  const bar = progressBar('training the base', 1);
  const { head, repeatShare } = await trainBase(
    events,
    items,
    until,
    models,
    {
      ...DEFAULT_BASE_OPTIONS,
      ...(args['half-life-days'] !== undefined ? { halfLifeDays: Number(args['half-life-days']) } : {}),
      ...(args['epochs'] !== undefined ? { epochs: Number(args['epochs']) } : {}),
    },
    (done, total) => bar.tick((done / total) * 1),
  );
  bar.end();
  const untilDay = new Date(until).toISOString().slice(0, 10);
  const written = writeModelFolder(out, models, {
    ...head,
    provenance: {
      ...head.provenance,
      builtBy: `npm run maintain -- --until ${untilDay}`,
      data: {
        events: { path: eventsPath, sha256: sha256File(eventsPath) },
        items: { path: itemsPath, sha256: sha256File(itemsPath) },
      },
    },
    metrics: { ...head.metrics, seconds: (Date.now() - t0) / 1000 },
  });
  console.log(
    `wrote ${out}: model ${written.model.version} (${written.head.items} items with a bias, re-buy share ${repeatShare.toFixed(3)}, feature weights α ${written.head.alpha} mix [${(written.head.mix ?? []).join(', ')}]${head.metrics?.['mixNdcgAfter'] !== undefined ? `, held-out NDCG@10 ${String(head.metrics['mixNdcgBefore'])} → ${String(head.metrics['mixNdcgAfter'])}` : ''}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
