/**
 * `npm run bench:profile-visit [-- --items 100000] [--first] [--trained-base]`: where a later
 * (or, with `--first`, a first) visit's time goes. Loads the
 * storefront tag (`dist/clickwise.js`, WASM) on a synthetic catalogue with the shop's vectors,
 * once to fill the caches (and waits until what it made is saved), then again under the
 * browser's sampling profiler, and prints the main thread's stretches of 50 ms or more without an
 * idle moment, with what ran in them, and its time by function (self time), largest first.
 * Function names are those of the built bundle: read them next to `dist/embed/runtime.js` at the
 * printed line. A tool for finding
 * the next thing to make faster; the figures move with the machine's load.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { parseArgs } from '../cli/common.js';
import { serveStatic } from '../vite/serve.js';
import { ARGS, CHROMIUM } from './load.js';
import { compacts, SAVED_ENTRY, SAVED_TEXT, tagHtml, TASK_OBSERVER, trainedBase, VISIT_ROOT, visitFolder } from './visit-folder.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const args = parseArgs(process.argv.slice(2), { items: 'string', first: 'boolean', 'trained-base': 'boolean' });
const n = Number(args['items'] ?? 100_000);
// --first: profile the first visit instead (empty caches), until 3 s after its first list.
const first = args['first'] === true;
const dir = await visitFolder(n);
// --trained-base: a base that knows every item (residuals, what sold lately, transitions), as
// `npm run maintain` makes for a shop of n products; the shipped base knows none.
const trained = args['trained-base'] === true;
const root = VISIT_ROOT;
writeFileSync(
  join(dir, 'page.html'),
  `<!doctype html><meta charset="utf-8"><title>profile ${n}</title><link rel="icon" href="data:,">
${TASK_OBSERVER}
${tagHtml(n, 'profile', trained ? trainedBase(n, dir) : undefined)}`,
);
const server = createServer(serveStatic({ '/p/': root, '/': 'dist' }));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p/${n}/page.html`;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
try {
  const page = await browser.newPage();
  const ready = (): Promise<number> =>
    page.evaluate(async () => {
      const rec = (await (window as unknown as { Clickwise: { ready: Promise<{ recommend(o: object): Promise<unknown> }> } }).Clickwise
        .ready) as {
        recommend(o: object): Promise<unknown>;
      };
      await rec.recommend({ k: 10 });
      return Math.round(performance.now());
    });
  /** Whether the prepared cache holds an entry (its header is written last). */
  const savedEntry = (): Promise<boolean> => page.evaluate<boolean>(`(${SAVED_ENTRY})()`);
  const cdp = await page.context().newCDPSession(page);
  const profileFrom = async (): Promise<void> => {
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  };
  if (first) {
    // A page of the same origin first, so that the profiled page loads in the same process.
    await page.goto(new URL('/clickwise.js', url).href);
    await profileFrom();
    await page.goto(url);
    console.log(`first visit (profiled): first recommendation after ${await ready()} ms`);
    await page.waitForTimeout(3000);
  } else {
    await page.goto(url);
    console.log(`first visit: first recommendation after ${await ready()} ms`);
    // What the first visit made is saved for the next after its first list, in the background:
    // the later visit is profiled once its entry is there (at 1,000,000 items that takes seconds).
    const saved = Date.now();
    while (!(await savedEntry()) && Date.now() - saved < 120_000) await page.waitForTimeout(250);
    // And, where the file is compacted once ready, its compacted text (kept after the entry's copy).
    const textKept = (): Promise<boolean> => page.evaluate<boolean>(`(${SAVED_TEXT})()`);
    while (compacts(dir) && !(await textKept()) && Date.now() - saved < 120_000) await page.waitForTimeout(250);
    await page.waitForTimeout(1000);
    console.log(`the first visit's entry was saved within ${Math.round((Date.now() - saved) / 1000)} s`);
    await profileFrom();
    await page.reload();
    console.log(`later visit (profiled): first recommendation after ${await ready()} ms`);
  }
  const { profile } = (await cdp.send('Profiler.stop')) as { profile: CpuProfile };
  // The phases (User Timing marks) and the files, in the order they ended.
  const timeline = await page.evaluate(() => [
    ...performance.getEntriesByType('mark').map((m) => ({ at: m.startTime, what: m.name, from: m.startTime })),
    ...(performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((r) => ({
      at: r.responseEnd,
      what: `${r.name.replace(location.origin, '')} (${Math.round(r.encodedBodySize / 1024)} kB)`,
      from: r.startTime,
    })),
  ]);
  const tasks = await page.evaluate(() => (window as unknown as { __tasks: { start: number; ms: number }[] }).__tasks);
  console.log(
    `${first ? 'first' : 'later'} visit, tasks of 50 ms or more: ${tasks.map((t) => `${t.ms} ms at ${t.start}`).join(', ') || 'none'}`,
  );
  console.log(`${first ? 'first' : 'later'} visit, what ended when (ms from navigation; files with when they were asked for):`);
  for (const e of timeline.sort((a, b) => a.at - b.at)) {
    const from = e.from !== e.at ? ` (asked at ${Math.round(e.from)})` : '';
    console.log(`${String(Math.round(e.at)).padStart(7)}  ${e.what}${from}`);
  }
  const byId = new Map(profile.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + profile.timeDeltas[i]!);
  });
  // Bursts of work with no idle sample in between, of 50 ms or more: the long tasks (or tasks run
  // back to back), each with the functions that took most of it.
  const bursts: { at: number; ms: number; top: [string, number][] }[] = [];
  let burst: { at: number; us: number; fns: Map<string, number> } | null = null;
  let clock = 0;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const dt = profile.timeDeltas[i]!;
    clock += dt;
    if (f.functionName === '(idle)') {
      if (burst && burst.us >= 50_000)
        bursts.push({ at: burst.at, ms: burst.us / 1000, top: [...burst.fns].sort((a, b) => b[1] - a[1]).slice(0, 4) });
      burst = null;
      return;
    }
    burst ??= { at: clock / 1000, us: 0, fns: new Map() };
    burst.us += dt;
    const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`;
    burst.fns.set(key, (burst.fns.get(key) ?? 0) + dt);
  });
  console.log(`busy stretches of 50 ms or more with no idle sample (ms from the profile's start): ${bursts.length || 'none'}`);
  for (const b of bursts)
    console.log(`  ${Math.round(b.at)}: ${Math.round(b.ms)} ms: ${b.top.map(([k, us]) => `${k} ${Math.round(us / 1000)} ms`).join(', ')}`);
  const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
  console.log(`profiled ${Math.round(total / 1000)} ms; self time by function ("(program)" is native work such as JSON.parse):`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25))
    console.log(`${String(Math.round(us / 1000)).padStart(7)} ms  ${k}`);
} finally {
  await browser.close();
  server.close();
}
