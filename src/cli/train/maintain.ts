/**
 * `npm run maintain -- --events F --items F --until DATE --out DIR`: retrains the base θ from the
 * event logs up to DATE and publishes it into the model folder DIR (a new `head-<digest>/` beside
 * the one in force, the shipped encoder where DIR lacks it, and `manifest.json` replaced last),
 * which `createRecommender({ modelUrl: DIR })` loads, also while pages load it (see
 * `writeModelFolder`).
 * What the base learns is described in `src/cli/train/base.ts`. Browsers on the previous base keep
 * their φ: a new base of the same encoder is declared compatible, since its parameters mean the
 * same.
 */
import { resolve } from 'node:path';
import { initBackend } from '../../core/backend.js';
import type { Command } from '../common.js';
import {
  isEntry,
  numberList,
  outputFolder,
  packageModels,
  parseArgs,
  progressBar,
  runCommand,
  sha256File,
  UsageError,
  yesNo,
} from '../common.js';
import { DEFAULT_BASE_OPTIONS, trainBase, writeModelFolder } from './base.js';
import { columnsOf, dateOrderOf, dateFlag, firstBuysWhere, readShopLog, titleWordsOf, withShortTitles } from '../data.js';

export const USAGE = `Usage: clickwise maintain --events F --items F --until DATE --out DIR [--epochs N] [--half-life-days D] [--recent-half-life D]
       (in a checkout: npm run maintain -- --events F ...)

Retrains the base from the events log up to DATE and publishes it into the model folder DIR that
the pages load, safely while they load it: the new head goes into a folder of its own
(head-<digest>/) beside the one in force, the encoder is copied where DIR lacks it, and
manifest.json, which names them, is replaced last. The previous base's folder stays for pages
still loading it; older ones go. A shop delta in DIR (delta/) is removed: it was learned on the
base this one replaces.

  --events F         events CSV (user_id,item_id,timestamp; plain or .gz)
  --items F          items CSV (item_id,title,...)
  --columns L        the files' own names of their columns, where they are not the tools' ones:
                     user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate,title=Description
  --date-order O     day-first or month-first: how the events file writes a date with the day
                     or the month first in digits (01/10/2011), where its own dates do not tell
  --until DATE       the last day learned from (exclusive)
  --out DIR          the model folder to write
  --models DIR       the source model (encoder, vectors; default: this package's models/)
  --epochs N         training epochs (0: popularity biases only)
  --refit yes|no     once the feature weights are chosen on the last 4 weeks (held out from
                     the training that chooses them), train the content model again on every
                     day, those weeks included, and publish that one (default yes; no publishes
                     the model trained without them, in about half the time; docs/RESULTS.md)
  --recent-half-life D  half-life in days of the recent sales the base ships, by which a
                     shopper's own items are ranked at a visit's start (default 7; 0: none)
  --successors N     successors each product keeps in the shop's transitions the base ships
                     and trains beside, its most frequent (1 to 10,000; default 10, chosen on
                     Online Retail's validation weeks, where 50 ranked no better; docs/RESULTS.md)
  --l2 X             the content model's L2 weight: how hard each known product's residual is
                     pulled back to where its text puts it (a number ≥ 0; default 1e-4; on
                     Online Retail's validation weeks 1e-5 to 1e-2 ranked within 0.7%; docs/RESULTS.md)
  --ranked-negatives N  browsers learn each click against the first N items of the ranking
                     they showed before it (default 0: none; 50 finds new products a third more
                     often on Online Retail but costs a shop of re-buyers; docs/RESULTS.md)
  --new-slots N      places per ten of each list kept for new products while a shop delta is
                     in force (0 to 10; default: chosen on the held-out weeks, none where they
                     find new products as often as a list of what sells now; docs/RESULTS.md)
  --launch-slots N   places per ten of each list for launches: a product the base does not
                     know that is among the shop's best sellers now, as the stream job
                     publishes what sells, takes one (0 to 10; default: chosen on the held-out
                     weeks, one unless it costs them anything; 0: none; docs/RESULTS.md)
  --learning-rates R,R,...  how fast browsers learn from each click: the held-out weeks are
                     replayed at each rate and the best is shipped (default 0.01,0.03,0.1,0.3;
                     one rate ships it as it is; docs/RESULTS.md)
  --show-viewed auto|yes|no  whether the shop's pages show a shopper the items they viewed
                     lately (default auto: yes where the held-out weeks, replayed at the rate
                     shipped, score better with them, as in a shop of re-buyers; a page's own
                     recommendViewed or data-recommend-viewed wins)
  --latest-departments auto|yes|no  whether a list keeps two places for each of a shopper's
                     last three departments where the ranking leaves one out (default
                     auto: where the catalogue names departments, kept unless the held-out weeks'
                     page lists lose more than 1% by them, as a grocer's do; a page's own
                     keepLatestDepartments wins)
  --share-clicks auto|yes|no  whether the places of a department holding a quarter of a shopper's
                     recent clicks are shared among its last three distinct clicks (default
                     auto: where the catalogue names departments, shared unless the held-out
                     weeks' page lists lose more than 1% by it; a page's own
                     shareInterestClicks wins)
  --residual-bits auto|4|8  how each known product's residual is written: int8 or int4 rows
                     (half the bytes a page downloads before its first list; 0.1% of NDCG@10 on
                     Online Retail's validation weeks; default auto: int4 where the base knows
                     20,000 products or more; docs/RESULTS.md)
  --full-softmax-up-to N  train over every known item while there are at most N (default
                     50,000); above, over 1,024 of them drawn per batch
  --title-words N    train as if each title had only its first N words (0: no text; to see how
                     a shop whose titles say little fares, with npm run eval's same option)
  --first-buys-only  train on each shopper's first event on each product only (to see how a shop
                     whose shoppers never buy a product twice fares, with npm run eval's same option)`;

