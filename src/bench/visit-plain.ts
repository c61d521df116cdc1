/**
 * `npm run bench:visit-plain [-- --items 100000 --runs 3]`: the storefront tag's first and later
 * visit with no developer tools attached. The other benches drive Chromium through its DevTools
 * protocol, whose network agent copies (and, for text types, decodes) every response body on the
 * page's main thread when it finishes: for a 14 MB catalogue that is one task of about 40 ms that
 * a shopper's browser never runs. Here Chromium is started on the page's URL alone, in a fresh
 * profile; the page measures itself (the time to its first top 10, the Long Tasks API) and posts
 * what it saw to the local server (the time is counted from the navigation, and again from the
 * moment the page requested the tag's script, which is what Clickwise adds to the page's own
 * load; a fresh profile's first navigation is itself slower than the next ones), then loads itself again twice: the second visit, and a third
 * (a browser keeps a script's compiled code in its code cache from the script's second run on,
 * so the third visit is what every visit after the second looks like). Prints one JSON line per
 * run; with `--phases`, each visit also gives when each phase of the load, each step of the
 * catalogue's worker and each file ended (ms from navigation), and when each long task began
 * and how long it took, with what ran in it where the Long Animation Frames API says (`tasks`:
 * [start, ms, what] triples: the invoker, script file, function and character position of the
 * longest script in the long frame that holds the task). `--mbps M [--rtt MS]` serves the files over a slower network: one link of
 * M megabits per second shared by every response, each after a round trip of MS ms (default 40).
 * `--successors K` (with `--trained-base`) gives the base K successors an item in place of
 * {@link TRAINED_SUCCESSORS} (a base `npm run maintain` writes keeps 10 at most).
 * `--gzip` sends text files (the catalogue, the tag, the WASM binary, the head's `items.txt`)
 * gzipped, as a shop's host does, and the base's and vectors' `.bin` files as they are (gzipped
 * ahead, so a request waits for the link alone); without, every file goes as it is on disk.
 * `--encode` gives the tag the shipped model without the catalogue's vectors: the browser encodes
 * every item itself on the first visit. `--trained-base` gives it a base that knows every item
 * (`trainedBase`: residuals, what sold lately, transitions), as a shop of n products that runs
 * `npm run maintain` ships; the shipped base knows none. `--rebase` (with `--trained-base`): the
 * first visit clicks `--clicks N` items (default 20), and the later visits come after the shop published
 * that base again under another version, as a returning shopper meets the next maintenance run's
 * base: their clicks are learned again on it at load, and its transitions are downloaded anew.
 * Each such visit also gives when the base's transitions were in (`transitionsInMs`, ms from
 * navigation: until then the version before this option's had no list to show) and when the
 * page was asked to rank again with them (`updateMs`).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ownTempFolder, parseArgs } from '../cli/common.js';
import { gzipAhead, Link, serveStatic } from '../vite/serve.js';
import type { Visit } from './ab-summary.js';
import { VISITS } from './ab-summary.js';
import { ARGS, CHROMIUM } from './load.js';
import { HEADERS_STORE, PREPARED_DB } from '../storage/prepared-probe.js';
import {
  compacts,
  SAVED_ENTRY,
  SAVED_TEXT,
  tagHtml,
  TASK_OBSERVER,
  trainedBase,
  TRAINED_SUCCESSORS,
  VISIT_ROOT,
  visitFolder,
} from './visit-folder.js';

/** What the page posts after each visit. */
interface Seen {
  visit: Visit;
  /** `--rebase`: the clicks the page found stored at load, when its transitions were in, and the update after. */
  clicksAtLoad?: number;
  transitionsInMs?: number | null;
  updateMs?: number | null;
  firstRecommendationMs: number;
  /** The same, counted from when the page requested the tag's script (null: no timing entry for it). */
  fromTagMs: number | null;
  longTasks: { start: number; ms: number }[];
  /** Animation frames of 50 ms or more (the Long Animation Frames API), with the scripts that ran in them. */
  frames: { start: number; end: number; scripts: { by: string; src: string; fn: string; at: number; ms: number }[] }[];
  prepared: number;
  /** The load's phases (User Timing marks) and the files, ms from navigation, in the order they ended. */
  phases: Record<string, number>;
}

