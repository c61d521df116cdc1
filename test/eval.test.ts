/**
 * The evaluation harness: metrics on hand-made cases, and the test-then-learn protocol on a
 * slice of the real data (nothing after an event is seen before it is scored).
 */
import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { LogEvent } from '../src/cli/data.js';
import { firstBuysOnly, parseTime, readItems, withShortTitles } from '../src/cli/data.js';
import type { EvalSettings } from '../src/cli/eval/eval.js';
import {
  ALL_METHODS,
  DEFAULT_EVAL_SETTINGS,
  DEFAULT_METHODS,
  formatBands,
  formatRebuys,
  givenBaseProblems,
  runEvaluation,
} from '../src/cli/eval/eval.js';
import { trainBase, writeModelFolder } from '../src/cli/train/base.js';
import { RankMetrics } from '../src/cli/eval/metrics.js';
import type { MethodReport, OnlineMethod, ReplayEvent, StaticMethod } from '../src/cli/eval/replay.js';
import { rankOf, replay, SESSION_GAP_MS, tieOrder } from '../src/cli/eval/replay.js';
import { itemKnnMethod, markovMethod, repeatThenPopularityMethod, sessionKnnMethod } from '../src/cli/eval/baselines.js';
import { mulberry32 } from '../src/core/rng.js';
import { DEFAULT_HEAD_OPTIONS } from '../src/core/head.js';
import { dataDir, demoCatalog, MODELS, tempFolder } from './helpers.js';
import type { HeadManifest, ModelManifest } from '../src/core/model.js';
import { MIX_LENGTH } from '../src/core/memory.js';

const fmt4 = (x: number): string => x.toFixed(4);