async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv, {
    events: 'string',
    items: 'string',
    columns: 'string',
    'date-order': 'string',
    until: 'string',
    out: 'string',
    models: 'string',
    'half-life-days': 'number',
    'recent-half-life': 'number',
    epochs: 'number',
    'title-words': 'number',
    'first-buys-only': 'boolean',
    'ranked-negatives': 'number',
    successors: 'number',
    l2: 'string',
    'full-softmax-up-to': 'number',
    'new-slots': 'number',
    'launch-slots': 'number',
    'learning-rates': 'string',
    'show-viewed': 'string',
    'latest-departments': 'string',
    'share-clicks': 'string',
    'residual-bits': 'string',
    refit: 'string',
  });
  for (const req of ['events', 'items', 'until', 'out']) {
    if (args[req] === undefined)
      throw new UsageError(`Missing --${req}. Usage: npm run maintain -- --events F --items F --until DATE --out DIR`);
  }
  const titleWords = titleWordsOf(args['title-words']);
  const columns = columnsOf(args['columns']);
  const dates = dateOrderOf(args['date-order']);
  const ranked = args['ranked-negatives'] === undefined ? 0 : Number(args['ranked-negatives']);
  if (!Number.isInteger(ranked) || ranked < 0 || ranked > 10_000)
    throw new UsageError(`--ranked-negatives must be a whole number from 0 to 10,000, got ${String(args['ranked-negatives'])}.`);
  const l2 = args['l2'] === undefined ? null : Number(args['l2']);
  if (l2 !== null && !(l2 >= 0 && l2 < Infinity)) throw new UsageError(`--l2 must be a number ≥ 0, got ${String(args['l2'])}.`);
  const successors = args['successors'] === undefined ? null : Number(args['successors']);
  if (successors !== null && !(Number.isInteger(successors) && successors >= 1 && successors <= 10_000))
    throw new UsageError(`--successors must be a whole number from 1 to 10,000, got ${String(args['successors'])}.`);
  const slots = args['new-slots'] === undefined ? null : Number(args['new-slots']);
  if (slots !== null && !(Number.isInteger(slots) && slots >= 0 && slots <= 10))
    throw new UsageError(`--new-slots must be a whole number from 0 to 10, got ${String(args['new-slots'])}.`);
  const launchSlots = args['launch-slots'] === undefined ? null : Number(args['launch-slots']);
  if (launchSlots !== null && !(Number.isInteger(launchSlots) && launchSlots >= 0 && launchSlots <= 10))
    throw new UsageError(`--launch-slots must be a whole number from 0 to 10, got ${String(args['launch-slots'])}.`);
  const fullUpTo = args['full-softmax-up-to'];
  if (fullUpTo !== undefined && !(Number.isInteger(Number(fullUpTo)) && Number(fullUpTo) >= 0))
    throw new UsageError(`--full-softmax-up-to must be a whole number of items, 0 or more, got ${String(fullUpTo)}.`);
  const epochs = args['epochs'] === undefined ? null : Number(args['epochs']);
  if (epochs !== null && !(Number.isInteger(epochs) && epochs >= 0))
    throw new UsageError(`--epochs must be a whole number ≥ 0, got ${String(args['epochs'])}.`);
  const halfLife = args['half-life-days'] === undefined ? null : Number(args['half-life-days']);
  if (halfLife !== null && !(halfLife > 0 && halfLife < Infinity))
    throw new UsageError(`--half-life-days must be a number of days > 0, got ${String(args['half-life-days'])}.`);
  const recentHalfLife = args['recent-half-life'] === undefined ? null : Number(args['recent-half-life']);
  if (recentHalfLife !== null && !(recentHalfLife >= 0 && recentHalfLife < Infinity))
    throw new UsageError(`--recent-half-life must be a number of days ≥ 0 (0: none), got ${String(args['recent-half-life'])}.`);
  const rates = args['learning-rates'] === undefined ? null : numberList('learning-rates', args['learning-rates'], 0, 100);
  /** An answer the job chooses (`auto`, the default) or the shop gives (`yes`, `no`). */
  const autoYesNo = (flag: string): 'auto' | 'yes' | 'no' => {
    const v = args[flag] === undefined ? 'auto' : String(args[flag]);
    if (v !== 'auto' && v !== 'yes' && v !== 'no') throw new UsageError(`--${flag} must be auto, yes or no, got ${v}.`);
    return v;
  };
  const bitsArg = args['residual-bits'] === undefined ? 'auto' : String(args['residual-bits']);
  if (bitsArg !== 'auto' && bitsArg !== '4' && bitsArg !== '8')
    throw new UsageError(`--residual-bits must be auto, 4 or 8, got ${bitsArg}.`);
  const residualBits = bitsArg === 'auto' ? null : (Number(bitsArg) as 4 | 8);
  const refit = yesNo('refit', args['refit'], true);
  const showViewed = autoYesNo('show-viewed');
  const keepLatest = autoYesNo('latest-departments');
  const shareClicks = autoYesNo('share-clicks');
  const until = dateFlag('until', args['until'], dates);
  const models = resolve(String(args['models'] ?? packageModels()));
  // Checked before the minutes of training, not found unwritable after them.
  const out = outputFolder(args['out']);
  const t0 = Date.now();
  const eventsPath = String(args['events']);
  const itemsPath = String(args['items']);
  const { events: readEvents, items: read } = await readShopLog(eventsPath, itemsPath, { columns, until, dates });
  const firstBuys = args['first-buys-only'] === true;
  const events = firstBuysWhere(firstBuys, readEvents);
  const items = titleWords !== null ? withShortTitles(read, titleWords) : read;
  // Training runs on the wasm backend, as the evaluation does (the plain-JS cpu backend is many times slower).
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`maintain trains on the wasm backend, which could not start: ${backend.reason}`);
  /** One bar a stage, each ended when the next begins: the training, the feature weights, the learning rates. */
  let bar = progressBar('training the base', 1);
  let stage = 'training the base';
  const tick = (label: string, done: number, total: number): void => {
    if (stage !== label) {
      bar.end();
      bar = progressBar(label, 1);
      stage = label;
    }
    bar.tick(done / total);
  };
  const { head, repeatShare } = await trainBase(
    events,
    items,
    until,
    models,
    {
      ...DEFAULT_BASE_OPTIONS,
      ...(halfLife !== null ? { halfLifeDays: halfLife } : {}),
      ...(epochs !== null ? { epochs } : {}),
      ...(recentHalfLife !== null ? { recentHalfLifeDays: recentHalfLife } : {}),
      ...(fullUpTo !== undefined ? { fullSoftmaxUpTo: Number(fullUpTo) } : {}),
      newSlots: slots,
      ...(launchSlots !== null ? { launchSlots } : {}),
      ...(rates !== null ? { headLearningRates: rates } : {}),
      rankedNegatives: ranked,
      ...(successors !== null ? { successors } : {}),
      ...(l2 !== null ? { l2 } : {}),
      showViewed,
      keepLatest,
      shareClicks,
      refit,
    },
    (done, total) => tick('training the base', done, total),
    (done, total) => tick('choosing how fast browsers learn', done, total),
    (done, total) => tick('choosing the feature weights on the held-out weeks', done, total),
    (done, total) => tick('training the base again on every day', done, total),
  );
  bar.end();
  const untilDay = new Date(until).toISOString().slice(0, 10);
  const written = writeModelFolder(out, models, {
    ...head,
    ...(residualBits !== null ? { residualBits } : {}),
    provenance: {
      ...head.provenance,
      builtBy: `npm run maintain -- --until ${untilDay}${titleWords !== null ? ` --title-words ${titleWords}` : ''}${firstBuys ? ' --first-buys-only' : ''}${ranked > 0 ? ` --ranked-negatives ${ranked}` : ''}${successors !== null ? ` --successors ${successors}` : ''}${l2 !== null ? ` --l2 ${l2}` : ''}${slots !== null ? ` --new-slots ${slots}` : ''}${launchSlots !== null ? ` --launch-slots ${launchSlots}` : ''}${fullUpTo !== undefined ? ` --full-softmax-up-to ${String(fullUpTo)}` : ''}${rates !== null ? ` --learning-rates ${rates.join(',')}` : ''}${showViewed !== 'auto' ? ` --show-viewed ${showViewed}` : ''}${keepLatest !== 'auto' ? ` --latest-departments ${keepLatest}` : ''}${shareClicks !== 'auto' ? ` --share-clicks ${shareClicks}` : ''}${residualBits !== null ? ` --residual-bits ${residualBits}` : ''}${refit ? '' : ' --refit no'}`,
      // How the log was read, for an eval that is given this base (`eval --base`) to check.
      titleWords,
      firstBuysOnly: firstBuys,
      data: {
        events: { path: eventsPath, sha256: sha256File(eventsPath) },
        items: { path: itemsPath, sha256: sha256File(itemsPath) },
      },
    },
    metrics: { ...head.metrics, seconds: (Date.now() - t0) / 1000 },
  });
  console.log(
    `wrote ${out}: model ${written.model.version} (${written.head.items} items with a bias, re-buy share ${repeatShare.toFixed(3)}, feature weights α ${written.head.alpha} mix [${(written.head.mix ?? []).join(', ')}] new items ${written.head.newItemBias ?? 0}, shop delta weight ${written.head.shopDeltaWeight ?? 1}${written.head.shopDeltaWeightNew !== undefined ? ` (${written.head.shopDeltaWeightNew} on products the base does not know)` : ''}${written.head.newSlots ? `, ${written.head.newSlots} places per ten for new products` : ''}${written.head.launchSlots ? `, ${written.head.launchSlots} per ten for launches` : ', no places for launches'}${Array.isArray(head.metrics?.['launchSlotsNdcg']) ? ` (held-out NDCG@10 ${(head.metrics['launchSlotsNdcg'] as number[]).join(' → ')} with one)` : ''}${head.metrics?.['mixNdcgAfter'] !== undefined ? `, held-out NDCG@10 ${String(head.metrics['mixNdcgBefore'])} → ${String(head.metrics['mixNdcgAfter'])}${head.metrics['mixShopDeltaNdcg'] !== undefined ? ` (${String(head.metrics['mixShopDeltaNdcg'])} with the shop delta)` : ''}` : ''}${learnedAt(written.head.headOptions, head.metrics)}${viewedShown(written.head.recommendViewed, head.metrics)}${latestKept(written.head.keepLatestDepartments, head.metrics)}${clicksShared(written.head.shareInterestClicks, head.metrics)}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/** ", learning rate R (held-out NDCG@10 … at …)": the rate browsers learn at, and what chose it. */
function learnedAt(options: Record<string, number> | undefined, metrics: Record<string, unknown> | undefined): string {
  const rate = options?.['learningRate'];
  if (rate === undefined) return '';
  const rates = metrics?.['learningRates'];
  const ndcg = metrics?.['learningRateNdcg'];
  if (!Array.isArray(rates) || !Array.isArray(ndcg)) return `, learning rate ${rate}`;
  return `, learning rate ${rate} (held-out NDCG@10 ${ndcg.join(', ')} at ${rates.join(', ')} on ${String(metrics?.['learningRateScored'])} events)`;
}

/** ", pages show the items viewed lately (held-out NDCG@10 … with them, … without)": the job's answer, and what gave it. */
function viewedShown(shown: boolean | undefined, metrics: Record<string, unknown> | undefined): string {
  if (shown === undefined) return '';
  const ndcg = metrics?.['viewedNdcg'];
  const why = Array.isArray(ndcg) ? ` (held-out NDCG@10 ${String(ndcg[0])} with them, ${String(ndcg[1])} without)` : '';
  return `, pages ${shown ? 'show' : 'leave out'} the items viewed lately${why}`;
}

/** ", pages keep / do not keep places for the latest departments (held-out NDCG@10 …)": the job's answer, where it gave one. */
function latestKept(kept: boolean | undefined, metrics: Record<string, unknown> | undefined): string {
  if (kept === undefined) return '';
  const ndcg = metrics?.['latestDepartmentsNdcg'];
  const why = Array.isArray(ndcg) ? ` (held-out NDCG@10 of the page's lists ${String(ndcg[1])} with them, ${String(ndcg[0])} without)` : '';
  return `, pages ${kept ? 'keep' : 'do not keep'} places for a shopper's latest departments${why}`;
}

/** ", pages share / do not share each interest's places among its clicks (held-out NDCG@10 …)": the job's answer, where it gave one. */
function clicksShared(shared: boolean | undefined, metrics: Record<string, unknown> | undefined): string {
  if (shared === undefined) return '';
  const ndcg = metrics?.['interestClicksNdcg'];
  const why = Array.isArray(ndcg) ? ` (held-out NDCG@10 of the page's lists ${String(ndcg[1])} shared, ${String(ndcg[0])} not)` : '';
  return `, pages ${shared ? 'share' : 'do not share'} an interest's places among its clicks${why}`;
}

export const command: Command = { usage: USAGE, run: main };

if (isEntry(import.meta.url)) runCommand(command, process.argv.slice(2));