const args = parseArgs(process.argv.slice(2), {
  items: 'string',
  runs: 'string',
  phases: 'boolean',
  mbps: 'string',
  rtt: 'string',
  encode: 'boolean',
  'trained-base': 'boolean',
  rebase: 'boolean',
  clicks: 'string',
  gzip: 'boolean',
  successors: 'string',
});
// --phases: each visit's row also gives when each phase and file ended.
const phases = args['phases'] === true;
const n = Number(args['items'] ?? 100_000);
// --encode: no shipped vectors; the first visit encodes the catalogue in the browser.
const encode = args['encode'] === true;
// --trained-base: a base that knows every item (residuals, transitions), as `npm run maintain` makes for a shop of n products.
const trained = args['trained-base'] === true;
if (encode && trained) throw new Error('--encode and --trained-base cannot go together.');
// --rebase: the later visits meet the trained base published again under another version.
const rebase = args['rebase'] === true;
if (rebase && !trained) throw new Error('--rebase needs --trained-base.');
/** Clicks of the first visit in a `--rebase` run (`--clicks N`, default 20): a returning shopper's history. */
const REBASE_CLICKS = Number(args['clicks'] ?? 20);
if (!Number.isInteger(REBASE_CLICKS) || REBASE_CLICKS < 1) throw new Error('--clicks takes a positive integer.');
if (args['clicks'] !== undefined && !rebase) throw new Error('--clicks goes with --rebase.');
const runs = Number(args['runs'] ?? 3);
if (!Number.isInteger(n) || n < 1 || !Number.isInteger(runs) || runs < 1) throw new Error('--items and --runs take positive integers.');
// --mbps M [--rtt MS]: the files come over a link of M megabits per second, each response after
// a round trip (default 40 ms); without, as fast as the machine serves them.
const mbps = args['mbps'] !== undefined ? Number(args['mbps']) : null;
const rtt = Number(args['rtt'] ?? (mbps !== null ? 40 : 0));
if ((mbps !== null && !(mbps > 0)) || !(rtt >= 0)) throw new Error('--mbps takes a number > 0 and --rtt a number of ms ≥ 0.');
const link = mbps !== null || rtt > 0 ? new Link(mbps !== null ? (mbps * 1e6) / 8 : Infinity, rtt) : undefined;
// --successors K: the trained base's successors an item.
const successors = Number(args['successors'] ?? TRAINED_SUCCESSORS);
if (args['successors'] !== undefined && !trained) throw new Error('--successors goes with --trained-base.');
if (!Number.isInteger(successors) || successors < 1) throw new Error('--successors takes a positive integer.');
// --gzip: text files gzipped, as a host sends them.
const gzip = args['gzip'] === true;
/**
 * The page's animation frames of 50 ms or more, with the scripts that ran in them
 * (`window.__frames`): what ran in each long task. Nothing where the browser lacks the API.
 */
const FRAME_OBSERVER = `<script>window.__frames = []; try { new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.duration >= 50) window.__frames.push({ start: e.startTime, end: e.startTime + e.duration, scripts: e.scripts.map((s) => ({ by: s.invoker, src: (s.sourceURL || '').split('/').pop(), fn: s.sourceFunctionName, at: s.sourceCharPosition, ms: Math.round(s.duration) })) }); }).observe({ type: 'long-animation-frame', buffered: true }); } catch {}</script>`;

/** Source of a page function that resolves the saved entries' generations, as one string ('' where none). */
const GENERATIONS = `() => new Promise((resolve) => {
  const req = indexedDB.open(${JSON.stringify(PREPARED_DB)});
  req.onerror = () => resolve('');
  req.onsuccess = () => {
    const db = req.result;
    if (!db.objectStoreNames.contains(${JSON.stringify(HEADERS_STORE)})) return (db.close(), resolve(''));
    const all = db.transaction(${JSON.stringify(HEADERS_STORE)}, 'readonly').objectStore(${JSON.stringify(HEADERS_STORE)}).getAll();
    all.onsuccess = () => (db.close(), resolve(JSON.stringify(all.result.map((h) => h.generation))));
    all.onerror = () => (db.close(), resolve(''));
  };
})`;