describe('a shop whose titles say little (--title-words)', () => {
  const items = [
    { id: 'A1', title: 'RED  RETROSPOT CAKE STAND', description: 'bone china', price: 9.95 },
    { id: 'B2', title: 'DOORMAT' },
  ];
  it('cuts each title to its first words, and with 0 leaves no text but the id', () => {
    expect(withShortTitles(items, 2)).toEqual([
      { id: 'A1', title: 'RED RETROSPOT', description: 'bone china', price: 9.95 },
      { id: 'B2', title: 'DOORMAT' },
    ]);
    expect(withShortTitles(items, 0)).toEqual([
      { id: 'A1', title: 'A1', price: 9.95 },
      { id: 'B2', title: 'B2' },
    ]);
    // The items read are left as they were.
    expect(items[0]!.title).toBe('RED  RETROSPOT CAKE STAND');
  });
  it('refuses a count that is not a whole number ≥ 0, in the function and on both commands', () => {
    expect(() => withShortTitles(items, -1)).toThrow(/whole number ≥ 0, got -1/);
    expect(() => withShortTitles(items, 1.5)).toThrow(/whole number ≥ 0, got 1.5/);
    const root = resolve(import.meta.dirname, '..');
    const tsx = resolve(root, 'node_modules/.bin/tsx');
    for (const [script, rest] of [
      ['src/cli/eval/eval.ts', ['--split', '2011-01-01']],
      ['src/cli/train/maintain.ts', ['--until', '2011-01-01', '--out', 'never-written']],
    ] as const) {
      const r = spawnSync(tsx, [script, '--events', 'x.csv', '--items', 'y.csv', ...rest, '--title-words', '1.5'], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/--title-words must be a whole number ≥ 0, got 1\.5/);
    }
  });
  it('makes the folder --out names before it starts, and refuses one it cannot make before it reads anything', () => {
    const root = resolve(import.meta.dirname, '..');
    const tsx = resolve(root, 'node_modules/.bin/tsx');
    const run = (out: string) =>
      spawnSync(
        tsx,
        ['src/cli/eval/eval.ts', '--events', 'no-such-events.csv', '--items', 'y.csv', '--split', '2011-01-01', '--out', out],
        {
          cwd: root,
          encoding: 'utf8',
        },
      );
    // A file stands where the folder would be: refused at once, not after the run.
    const blocked = run('package.json/report.json');
    expect(blocked.status).toBe(2);
    expect(blocked.stderr).toMatch(/--out .*package\.json\/report\.json: its folder cannot be made/);
    // A folder that is not there yet is made (the run then stops at the missing events file).
    const folder = join(tempFolder('clickwise-eval-out-'), 'a', 'b');
    const missing = run(join(folder, 'report.json'));
    expect(missing.stderr).toMatch(/no-such-events\.csv/);
    expect(existsSync(folder)).toBe(true);
  });
  it('refuses an unknown method as bad usage, before it reads anything', () => {
    const root = resolve(import.meta.dirname, '..');
    const r = spawnSync(
      resolve(root, 'node_modules/.bin/tsx'),
      [
        'src/cli/eval/eval.ts',
        '--events',
        'no-such-events.csv',
        '--items',
        'y.csv',
        '--split',
        '2011-01-01',
        '--methods',
        'popularity,popularty',
      ],
      { cwd: root, encoding: 'utf8' },
    );
    // Before, it read the events file first (a missing one failed there), and an unknown method exited 1.
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unknown method popularty\. Methods: popularity, /);
  });
  it("refuses a method's setting it cannot use as bad usage, before it reads anything", () => {
    const root = resolve(import.meta.dirname, '..');
    // Before, the baselines' were taken as given (a Markov window of 0 scored every event by
    // popularity alone, a half-life of -1 day weighed older sales more) and the others were
    // refused only after the log was read, with exit 1.
    for (const [flag, value, said] of [
      ['--markov-window', '0', /--markov-window must be a whole number ≥ 1, got 0\./],
      ['--markov-votes', '0', /--markov-votes must be a whole number ≥ 1, got 0\./],
      ['--markov-decay', '1.5', /--markov-decay must be a number above 0 and at most 1, got 1\.5\./],
      ['--sknn-neighbours', '0', /--sknn-neighbours must be a whole number ≥ 1, got 0\./],
      ['--sknn-sample', '2.5', /--sknn-sample must be a whole number ≥ 1, got 2\.5\./],
      ['--repeat-recency', '2', /--repeat-recency must be a number above 0 and at most 1, got 2\./],
      ['--repeat-prior-half-life', '-1', /--repeat-prior-half-life must be a number of days > 0 \(or split\), got -1\./],
      ['--recent-half-life-days', '-1', /--recent-half-life-days must be a number of days > 0, got -1\./],
      ['--shop-half-lives', '1,-14', /--shop-half-lives must be numbers of days > 0, got 1,-14\./],
      ['--shop-every-minutes', '0', /--shop-every-minutes must be a number of minutes > 0, got 0\./],
      ['--learning-rate', '-1', /learningRate must be a finite number in \[0, 100\], got -1/],
      ['--base-epochs', '-1', /epochs must be a whole number ≥ 0, got -1/],
      ['--sasrec-epochs', '0', /SASRec's epochs must be a whole number of at least 1, got 0/],
      ['--until', '2010-12-01', /--until 2010-12-01 is not after --split 2011-01-01\./],
      ['--until', '01/12/2011', /--until 01\/12\/2011 is not a date \(YYYY-MM-DD or ISO 8601\)\./],
      ['--date-order', 'dmy', /--date-order must be day-first \(01\/10\/2011 is 1 October\) or month-first/],
      ['--k', '0', /--k must be a positive integer, got 0\./],
    ] as const) {
      const r = spawnSync(
        resolve(root, 'node_modules/.bin/tsx'),
        ['src/cli/eval/eval.ts', '--events', 'no-such-events.csv', '--items', 'y.csv', '--split', '2011-01-01', flag, value],
        { cwd: root, encoding: 'utf8' },
      );
      expect(r.status, `${flag} ${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(said);
    }
  });
  it('checks a given base against the run: the split, how the log is read, the files', () => {
    const split = Date.parse('2011-10-01');
    const whole = { titleWords: null, firstBuysOnly: false };
    const data = { events: { sha256: 'e1' }, items: { sha256: 'i1' } };
    const base = (p: Record<string, unknown>) => ({ until: '2011-10-01', builtBy: 'npm run maintain -- --until 2011-10-01', data, ...p });
    const same = { events: 'e1', items: 'i1' };
    // Built for this run: nothing to say.
    expect(givenBaseProblems(base({}), split, whole, same)).toEqual({ errors: [], warnings: [] });
    expect(
      givenBaseProblems(base({ titleWords: 1, firstBuysOnly: true }), split, { titleWords: 1, firstBuysOnly: true }, same).errors,
    ).toEqual([]);
    // Trained past the split: it has seen the answers.
    expect(givenBaseProblems(base({ until: '2011-10-08' }), split, whole, same).errors).toEqual([
      'it learned from the events up to 2011-10-08, after the split 2011-10-01: it has seen the weeks it would be scored on',
    ]);
    // Older than the split: scored, and said to be stale.
    expect(givenBaseProblems(base({ until: '2011-08-01' }), split, whole, same)).toEqual({
      errors: [],
      warnings: ['it learned from the events up to 2011-08-01, before the split 2011-10-01: it is scored as a stale base'],
    });
    // Read otherwise: titles cut, or re-buys left out, on either side.
    expect(givenBaseProblems(base({ titleWords: 0, firstBuysOnly: false }), split, whole, same).errors).toEqual([
      'it was built on no title text (--title-words 0), and this run reads whole titles',
    ]);
    expect(
      givenBaseProblems(base({ titleWords: null, firstBuysOnly: false }), split, { titleWords: 1, firstBuysOnly: true }, same).errors,
    ).toEqual([
      'it was built on whole titles, and this run reads titles cut to 1 word (--title-words 1)',
      'it was built on every event, and this run reads the first buys only (--first-buys-only)',
    ]);
    // A base of an earlier version says how the log was read only in builtBy, which is read.
    const older = base({ builtBy: 'npm run maintain -- --until 2011-10-01 --title-words 1 --first-buys-only --l2 0.001' });
    expect(givenBaseProblems(older, split, whole, same).errors).toHaveLength(2);
    expect(givenBaseProblems(older, split, { titleWords: 1, firstBuysOnly: true }, same).errors).toEqual([]);
    // Other files: scored, with a warning.
    expect(givenBaseProblems(base({}), split, whole, { events: 'e2', items: 'i1' }).warnings).toEqual([
      "it was built from another events file than this run's",
    ]);
    // The shipped content-only base was built by no maintenance run: nothing to check.
    expect(
      givenBaseProblems({ builtBy: 'npm run build:encoder', kind: 'content-only base' }, split, { titleWords: 0, firstBuysOnly: true }),
    ).toEqual({
      errors: [],
      warnings: [],
    });
  });
  it('refuses threads for the trained baselines other than 0, 1 or 2, before it reads anything', () => {
    const root = resolve(import.meta.dirname, '..');
    const r = spawnSync(
      resolve(root, 'node_modules/.bin/tsx'),
      ['src/cli/eval/eval.ts', '--events', 'x.csv', '--items', 'y.csv', '--split', '2011-01-01', '--training-threads', '3'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--training-threads must be 0, 1 or 2, got 3/);
  });
});

/** Twenty days of February 2021 in which two regulars, r1 at 10:00 and r2 at 11:00, buy A and B in turn: each row as `line` writes it, then the day's `more` rows. */
function twoRegulars(
  line: (user: 'r1' | 'r2', item: string, time: string, d: number) => string,
  more: (day: string, d: number) => string[] = () => [],
): string[] {
  const rows: string[] = [];
  for (let d = 1; d <= 20; d++) {
    const day = `2021-02-${String(d).padStart(2, '0')}`;
    rows.push(line('r1', d % 2 ? 'A' : 'B', `${day} 10:00:00`, d), line('r2', d % 2 ? 'B' : 'A', `${day} 11:00:00`, d), ...more(day, d));
  }
  return rows;
}

/** `npm run eval` of `methods` on a made-up log from 2021-02-15, its report written to `report`. */
function evalFrom(events: string, items: string, report: string, methods: string, extra: string[] = []): SpawnSyncReturns<string> {
  const root = resolve(import.meta.dirname, '..');
  return spawnSync(
    resolve(root, 'node_modules/.bin/tsx'),
    [
      'src/cli/eval/eval.ts',
      '--events',
      events,
      '--items',
      items,
      '--split',
      '2021-02-15',
      '--methods',
      methods,
      '--out',
      report,
      ...extra,
    ],
    { cwd: root, encoding: 'utf8' },
  );
}

describe('a shop whose shoppers never buy a product twice (--first-buys-only)', () => {
  const ev = (user: string, item: string, t: number): LogEvent => ({
    user,
    item,
    t,
    event: 'purchase',
    quantity: 1,
    basket: `${user}@${t}`,
  });
  it("keeps each shopper's first event on each product, in order, and counts the rest", () => {
    const events = [ev('a', 'X', 1), ev('b', 'X', 2), ev('a', 'Y', 3), ev('a', 'X', 4), ev('b', 'X', 5), ev('b', 'Y', 6)];
    const kept = firstBuysOnly(events);
    expect(kept.events).toEqual([ev('a', 'X', 1), ev('b', 'X', 2), ev('a', 'Y', 3), ev('b', 'Y', 6)]);
    expect(kept.dropped).toBe(2);
    // The events read are left as they were.
    expect(events).toHaveLength(6);
  });
  it('scores no re-buys in the eval, and says how many events it left out', () => {
    const dir = tempFolder('clickwise-eval-first-buys-');
    // Two regulars buy A and B in turn for twenty days; a new shopper buys A, C and A after the split.
    const rows = [
      'user_id,item_id,timestamp,event',
      ...twoRegulars(
        (user, item, time) => `${user},${item},${time},purchase`,
        (day, d) => (d === 16 ? [`n1,A,${day} 12:00:00,purchase`, `n1,C,${day} 12:05:00,purchase`, `n1,A,${day} 12:10:00,purchase`] : []),
      ),
    ];
    writeFileSync(join(dir, 'events.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'items.csv'), 'item_id,title\nA,apple\nB,bread\nC,cheese\n');
    const report = join(dir, 'report.json');
    const all = evalFrom(join(dir, 'events.csv'), join(dir, 'items.csv'), report, 'repeat-then-popularity');
    expect(all.status, all.stderr).toBe(0);
    const before = (JSON.parse(readFileSync(report, 'utf8')) as { methods: MethodReport[] }).methods[0]!;
    // Twelve re-buys of the regulars after the split and n1's A again; n1's first A and C.
    expect(before.events).toBe(15);
    expect(before.rebuys.events).toBe(13);
    const first = evalFrom(join(dir, 'events.csv'), join(dir, 'items.csv'), report, 'repeat-then-popularity', ['--first-buys-only']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(
      /--first-buys-only: left out 37 of 43 events, each a shopper's event on a product they had an event on before/,
    );
    const r = JSON.parse(readFileSync(report, 'utf8')) as { methods: MethodReport[]; firstBuysOnly?: boolean };
    expect(r.firstBuysOnly).toBe(true);
    expect(r.methods[0]!.events).toBe(2);
    expect(r.methods[0]!.rebuys.events).toBe(0);
  });
});

describe('a log with rows of no shopper', () => {
  it("reads a shop's own export, under its own column names (--columns)", () => {
    const dir = tempFolder('clickwise-eval-columns-');
    const rows = [
      'InvoiceNo,StockCode,Description,InvoiceDate,CustomerID',
      ...twoRegulars((user, item, time, d) => (user === 'r1' ? `${d}1,${item},x,${time},17850` : `${d}2,${item},x,${time},13047`)),
    ];
    writeFileSync(join(dir, 'raw.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'products.csv'), 'StockCode,Description\nA,apple\nB,bread\nC,cheese\n');
    const report = join(dir, 'report.json');
    const run = (columns: string[]): ReturnType<typeof evalFrom> =>
      evalFrom(join(dir, 'raw.csv'), join(dir, 'products.csv'), report, 'repeat-then-popularity', columns);
    const refused = run([]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(
      /raw\.csv lacks the column\(s\) user_id, item_id, timestamp\..*--columns user_id=\.\.\.,item_id=\.\.\. reads a file with its own names/,
    );
    const read = run(['--columns', 'user_id=CustomerID,item_id=StockCode,timestamp=InvoiceDate,title=Description']);
    expect(read.status).toBe(0);
    const written = JSON.parse(readFileSync(report, 'utf8')) as { eventsReplayed: number; eventsScored: number; catalogue: number };
    expect([written.eventsReplayed, written.eventsScored, written.catalogue]).toEqual([40, 12, 3]);
    const bad = run(['--columns', 'shopper=CustomerID']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--columns names "shopper", which is not a column of the tools' files/);
  });

  it("leaves a guest's rows and the events of unlisted products out of the replay, and says how many on the command line and in the report", () => {
    const dir = tempFolder('clickwise-eval-guests-');
    // Two regulars who buy the same two things in turn; the guests, each alone, buy C.
    const rows = [
      'user_id,item_id,timestamp',
      ...twoRegulars(
        (user, item, time) => `${user},${item},${time}`,
        (day) => [`,C,${day} 12:00:00`],
      ),
    ];
    // And three events of two products the items file does not list.
    rows.push('r1,Z,2021-02-03 10:30:00', 'r2,Z,2021-02-04 10:30:00', 'r2,Y,2021-02-16 10:30:00');
    writeFileSync(join(dir, 'events.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'items.csv'), 'item_id,title\nA,apple\nB,bread\nC,cheese\n');
    const report = join(dir, 'report.json');
    const run = evalFrom(join(dir, 'events.csv'), join(dir, 'items.csv'), report, 'repeat-then-popularity');
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(
      /left out 20 rows \(20 without a user_id\) of .*events\.csv \(a guest's order is read as a shopper of one visit where its rows give its session_id: --columns session_id=\.\.\.\)/,
    );
    expect(run.stderr).toMatch(/left out 3 events of 2 products that .*items\.csv does not list/);
    const written = JSON.parse(readFileSync(report, 'utf8')) as {
      rowsLeftOut: unknown;
      guestOrders: unknown;
      eventsOfUnknownItems: number;
      eventsReplayed: number;
      eventsScored: number;
    };
    expect(written.rowsLeftOut).toEqual({ noShopper: 20, noItem: 0, returns: 0 });
    expect(written.guestOrders).toEqual({ rows: 0, orders: 0 });
    expect(written.eventsOfUnknownItems).toBe(3);
    // The regulars' 40 events only: the guests were one shopper "" of 20 events before.
    expect(written.eventsReplayed).toBe(40);
    expect(written.eventsScored).toBe(12);
  });

  it("replays a guest's order as a new shopper's visit where the events give the order's session_id: the shop's sales hold theirs", () => {
    const dir = tempFolder('clickwise-eval-guest-orders-');
    // Two regulars who buy A and B in turn; two guests a day, each order alone, buy C: the shop's best seller.
    const rows = [
      'user_id,item_id,timestamp,session_id',
      ...twoRegulars(
        (user, item, time) => `${user},${item},${time},`,
        (day, d) => [`,C,${day} 12:00:00,g${d}a`, `,C,${day} 13:00:00,g${d}b`],
      ),
    ];
    writeFileSync(join(dir, 'events.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'items.csv'), 'item_id,title\nA,apple\nB,bread\nC,cheese\n');
    const report = join(dir, 'report.json');
    const run = evalFrom(join(dir, 'events.csv'), join(dir, 'items.csv'), report, 'popularity,repeat-then-popularity');
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/read 40 rows of 40 guests' orders \(no user_id\), each order a shopper of one visit, from .*events\.csv/);
    const written = JSON.parse(readFileSync(report, 'utf8')) as {
      guestOrders: unknown;
      eventsReplayed: number;
      eventsScored: number;
      methods: { name: string; newShoppers: { events: number; hr: number }; guests?: { events: number; hr: number } }[];
    };
    // Before, the guests' 40 rows were left out: 40 events replayed, 12 scored, no new shopper.
    expect(written.guestOrders).toEqual({ rows: 40, orders: 40 });
    expect([written.eventsReplayed, written.eventsScored]).toEqual([80, 24]);
    // Each guest is a new shopper, whose list is what the whole shop buys: C, with the guests' sales counted.
    for (const m of written.methods) expect([m.name, m.newShoppers.events, m.newShoppers.hr]).toEqual([m.name, 12, 1]);
    // The guests' orders are a subset of their own in the report (the regulars' 12 events are not in it), and printed.
    for (const m of written.methods) expect([m.name, m.guests?.events, m.guests?.hr]).toEqual([m.name, 12, 1]);
    expect(run.stdout).toMatch(/guests' orders \(12 scored events\)\n.*\npopularity +1\.0000 +1\.0000/);
  });
});

describe('metrics', () => {
  it('computes HR, NDCG and MRR at k on a hand-made case', () => {
    const m = new RankMetrics(10);
    for (const r of [0, 1, 9, 10, Infinity]) m.add(r);
    const ndcg = (1 + 1 / Math.log2(3) + 1 / Math.log2(11)) / 5;
    const mrr = (1 + 1 / 2 + 1 / 10) / 5;
    expect(m.summary()).toEqual({
      hr: 0.6,
      ndcg: Math.round(ndcg * 1e4) / 1e4,
      mrr: Math.round(mrr * 1e4) / 1e4,
      events: 5,
    });
  });

  it('ranks the true item with ties broken by a seeded order, never by luck', () => {
    const scores = Float32Array.from([1, 3, 3, 0, 3]);
    const prio = Uint32Array.from([0, 2, 1, 3, 4]); // among the 3s: item 2, then 1, then 4
    expect(rankOf(scores, 2, prio)).toBe(0);
    expect(rankOf(scores, 1, prio)).toBe(1);
    expect(rankOf(scores, 4, prio)).toBe(2);
    expect(rankOf(scores, 0, prio)).toBe(3);
    expect(rankOf(Float32Array.from([NaN, 1]), 0, Uint32Array.from([0, 1]))).toBe(2);
    // The tie order is a permutation that depends on the seed.
    const a = tieOrder(50, 1);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect([...tieOrder(50, 1)]).toEqual([...a]);
    expect([...tieOrder(50, 2)]).not.toEqual([...a]);
  });

  it('replays test-then-learn: an item counted online is scored before its own event counts', async () => {
    // A method that scores items by how often they were observed. Three items, k = 1.
    const counts = new Float32Array(3);
    const method: OnlineMethod = {
      name: 'counter',
      kind: 'online',
      score: () => Float32Array.from(counts),
      observe: (e) => void (counts[e.item]! += 1),
    };
    const ev = (user: string, item: number, t: number, scored: boolean): ReplayEvent => ({ user, item, t, scored });
    const events = [ev('a', 0, 0, false), ev('a', 0, 1, false), ev('b', 1, 2, true), ev('c', 0, 3, true), ev('a', 2, 4, true)];
    const [r] = await replay(events, [method], { n: 3, split: 2, k: 1, seed: 7 });
    // Event 3 (item 1): item 0 has 2, item 1 has 0 → rank ≥ 1, a miss. Event 4 (item 0): rank 0, a hit.
    // Event 5 (item 2, never seen): counts 3, 1, 0 → rank 2, a miss; and a cold item.
    expect(r!.events).toBe(3);
    expect(r!.hr).toBeCloseTo(1 / 3, 4);
    expect(r!.ndcg).toBeCloseTo(1 / 3, 4);
    expect(r!.coldItems).toEqual({ hr: 0, ndcg: 0, mrr: 0, events: 2 });
    expect(r!.newShoppers.events).toBe(2);
    expect(r!.newShoppers.hr).toBeCloseTo(0.5, 4);
    // Session starts: each shopper's first event, and any event 30 minutes or more after their last.
    expect(r!.sessionStarts.events).toBe(2);
    const later = [...events, ev('b', 1, 2 + SESSION_GAP_MS - 1, true), ev('c', 1, 3 + SESSION_GAP_MS, true)];
    const [r2] = await replay(later, [method], { n: 3, split: 2, k: 1, seed: 7 });
    expect(r2!.sessionStarts.events).toBe(3);
    // Re-buys: an item the shopper had an event on before. b's item 1 again (not a start), and c's
    // item 1 (a start, but c had item 0 only): none is both.
    expect(r2!.rebuys.events).toBe(1);
    expect(r2!.sessionStartRebuys.events).toBe(0);
    const again = [...later, ev('d', 0, 4 + SESSION_GAP_MS, true), ev('a', 0, 5 + 2 * SESSION_GAP_MS, true)];
    const [r3] = await replay(again, [method], { n: 3, split: 2, k: 1, seed: 7 });
    // a comes back after a gap for item 0, bought twice before: a start and a re-buy, and a hit
    // (item 0 leads the counts, 4 to 3).
    expect(r3!.sessionStartRebuys).toEqual({ hr: 1, ndcg: 1, mrr: 1, events: 1 });
    expect(r3!.rebuys.events).toBe(2);
    // Products new to the shopper: every other scored event. b's item 1 (a miss: item 0 leads),
    // c's item 0 (a hit), a's item 2, c's item 1 and d's item 0 (tied with item 1 at 3 and first in
    // the seeded tie order: a hit): 2 hits of 5.
    expect(r3!.newToShopper.events).toBe(5);
    expect(r3!.newToShopper.hr).toBeCloseTo(2 / 5, 4);
    expect(r3!.newToShopper.events + r3!.rebuys.events).toBe(r3!.events);
    // Printed under the main table, each with its events.
    const printed = formatRebuys([r3!], 1).split('\n');
    expect(printed[0]).toMatch(
      /^NDCG@1 on re-buys \/ products new to the shopper +re-buys \(2\) +new to the shopper \(5\) +among new products$/,
    );
    expect(printed[1]!.split(/ +/)).toEqual(['counter', fmt4(r3!.rebuys.ndcg), fmt4(r3!.newToShopper.ndcg), fmt4(r3!.newAmongNew.ndcg)]);
  });

  it('ranks each event on a product new to the shopper among the products new to them too (newAmongNew)', async () => {
    // Scores item 0 first, then 1, 2, 3: a hit at k = 1 only where the item is the best not yet the shopper's own.
    const method: OnlineMethod = { name: 'fixed', kind: 'online', score: () => Float32Array.from([4, 3, 2, 1]), observe: () => undefined };
    const ev = (user: string, item: number, t: number, scored: boolean): ReplayEvent => ({ user, item, t, scored });
    const events = [
      ev('a', 0, 0, false),
      // a's item 1: rank 1 in the list, rank 0 once a's own item 0 is left out.
      ev('a', 1, 10, true),
      // a's item 3: rank 3, then rank 1 (items 0 and 1 are a's own, item 2 is not).
      ev('a', 3, 20, true),
      // a's item 1 again: a re-buy, not counted.
      ev('a', 1, 30, true),
      // b has no own items: rank 1 both ways.
      ev('b', 1, 40, true),
      // b's item 0 is new to b (a's events are a's): rank 0 both ways.
      ev('b', 0, 50, true),
    ];
    const [r] = await replay(events, [method], { n: 4, split: 10, k: 1, seed: 7 });
    expect(r!.newToShopper.events).toBe(4);
    expect(r!.newToShopper.hr).toBeCloseTo(1 / 4, 6);
    expect(r!.newAmongNew.events).toBe(4);
    // Hits: a's item 1 and b's item 0.
    expect(r!.newAmongNew.hr).toBeCloseTo(2 / 4, 6);
    // Ranks among the new products 0, 1, 1, 0: MRR@4 (1 + 1/2 + 1/2 + 1) / 4; in the list 1, 3, 1, 0.
    const [r4] = await replay(events, [method], { n: 4, split: 10, k: 4, seed: 7 });
    expect(r4!.newAmongNew.mrr).toBeCloseTo(3 / 4, 4);
    expect(r4!.newToShopper.mrr).toBeCloseTo((1 / 2 + 1 / 4 + 1 / 2 + 1) / 4, 4);
    // A NaN score for the true item stays a miss among the new products too.
    const nan: OnlineMethod = { ...method, name: 'nan', score: () => Float32Array.from([NaN, NaN, NaN, NaN]) };
    const [rn] = await replay(events, [nan], { n: 4, split: 10, k: 4, seed: 7 });
    expect(rn!.newAmongNew.hr).toBe(0);
    // Printed beside the other two columns.
    const printed = formatRebuys([r!], 1).split('\n');
    expect(printed[0]).toMatch(/re-buys \(1\) +new to the shopper \(4\) +among new products$/);
    expect(printed[1]!.split(/ +/)).toEqual(['fixed', fmt4(r!.rebuys.ndcg), fmt4(r!.newToShopper.ndcg), fmt4(r!.newAmongNew.ndcg)]);
  });

  it('reports each scored event under how many events its shopper had before it, the log before the split included', async () => {
    // Scores item 0 first, then 1, then 2: a hit at k = 1 only where the item is 0.
    const method: OnlineMethod = { name: 'fixed', kind: 'online', score: () => Float32Array.from([3, 2, 1]), observe: () => undefined };
    const ev = (user: string, item: number, t: number, scored: boolean): ReplayEvent => ({ user, item, t, scored });
    // a: 10 events before the split, then two scored (10 and 11 before them); b: none before, then
    // one scored (0 before it); c: one before, then one scored (1 before it).
    const events = [
      ...Array.from({ length: 10 }, (_, j) => ev('a', 1, j, false)),
      ev('c', 2, 10, false),
      ev('b', 0, 20, true),
      ev('a', 0, 21, true),
      ev('c', 1, 22, true),
      ev('a', 2, 23, true),
    ];
    const [r] = await replay(events, [method], { n: 3, split: 20, k: 1, seed: 7 });
    expect(r!.byShopperEvents.map((b) => [b.from, b.to, b.events, b.hr])).toEqual([
      [0, 0, 1, 1],
      [1, 9, 1, 0],
      [10, 49, 2, 0.5],
      [50, 199, 0, 0],
      [200, 999, 0, 0],
      [1000, null, 0, 0],
    ]);
    // Every scored event falls in one band.
    expect(r!.byShopperEvents.reduce((n, b) => n + b.events, 0)).toBe(r!.events);
    // Printed under the main table: each band with its events, each method's NDCG@k in it.
    const printed = formatBands([r!], 1).split('\n');
    expect(printed[0]).toMatch(
      /^NDCG@1 by the shopper's events before +0 \(1\) +1-9 \(1\) +10-49 \(2\) +50-199 \(0\) +200-999 \(0\) +1000\+ \(0\)/,
    );
    expect(printed[1]!.split(/ +/)).toEqual(['fixed', '1.0000', '0.0000', '0.5000', '0.0000', '0.0000', '0.0000', '']);
  });
});

describe('sequence baselines on hand-made logs', () => {
  const ev = (user: string, item: number, t: number, scored: boolean): ReplayEvent => ({ user, item, t, scored });
  const ranks = (m: OnlineMethod, user: string, t: number): number[] => {
    const s = Array.from(m.score(user, t) as Float32Array);
    return s.map((_, i) => i).sort((a, b) => s[b]! - s[a]! || a - b);
  };

  it('markov ranks what followed the last item most often; votes of earlier items count less', () => {
    // Before the split: 1 → 2 twice, 1 → 3 once, 4 → 3 three times; item 0 is the best seller.
    const before = [
      ...[0, 0, 0, 0, 0, 0].map((i, k) => ev(`p${k}`, i, k, false)),
      ev('a', 1, 10, false),
      ev('a', 2, 11, false),
      ev('b', 1, 12, false),
      ev('b', 2, 13, false),
      ev('c', 1, 14, false),
      ev('c', 3, 15, false),
      ...[0, 1, 2].flatMap((k) => [ev(`d${k}`, 4, 20 + 2 * k, false), ev(`d${k}`, 3, 21 + 2 * k, false)]),
    ];
    const m = markovMethod(before, 6, { window: 1, votes: 2, decay: 0.5, visit: 'keep' });
    m.observe(ev('z', 1, 100, true));
    expect(ranks(m, 'z', 101).slice(0, 3)).toEqual([2, 3, 0]);
    // Now 4 is the last item: 3 leads (P = 1), 2 follows through the older vote of 1 (0.5 × 2/3).
    m.observe(ev('z', 4, 102, true));
    expect(ranks(m, 'z', 103).slice(0, 3)).toEqual([3, 2, 0]);
  });

  it('repeat-then-popularity puts the shopper’s own items first, by count, then the best sellers', () => {
    const before = [
      ev('a', 5, 1, false),
      ev('a', 6, 2, false),
      ev('a', 5, 3, false),
      ev('b', 0, 4, false),
      ev('c', 0, 5, false),
      ev('d', 1, 6, false),
    ];
    const m = repeatThenPopularityMethod(before, 7, { recency: 1, priorHalfLifeDays: null, visit: 'keep' });
    for (const e of before) m.observe(e);
    expect(ranks(m, 'a', 10).slice(0, 4)).toEqual([5, 6, 0, 1]);
    expect(ranks(m, 'new', 10).slice(0, 3)).toEqual([0, 5, 1]);
    // Among the shopper's items bought equally often, the better seller comes first (not a draw).
    // (Item 5 sold twice before the split, item 1 once; ties in `ranks` would put 1 first.)
    m.observe(ev('e', 1, 20, true));
    m.observe(ev('e', 5, 21, true));
    expect(ranks(m, 'e', 30).slice(0, 2)).toEqual([5, 1]);
  });

  it('with the current visit’s items last, the rule and the chain rank what is already in the basket after everything else, and nothing changes at a visit’s start', () => {
    const MIN = 60_000;
    // a bought 5 twice and 6 once, long ago; 1 → 2 → 3 is a path every shopper walked before.
    const before = [
      ev('a', 5, 0, false),
      ev('a', 6, 1, false),
      ev('a', 5, 2, false),
      ...[0, 1, 2].flatMap((k) => [ev(`p${k}`, 1, 10 + k, false), ev(`p${k}`, 2, 20 + k, false), ev(`p${k}`, 3, 30 + k, false)]),
    ];
    const visit = [ev('a', 5, 1000 * MIN, true), ev('a', 1, 1001 * MIN, true), ev('a', 2, 1002 * MIN, true)];
    const build = (kind: 'keep' | 'last'): OnlineMethod[] => [
      repeatThenPopularityMethod(before, 7, { recency: 1, priorHalfLifeDays: null, visit: kind }),
      markovMethod(before, 7, { window: 1, votes: 2, decay: 0.5, visit: kind }),
    ];
    const [keepRule, keepChain] = build('keep');
    const [lastRule, lastChain] = build('last');
    for (const m of [keepRule!, keepChain!, lastRule!, lastChain!]) for (const e of [...before, ...visit]) m.observe(e);
    const now = 1003 * MIN;
    // Kept, the rule ranks its counts (5 first, bought three times); last, the visit's 5, 1 and 2 go to the end.
    expect(ranks(keepRule!, 'a', now).slice(0, 2)).toEqual([5, 1]);
    expect(ranks(lastRule!, 'a', now).slice(0, 2)).toEqual([6, 3]);
    expect(ranks(lastRule!, 'a', now).slice(-3).sort()).toEqual([1, 2, 5]);
    // The chain: 2 votes for 3, and 1 (the older vote) for 2, which is already in the basket.
    expect(ranks(keepChain!, 'a', now).slice(0, 2)).toEqual([3, 2]);
    expect(ranks(lastChain!, 'a', now)[0]).toBe(3);
    expect(ranks(lastChain!, 'a', now).slice(-3).sort()).toEqual([1, 2, 5]);
    // A visit's start (30 minutes on): nothing is in a basket yet, so both lists are as kept.
    const later = now + 30 * MIN;
    expect(ranks(lastRule!, 'a', later)).toEqual(ranks(keepRule!, 'a', later));
    expect(ranks(lastChain!, 'a', later)).toEqual(ranks(keepChain!, 'a', later));
  });

  it('repeat-then-popularity with a popularity half-life ranks by what sells now, updated online', () => {
    const DAY = 86_400_000;
    // Item 0 sold three times long before the split; item 2 sells after it, to other shoppers.
    const before = [ev('a', 0, 0, false), ev('b', 0, 1, false), ev('c', 0, 2, false), ev('d', 4, 60 * DAY, false)];
    const after = [ev('e', 2, 100 * DAY, true), ev('f', 2, 100 * DAY + 1, true)];
    const plain = repeatThenPopularityMethod(before, 5, { recency: 1, priorHalfLifeDays: null, visit: 'keep' });
    const recent = repeatThenPopularityMethod(before, 5, { recency: 1, priorHalfLifeDays: 7, visit: 'keep' });
    for (const m of [plain, recent]) for (const e of [...before, ...after]) m.observe(e);
    // The popularity before the split: item 0 leads a new shopper's list whatever sold since.
    expect(ranks(plain, 'new', 100 * DAY + 2)[0]).toBe(0);
    // Decayed counts of the whole stream: two sales this week outweigh three a hundred days ago.
    expect(ranks(recent, 'new', 100 * DAY + 2).slice(0, 3)).toEqual([2, 4, 0]);
    // The shopper's own items still come first.
    expect(ranks(recent, 'a', 100 * DAY + 2)[0]).toBe(0);
  });

  it('item-knn scores by the cosine of who bought what, each recent item voting with its decay', () => {
    // Before the split: 1 is bought by a, b, d; 2 by a, b; 3 by b, c; 4 by e, f alone; 0 by nobody.
    const before = [
      ev('a', 1, 0, false),
      ev('a', 2, 1, false),
      ev('b', 1, 2, false),
      ev('b', 2, 3, false),
      ev('b', 3, 4, false),
      ev('c', 3, 5, false),
      ev('d', 1, 6, false),
      ev('e', 4, 7, false),
      ev('f', 4, 8, false),
    ];
    const o = { neighbours: 100, history: 20, decay: 0.9 };
    const m = itemKnnMethod(before, 5, o);
    // Ties are broken by what sold before the split, scaled into [0, 0.001].
    const prior = [0, 1, 2 / 3, 2 / 3, 2 / 3].map((c) => c * 1e-3);
    const expectScores = (got: Float32Array, want: number[]): void =>
      want.forEach((x, i) => expect(got[i], `item ${i}`).toBeCloseTo(x + prior[i]!, 5));
    expectScores(m.score('z', 10) as Float32Array, [0, 0, 0, 0, 0]);
    m.observe(ev('z', 2, 10, true));
    // cos(2, 1) = 2 / √(2 · 3), cos(2, 3) = 1 / √(2 · 2); 2 is its own nearest neighbour.
    expectScores(m.score('z', 11) as Float32Array, [0, 2 / Math.sqrt(6), 1, 0.5, 0]);
    m.observe(ev('z', 3, 11, true));
    // 3 votes at 1, 2 at 0.9; cos(3, 1) = 1 / √(2 · 3).
    expectScores(m.score('z', 12) as Float32Array, [0, 1 / Math.sqrt(6) + 0.9 * (2 / Math.sqrt(6)), 0.5 + 0.9, 1 + 0.9 * 0.5, 0]);
    // Each item keeps its `neighbours` most alike: 2 keeps itself and 1, not 3.
    const two = itemKnnMethod(before, 5, { ...o, neighbours: 2 });
    two.observe(ev('z', 2, 10, true));
    expectScores(two.score('z', 11) as Float32Array, [0, 2 / Math.sqrt(6), 1, 0, 0]);
  });

  it('item-knn with visit last puts the current visit’s items last, and not at a visit’s start', () => {
    // 1 is bought by a, b, d; 2 by a, b (cos 2 / √6); 3 by c alone.
    const before = [
      ev('a', 1, 0, false),
      ev('a', 2, 1, false),
      ev('b', 1, 2, false),
      ev('b', 2, 3, false),
      ev('c', 3, 4, false),
      ev('d', 1, 5, false),
    ];
    const m = itemKnnMethod(before, 4, { neighbours: 100, history: 20, decay: 0.9, visit: 'last' });
    m.observe(ev('z', 2, SESSION_GAP_MS, true));
    // 2 is its own nearest neighbour, but it is in the basket: 1, its neighbour, leads and 2 comes last.
    const mid = ranks(m, 'z', SESSION_GAP_MS + 1000);
    expect(mid[0]).toBe(1);
    expect(mid[mid.length - 1]).toBe(2);
    // At the next visit's start the basket is closed: 2 leads again.
    expect(ranks(m, 'z', 3 * SESSION_GAP_MS)[0]).toBe(2);
    // keep (the default of the function) ranks it where its score puts it.
    const kept = itemKnnMethod(before, 4, { neighbours: 100, history: 20, decay: 0.9 });
    kept.observe(ev('z', 2, SESSION_GAP_MS, true));
    expect(ranks(kept, 'z', SESSION_GAP_MS + 1000)[0]).toBe(2);
  });

  it('item-knn breaks a tie of similarities at its last neighbour by the lower index, as float32 rounds them', () => {
    // 0 is bought by s1, s2, s3; 1 by them and 15 others (cos 3 / √54); 2 by s1 and t (cos 1 / √6).
    // The two are equal, though the second is one ulp larger in float64.
    const before = [
      ev('s1', 2, 0, false),
      ...['s1', 's2', 's3'].flatMap((u, k) => [ev(u, 0, 2 * k + 1, false), ev(u, 1, 2 * k + 2, false)]),
      ev('t', 2, 11, false),
      ...Array.from({ length: 15 }, (_, k) => ev(`o${k}`, 1, 20 + k, false)),
    ];
    expect(1 / Math.sqrt(6)).toBeGreaterThan(3 / Math.sqrt(54));
    const m = itemKnnMethod(before, 3, { neighbours: 2, history: 20, decay: 0.9 });
    m.observe(ev('z', 0, 100, true));
    const s = m.score('z', 101) as Float32Array;
    expect(s[1]).toBeCloseTo(3 / Math.sqrt(54) + 1e-3, 5);
    expect(s[2]).toBeCloseTo((2 / 18) * 1e-3, 8);
  });

  it('item-knn takes a catalogue too large for a table of every pair of items', () => {
    // 70,000² counts would pass the longest typed array; the purchases are few.
    const n = 70_000;
    const before = [ev('a', 5, 0, false), ev('a', n - 1, 1, false), ev('b', 7, 2, false), ev('b', 5, 3, false), ev('c', 7, 4, false)];
    const m = itemKnnMethod(before, n, { neighbours: 100, history: 20, decay: 0.9 });
    m.observe(ev('z', n - 1, 10, true));
    const s = m.score('z', 11) as Float32Array;
    expect(s.length).toBe(n);
    expect(ranks(m, 'z', 11).slice(0, 3)).toEqual([n - 1, 5, 7]);
    // cos(n − 1, 5) = 1 / √(1 · 2), and 5 is a best seller (the prior's 0.001).
    expect(s[5]).toBeCloseTo(1 / Math.sqrt(2) + 1e-3, 5);
  });

  it('session-knn recommends what sessions like the current one held, and uses the last session at a visit start', () => {
    const H = 3_600_000;
    // Sessions before the split: {1, 2, 3} twice, {4, 5}; a best seller 0.
    const before = [
      ev('a', 1, 0, false),
      ev('a', 2, 1, false),
      ev('a', 3, 2, false),
      ev('b', 1, 10, false),
      ev('b', 3, 11, false),
      ev('b', 2, 12, false),
      ev('c', 4, 20, false),
      ev('c', 5, 21, false),
      ...[0, 1, 2, 3].map((k) => ev(`p${k}`, 0, 30 + k, false)),
    ];
    const m = sessionKnnMethod(before, 6, { neighbours: 10, sample: 100, sessionLength: 10, gapMinutes: 30, idf: false, visit: 'keep' });
    m.observe(ev('z', 4, 100 * H, true));
    expect(ranks(m, 'z', 100 * H + 1000).slice(0, 2)).toEqual([4, 5]);
    // Two hours later, a new visit: the query is the previous session ({4}), still pointing to 5.
    expect(ranks(m, 'z', 102 * H).slice(0, 2)).toContain(5);
    m.observe(ev('z', 1, 102 * H, true));
    expect(ranks(m, 'z', 102 * H + 1000).slice(0, 3)).toEqual([1, 2, 3]);
  });

  it('session-knn with cosine similarity: a long session does not outvote a short one by its length alone', () => {
    // Before the split: a short session {3, 4} and a long one {0, 1, 2, 5, 6 … 99}; shoppers who
    // bought item 7 make it the best seller. The current visit clicks 0, 1, 2, 3 (weights ¼ to 1).
    const before = [
      ev('s', 3, 0, false),
      ev('s', 4, 1, false),
      ...[0, 1, 2, ...Array.from({ length: 95 }, (_, k) => 5 + k)].map((i, k) => ev('l', i, 10 + k, false)),
    ];
    const o = { neighbours: 10, sample: 100, sessionLength: 10, gapMinutes: 30, idf: false, visit: 'keep' as const };
    const next = (cosine: boolean): number => {
      const m = sessionKnnMethod(before, 100, { ...o, cosine });
      for (const [k, i] of [0, 1, 2, 3].entries()) m.observe(ev('z', i, 1000 + k, true));
      return ranks(m, 'z', 1004).filter((i) => i > 3)[0]!;
    };
    // Summed, the long session shares 0, 1 and 2 (1.5) and outvotes the short one, which shares
    // only the last click (1): its items come first. As a cosine the short session leads (1 / √2
    // against 1.5 / √98), and 4, which followed the last click there, comes first.
    expect(next(false)).not.toBe(4);
    expect(next(true)).toBe(4);
  });

  it('session-knn scores what V-SKNN, written out plainly here, scores, on a random log with repeats, sampling and ties', () => {
    const n = 30;
    const MIN = 60_000;
    const gap = 30 * MIN;
    const rand = mulberry32(11);
    // 40 shoppers, a few visits each, items drawn from a skewed catalogue, some repeated in a visit.
    const events: ReplayEvent[] = [];
    for (let u = 0; u < 40; u++) {
      let t = u * 1000;
      for (let v = 0; v < 1 + Math.floor(rand() * 5); v++) {
        for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
          events.push(ev(`u${u}`, Math.floor(n * rand() * rand()), t, t >= 2_000 * 60 * MIN));
          t += MIN;
        }
        t += 1_000 * 60 * MIN;
      }
    }
    events.sort((a, b) => a.t - b.t);
    for (const [idf, cosine] of [
      [false, false],
      [true, false],
      [false, true],
    ] as const) {
      const o = { neighbours: 4, sample: 6, sessionLength: 5, gapMinutes: 30, idf, cosine, visit: 'keep' as const };
      const m = sessionKnnMethod(events, n, o);
      // The reference: sessions before the split, each a set of items in order of first click.
      const sessions: number[][] = [];
      const open = new Map<string, { items: number[]; last: number }>();
      for (const e of events) {
        if (e.scored) break;
        const s = open.get(e.user);
        if (s && e.t - s.last < gap) [s.items, s.last] = [[...s.items, e.item], e.t];
        else {
          if (s) sessions.push([...new Set(s.items)]);
          open.set(e.user, { items: [e.item], last: e.t });
        }
      }
      for (const s of open.values()) sessions.push([...new Set(s.items)]);
      // (idf is kept in float32, as the method keeps it.)
      const holding = (i: number): number[] => sessions.flatMap((s, id) => (s.includes(i) ? [id] : []));
      const counts = new Array<number>(n).fill(0);
      for (const e of events) if (!e.scored) counts[e.item]! += 1;
      const max = Math.max(1, ...counts);
      const current = new Map<string, { items: number[]; last: number; previous: number[] }>();
      let compared = 0;
      for (const e of events) {
        const c = current.get(e.user);
        if (e.scored && c) {
          const expected = new Float32Array(counts.map((k) => (1e-3 * k) / max));
          const query = (e.t - c.last < gap ? c.items : c.previous.length ? c.previous : c.items).slice(-o.sessionLength);
          const weight = new Map<number, number>();
          query.forEach((i, p) => weight.set(i, (p + 1) / query.length));
          const candidates = new Set<number>();
          const lists = [...weight.keys()].map(holding);
          for (let back = 1; candidates.size < o.sample && lists.some((l) => back <= l.length); back++)
            for (const l of lists) if (back <= l.length) candidates.add(l[l.length - back]!);
          // With cosine, each sum over the shared items divided by the root of the session's length.
          const sims = [...candidates].map(
            (id) =>
              [id, sessions[id]!.reduce((s, i) => s + (weight.get(i) ?? 0), 0) / (cosine ? Math.sqrt(sessions[id]!.length) : 1)] as const,
          );
          sims.sort((a, b) => b[1] - a[1] || b[0] - a[0]);
          for (const [id, s] of sims.slice(0, o.neighbours))
            for (const i of sessions[id]!) expected[i]! += s * (idf ? Math.fround(Math.log(sessions.length / holding(i).length)) : 1);
          expect(Array.from(m.score(e.user, e.t) as Float32Array)).toEqual(Array.from(expected));
          compared++;
        }
        m.observe(e);
        if (!c) current.set(e.user, { items: [e.item], last: e.t, previous: [] });
        else if (e.t - c.last >= gap) current.set(e.user, { items: [e.item], last: e.t, previous: c.items });
        else [c.items, c.last] = [[...c.items, e.item], e.t];
      }
      expect(compared).toBeGreaterThan(50);
    }
  });

  it('session-kNN with the current visit’s items last puts what is in the basket at the end, and changes nothing at a visit’s start', () => {
    const H = 3_600_000;
    const before = [ev('a', 1, 0, false), ev('a', 2, 1, false), ev('a', 3, 2, false), ev('b', 1, 10, false), ev('b', 2, 11, false)];
    const build = (visit: 'keep' | 'last'): OnlineMethod =>
      sessionKnnMethod(before, 5, { neighbours: 10, sample: 100, sessionLength: 10, gapMinutes: 30, idf: false, visit });
    const keep = build('keep');
    const last = build('last');
    for (const m of [keep, last]) for (const e of [...before, ev('z', 1, 100 * H, true), ev('z', 2, 100 * H + 60_000, true)]) m.observe(e);
    const now = 100 * H + 120_000;
    // Both neighbours share 1 and 2 with the basket: kept, those two lead; last, they end the list.
    expect(ranks(keep, 'z', now).slice(0, 2).sort()).toEqual([1, 2]);
    expect(ranks(last, 'z', now)[0]).toBe(3);
    expect(ranks(last, 'z', now).slice(-2).sort()).toEqual([1, 2]);
    expect(ranks(last, 'z', now + 2 * H)).toEqual(ranks(keep, 'z', now + 2 * H));
  });

  it('a batch-scored method with the current visit’s items last (SASRec’s and GRU4Rec’s replay) ranks them after all others, at the moment of each query', async () => {
    const MIN = 60_000;
    // It always ranks item 0 first, then 1, then 2.
    const fixed = (visit: 'keep' | 'last'): StaticMethod => ({
      name: `fixed-${visit}`,
      kind: 'static',
      visit,
      scoreBatch: (histories) => Promise.resolve(Float32Array.from({ length: histories.length * 3 }, (_, k) => 3 - (k % 3))),
    });
    // One visit (0, then 1), then another 40 minutes later that begins with 0 again.
    const events = [ev('a', 2, 0, false), ev('a', 0, 100 * MIN, true), ev('a', 1, 101 * MIN, true), ev('a', 0, 140 * MIN, true)];
    const [keep, last] = await replay(events, [fixed('keep'), fixed('last')], { n: 3, split: 100 * MIN, k: 2, seed: 1 });
    // Kept: 1 comes second after the basket's 0 (1/log2 3); last: first. The visit's start is the same.
    expect(keep!.ndcg).toBeCloseTo((1 + 1 / Math.log2(3) + 1) / 3, 3);
    expect(last!.ndcg).toBeCloseTo(1, 3);
    expect(last!.sessionStarts.ndcg).toBe(keep!.sessionStarts.ndcg);
  });
});

const data = dataDir();

describe('the eval refuses bad input', () => {
  /** 40 purchases of the demo catalogue by 4 shoppers, a minute apart; the split falls after the 20th. */
  const tinyLog = (): { items: ReturnType<typeof demoCatalog>; events: LogEvent[] } => {
    const items = demoCatalog();
    const events: LogEvent[] = Array.from({ length: 40 }, (_, k) => ({
      user: `u${k % 4}`,
      item: items[k % items.length]!.id,
      t: 1_000_000 + k * 60_000,
      event: 'purchase',
      quantity: 1,
      basket: `b${k}`,
    }));
    return { items, events };
  };

  it('is refused with a clear error when it holds no model, and nothing is written into it', async () => {
    const dir = tempFolder('clickwise-eval-base-');
    const { items, events } = tinyLog();
    await expect(
      runEvaluation({
        events,
        items,
        split: 1_000_000 + 20 * 60_000,
        k: 10,
        seed: 1,
        models: MODELS,
        methods: ['clickwise'],
        baseAtSplit: dir,
      }),
    ).rejects.toThrow(/holds no model \(no manifest\.json\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('replays GRU4Rec, the page lists, the weekly rebases and the visit-start ceiling only when named; default stands for the rest', async () => {
    expect(DEFAULT_METHODS).toEqual(
      ALL_METHODS.filter(
        (m) =>
          ![
            'gru4rec',
            'clickwise-page',
            'clickwise-page-hidden',
            'clickwise-maintained-frozen',
            'clickwise-maintained',
            'clickwise-maintained-live',
            'start-ceiling',
          ].includes(m),
      ),
    );
    const { items, events } = tinyLog();
    const names = async (methods: string[]): Promise<string[]> =>
      (await runEvaluation({ events, items, split: 1_000_000 + 20 * 60_000, k: 10, seed: 1, models: MODELS, methods })).methods.map(
        (m) => m.name,
      );
    expect(await names(['popularity', 'markov', 'popularity'])).toEqual(['popularity', 'markov']);
    await expect(names(['popularity', 'gru'])).rejects.toThrow(/Unknown method gru\. Methods: .*gru4rec.*, and default for popularity/);
  });

  it('refuses settings SASRec or GRU4Rec cannot train with before anything runs', async () => {
    const { items, events } = tinyLog();
    const settings = { ...DEFAULT_EVAL_SETTINGS, sasrec: { ...DEFAULT_EVAL_SETTINGS.sasrec, epochs: -2 } };
    await expect(
      runEvaluation({ events, items, split: 1_000_000 + 20 * 60_000, k: 10, seed: 1, models: MODELS, methods: ['sasrec'], settings }),
    ).rejects.toThrow(/epochs must be a whole number of at least 1, got -2/);
    const gru = { ...DEFAULT_EVAL_SETTINGS, gru4rec: { ...DEFAULT_EVAL_SETTINGS.gru4rec, learningRate: Number.NaN } };
    await expect(
      runEvaluation({ events, items, split: 1_000_000 + 20 * 60_000, k: 10, seed: 1, models: MODELS, methods: ['gru4rec'], settings: gru }),
    ).rejects.toThrow(/GRU4Rec's learning rate must be above 0, got NaN/);
  });

  it('refuses base settings it cannot train with before anything runs', async () => {
    const { items, events } = tinyLog();
    const settings = { ...DEFAULT_EVAL_SETTINGS, base: { ...DEFAULT_EVAL_SETTINGS.base, transitionFolds: 1 } };
    await expect(
      runEvaluation({ events, items, split: 1_000_000 + 20 * 60_000, k: 10, seed: 1, models: MODELS, methods: ['clickwise'], settings }),
    ).rejects.toThrow(/transitionFolds must be a whole number from 2 to 255, got 1/);
  });

  it('refuses a maintenance interval that is not a positive number of days, before anything runs', async () => {
    const { items, events } = tinyLog();
    for (const maintenanceDays of [0, -7, Number.NaN]) {
      const settings: EvalSettings = { ...DEFAULT_EVAL_SETTINGS, maintenanceDays };
      await expect(
        runEvaluation({
          events,
          items,
          split: 1_000_000 + 20 * 60_000,
          k: 10,
          seed: 1,
          models: MODELS,
          methods: ['clickwise-maintained'],
          settings,
        }),
      ).rejects.toThrow(/maintenanceDays must be a number of days above 0/);
    }
  });
});

describe('a shop that retrains its base weekly (clickwise-maintained, -live)', () => {
  const t0 = Date.UTC(2024, 0, 1);
  const H = 3_600_000;
  /** 60 purchases an hour apart from `t0`, by three shoppers. */
  const hourlyLog = (): { items: ReturnType<typeof demoCatalog>; events: LogEvent[] } => {
    const items = demoCatalog();
    const events: LogEvent[] = Array.from({ length: 60 }, (_, k) => ({
      user: `u${k % 3}`,
      item: items[(k * 7) % items.length]!.id,
      t: t0 + k * H,
      event: 'purchase',
      quantity: 1,
      basket: `b${k}`,
    }));
    return { items, events };
  };
  /** The hourly log evaluated from its 31st hour, with `settings`, `methods` and anything `more`. */
  const evaluateHourly = (
    settings: EvalSettings,
    methods: string[],
    more: Partial<Parameters<typeof runEvaluation>[0]> = {},
  ): ReturnType<typeof runEvaluation> =>
    runEvaluation({ ...hourlyLog(), split: t0 + 30 * H, k: 10, seed: 1, models: MODELS, settings, methods, ...more });
  /** Each method's ranks of the hourly log's scored events, in order. */
  const ranksOf = async (settings: EvalSettings, methods: string[]): Promise<Map<string, number[]>> => {
    const out = new Map<string, number[]>(methods.map((m) => [m, []]));
    await evaluateHourly(settings, methods, { onRank: (m, _e, rank) => out.get(m)!.push(rank) });
    return out;
  };
  it('runs both on request, each scoring every event across the rebases', async () => {
    // A base a day (two rebases in the scored 30 hours), popularity biases only.
    const settings: EvalSettings = { ...DEFAULT_EVAL_SETTINGS, maintenanceDays: 1, base: { ...DEFAULT_EVAL_SETTINGS.base, epochs: 0 } };
    const r = await evaluateHourly(settings, ['clickwise-maintained', 'clickwise-maintained-live']);
    expect(r.methods.map((m) => [m.name, m.events])).toEqual([
      ['clickwise-maintained', 30],
      ['clickwise-maintained-live', 30],
    ]);
  });

  it('measures learning on the weekly bases: clickwise-maintained-frozen is clickwise-maintained with no per-click learning', async () => {
    // A base every 12 hours (two rebases in the scored 30 hours), popularity biases only.
    const base = { ...DEFAULT_EVAL_SETTINGS.base, epochs: 0 };
    const ranks = (methods: string[], learningRate?: number): Promise<Map<string, number[]>> =>
      ranksOf(
        {
          ...DEFAULT_EVAL_SETTINGS,
          maintenanceDays: 0.5,
          base,
          clickwise: learningRate === undefined ? DEFAULT_EVAL_SETTINGS.clickwise : { ...DEFAULT_EVAL_SETTINGS.clickwise, learningRate },
        },
        methods,
      );
    const both = await ranks(['clickwise-maintained', 'clickwise-maintained-frozen']);
    const still = await ranks(['clickwise-maintained'], 0);
    expect(both.get('clickwise-maintained-frozen')).toHaveLength(30);
    // The same weekly bases with the learning rate 0 on the split's base and on every later one.
    expect(both.get('clickwise-maintained-frozen')).toEqual(still.get('clickwise-maintained'));
    // Learning moves the learning twin's ranks, so the two agreeing means something.
    expect(both.get('clickwise-maintained')).not.toEqual(both.get('clickwise-maintained-frozen'));
  });

  it('replays the head with the AdaGrad start it is given (--initial-accumulator)', async () => {
    const base = { ...DEFAULT_EVAL_SETTINGS.base, epochs: 0 };
    const ranks = async (clickwise: EvalSettings['clickwise']): Promise<number[] | undefined> =>
      (await ranksOf({ ...DEFAULT_EVAL_SETTINGS, base, clickwise }, ['clickwise'])).get('clickwise');
    const byDefault = await ranks(DEFAULT_EVAL_SETTINGS.clickwise);
    expect(byDefault).toHaveLength(30);
    // The default is the head's own: giving it again changes nothing; a sum starting at 0 does.
    expect(await ranks({ ...DEFAULT_EVAL_SETTINGS.clickwise, initialAccumulator: DEFAULT_HEAD_OPTIONS.initialAccumulator })).toEqual(
      byDefault,
    );
    expect(await ranks({ ...DEFAULT_EVAL_SETTINGS.clickwise, initialAccumulator: 0 })).not.toEqual(byDefault);
  });

  it('trains a base for every maintenance run, two on one day included, each of its own version', async () => {
    const { items, events } = hourlyLog();
    // A base every 12 hours from the split (Jan 2, 06:00): the first rebase falls on the split's day.
    const settings: EvalSettings = { ...DEFAULT_EVAL_SETTINGS, maintenanceDays: 0.5, base: { ...DEFAULT_EVAL_SETTINGS.base, epochs: 0 } };
    // The split's base given, as `--base DIR` does: listed once, however many methods load it.
    const given = tempFolder('clickwise-given-');
    writeModelFolder(given, MODELS, (await trainBase(events, items, t0 + 30 * H, MODELS, settings.base)).head);
    const r = await evaluateHourly(settings, ['clickwise-frozen', 'clickwise', 'clickwise-maintained'], { baseAtSplit: given });
    expect(r.bases.map((b) => [b.name, b.until])).toEqual([
      [`at the split (given: ${given})`, '2024-01-02T06:00:00.000Z'],
      ['retrained', '2024-01-02T18:00:00.000Z'],
      ['retrained', '2024-01-03T06:00:00.000Z'],
    ]);
    // Each learned from more of the log than the one before: none is an earlier one loaded again.
    expect(new Set(r.bases.map((b) => b.version)).size).toBe(3);
    // Each says what the maintenance job chose for the shop there, as its head manifest says.
    const model = JSON.parse(readFileSync(join(given, 'manifest.json'), 'utf8')) as ModelManifest;
    const head = JSON.parse(readFileSync(join(given, model.head, 'manifest.json'), 'utf8')) as HeadManifest;
    expect(r.bases[0]!.choices).toEqual({
      mix: head.mix,
      newItemBias: head.newItemBias,
      shopDeltaWeight: head.shopDeltaWeight,
      shopDeltaWeightNew: head.shopDeltaWeightNew,
      launchSlots: head.launchSlots,
    });
    for (const b of r.bases) {
      expect(b.choices.mix).toHaveLength(MIX_LENGTH);
      expect(b.choices.launchSlots).toBe(1);
      expect(b.choices.newSlots).toBeUndefined();
    }
  });
});

describe.skipIf(!data)('eval protocol (real data, a slice)', () => {
  it('sees nothing after an event before scoring it, for every method', { timeout: 600_000 }, async () => {
    const retail = join(data!, 'uci-online-retail');
    const items = await readItems(join(retail, 'online_retail_items.csv.gz'));
    // A slice: the first 6,000 lines (2010-12-01 … 12-05); the evaluation starts on 12-03.
    const lines = gunzipSync(readFileSync(join(retail, 'online_retail_clean.csv.gz')))
      .toString('utf8')
      .split('\n')
      .slice(1, 6_001);
    const events: LogEvent[] = lines.map((l) => {
      const [user, ts, invoice, item] = l.split(',');
      return { user: user!, item: item!, t: parseTime(ts!), event: 'purchase', quantity: 1, basket: invoice! };
    });
    const split = parseTime('2010-12-03');
    // A planted item that exists only in the future: bought 40 times after the split.
    const planted = { id: 'PLANTED-1', title: 'PLANTED FUTURE ONLY THING' };
    const catalogue = [...items, planted];
    const late = events.filter((e) => e.t >= split);
    const at = late[Math.floor(late.length / 3)]!.t;
    for (let i = 0; i < 40; i++)
      events.push({ user: `planter-${i % 3}`, item: planted.id, t: at + i * 60_000, event: 'purchase', quantity: 1, basket: `p${i}` });
    events.sort((a, b) => a.t - b.t);
    const settings: EvalSettings = {
      ...DEFAULT_EVAL_SETTINGS,
      sasrec: { ...DEFAULT_EVAL_SETTINGS.sasrec, epochs: 1 },
      gru4rec: { ...DEFAULT_EVAL_SETTINGS.gru4rec, epochs: 1 },
      base: { ...DEFAULT_EVAL_SETTINGS.base, epochs: 1 },
    };
    const plantedIndex = catalogue.length - 1;
    const run = async (log: LogEvent[]): Promise<Map<string, Map<number, number>>> => {
      // Per method: the n-th scored event → its rank (the cut log's scored events are a prefix).
      const ranks = new Map<string, Map<number, number>>();
      const seen = new Map<string, number>();
      await runEvaluation({
        events: log,
        items: catalogue,
        split,
        k: 10,
        seed: 3,
        models: MODELS,
        settings,
        methods: ['default', 'gru4rec'],
        onRank: (key, e, rank) => {
          const i = seen.get(key) ?? 0;
          seen.set(key, i + 1);
          let m = ranks.get(key);
          if (!m) ranks.set(key, (m = new Map()));
          m.set(i, rank);
          if (e.item === plantedIndex && !ranks.has(`${key}:planted`)) ranks.set(`${key}:planted`, new Map([[0, rank]]));
        },
      });
      return ranks;
    };
    const full = await run(events);
    // The same log cut right after the planted item's first purchase.
    const cut = events.findIndex((e) => e.item === planted.id);
    const truncated = await run(events.slice(0, cut + 1));
    // Every method the run replayed but clickwise-live.
    const methods = ['default', 'gru4rec'].flatMap((m) => (m === 'default' ? DEFAULT_METHODS : [m])).filter((m) => m !== 'clickwise-live');
    for (const m of methods) {
      const a = full.get(m)!;
      const b = truncated.get(m)!;
      expect(b.size, m).toBeGreaterThan(500);
      // Every event scored in the cut log got exactly the same rank in the full log.
      for (const [i, r] of b) expect(a.get(i), `${m}, event ${i}`).toBe(r);
      expect(full.get(`${m}:planted`)!.get(0), m).toBe(truncated.get(`${m}:planted`)!.get(0));
    }
    // Methods that know items only from the logs cannot rank the future-only item on its first purchase.
    for (const m of methods.filter((m) => !m.startsWith('clickwise'))) {
      expect(full.get(`${m}:planted`)!.get(0), m).toBeGreaterThanOrEqual(10);
    }
  });
});
