/** Shared test helpers: backends, the demo catalogue, the real-data location. */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/backend.js';
import type { Fetcher } from '../src/core/model-io.js';
import { defaultFetcher } from '../src/core/model-io.js';
import type { Item } from '../src/core/types.js';

export const MODELS = resolve(import.meta.dirname, '..', 'models');

/** The demo shop's catalogue (written for this project, shipped in public/). */
export function demoCatalog(): Item[] {
  return JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'public', 'catalog.json'), 'utf8')) as Item[];
}

/** Switches the global tfjs backend. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  const choice = await initBackend(name);
  if (choice.name !== name) throw new Error(`backend ${name} unavailable: ${choice.reason}`);
  await tf.ready();
}

/** Folder of the real datasets, or null (with the reason printed) when absent and not required. */
export function dataDir(): string | null {
  const dir = resolve(process.env['CLICKWISE_DATA_DIR'] ?? resolve(import.meta.dirname, '..', '..', 'shared', 'data'));
  if (existsSync(resolve(dir, 'uci-online-retail', 'online_retail_clean.csv.gz'))) return dir;
  if (process.env['CLICKWISE_REQUIRE_DATA'] === '1') {
    throw new Error(`CLICKWISE_REQUIRE_DATA=1 but the dataset is missing under ${dir}. Set CLICKWISE_DATA_DIR.`);
  }
  console.warn(`skipping real-data tests: no dataset under ${dir} (set CLICKWISE_DATA_DIR)`);
  return null;
}

/** Reads files like the default fetcher, and remembers every location asked for. */
export function countingFetcher(): { fetcher: Fetcher; asked: string[] } {
  const asked: string[] = [];
  return { asked, fetcher: (loc) => (asked.push(loc), defaultFetcher(loc)) };
}