const dir = await visitFolder(n);
// The page waits for the first top 10, then for a second and a half of quiet, reports, waits
// until what the first visit made is saved, and loads itself again until the third visit.
const measure = `<script>
addEventListener('load', async () => {
  const rebase = ${JSON.stringify(rebase)};
  // A rebase run's later visit saves an entry for the new base in place of the first's: the
  // third visit comes once the saved entries' generations are no longer those found at load.
  const generations = ${GENERATIONS};
  const atLoad = rebase ? await generations() : '';
  while (!window.Clickwise) await new Promise((r) => setTimeout(r, 5));
  const rec = await window.Clickwise.ready;
  let updateMs = null;
  const stopUpdates = rec.on('update', (u) => { if (u.source === 'load' && updateMs === null) updateMs = Math.round(performance.now()); });
  const clicksAtLoad = rec.stats().clicks;
  await rec.recommend({ k: 10 });
  const firstRecommendationMs = Math.round(performance.now());
  let transitionsInMs = null;
  if (rebase) {
    // When the base's transitions are in (the version before had no list until then), and the
    // first visit's clicks, which the later visits find stored and learn again on the new base.
    for (const t0 = Date.now(); rec.stats().transitions === 'reading' && Date.now() - t0 < 300000; ) await new Promise((r) => setTimeout(r, 10));
    transitionsInMs = Math.round(performance.now());
    if (clicksAtLoad === 0) for (let i = 0; i < ${REBASE_CLICKS}; i++) await rec.click('s' + ((i * 7919) % ${n}));
  }
  stopUpdates();
  // From the moment the page asked for the tag's script: what Clickwise adds to the page's own load.
  const tag = performance.getEntriesByType('resource').find((r) => new URL(r.name).pathname.endsWith('/clickwise.js'));
  const fromTagMs = tag ? Math.round(firstRecommendationMs - tag.startTime) : null;
  await new Promise((r) => setTimeout(r, 1500));
  const visits = ${JSON.stringify(VISITS)};
  const visit = visits[Math.max(0, visits.indexOf(location.search.slice(1)))];
  const phases = {};
  for (const m of performance.getEntriesByType('mark')) phases[m.name.replace('clickwise:', '')] = Math.round(m.startTime);
  for (const r of performance.getEntriesByType('resource')) if (r.responseEnd > 0) phases[r.name.split('/').pop()] = Math.round(r.responseEnd);
  await fetch('/report', { method: 'POST', body: JSON.stringify({ visit, clicksAtLoad, transitionsInMs, updateMs, firstRecommendationMs, fromTagMs, longTasks: window.__tasks, frames: window.__frames, prepared: rec.stats().embeddings.prepared, phases }) });
  const next = visits[visits.indexOf(visit) + 1];
  if (!next) return;
  // The next visit comes once what this one made is saved (its header is written last): at
  // 1,000,000 items that takes seconds, and a later visit that found nothing would make it all again.
  const saved = ${SAVED_ENTRY};
  for (const t0 = Date.now(); !(await saved()) && Date.now() - t0 < 120000; ) await new Promise((r) => setTimeout(r, 250));
  if (rebase && visit === 'later') for (const t0 = Date.now(); (await generations()) === atLoad && Date.now() - t0 < 120000; ) await new Promise((r) => setTimeout(r, 250));
  // And, where the file is compacted once ready, its compacted text.
  const text = ${compacts(dir) ? SAVED_TEXT : 'async () => true'};
  for (const t0 = Date.now(); !(await text()) && Date.now() - t0 < 120000; ) await new Promise((r) => setTimeout(r, 250));
  setTimeout(() => location.replace(${JSON.stringify(rebase ? 'plain-next.html' : 'plain.html')} + '?' + next), 2000);
});
</script>`;
const page = (model: string | undefined): string =>
  `<!doctype html><meta charset="utf-8"><title>plain ${n}</title><link rel="icon" href="data:,">\n${TASK_OBSERVER}\n${FRAME_OBSERVER}\n${measure}\n${tagHtml(n, 'plain', model)}`;
