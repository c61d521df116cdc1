/**
 * What the stream job's tests share: a model folder whose base knows most of a small catalogue and
 * ships what sold lately, a seeded stream of events, and the delta a job publishes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EncoderManifest } from '../src/core/encoder.js';
import { mulberry32 } from '../src/core/rng.js';
import type { ShopDeltaManifest, ShopDeltaPayload } from '../src/core/shop-delta.js';
import type { StreamEvent } from '../src/cli/stream/log.js';
import { StreamJob } from '../src/cli/stream/job.js';
import { defaultHead, writeHeadModel } from '../src/cli/train/head-io.js';
import { tempFolder } from './helpers.js';

export const root = resolve(import.meta.dirname, '..');
export const N = 60;
export const IDS = Array.from({ length: N }, (_, i) => `p${i}`);
export const T0 = Date.parse('2026-11-01T00:00:00Z');

/**
 * A model folder whose base knows the first 50 items (the rest are new to it) and ships what each
 * sold lately, so that the learner keeps every kind of state: ρ, the weights of known and new
 * items, the counts of each half-life and what sold lately.
 */
export function model(dir: string, version = 'v1'): string {
  const folder = join(dir, 'model');
  const encoder = JSON.parse(readFileSync(join(root, 'models', 'encoder', 'manifest.json'), 'utf8')) as EncoderManifest;
  const known = IDS.slice(0, 50);
  writeHeadModel(join(folder, 'head'), {
    ...defaultHead(encoder),
    ids: known,
    bias: Float32Array.from(known, (_, i) => Math.log1p(50 - i) / 4),
    recent: Float32Array.from(known, (_, i) => Math.log1p(10 * Math.pow(1 - i / 50, 4))),
    recentHalfLifeDays: 3,
    recentAt: T0,
  });
  const manifest = JSON.parse(readFileSync(join(root, 'models', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(folder, 'manifest.json'), JSON.stringify({ ...manifest, version }));
  return folder;
}

/** A temporary folder with a model in it (`model`) and the path of a job's state folder there. */
export function fresh(): { dir: string; folder: string; state: string } {
  const dir = tempFolder('clickwise-checkpoint-');
  return { dir, folder: model(dir), state: join(dir, 'state') };
}

/** Events k to k + n − 1 of a seeded stream: skewed items, a few shoppers, a minute or so apart. */
export function events(k: number, n: number, prefix = 'o'): StreamEvent[] {
  const rand = mulberry32(1000 + k);
  return Array.from({ length: n }, (_, j) => ({
    id: `${prefix}${k + j}`,
    user: `u${Math.floor(rand() * 7)}`,
    item: IDS[Math.floor(N * Math.pow(rand(), 2))]!,
    t: T0 + (k + j) * 47_000,
  }));
}

/** The delta the job publishes now: ψ and what sells now, as lists, without its sequence number. */
export function delta(job: StreamJob, folder: string): { psi: unknown; recent: unknown; events: number } {
  job.publish(true);
  const manifest = JSON.parse(readFileSync(join(folder, 'delta', 'manifest.json'), 'utf8')) as ShopDeltaManifest;
  const payload = JSON.parse(readFileSync(join(folder, 'delta', manifest.path), 'utf8')) as ShopDeltaPayload;
  return { psi: payload.psi, recent: payload.recent, events: manifest.events };
}

export const open = (folder: string, state: string, said: string[] = [], more: Partial<Parameters<typeof StreamJob.open>[0]> = {}) =>
  StreamJob.open({ modelDir: folder, ids: IDS, stateDir: state, log: (m) => said.push(m), replayProgressEvents: 1, ...more });

/** The events a start replayed from the log, by its progress lines (one an event). */
export const replayed = (said: string[]): number => said.filter((m) => m.startsWith('replaying ') && m.includes('events so far')).length;
