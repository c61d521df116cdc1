/**
 * `npm run maintain -- --events F --items F --until DATE --out DIR`: retrains the base θ from the
 * event logs up to DATE and writes a complete, versioned model folder to DIR (the shipped encoder
 * copied, a new `head/`, and `manifest.json`), which `createRecommender({ modelUrl: DIR })` loads.
 *
 * This version of the base learns per-item biases (log-popularity with a recency half-life,
 * centred) and a re-buy weight α₀ (how often shoppers in the logs buy again what they bought
 * before); W₀ stays τ·I. Browsers on the previous base keep their φ: a new base of the same
 * encoder is declared compatible, since its parameters mean the same.
 */
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EncoderManifest } from '../core/encoder.js';
import type { HeadManifest, ModelManifest } from '../core/model.js';
import { parseArgs, sha256File } from './common.js';
import { parseTime, readEvents, readItems } from './data.js';
import { defaultHead, writeHeadModel, writeModelManifest } from './head-io.js';

const DAY = 86_400_000;

function main(): void {
  const args = parseArgs(process.argv.slice(2), {
    events: 'string',
    items: 'string',
    until: 'string',
    out: 'string',
    models: 'string',
    'half-life-days': 'number',
  });
  for (const req of ['events', 'items', 'until', 'out']) {
    if (args[req] === undefined)
      throw new Error(`Missing --${req}. Usage: npm run maintain -- --events F --items F --until DATE --out DIR`);
  }
  const until = parseTime(String(args['until']));
  if (!Number.isFinite(until)) throw new Error(`--until ${String(args['until'])} is not a date (YYYY-MM-DD or ISO 8601).`);
  const models = resolve(String(args['models'] ?? 'models'));
  const out = resolve(String(args['out']));
  const halfLife = Number(args['half-life-days'] ?? 60) * DAY;
  const t0 = Date.now();
  const events = readEvents(String(args['events'])).filter((e) => e.t < until);
  if (events.length === 0) throw new Error(`No events before ${String(args['until'])} in ${String(args['events'])}.`);
  const items = readItems(String(args['items']));
  const ids = items.map((i) => i.id);
  const index = new Map(ids.map((id, i) => [id, i]));

  // Recency-weighted popularity, and the share of purchases that repeat an earlier one.
  const weight = new Float64Array(ids.length);
  const seen = new Map<string, Set<number>>();
  let repeats = 0;
  let counted = 0;
  for (const e of events) {
    const i = index.get(e.item);
    if (i === undefined) continue;
    weight[i]! += Math.pow(0.5, (until - e.t) / halfLife);
    const s = seen.get(e.user) ?? new Set<number>();
    if (s.size > 0) {
      counted++;
      if (s.has(i)) repeats++;
    }
    s.add(i);
    seen.set(e.user, s);
  }
  const known = ids.map((_, i) => i).filter((i) => weight[i]! > 0);
  const total = known.reduce((a, i) => a + weight[i]!, 0);
  const logp = known.map((i) => Math.log(weight[i]! / total));
  const mean = logp.reduce((a, b) => a + b, 0) / Math.max(1, logp.length);
  // Scaled so that the spread of biases is comparable to the spread of content scores (τ = 5).
  const scale = 0.5;
  const bias = Float32Array.from(logp, (v) => scale * (v - mean));
  const repeatShare = counted ? repeats / counted : 0;

  const encoder = JSON.parse(readFileSync(join(models, 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
  const previous = existsSync(join(models, 'manifest.json'))
    ? (JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8')) as ModelManifest)
    : null;
  const base = defaultHead(encoder);
  const untilDay = new Date(until).toISOString().slice(0, 10);
  mkdirSync(out, { recursive: true });
  cpSync(join(models, 'encoder'), join(out, 'encoder'), { recursive: true });
  const head: HeadManifest = writeHeadModel(join(out, 'head'), {
    ...base,
    version: `base-${untilDay}-${encoder.version}`,
    alpha: Number((5 * repeatShare).toFixed(4)),
    ids: known.map((i) => ids[i]!),
    bias,
    deltaCompatibleWith: previous ? [previous.version] : [],
    provenance: {
      builtBy: `npm run maintain -- --until ${untilDay}`,
      kind: 'recency-weighted log-popularity biases and a re-buy weight on the content-only base',
      data: {
        events: { path: String(args['events']), sha256: sha256File(String(args['events'])) },
        items: { path: String(args['items']), sha256: sha256File(String(args['items'])) },
      },
      until: untilDay,
      halfLifeDays: halfLife / DAY,
    },
    metrics: {
      eventsUsed: events.length,
      itemsWithBias: known.length,
      repeatShare: Number(repeatShare.toFixed(4)),
      seconds: (Date.now() - t0) / 1000,
    },
  });
  const m = writeModelManifest(out);
  console.log(
    `wrote ${out}: model ${m.version} (${head.items} items with a bias, re-buy share ${repeatShare.toFixed(3)}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
}
