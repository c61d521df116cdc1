/**
 * Publishing the shop delta next to the model, in `<model>/delta/`:
 *   delta-<seq>-<sha8>.json   the payload, never rewritten once written;
 *   manifest.json             names the current payload, its sha256 and the base it applies to.
 * Each file is written to a temporary name, fsynced and renamed, so a reader sees the old file or
 * the new one, never a torn one. The payload goes first and the last few are kept, so a browser that
 * read the previous manifest still finds its payload.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ShopDeltaManifest, ShopDeltaPayload } from '../../core/shop-delta.js';
import { deltaEntries, SHOP_DELTA_FORMAT } from '../../core/shop-delta.js';
import type { ModelManifest } from '../../core/model.js';
import { sha256Bytes } from '../common.js';
import { writeAtomically } from '../train/head-io.js';

/** Payloads kept besides the current one. */
const KEEP_PAYLOADS = 3;

/** The manifest now in `<model>/delta/`, or null when there is none (or it cannot be read). */
export function readDeltaManifest(modelDir: string): ShopDeltaManifest | null {
  const path = join(modelDir, 'delta', 'manifest.json');
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ShopDeltaManifest;
  } catch {
    return null;
  }
}

/**
 * Publishes one delta; returns its manifest and the payload's gzipped size. `baseRow` gives the
 * row in the base of each item it knows, and `baseItems` the sha256 of the base's `items.txt`:
 * with both, those items are listed by row, the others by id (without `baseItems`, all by id).
 */
export function publishDelta(
  modelDir: string,
  delta: {
    baseVersion: string;
    seq: number;
    ids: string[];
    bias: number[];
    recent?: { halfLifeDays: number; ids: string[]; values: number[] };
    baseRow?: (id: string) => number | undefined;
    /** With `baseRow`: the sha256 of the base's `items.txt`, whose rows it gives. */
    baseItems?: string;
    events: number;
    eventsThrough: number | null;
  },
): { manifest: ShopDeltaManifest; gzipBytes: number } {
  const dir = join(modelDir, 'delta');
  mkdirSync(dir, { recursive: true });
  // Rows only with the list they are rows of named: a browser checks it is its own.
  const byRow = delta.baseItems ? delta.baseRow : undefined;
  const payload: ShopDeltaPayload = {
    format: SHOP_DELTA_FORMAT,
    baseVersion: delta.baseVersion,
    seq: delta.seq,
    psi: deltaEntries(delta.ids, delta.bias, byRow),
    ...(delta.recent
      ? { recent: { halfLifeDays: delta.recent.halfLifeDays, ...deltaEntries(delta.recent.ids, delta.recent.values, byRow) } }
      : {}),
  };
  const bytes = Buffer.from(JSON.stringify(payload));
  const sha256 = sha256Bytes(bytes);
  const path = `delta-${delta.seq}-${sha256.slice(0, 8)}.json`;
  writeAtomically(join(dir, path), bytes);
  const manifest: ShopDeltaManifest = {
    format: SHOP_DELTA_FORMAT,
    baseVersion: delta.baseVersion,
    seq: delta.seq,
    path,
    sha256,
    bytes: bytes.length,
    items: delta.ids.length,
    events: delta.events,
    eventsThrough: delta.eventsThrough === null ? null : new Date(delta.eventsThrough).toISOString(),
    publishedAt: new Date().toISOString(),
    ...(delta.baseItems ? { baseItems: delta.baseItems } : {}),
  };
  writeAtomically(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  // The model's manifest names the delta folder, so browsers look for it (and a shop without a
  // stream job costs no request that fails). Only the first publication in a folder writes it:
  // `maintain` keeps the name when it replaces the base.
  const modelManifestPath = join(modelDir, 'manifest.json');
  const model = JSON.parse(readFileSync(modelManifestPath, 'utf8')) as ModelManifest;
  if (model.delta !== 'delta/') writeAtomically(modelManifestPath, JSON.stringify({ ...model, delta: 'delta/' }, null, 2) + '\n');
  // Older payloads go, all but the last few; temporary files of a crashed writer too.
  const payloads = readdirSync(dir)
    .filter((f) => /^delta-\d+-[0-9a-f]{8}\.json$/.test(f) && f !== path)
    .map((f) => ({ f, seq: Number(f.split('-')[1]) }))
    .sort((a, b) => b.seq - a.seq);
  for (const { f } of payloads.slice(KEEP_PAYLOADS)) rmSync(join(dir, f), { force: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.tmp') && !f.endsWith(`.${process.pid}.tmp`)) rmSync(join(dir, f), { force: true });
  return { manifest, gzipBytes: gzipSync(bytes).length };
}
