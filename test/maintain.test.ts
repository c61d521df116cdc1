/** `npm run maintain` writes a model folder that createRecommender loads, with the logs' popularity in its base. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRecommender } from '../src/index.js';
import { readItems } from '../src/cli/data.js';
import { readEncoderManifest, writeModelFolder } from '../src/cli/train/base.js';
import { defaultHead } from '../src/cli/train/head-io.js';
import { dataDir, MODELS, useBackend } from './helpers.js';

const root = resolve(import.meta.dirname, '..');
const data = dataDir();
const tsx = resolve(root, 'node_modules/.bin/tsx');

describe.skipIf(!data)('maintain (real data, a slice)', () => {
  it('retrains the base from logs up to a date into a model createRecommender loads', { timeout: 600_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clickwise-maintain-'));
    const retail = join(data!, 'uci-online-retail');
    // A slice: the first 30,000 lines of the events file (in time order, about one month).
    const lines = gunzipSync(readFileSync(join(retail, 'online_retail_clean.csv.gz')))
      .toString('utf8')
      .split('\n')
      .slice(0, 30_001);
    const events = join(dir, 'events.csv');
    writeFileSync(events, lines.join('\n') + '\n');
    const itemsPath = join(retail, 'online_retail_items.csv.gz');
    const maintain = (eventsPath: string, until: string, out: string, epochs: number, extra: string[] = []): void => {
      execFileSync(
        tsx,
        [
          'src/cli/train/maintain.ts',
          '--events',
          eventsPath,
          '--items',
          itemsPath,
          '--until',
          until,
          '--out',
          out,
          '--epochs',
          String(epochs),
          ...extra,
        ],
        { cwd: root, encoding: 'utf8' },
      );
    };
    // Popularity biases only (no training epochs): with no clicks the base must rank by sales.
    const out = join(dir, 'model');
    maintain(events, '2010-12-20', out, 0, ['--ranked-negatives', '50']);
    const head = JSON.parse(readFileSync(join(out, 'head', 'manifest.json'), 'utf8')) as {
      version: string;
      items: number;
      provenance: { until: string };
      headOptions: Record<string, number>;
    };
    // The shop asked for the ranked negatives: every browser on this base learns with them.
    expect(head.headOptions['rankedNegatives']).toBe(50);
    expect(head.version).toMatch(/^base-2010-12-20-/);
    expect(head.items).toBeGreaterThan(100);
    expect(head.provenance.until).toBe('2010-12-20');

    await useBackend('cpu');
    const catalog = readItems(itemsPath);
    const rec = await createRecommender({ catalog, modelUrl: out, backend: 'cpu', storage: 'memory' });
    expect(rec.stats().modelVersion).toContain('base-2010-12-20');
    // With no clicks, the base ranks by what sold before the date: the best seller comes first.
    const counts = new Map<string, number>();
    for (const l of lines.slice(1)) {
      const [, ts, , item] = l.split(',');
      if (ts && ts < '2010-12-20' && item) counts.set(item, (counts.get(item) ?? 0) + 1);
    }
    const best = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const top = await rec.recommend({ k: 5 });
    expect(top[0]!.id).toBe(best);
    rec.dispose();

    // The trained base (one epoch, on the first 8,000 lines): W₀, residuals and biases fitted on
    // next-item prediction.
    const small = join(dir, 'small.csv');
    writeFileSync(small, lines.slice(0, 8_001).join('\n') + '\n');
    const trained = join(dir, 'trained');
    // A shop delta of an earlier base in the folder goes: it was learned on the base this one replaces.
    mkdirSync(join(trained, 'delta'), { recursive: true });
    writeFileSync(join(trained, 'delta', 'manifest.json'), '{}');
    maintain(small, '2010-12-07', trained, 1);
    expect(existsSync(join(trained, 'delta'))).toBe(false);
    // The folder stays named: the stream job publishes the new base's delta there.
    expect((JSON.parse(readFileSync(join(trained, 'manifest.json'), 'utf8')) as { delta?: string }).delta).toBe('delta/');
    const th = JSON.parse(readFileSync(join(trained, 'head', 'manifest.json'), 'utf8')) as {
      items: number;
      headOptions: Record<string, number>;
      recentHalfLifeDays?: number;
      tensors: { name: string; shape: number[] }[];
      metrics: { trainingExamples: number; lossFirstBatch: number; lossLastEpoch: number };
    };
    expect(th.tensors.find((t) => t.name === 'residual')?.shape).toEqual([th.items, 64]);
    expect(th.headOptions['rankedNegatives']).toBeUndefined();
    // What sold lately ships with the half-life it was made with: the stream job keeps it up to date with the same.
    expect(th.tensors.find((t) => t.name === 'recent')?.shape).toEqual([th.items]);
    expect(th.recentHalfLifeDays).toBe(7);
    expect(th.metrics.trainingExamples).toBeGreaterThan(5_000);
    expect(th.metrics.lossLastEpoch).toBeLessThan(th.metrics.lossFirstBatch);
    // The softmax ran over every known item: this catalogue is far below 50,000.
    const kindOf = (folder: string): string =>
      (JSON.parse(readFileSync(join(folder, 'head', 'manifest.json'), 'utf8')) as { provenance: { kind: string } }).provenance.kind;
    expect(kindOf(trained)).toMatch(/softmax over the known items/);
    // Above --full-softmax-up-to, over a sample of them drawn per batch, and the base still learns.
    const sampled = join(dir, 'sampled');
    maintain(small, '2010-12-07', sampled, 1, ['--full-softmax-up-to', '100']);
    expect(kindOf(sampled)).toMatch(/sampled softmax: 1024 known items drawn per batch/);
    const sh = JSON.parse(readFileSync(join(sampled, 'head', 'manifest.json'), 'utf8')) as typeof th & {
      provenance: { builtBy: string };
    };
    expect(sh.provenance.builtBy).toContain('--full-softmax-up-to 100');
    expect(sh.metrics.lossLastEpoch).toBeLessThan(sh.metrics.lossFirstBatch);
    const rec2 = await createRecommender({ catalog, modelUrl: trained, backend: 'cpu', storage: 'memory' });
    await rec2.click(best);
    const after = await rec2.recommend({ k: 10 });
    expect(after).toHaveLength(10);
    expect(after.every((r) => Number.isFinite(r.score))).toBe(true);
    rec2.dispose();
  });

  /** What maintain says to one bad option, before it reads anything (the files named do not exist). */
  const refusal = (flag: string, value: string): ReturnType<typeof spawnSync> =>
    spawnSync(
      tsx,
      ['src/cli/train/maintain.ts', '--events', 'x.csv', '--items', 'y.csv', '--until', '2011-01-01', '--out', 'z', flag, value],
      { cwd: root, encoding: 'utf8' },
    );

  it('refuses a ranked-negatives count that is not a whole number, before reading anything', () => {
    const r = refusal('--ranked-negatives', '2.5');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--ranked-negatives must be a whole number from 0 to 10,000, got 2\.5\./);
  });

  it('refuses a full-softmax bound that is not a whole number, before reading anything', () => {
    const r = refusal('--full-softmax-up-to', '-1');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--full-softmax-up-to must be a whole number of items, 0 or more, got -1\./);
  });

  it('says what is missing when an option is left out', () => {
    const r = spawnSync(tsx, ['src/cli/train/maintain.ts', '--events', 'x.csv'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Missing --items\. Usage: npm run maintain -- --events F --items F --until DATE --out DIR/);
  });
});

describe('the version of a base that maintain writes', () => {
  it('tells two bases of one cut-off apart, and names the same base alike', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clickwise-version-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    // Two runs on one day (a second cron run, or a rerun after the log was mended): the same
    // cut-off, other figures. Browsers and the stream job see a new base only by its version.
    const write = (name: string, bias: number[], mix?: number[]): string =>
      writeModelFolder(join(dir, name), MODELS, {
        ...defaultHead(readEncoderManifest(MODELS)),
        version: 'base-2026-12-02-enc',
        ids: ['a', 'b'],
        bias: Float32Array.from(bias),
        ...(mix ? { mix } : {}),
      }).model.version;
    const first = write('first', [1, 0]);
    expect(first).toContain('base-2026-12-02-enc');
    expect(write('again', [1, 0])).toBe(first);
    expect(write('other-bias', [0, 1])).not.toBe(first);
    expect(write('other-weights', [1, 0], [1, 2, 3, 4])).not.toBe(first);
  });
});
