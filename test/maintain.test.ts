/** `npm run maintain` writes a model folder that createRecommender loads, with the logs' popularity in its base. */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, cpSync, fstatSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRecommender } from '../src/index.js';
import { readItems } from '../src/cli/data.js';
import { DEFAULT_BASE_OPTIONS, readEncoderManifest, validateBaseOptions, writeModelFolder } from '../src/cli/train/base.js';
import { defaultHead } from '../src/cli/train/head-io.js';
import { loadHeadModel, loadModelManifest } from '../src/core/model.js';
import { defaultFetcher } from '../src/core/model-io.js';
import { dataDir, MODELS, tempFolder, useBackend } from './helpers.js';

const root = resolve(import.meta.dirname, '..');
const data = dataDir();
const tsx = resolve(root, 'node_modules/.bin/tsx');

describe.skipIf(!data)('maintain (real data, a slice)', () => {
  it('retrains the base from logs up to a date into a model createRecommender loads', { timeout: 600_000 }, async () => {
    const dir = tempFolder('clickwise-maintain-');
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
    maintain(events, '2010-12-20', out, 0, ['--ranked-negatives', '50', '--new-slots', '2']);
    /** The head a model folder's manifest names (maintain publishes each base in a folder of its own). */
    const headDir = (folder: string): string =>
      join(folder, (JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { head: string }).head);
    const head = JSON.parse(readFileSync(join(headDir(out), 'manifest.json'), 'utf8')) as {
      version: string;
      items: number;
      provenance: { until: string };
      headOptions: Record<string, number>;
      newSlots?: number;
      launchSlots?: number;
    };
    // The shop asked for the ranked negatives: every browser on this base learns with them; and
    // for two places per ten for new products, whatever the held-out weeks would have chosen.
    expect(head.headOptions['rankedNegatives']).toBe(50);
    expect(head.newSlots).toBe(2);
    // One place per ten for a launch among the shop's best sellers, unless the shop says otherwise.
    expect(head.launchSlots).toBe(1);
    expect(head.version).toMatch(/^base-2010-12-20-/);
    expect(head.items).toBeGreaterThan(100);
    expect(head.provenance.until).toBe('2010-12-20');

    await useBackend('cpu');
    const catalog = await readItems(itemsPath);
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
    const th = JSON.parse(readFileSync(join(headDir(trained), 'manifest.json'), 'utf8')) as {
      items: number;
      headOptions: Record<string, number>;
      recentHalfLifeDays?: number;
      launchSlots?: number;
      tensors: { name: string; shape: number[] }[];
      metrics: { trainingExamples: number; lossFirstBatch: number; lossLastEpoch: number };
    };
    expect(th.tensors.find((t) => t.name === 'residual')?.shape).toEqual([th.items, 64]);
    expect(th.headOptions['rankedNegatives']).toBeUndefined();
    // What sold lately ships with the half-life it was made with: the stream job keeps it up to date with the same.
    expect(th.tensors.find((t) => t.name === 'recent')?.shape).toEqual([th.items]);
    expect(th.recentHalfLifeDays).toBe(7);
    expect(th.launchSlots).toBe(1);
    expect(th.metrics.trainingExamples).toBeGreaterThan(5_000);
    expect(th.metrics.lossLastEpoch).toBeLessThan(th.metrics.lossFirstBatch);
    // The softmax ran over every known item: this catalogue is far below 50,000.
    const kindOf = (folder: string): string =>
      (JSON.parse(readFileSync(join(headDir(folder), 'manifest.json'), 'utf8')) as { provenance: { kind: string } }).provenance.kind;
    expect(kindOf(trained)).toMatch(/softmax over the known items/);
    // Above --full-softmax-up-to, over a sample of them drawn per batch, and the base still learns.
    const sampled = join(dir, 'sampled');
    maintain(small, '2010-12-07', sampled, 1, [
      '--full-softmax-up-to',
      '100',
      '--launch-slots',
      '0',
      '--learning-rates',
      '0.2',
      '--l2',
      '0.001',
      '--first-buys-only',
    ]);
    expect(kindOf(sampled)).toMatch(/sampled softmax: 1024 known items drawn per batch/);
    const sh = JSON.parse(readFileSync(join(headDir(sampled), 'manifest.json'), 'utf8')) as typeof th & {
      provenance: { builtBy: string };
    };
    expect(sh.provenance.builtBy).toContain('--full-softmax-up-to 100');
    expect(sh.provenance.builtBy).toContain('--l2 0.001');
    // Trained on each shopper's first event on each product only: fewer examples than the same lines give in full.
    expect(sh.provenance.builtBy).toContain('--first-buys-only');
    expect(sh.metrics.trainingExamples).toBeLessThan(th.metrics.trainingExamples);
    // How the log was read, recorded for an eval given the base to check: an eval that keeps the
    // re-buys refuses this base before it reads the log, and says why.
    const readAs = (folder: string): unknown => {
      const p = (JSON.parse(readFileSync(join(headDir(folder), 'manifest.json'), 'utf8')) as { provenance: Record<string, unknown> })
        .provenance;
      return [p['firstBuysOnly'], p['titleWords']];
    };
    expect(readAs(sampled)).toEqual([true, null]);
    expect(readAs(trained)).toEqual([false, null]);
    const given = spawnSync(
      tsx,
      ['src/cli/eval/eval.ts', '--events', small, '--items', itemsPath, '--split', '2010-12-07', '--base', sampled],
      { cwd: root, encoding: 'utf8' },
    );
    expect(given.status).toBe(2);
    expect(given.stderr).toMatch(/--base .*sampled does not fit this run: it was built with --first-buys-only/);
    // A shop that wants no places for launches writes none.
    expect(sh.provenance.builtBy).toContain('--launch-slots 0');
    expect(sh.launchSlots).toBeUndefined();
    // A shop that names one learning rate ships it as it is (replayed only to choose whether pages show the viewed items).
    expect(sh.provenance.builtBy).toContain('--learning-rates 0.2');
    expect(sh.headOptions['learningRate']).toBe(0.2);
    expect(th.headOptions['learningRate']).toBeUndefined();
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

  it('refuses a count of epochs or a half-life it cannot use, before reading anything', () => {
    // Before, -2 and 1.5 epochs and a half-life of -1 day (older sales weighing more) were taken,
    // and a recent half-life of -3 was refused only after the log was read, with exit 1.
    for (const [flag, bad, said] of [
      ['--epochs', '-2', /--epochs must be a whole number ≥ 0, got -2\./],
      ['--epochs', '1.5', /--epochs must be a whole number ≥ 0, got 1\.5\./],
      ['--half-life-days', '-1', /--half-life-days must be a number of days > 0, got -1\./],
      ['--half-life-days', '0', /--half-life-days must be a number of days > 0, got 0\./],
      ['--recent-half-life', '-3', /--recent-half-life must be a number of days ≥ 0 \(0: none\), got -3\./],
    ] as const) {
      const r = refusal(flag, bad);
      expect(r.status, `${flag} ${bad}`).toBe(2);
      expect(r.stderr).toMatch(said);
    }
    expect(() => validateBaseOptions({ ...DEFAULT_BASE_OPTIONS, epochs: -1 })).toThrow(/epochs must be a whole number ≥ 0, got -1/);
    expect(() => validateBaseOptions({ ...DEFAULT_BASE_OPTIONS, halfLifeDays: -1 })).toThrow(
      /halfLifeDays must be a number of days > 0, got -1/,
    );
  });

  it('refuses a date order other than day-first or month-first, before reading anything', () => {
    const r = refusal('--date-order', 'ymd');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--date-order must be day-first \(01\/10\/2011 is 1 October\) or month-first \(10 January\), got ymd\./);
  });

  it('refuses a ranked-negatives count that is not a whole number, before reading anything', () => {
    const r = refusal('--ranked-negatives', '2.5');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--ranked-negatives must be a whole number from 0 to 10,000, got 2\.5\./);
  });

  it('refuses a count of successors that is not a whole number from 1 to 10,000, before reading anything', () => {
    for (const bad of ['0', '2.5', '10001']) {
      const r = refusal('--successors', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--successors must be a whole number from 1 to 10,000, got ${bad.replace('.', '\\.')}\\.`));
    }
  });

  it('refuses an L2 weight that is not a number ≥ 0, before reading anything', () => {
    for (const bad of ['-0.001', 'x', 'Infinity']) {
      const r = refusal('--l2', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--l2 must be a number ≥ 0, got ${bad.replace('.', '\\.')}\\.`));
    }
  });

  it('refuses a number of places for new products that is not a whole number from 0 to 10, before reading anything', () => {
    for (const bad of ['1.5', '11', '-1']) {
      const r = refusal('--new-slots', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--new-slots must be a whole number from 0 to 10, got ${bad.replace('.', '\\.')}\\.`));
    }
  });

  it('refuses a number of places for launches that is not a whole number from 0 to 10, before reading anything', () => {
    for (const bad of ['0.5', '11', '-2']) {
      const r = refusal('--launch-slots', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`--launch-slots must be a whole number from 0 to 10, got ${bad.replace('.', '\\.')}\\.`));
    }
  });

  it('refuses a full-softmax bound that is not a whole number, before reading anything', () => {
    const r = refusal('--full-softmax-up-to', '-1');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--full-softmax-up-to must be a whole number of items, 0 or more, got -1\./);
  });

  it('refuses learning rates that are not numbers from 0 to 100, before reading anything', () => {
    for (const bad of ['fast', '0.1,-1', '0.1,,0.3', '101']) {
      const r = refusal('--learning-rates', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--learning-rates must be one or more numbers from 0 to 100, separated by commas, got ${bad}.`);
    }
  });

  it('refuses an answer to whether pages show the viewed items other than auto, yes or no, before reading anything', () => {
    for (const bad of ['maybe', 'true', '']) {
      const r = refusal('--show-viewed', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--show-viewed must be auto, yes or no, got ${bad}.`);
    }
  });

  it('refuses an answer to whether lists keep places for the latest departments other than auto, yes or no', () => {
    for (const bad of ['maybe', 'false']) {
      const r = refusal('--latest-departments', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--latest-departments must be auto, yes or no, got ${bad}.`);
    }
  });

  it('refuses a residual width other than auto, 4 or 8, before reading anything', () => {
    for (const bad of ['2', 'int4', '']) {
      const r = refusal('--residual-bits', bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--residual-bits must be auto, 4 or 8, got ${bad}.`);
    }
  });

  it('refuses an --out folder it could not write, before it reads or trains anything', () => {
    // A file stands where the folder would be made: refused at once, not after minutes of training.
    const r = spawnSync(
      tsx,
      ['src/cli/train/maintain.ts', '--events', 'x.csv', '--items', 'y.csv', '--until', '2011-01-01', '--out', 'package.json/model'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out .*package\.json\/model: .*package\.json is not a folder/);
  });

  it('says what is missing when an option is left out', () => {
    const r = spawnSync(tsx, ['src/cli/train/maintain.ts', '--events', 'x.csv'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Missing --items\. Usage: npm run maintain -- --events F --items F --until DATE --out DIR/);
  });
});

describe('the version of a base that maintain writes', () => {
  it('tells two bases of one cut-off apart, and names the same base alike', () => {
    const dir = tempFolder('clickwise-version-');
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

  it("learns a guest's order where the events give its session_id: the base's popularity counts the guests' sales", async () => {
    const dir = tempFolder('clickwise-maintain-guests-');
    // Two regulars buy A and B; three guests a day, each order alone, buy C, the shop's best seller.
    const rows = ['user_id,item_id,timestamp,session_id'];
    for (let d = 1; d <= 40; d++) {
      const day = new Date(Date.UTC(2021, 0, d)).toISOString().slice(0, 10);
      rows.push(`r1,A,${day} 10:00:00,`, `r2,B,${day} 11:00:00,`, `r1,B,${day} 10:05:00,`);
      for (const g of ['a', 'b', 'c']) rows.push(`,C,${day} 12:00:00,g${d}${g}`);
    }
    writeFileSync(join(dir, 'events.csv'), rows.join('\n') + '\n');
    writeFileSync(join(dir, 'items.csv'), 'item_id,title\nA,apple\nB,bread\nC,cheese\n');
    const out = join(dir, 'model');
    const run = spawnSync(
      tsx,
      [
        'src/cli/train/maintain.ts',
        ...['--events', join(dir, 'events.csv'), '--items', join(dir, 'items.csv'), '--until', '2021-02-10'],
        ...['--out', out, '--epochs', '0'],
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/read 120 rows of 120 guests' orders \(no user_id\), each order a shopper of one visit/);
    const m = await loadModelManifest(defaultFetcher, out);
    const head = await loadHeadModel(defaultFetcher, `${out}/${m.head}`);
    const bias = new Map([...head.itemIndex].map(([id, i]) => [id, head.bias[i]!]));
    // C sold 120 times, B 80, A 40: the best seller leads the base. Before, the guests' rows were
    // left out, and C was a product the base had never seen sold.
    expect([...bias.keys()].sort((a, b) => bias.get(b)! - bias.get(a)!)).toEqual(['C', 'B', 'A']);
    // A base of three products writes its residuals as int8 rows unless the shop asks for int4.
    const residualOf = (extra: string[]): string | undefined => {
      const folder = join(dir, `model-${extra.join('')}`);
      const r = spawnSync(
        tsx,
        [
          'src/cli/train/maintain.ts',
          ...['--events', join(dir, 'events.csv'), '--items', join(dir, 'items.csv'), '--until', '2021-02-10'],
          ...['--out', folder, '--epochs', '1', ...extra],
        ],
        { cwd: root, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const top = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { head: string };
      const headManifest = JSON.parse(readFileSync(join(folder, top.head, 'manifest.json'), 'utf8')) as {
        tensors: { name: string; dtype: string }[];
        provenance: { builtBy: string };
      };
      if (extra.length) expect(headManifest.provenance.builtBy).toContain(extra.join(' '));
      return headManifest.tensors.find((t) => t.name === 'residual')?.dtype;
    };
    expect(residualOf([])).toBe('int8');
    expect(residualOf(['--residual-bits', '4'])).toBe('int4');
  });

  it('publishes a new base beside the one in force, never over its files', async () => {
    const dir = tempFolder('clickwise-publish-');
    const live = join(dir, 'live');
    const publish = (bias: number[]): void => {
      writeModelFolder(live, MODELS, {
        ...defaultHead(readEncoderManifest(MODELS)),
        version: 'base-2026-12-02-enc',
        ids: ['a', 'b'],
        bias: Float32Array.from(bias),
      });
    };
    const headAt = async (m: { head: string }): Promise<number[]> =>
      Array.from((await loadHeadModel(defaultFetcher, `${live}/${m.head}`)).bias);
    publish([1, 0]);
    // A page read the model's manifest just before the next run wrote the new base, and fetches the
    // head it names after: it gets that head whole, every file's sha256 as its manifest says.
    const first = await loadModelManifest(defaultFetcher, live);
    publish([0, 1]);
    expect(await headAt(first)).toEqual([1, 0]);
    const second = await loadModelManifest(defaultFetcher, live);
    expect(second.version).not.toBe(first.version);
    expect(second.head).not.toBe(first.head);
    expect(await headAt(second)).toEqual([0, 1]);
    // The manifest names the base in force before, whose folders stay: a page that cannot read the
    // new base (a later version's) loads that one.
    expect(second.previous).toEqual({ version: first.version, encoder: first.encoder, head: first.head });
    // φ learned on the base in force keeps its meaning on the new one (the same encoder): the
    // browsers that hold it keep it instead of replaying their clicks.
    const secondHead = await loadHeadModel(defaultFetcher, `${live}/${second.head}`);
    expect(secondHead.manifest.deltaCompatibleWith).toContain(first.version);
    // The same base published again is the same folder; a third base removes the first one's,
    // which no page loads any more, and keeps the one before it for the pages still loading it.
    publish([0, 1]);
    const again = await loadModelManifest(defaultFetcher, live);
    expect(again.head).toBe(second.head);
    // The base in force before is the same base now: none other is named (the first one's folder goes next).
    expect(again.previous).toBeUndefined();
    // A folder of the shop's own that only looks like an encoder (no manifest) is never touched.
    mkdirSync(join(live, 'encoder-backup'));
    writeFileSync(join(live, 'encoder-backup', 'notes.txt'), 'kept');
    publish([2, 2]);
    const third = await loadModelManifest(defaultFetcher, live);
    expect(await headAt(third)).toEqual([2, 2]);
    expect(third.previous).toEqual({ version: second.version, encoder: second.encoder, head: second.head });
    expect(await headAt(second)).toEqual([0, 1]);
    expect(existsSync(join(live, first.head))).toBe(false);
    expect(readdirSync(live).sort()).toEqual(
      ['encoder', 'encoder-backup', second.head.replace(/\/$/, ''), third.head.replace(/\/$/, ''), 'manifest.json'].sort(),
    );
  });

  it('publishes a new encoder beside the one in force, and the package layout stays readable', async () => {
    const dir = tempFolder('clickwise-publish-');
    // Another encoder version (a package update): the same files under another version.
    const next = join(dir, 'next-models');
    cpSync(MODELS, next, { recursive: true });
    const encPath = join(next, 'encoder', 'manifest.json');
    writeFileSync(encPath, JSON.stringify({ ...JSON.parse(readFileSync(encPath, 'utf8')), version: 'enc-next' }));
    const live = join(dir, 'live');
    const publish = (models: string): void => {
      writeModelFolder(live, models, { ...defaultHead(readEncoderManifest(models)), ids: ['a'], bias: Float32Array.of(1) });
    };
    publish(MODELS);
    const first = await loadModelManifest(defaultFetcher, live);
    expect(first.encoder).toBe('encoder/');
    publish(next);
    const second = await loadModelManifest(defaultFetcher, live);
    expect(second.encoder).toBe('encoder-enc-next/');
    // The base before is named with its own encoder, which stays beside the new one.
    expect(second.previous).toEqual({ version: first.version, encoder: 'encoder/', head: first.head });
    // φ learned with the old encoder means nothing with the new one: browsers replay their clicks.
    expect((await loadHeadModel(defaultFetcher, `${live}/${second.head}`)).manifest.deltaCompatibleWith).not.toContain(first.version);
    // The encoder in force before is untouched for the pages still loading it.
    expect(readEncoderManifest(live).version).toBe('enc-next');
    expect((JSON.parse(readFileSync(join(live, 'encoder', 'manifest.json'), 'utf8')) as { version: string }).version).toBe(
      readEncoderManifest(MODELS).version,
    );
    publish(next);
    expect(existsSync(join(live, 'encoder'))).toBe(false);
    expect((await loadModelManifest(defaultFetcher, live)).encoder).toBe('encoder-enc-next/');
  });

  it('copies the shop vectors beside a new base file by file, each replaced whole and the manifest last', () => {
    const dir = tempFolder('clickwise-publish-');
    const models = join(dir, 'models');
    cpSync(MODELS, models, { recursive: true });
    mkdirSync(join(models, 'vectors'));
    const vectors = (bytes: number[]): void => {
      writeFileSync(join(models, 'vectors', 'vectors.bin'), Uint8Array.from(bytes));
      writeFileSync(join(models, 'vectors', 'manifest.json'), JSON.stringify({ bytes }));
    };
    const live = join(dir, 'live');
    const publish = (): void => {
      writeModelFolder(live, models, { ...defaultHead(readEncoderManifest(models)), ids: ['a'], bias: Float32Array.of(1) });
    };
    vectors([1, 2, 3, 4]);
    publish();
    const bin = join(live, 'vectors', 'vectors.bin');
    expect(Array.from(readFileSync(bin))).toEqual([1, 2, 3, 4]);
    // The same vectors again: nothing is rewritten. The file a page is reading stays in place (the
    // copy this replaced removed it and wrote it again, so a page could find none, or half of it).
    const reading = openSync(bin, 'r');
    onTestFinished(() => closeSync(reading));
    publish();
    expect(fstatSync(reading).nlink).toBe(1);
    // New vectors: a page that opened the old file before the run still reads it whole, never a
    // file half old and half new; the new one is in place once the run is done.
    vectors([9, 8, 7, 6, 5]);
    publish();
    const old = Buffer.alloc(8);
    expect(Array.from(old.subarray(0, readSync(reading, old, 0, 8, 0)))).toEqual([1, 2, 3, 4]);
    expect(Array.from(readFileSync(bin))).toEqual([9, 8, 7, 6, 5]);
    expect(JSON.parse(readFileSync(join(live, 'vectors', 'manifest.json'), 'utf8'))).toEqual({ bytes: [9, 8, 7, 6, 5] });
    expect(readdirSync(join(live, 'vectors')).sort()).toEqual(['manifest.json', 'vectors.bin']);
  });
});