writeFileSync(join(dir, 'plain.html'), page(encode ? '/models/' : trained ? trainedBase(n, dir, false, successors) : undefined));
// --rebase: the later visits' page, the same base published again under another version.
if (rebase) writeFileSync(join(dir, 'plain-next.html'), page(trainedBase(n, dir, true, successors)));
/** What ran in a long task: the longest script of the long frame that holds it ('' where none is known). */
function ranIn(task: { start: number; ms: number }, frames: Seen['frames']): string {
  const frame = frames.find((f) => f.start <= task.start + 1 && task.start + task.ms <= f.end + 1);
  const top = frame?.scripts.reduce<Seen['frames'][number]['scripts'][number] | null>((a, x) => (!a || x.ms > a.ms ? x : a), null);
  const where = top ? `${top.src}${top.fn ? `:${top.fn}` : ''}${top.at >= 0 ? `@${top.at}` : ''}` : '';
  return top ? `${top.by} ${where} (${top.ms} ms)` : frame ? '(no script)' : '';
}

let seen: Seen[] = [];
if (gzip) for (const folder of [dir, 'dist']) gzipAhead(folder);
const files = serveStatic({ '/p/': VISIT_ROOT, '/': 'dist' }, link, { gzip });
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/report') {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push(JSON.parse(body) as Seen);
      res.end();
    });
    return;
  }
  files(req, res);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/p/${n}/plain.html`;
try {
  for (let run = 0; run < runs; run++) {
    seen = [];
    const profile = ownTempFolder('clickwise-plain-');
    const browser = spawn(CHROMIUM, ['--headless=new', ...ARGS, `--user-data-dir=${profile.path}`, url], { stdio: 'ignore' });
    const deadline = Date.now() + 600_000;
    while (seen.length < VISITS.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    browser.kill();
    await new Promise((r) => setTimeout(r, 500));
    profile.remove();
    if (seen.length < VISITS.length) {
      throw new Error(`run ${run + 1}: the page reported ${seen.length} of ${VISITS.length} visits within 10 minutes.`);
    }
    const row = (v: Seen) => ({
      firstRecommendationMs: v.firstRecommendationMs,
      fromTagMs: v.fromTagMs,
      longestTaskMs: Math.max(0, ...v.longTasks.map((t) => t.ms)),
      longTasks: v.longTasks.length,
      prepared: v.prepared,
      ...(rebase ? { clicksAtLoad: v.clicksAtLoad, transitionsInMs: v.transitionsInMs, updateMs: v.updateMs } : {}),
      // Each long task's start (ms from navigation) and length, to set beside the phases.
      // With what ran in it, where the Long Animation Frames API says.
      ...(phases
        ? { phases: v.phases, tasks: v.longTasks.map((t) => [Math.round(t.start), Math.round(t.ms), ranIn(t, v.frames ?? [])]) }
        : {}),
    });
    const byVisit = Object.fromEntries(VISITS.map((v) => [v, seen.find((x) => x.visit === v)]));
    // A rebase run measures a returning shopper only if the later visit found the first one's clicks.
    if (rebase && byVisit.later!.clicksAtLoad !== REBASE_CLICKS) {
      throw new Error(`run ${run + 1}: the later visit found ${byVisit.later!.clicksAtLoad} stored clicks, not ${REBASE_CLICKS}.`);
    }
    console.log(
      JSON.stringify({
        n,
        ...(encode ? { encoded: true } : {}),
        ...(trained ? { trainedBase: true } : {}),
        ...(rebase ? { rebase: true, clicks: REBASE_CLICKS } : {}),
        ...(link ? { mbps, rttMs: rtt } : {}),
        ...(gzip ? { gzip: true } : {}),
        ...(trained ? { successors } : {}),
        run: run + 1,
        first: row(byVisit.first!),
        later: row(byVisit.later!),
        third: row(byVisit.third!),
      }),
    );
  }
} finally {
  server.close();
}
