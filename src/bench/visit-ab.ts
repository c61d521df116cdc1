/**
 * `npm run bench:visit-ab -- --other DIR [--rounds 4] [--items 100000] [--runs 2] [--trained-base] [--out F]`:
 * this checkout's storefront tag against another version's, in turns, on the same machine in the
 * same hour. DIR is another checkout of the project (another commit, with its `node_modules` and
 * `npm run build` done); this one must be built too. Each round runs `bench:visit-plain --
 * --items N --runs K --phases` in both, in one order on odd rounds and the other on even ones (the
 * machine's speed moves from minute to minute), then the tool prints, per visit and version, the
 * spread and median of the first recommendation's time from the tag's request, how many runs met
 * the goal (2 s for a first visit, 300 ms for a later one) and the tasks of 50 ms or more; `--out`
 * writes those and every row as JSON. `--trained-base` serves both a base that knows every item
 * (`bench:visit-plain`'s). Figures of the kind the docs give as "in turns with".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, UsageError } from '../cli/common.js';
import type { VisitRow } from './ab-summary.js';
import { describe, summarise, VISITS } from './ab-summary.js';

const args = parseArgs(process.argv.slice(2), {
  other: 'string',
  rounds: 'string',
  items: 'string',
  runs: 'string',
  'trained-base': 'boolean',
  out: 'string',
});
const trained = args['trained-base'] === true ? ['--trained-base'] : [];
const other = typeof args['other'] === 'string' ? resolve(args['other']) : '';
const rounds = Number(args['rounds'] ?? 4);
const items = Number(args['items'] ?? 100_000);
const runs = Number(args['runs'] ?? 2);
if (!other)
  throw new UsageError('--other DIR is needed: another checkout of the project, built (npm run build), to run in turns with this one.');
for (const [name, v] of [
  ['--rounds', rounds],
  ['--items', items],
  ['--runs', runs],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} takes a positive integer, got ${String(args[name.slice(2)])}.`);
}
const here = process.cwd();
for (const dir of [here, other]) {
  if (!existsSync(resolve(dir, 'dist/clickwise.js')) || !existsSync(resolve(dir, 'src/bench/visit-plain.ts'))) {
    throw new UsageError(
      `${dir} has no built storefront tag (dist/clickwise.js) or no src/bench/visit-plain.ts: run npm run build there first.`,
    );
  }
}

/** The short commit of a checkout, or null where git cannot say. */
function commitOf(dir: string): string | null {
  const got = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8' });
  return got.status === 0 ? got.stdout.trim() : null;
}

const versions = {
  this: { dir: here, commit: commitOf(here), rows: [] as VisitRow[] },
  other: { dir: other, commit: commitOf(other), rows: [] as VisitRow[] },
};
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 ? (['this', 'other'] as const) : (['other', 'this'] as const);
  for (const which of order) {
    const v = versions[which];
    console.error(`round ${round} of ${rounds}: ${which} (${v.commit ?? v.dir}), ${runs} run(s) at ${items} items`);
    const got = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/bench/visit-plain.ts', '--items', String(items), '--runs', String(runs), '--phases', ...trained],
      {
        cwd: v.dir,
        encoding: 'utf8',
        maxBuffer: 256 << 20,
      },
    );
    if (got.status !== 0) throw new Error(`bench:visit-plain failed in ${v.dir} (exit ${got.status}): ${(got.stderr ?? '').slice(-2000)}`);
    v.rows.push(
      ...got.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as VisitRow),
    );
  }
}

const summary = { this: summarise(versions.this.rows), other: summarise(versions.other.rows) };
console.log(
  `${items} items${trained.length ? ', a base that knows every item' : ''}, ${rounds} rounds of ${runs} run(s) each in turns; ms from the tag's request`,
);
for (const visit of VISITS) {
  console.log(`${visit} visit`);
  console.log(`  this  (${versions.this.commit ?? here}): ${describe(summary.this[visit])}`);
  console.log(`  other (${versions.other.commit ?? other}): ${describe(summary.other[visit])}`);
}
if (typeof args['out'] === 'string') {
  const command = `npm run bench:visit-ab -- --other ${String(args['other'])} --rounds ${rounds} --items ${items} --runs ${runs}${trained.length ? ' --trained-base' : ''}`;
  writeFileSync(
    args['out'],
    JSON.stringify(
      {
        command,
        items,
        rounds,
        runs,
        trainedBase: trained.length > 0,
        this: { ...versions.this, summary: summary.this },
        other: { ...versions.other, summary: summary.other },
      },
      null,
      1,
    ),
  );
}
