/**
 * `npm run bench [-- --out bench.json] [--quick]`: runs the benchmark page in headless Debian
 * Chromium against the built site (`npm run build` first), once without WebGPU (wasm, webgl, cpu)
 * and once with `--enable-unsafe-webgpu` (WebGPU, software adapter here, small N only), then
 * the storefront tag's first and later visits at 10,000, 100,000 and 1,000,000 items (`load.ts`;
 * `--load-sizes` to choose), and the shop's stream job (`stream.ts`). Prints a table and writes JSON. Not a test: timings on shared machines are noisy; compare ratios.
 *
 * Parts can be run alone: `--sizes 100000,1000000` (the click benchmark's catalogue sizes),
 * `--backends wasm,cpu` (of wasm, webgl, cpu, webgpu), `--load-sizes none` and `--skip-stream`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { preview } from 'vite';
import type { BenchConfig } from './page.js';
import { outputFile, parseArgs } from '../cli/common.js';
import { ARGS, CHROMIUM, runLoadBench } from './load.js';
import { runStreamBench } from './stream.js';

interface CaseRow {
  backend: string;
  n: number;
  clickToTop10: { p50: number; p95: number; p99: number };
  firstClickMs: number;
  recommend: { p50: number; p95: number };
  plainJs: { p50: number };
  bandwidthFloorMs: number;
  pass: { p50: number };
  passRatioToFloor: number;
  readFloorMs: number;
  passRatioToReadFloor: number;
  ratioToPlainJs: number;
  ratioToFloor: number;
  pairedRatioToFloor: { p50: number; min: number; max: number };
  pairedPassRatioToFloor: { p50: number; min: number; max: number };
  clickRatioToPlainJs: number;
  clickRatioToFloor: number;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), {
    out: 'string',
    quick: 'boolean',
    webgpu: 'boolean',
    'load-sizes': 'string',
    sizes: 'string',
    backends: 'string',
    'skip-stream': 'boolean',
  });
  // The folder of --out is made now, not found missing after the run.
  const out = args['out'] ? outputFile(args['out']) : null;
  const quick = args['quick'] === true;
  const backends = listArg(args['backends'], ['wasm', 'webgl', 'cpu', 'webgpu'], (x) => {
    if (!['wasm', 'webgl', 'cpu', 'webgpu'].includes(x)) throw new Error(`--backends: unknown backend ${x} (wasm, webgl, cpu, webgpu)`);
    return x;
  });
  const sizes = args['sizes'] === undefined ? null : listArg(args['sizes'], [], positiveInt('--sizes'));
  if (!existsSync('dist/src/bench/bench.html')) throw new Error('dist/src/bench/bench.html is missing: run npm run build first.');
  const server = await preview({ preview: { port: 4181, strictPort: false, open: false }, logLevel: 'warn' });
  const url = `${server.resolvedUrls?.local[0] ?? 'http://localhost:4181/'}src/bench/bench.html`;
  const base: Omit<BenchConfig, 'backends'> = quick
    ? { sizes: [1_000], clicks: 30, warmup: 5, memoryClicks: 500, encodeItems: 280, maxN: {} }
    : {
        sizes: [1_000, 10_000, 100_000, 1_000_000],
        clicks: 200,
        warmup: 30,
        memoryClicks: 10_000,
        encodeItems: 2_000,
        // 1,000,000 on WASM only: the other backends are slower at 100,000 already.
        maxN: { webgpu: 10_000, webgl: 100_000, cpu: 100_000 },
      };
  if (sizes) base.sizes = sizes;
  const plain = backends.filter((b) => b !== 'webgpu');
  const t0 = Date.now();
  try {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    // Cold: a fresh context, nothing cached. Warm: the same page again (model files cached, wasm compiled).
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    await page.waitForFunction(() => typeof window.runBench === 'function');
    const cold = await page.evaluate(() => window.firstRecommendation());
    const warm = await page.evaluate(() => window.firstRecommendation());
    const main = (await page.evaluate((cfg) => window.runBench(cfg), {
      ...base,
      backends: plain,
    } as BenchConfig)) as Record<string, unknown>;
    await browser.close();
    let gpu: Record<string, unknown> | null = null;
    if ((!quick && backends.includes('webgpu')) || args['webgpu']) {
      const gb = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, '--enable-unsafe-webgpu'] });
      const gp = await gb.newPage();
      await gp.goto(url);
      await gp.waitForFunction(() => typeof window.runBench === 'function');
      gpu = (await gp.evaluate((cfg) => window.runBench(cfg), {
        ...base,
        backends: ['webgpu'],
        memoryClicks: 200,
      } as BenchConfig)) as Record<string, unknown>;
      await gb.close();
    }
    // What a page pays at each catalogue size through the storefront tag (see load.ts).
    // `--load-sizes none` skips the tag's load.
    const loadSizes = String(args['load-sizes'] ?? (quick ? '10000' : '10000,100000,1000000'))
      .split(',')
      .filter((x) => x !== 'none')
      .map(Number);
    const load = await runLoadBench(loadSizes, true, (line) => console.log(`load: ${line.slice(0, 300)}`));
    // The shop's stream job against reading its log alone (see stream.ts).
    const stream = args['skip-stream'] ? null : await runStreamBench(quick ? 20_000 : 200_000, 100_000);
    if (stream) console.log(`stream: ${JSON.stringify(stream)}`);
    const result = {
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      browser: main['browser'],
      backends: { ...(main['backends'] as object), ...((gpu?.['backends'] as object) ?? {}) },
      copyBandwidthGBps: main['copyBandwidthGBps'],
      cases: [...(main['cases'] as CaseRow[]), ...((gpu?.['cases'] as CaseRow[]) ?? [])],
      encode: [...(main['encode'] as object[]), ...((gpu?.['encode'] as object[]) ?? [])],
      firstRecommendationMs: { cold, warm },
      memory: main['memory'],
      idbBytesPerShopper: main['idbBytesPerShopper'],
      longestTaskDuringBurstMs: main['longestTaskDuringBurstMs'],
      load,
      stream,
      wallSeconds: Math.round((Date.now() - t0) / 1000),
    };
    const rows = (result.cases as CaseRow[]).map((c) => ({
      backend: c.backend,
      n: c.n,
      'first click': c.firstClickMs,
      'click→top10 p50': c.clickToTop10.p50,
      p95: c.clickToTop10.p95,
      p99: c.clickToTop10.p99,
      'recommend p50': c.recommend.p50,
      'plain JS p50': c.plainJs.p50,
      'floor ms': c.bandwidthFloorMs,
      'rec/JS': c.ratioToPlainJs,
      'rec/floor': c.ratioToFloor,
      'rec/floor paired': c.pairedRatioToFloor.p50,
      'pass p50': c.pass.p50,
      'pass/floor': c.passRatioToFloor,
      'pass/floor paired': c.pairedPassRatioToFloor.p50,
      'read floor ms': c.readFloorMs,
      'pass/read floor': c.passRatioToReadFloor,
      'click/JS': c.clickRatioToPlainJs,
    }));
    console.table(rows);
    console.log(
      JSON.stringify(
        {
          encode: result.encode,
          firstRecommendationMs: result.firstRecommendationMs,
          memory: result.memory,
          idbBytesPerShopper: result.idbBytesPerShopper,
          longestTaskDuringBurstMs: result.longestTaskDuringBurstMs,
        },
        null,
        1,
      ),
    );
    if (out) writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  } finally {
    await new Promise<void>((r) => server.httpServer.close(() => r()));
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/** A comma-separated flag's values, each checked by `parse`; `fallback` when the flag is absent. */
function listArg<T>(value: unknown, fallback: T[], parse: (x: string) => T): T[] {
  if (value === undefined) return fallback;
  const items = String(value)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
  if (items.length === 0) throw new Error('an empty list was given');
  return items.map(parse);
}

/** A parser of positive whole numbers for `flag`. */
function positiveInt(flag: string): (x: string) => number {
  return (x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: ${x} is not a positive whole number`);
    return n;
  };
}
