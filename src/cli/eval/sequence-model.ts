/**
 * The batch-trained sequential baselines of `npm run eval`, SASRec (self-attentive sequential
 * recommendation) and GRU4Rec (a recurrent network), networks of `sequence-nets.ts`. Each is trained
 * on each shopper's item sequence before the split to predict the next item at every position.
 * The loss is the full softmax over the catalogue when it has at most `fullSoftmaxUpTo` items
 * (50,000 by default), otherwise a sampled softmax: the true next item against a shared set of
 * uniformly drawn items per batch.
 *
 * Early stopping on a validation period: the events of the last `validationDays` before the split
 * (28 by default, the maintenance job's held-out weeks) are held out, and the network is trained
 * on those before them. After every epoch it ranks the full catalogue for the held-out events (up
 * to `validationEvents` of them, drawn at random, each after the shopper's items before it), and
 * training stops once NDCG@10 there has not improved for `patience` epochs. A new network is
 * trained on every event before the split for the best epoch's number of epochs, so that the
 * weeks held out are learned too. In worker threads the two trainings run at once: the second
 * trains each epoch once the first has found it the best yet, and stops at the first's choice, so
 * it ends about when the first does instead of starting then (the eval's main thread replays the
 * other methods meanwhile; trained one after the other, the second network had a core to itself
 * while the first stood idle). Where the period holds no event to score (a log shorter than it),
 * each shopper's last item before the split (of shoppers with at least three) is held out
 * instead, and the weights of the best epoch are kept. The full softmax is computed at the
 * positions that have a next item only, not at a short sequence's padding. Scoring ranks the full
 * catalogue by the last position's output times the item embeddings. The model is fixed during
 * the replay.
 *
 * Embedding lookups use a custom gradient that scatter-adds into the touched rows only (tfjs's
 * gather gradient is dense over the whole table and slow on wasm/cpu).
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the gradient functions with the shared tfjs-core engine (tools only).
import '@tensorflow/tfjs';
import { setPriority } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { isMainThread, MessageChannel, parentPort, receiveMessageOnPort, Worker, workerData } from 'node:worker_threads';
import { initBackend } from '../../core/backend.js';
import { mulberry32 } from '../../core/rng.js';
import { itemCrossEntropy, lookup, matMul } from '../tf-ops.js';
import type { NetKind, NetOptions, SequenceNet } from './sequence-nets.js';
import { buildNet } from './sequence-nets.js';
import { RankMetrics } from './metrics.js';
import type { ReplayEvent, StaticMethod } from './replay.js';

export interface SequenceOptions extends NetOptions {
  /** The most epochs trained; early stopping usually ends sooner. */
  epochs: number;
  /** Epochs without a better held-out NDCG@10 before training stops (default 2). */
  patience?: number;
  /** Days before the split held out to choose the number of epochs (default 28). */
  validationDays?: number;
  /** Held-out events scored after each epoch at most, drawn at random (default 5,000). */
  validationEvents?: number;
  /** The split (ms): the period ends there. Default: the first scored event's time, else after the last event. */
  split?: number;
  /** Catalogues up to this many items train with the full softmax (default 50,000). */
  fullSoftmaxUpTo?: number;
  /**
   * The most logits (rows × items) a step of the full softmax makes at once (default 2²⁴, 64 MB):
   * a batch that would make more is scored a block of rows at a time (`itemCrossEntropy`), to the
   * same gradients. Online Retail's batches (3,840 rows of 3,659 items) are one block.
   */
  softmaxLogits?: number;
  batchSize?: number;
  negatives?: number;
  learningRate?: number;
  seed: number;
  /**
   * Threads the training takes beside the caller's, so that the evaluation goes on with the other
   * methods (and the base's training) meanwhile. 2 (the default): with a validation period, one
   * chooses the number of epochs while the other trains on every event before the split, each
   * with its own copy of the sequences and its own WebAssembly heap; 1: both trainings one after
   * the other in one thread (less memory, longer); 0: in the caller's thread.
   */
  threads?: 0 | 1 | 2;
  /** Aborting stops a worker thread's training (the method's promise rejects). */
  signal?: AbortSignal;
  onProgress?: ((method: string, done: number, total: number) => void) | undefined;
}

/** What the training did, copied into the report. */
export interface SequenceTraining {
  loss: string;
  /** What was held out to choose the epochs: the validation period, or each shopper's last item. */
  heldOut: string;
  epochsTrained: number;
  bestEpoch: number;
  heldOutNdcgPerEpoch: number[];
  heldOutShoppers: number;
  heldOutEvents: number;
  /** Epochs of the network trained again on every event before the split (0: the best epoch's weights kept). */
  retrainedEpochs: number;
}

/** A shopper's items before the split (catalogue indices, in time order); from `heldFrom` on, in the validation period. */
export interface TrainingSequence {
  items: number[];
  heldFrom: number;
}

/** The run shared by the two trainings: each shopper's sequence, what is held out, and one epoch loop. */
export interface TrainingRun {
  /** Each shopper's items shifted by one (0 is padding), with where the period starts. */
  all: TrainingSequence[];
  /** The held-out events scored after each epoch (a sequence and a position in it). */
  held: { seq: number; at: number }[];
  /** What the network choosing the epochs learns: the events before the period, or all but each last item. */
  fitted: number[][];
  /** Whether the validation period is used (else the last items are held out and no second network trained). */
  period: boolean;
  /** Whether the loss is the full softmax over the catalogue (else a sampled one). */
  full: boolean;
  /** Each sequence cut into windows of maxLen + 1 items, from its end. */
  windowsOf(seqs: readonly number[][]): number[][];
  /** NDCG@10 of the held-out events (ties count against the item). */
  heldOutNdcg(net: SequenceNet): Promise<number>;
  /**
   * Trains `net` on `windows` for up to `epochs` epochs, shuffled by `rand`; `afterEpoch` (where
   * given) returns true to stop. Progress goes out as `label`.
   */
  fit(
    net: SequenceNet,
    windows: number[][],
    epochs: number,
    label: string,
    rand: () => number,
    afterEpoch?: (epoch: number) => Promise<boolean>,
  ): Promise<void>;
  /** The draws of the run (held-out sample, the first network and its shuffles). */
  rand: () => number;
}

/**
 * Whether the validation period can choose the epochs: it holds an event that follows an item of
 * the shopper's, and some shopper has two items before it to learn from.
 */
function hasPeriod(sequences: readonly TrainingSequence[]): boolean {
  return sequences.some((s) => Math.max(1, s.heldFrom) < s.items.length) && sequences.some((s) => s.heldFrom >= 2);
}

/** The sequences, what is held out and the epoch loop of a training (`trainForChosenEpochs`' run). */
export function trainingRun(sequences: readonly TrainingSequence[], n: number, o: SequenceOptions): TrainingRun {
  const d = o.dims;
  const L = o.maxLen;
  const B = o.batchSize ?? 128;
  const S = o.negatives ?? 256;
  const rand = mulberry32(o.seed);
  const all = sequences.map((s) => ({ items: s.items.map((i) => i + 1), heldFrom: s.heldFrom }));
  // Held out: every event of the period that follows an item of the shopper's, up to the cap;
  // the network that chooses the epochs learns what came before the period.
  const period = hasPeriod(sequences);
  let held: { seq: number; at: number }[] = [];
  const cap = o.validationEvents ?? 5_000;
  if (period) {
    all.forEach((s, seq) => {
      for (let at = Math.max(1, s.heldFrom); at < s.items.length; at++) held.push({ seq, at });
    });
    if (held.length > cap) {
      for (let i = 0; i < cap; i++) {
        const j = i + Math.floor(rand() * (held.length - i));
        [held[i], held[j]] = [held[j]!, held[i]!];
      }
      held = held.slice(0, cap);
    }
  } else {
    // Without a period: the last item of every shopper with at least three.
    all.forEach((s, seq) => s.items.length >= 3 && held.push({ seq, at: s.items.length - 1 }));
  }
  const fitted = period
    ? all.map((s) => s.items.slice(0, s.heldFrom))
    : all.map((s) => (s.items.length >= 3 ? s.items.slice(0, -1) : s.items));
  const full = n <= (o.fullSoftmaxUpTo ?? 50_000);
  const maxLogits = o.softmaxLogits ?? 2 ** 24;

  const windowsOf = (seqs: readonly number[][]): number[][] => {
    const windows: number[][] = [];
    for (const s of seqs) {
      if (s.length < 2) continue;
      for (let end = s.length; end > 1; end -= L) windows.push(s.slice(Math.max(0, end - L - 1), end));
    }
    return windows;
  };

  /** NDCG@10 of the held-out events (ties count against the item). */
  const heldOutNdcg = async (net: SequenceNet): Promise<number> => {
    const metrics = new RankMetrics(10);
    for (let from = 0; from < held.length; from += 256) {
      const part = held.slice(from, from + 256);
      const scores = await net.scoreShifted(part.map((h) => all[h.seq]!.items.slice(0, h.at)));
      part.forEach((h, r) => {
        const row = scores.subarray(r * n, (r + 1) * n);
        const target = all[h.seq]!.items[h.at]! - 1;
        const t = row[target]!;
        let rank = 0;
        for (let i = 0; i < n && rank < 10; i++) if (i !== target && row[i]! >= t) rank++;
        metrics.add(rank);
      });
    }
    return metrics.events ? metrics.ndcgSum / metrics.events : 0;
  };

  const fit: TrainingRun['fit'] = async (net, windows, epochs, label, shuffle, afterEpoch) => {
    const E = net.variables[0]! as tf.Variable<tf.Rank.R2>;
    const opt = tf.train.adam(o.learningRate ?? 0.001);
    const steps = Math.ceil(windows.length / B);
    const total = epochs * steps;
    let done = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let i = windows.length - 1; i > 0; i--) {
        const j = Math.floor(shuffle() * (i + 1));
        [windows[i], windows[j]] = [windows[j]!, windows[i]!];
      }
      for (let s = 0; s < steps; s++) {
        const part = windows.slice(s * B, (s + 1) * B);
        const X = new Int32Array(part.length * L);
        const Y = new Int32Array(part.length * L);
        part.forEach((w, r) => {
          // Left-padded: the input is w[0..m-2], the target w[1..m-1].
          const m = w.length;
          for (let j = 0; j < m - 1; j++) {
            X[r * L + L - (m - 1) + j] = w[j]!;
            Y[r * L + L - (m - 1) + j] = w[j + 1]!;
          }
        });
        const negs = full ? null : Int32Array.from({ length: S }, () => 1 + Math.floor(shuffle() * n));
        const loss = tf.tidy(() => {
          const Xt = tf.tensor2d(X, [part.length, L], 'int32');
          if (!negs) {
            // Full softmax over every catalogue item (row 0 of E, the padding, is not one), at the
            // positions that have a next item only: a padded position's row would cost as much as
            // a real one's and weigh nothing.
            let real = 0;
            for (let j = 0; j < Y.length; j++) if (Y[j]! !== 0) real++;
            const at = new Int32Array(real);
            const labels = new Int32Array(real);
            for (let j = 0, r = 0; j < Y.length; j++) if (Y[j]! !== 0) [at[r], labels[r++]] = [j, Y[j]! - 1];
            const At = tf.tensor1d(at, 'int32');
            const Lt = tf.tensor1d(labels, 'int32');
            return opt.minimize(() => {
              const H = lookup(tf.reshape(net.forward(Xt, true), [part.length * L, d]) as tf.Tensor2D, At) as tf.Tensor2D;
              const items = tf.slice(E, [1, 0], [n, d]);
              return itemCrossEntropy(H, items, Lt, maxLogits);
            }, true) as tf.Scalar;
          }
          const Yt = tf.tensor1d(Y, 'int32');
          const mask = tf.cast(tf.notEqual(Yt, 0), 'float32');
          const Nt = tf.tensor1d(negs, 'int32');
          return opt.minimize(() => {
            const H = tf.reshape(net.forward(Xt, true), [part.length * L, d]);
            const pos = tf.sum(tf.mul(H, lookup(E, Yt)), 1, true); // [bL, 1]
            const neg = matMul(H, lookup(E, Nt) as tf.Tensor2D, false, true); // [bL, S]
            const logits = tf.concat([pos, neg], 1);
            const ce = tf.sub(tf.logSumExp(logits, 1), tf.reshape(pos, [-1]));
            return tf.div(tf.sum(tf.mul(ce, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
          }, true) as tf.Scalar;
        });
        if (s === steps - 1) await loss.data();
        loss.dispose();
        o.onProgress?.(label, ++done, total);
      }
      if (afterEpoch && (await afterEpoch(epoch))) {
        o.onProgress?.(label, total, total);
        break;
      }
    }
    opt.dispose();
  };
  return { all, held, fitted, period, full, windowsOf, heldOutNdcg, fit, rand };
}

/** What the network that chooses the epochs has found so far. */
export interface EpochsChosen {
  /** Its best epoch yet (1 is the first; 0 before any). */
  best: number;
  /** Whether it has stopped: `best` is then the number of epochs chosen. */
  done: boolean;
}

/**
 * Trains the network that chooses the number of epochs on what the run fits and scores the
 * held-out events after every epoch, stopping `patience` epochs after the best. Tells
 * `onEpoch` what it has found after each epoch. Without a period, the best epoch's weights are
 * kept and the network is returned; with one, it is disposed of (a second network is trained).
 */
async function chooseEpochs(
  kind: NetKind,
  run: TrainingRun,
  n: number,
  o: SequenceOptions,
  onEpoch?: (c: EpochsChosen) => void,
): Promise<{ curve: number[]; bestEpoch: number; net: SequenceNet | null }> {
  const patience = o.patience ?? 2;
  const chosen = buildNet(kind, n, o, run.rand);
  let best: { epoch: number; ndcg: number; weights: tf.Tensor[] } | null = null;
  const curve: number[] = [];
  const label = run.period ? `${kind} (choosing epochs)` : `${kind} (training)`;
  await run.fit(chosen, run.windowsOf(run.fitted), o.epochs, label, run.rand, async (epoch) => {
    const ndcg = await run.heldOutNdcg(chosen);
    curve.push(Number(ndcg.toFixed(4)));
    let stop = false;
    if (!best || ndcg > best.ndcg) {
      if (best) tf.dispose(best.weights);
      // The weights are kept only where they are what is returned (no period to learn again).
      best = { epoch: epoch + 1, ndcg, weights: run.period ? [] : chosen.variables.map((v) => tf.clone(v)) };
    } else stop = epoch + 1 - best.epoch >= patience;
    onEpoch?.({ best: best.epoch, done: stop || epoch + 1 === o.epochs });
    return stop;
  });
  const found = best as { epoch: number; weights: tf.Tensor[] } | null;
  if (run.period) {
    chosen.dispose();
    return { curve, bestEpoch: found?.epoch ?? 0, net: null };
  }
  if (found) {
    chosen.variables.forEach((v, k) => v.assign(found.weights[k]!));
    tf.dispose(found.weights);
  }
  return { curve, bestEpoch: found?.epoch ?? 0, net: chosen };
}

/**
 * Trains a new network on every event before the split, epoch by epoch, while the number of
 * epochs is chosen elsewhere, and returns it trained for exactly that many. After each epoch it
 * asks `next(trained)`, which resolves once the choice has found a best epoch later than
 * `trained` (train on) or has stopped (train on up to its best, then stop). So it never trains an
 * epoch the choice may not keep, and lags the choice by about one epoch.
 */
export async function trainForChosenEpochs(
  kind: NetKind,
  run: TrainingRun,
  n: number,
  o: SequenceOptions,
  next: (trained: number) => Promise<EpochsChosen>,
): Promise<{ net: SequenceNet; epochs: number }> {
  const rand = mulberry32(o.seed);
  const net = buildNet(kind, n, o, rand);
  let trained = 0;
  await run.fit(net, run.windowsOf(run.all.map((s) => s.items)), o.epochs, `${kind} (training)`, rand, async (epoch) => {
    trained = epoch + 1;
    const c = await next(trained);
    return c.done && Math.max(1, c.best) <= trained;
  });
  return { net, epochs: trained };
}

/**
 * Trains a network of `kind` on each shopper's sequence with early stopping on the validation
 * period (or the held-out last items, where the period holds none), and returns it: here, one
 * training after the other (a worker thread runs the two at once, `trainInWorker`).
 */
async function trainNet(
  kind: NetKind,
  sequences: readonly TrainingSequence[],
  n: number,
  o: SequenceOptions,
): Promise<{ net: SequenceNet; training: SequenceTraining }> {
  const run = trainingRun(sequences, n, o);
  const { curve, bestEpoch, net: kept } = await chooseEpochs(kind, run, n, o);
  let net = kept;
  let retrained = 0;
  if (!net) {
    const trained = await trainForChosenEpochs(kind, run, n, o, async () => ({ best: bestEpoch, done: true }));
    net = trained.net;
    retrained = trained.epochs;
  }
  return { net, training: trainingOf(run, o, curve, bestEpoch, retrained) };
}

/** What the training did, for the report. */
function trainingOf(run: TrainingRun, o: SequenceOptions, curve: number[], bestEpoch: number, retrainedEpochs: number): SequenceTraining {
  return {
    loss: run.full ? 'full softmax' : `sampled softmax, ${o.negatives ?? 256} negatives`,
    heldOut: run.period ? `the ${o.validationDays ?? 28} days before the split` : "each shopper's last item",
    epochsTrained: curve.length,
    bestEpoch,
    heldOutNdcgPerEpoch: curve,
    heldOutShoppers: new Set(run.held.map((h) => h.seq)).size,
    heldOutEvents: run.held.length,
    retrainedEpochs,
  };
}

/** What a worker thread posts: its progress, then the trained weights or what choosing found. */
type WorkerMessage =
  | { type: 'progress'; label: string; done: number; total: number }
  | { type: 'trained'; weights: Float32Array[]; training: SequenceTraining | null; epochs: number }
  | { type: 'chosen'; training: SequenceTraining };

/** A worker thread's task: both trainings one after the other, or one of the two run at once. */
type Role = 'both' | 'choose' | 'train';

/** The nice value of the training threads (Linux): the main thread's replays come first. */
const WORKER_NICE = 10;

/** What each network is called in messages. */
const TITLE: Record<NetKind, string> = { sasrec: 'SASRec', gru4rec: 'GRU4Rec' };

/**
 * Trains in worker threads (this module, started as their entry) and rebuilds the network here
 * from the weights posted back. With a validation period, two threads run at once: one chooses
 * the number of epochs and tells the other, which trains the network on every event before the
 * split meanwhile (so the second training does not wait for the first). Without one, or with `threads: 1`, one thread.
 */
async function trainInWorker(
  kind: NetKind,
  sequences: TrainingSequence[],
  n: number,
  o: SequenceOptions,
): Promise<{ net: SequenceNet; training: SequenceTraining }> {
  const { onProgress, signal, ...options } = o;
  // Under the TypeScript loader (npm run eval, the tests) the worker loads this very file through it.
  const ts = import.meta.url.endsWith('.ts');
  const code = ts
    ? `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`
    : `import(${JSON.stringify(import.meta.url)})`;
  const twoAtOnce = (o.threads ?? 2) === 2 && hasPeriod(sequences);
  const channel = twoAtOnce ? new MessageChannel() : null;
  const start = (role: Role, port?: MessagePort): Worker =>
    new Worker(code, {
      eval: true,
      workerData: { sequenceModel: { kind, sequences, n, options, role, port } },
      transferList: port ? [port] : [],
    });
  const workers = channel ? [start('choose', channel.port1), start('train', channel.port2)] : [start('both')];
  const stopped = `${TITLE[kind]} training was stopped.`;
  try {
    const posted = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<WorkerMessage>((resolve, reject) => {
            worker.on('message', (m: WorkerMessage) => {
              if (m.type === 'progress') onProgress?.(m.label.replace(/\)$/, ', worker thread)'), m.done, m.total);
              else resolve(m);
            });
            worker.on('error', reject);
            worker.on('exit', (code) =>
              reject(new Error(`The ${TITLE[kind]} training thread stopped (exit code ${code}) before it finished.`)),
            );
            signal?.addEventListener('abort', () => reject(new Error(stopped)), { once: true });
            if (signal?.aborted) reject(new Error(stopped));
          }),
      ),
    );
    const trained = posted.find((m) => m.type === 'trained')!;
    const chosen = posted.find((m) => m.type === 'chosen');
    const training = chosen ? { ...chosen.training, retrainedEpochs: trained.epochs } : trained.training!;
    return { net: buildNet(kind, n, o, mulberry32(o.seed), trained.weights), training };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// A worker thread's side: train, post the weights (or what choosing found), end.
if (!isMainThread && (workerData as { sequenceModel?: unknown } | null)?.sequenceModel) {
  const job = (
    workerData as {
      sequenceModel: { kind: NetKind; sequences: TrainingSequence[]; n: number; options: SequenceOptions; role: Role; port?: MessagePort };
    }
  ).sequenceModel;
  // Training is background work: on Linux, where a thread has its own nice value, this thread
  // yields its core to the main one, which replays and times the other methods meanwhile.
  if (process.platform === 'linux') {
    try {
      setPriority(WORKER_NICE);
    } catch {
      // Not allowed here: the thread keeps its priority.
    }
  }
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`${TITLE[job.kind]} trains on the wasm backend, which could not start: ${backend.reason}`);
  const o: SequenceOptions = {
    ...job.options,
    onProgress: (label, done, total) => parentPort!.postMessage({ type: 'progress', label, done, total } satisfies WorkerMessage),
  };
  const postNet = async (net: SequenceNet, training: SequenceTraining | null, epochs: number): Promise<void> => {
    const weights = (await Promise.all(net.variables.map((v) => v.data()))) as Float32Array[];
    parentPort!.postMessage(
      { type: 'trained', weights, training, epochs } satisfies WorkerMessage,
      weights.map((w) => w.buffer as ArrayBuffer),
    );
    net.dispose();
  };
  if (job.role === 'both') {
    const { net, training } = await trainNet(job.kind, job.sequences, job.n, o);
    await postNet(net, training, training.retrainedEpochs);
  } else if (job.role === 'choose') {
    const run = trainingRun(job.sequences, job.n, o);
    const { curve, bestEpoch } = await chooseEpochs(job.kind, run, job.n, o, (c) => job.port!.postMessage(c));
    parentPort!.postMessage({ type: 'chosen', training: trainingOf(run, o, curve, bestEpoch, 0) } satisfies WorkerMessage);
    job.port!.close();
  } else {
    const port = job.port!;
    let latest: EpochsChosen = { best: 0, done: false };
    // The port is read without being started, so no message passes unread between two reads.
    const next = async (trained: number): Promise<EpochsChosen> => {
      for (;;) {
        for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) latest = m.message as EpochsChosen;
        if (latest.done || latest.best > trained) return latest;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    const run = trainingRun(job.sequences, job.n, o);
    const { net, epochs } = await trainForChosenEpochs(job.kind, run, job.n, o, next);
    await postNet(net, null, epochs);
  }
}

/** Throws a RangeError naming the first setting a network of `kind` cannot train with. */
export function validateSequenceOptions(kind: NetKind, o: SequenceOptions): void {
  const whole = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1))
      throw new RangeError(`${TITLE[kind]}'s ${name} must be a whole number of at least 1, got ${v}.`);
  };
  whole('epochs', o.epochs);
  whole('patience', o.patience);
  whole('dims', o.dims);
  whole(`maxLen (--${kind}-len)`, o.maxLen);
  whole('blocks', o.blocks);
  whole('batchSize', o.batchSize);
  whole('validationEvents', o.validationEvents);
  whole('softmaxLogits', o.softmaxLogits);
  if (o.threads !== undefined && ![0, 1, 2].includes(o.threads))
    throw new RangeError(`${TITLE[kind]} trains in 0, 1 or 2 threads beside the caller's, got ${String(o.threads)}.`);
  if (o.validationDays !== undefined && !(o.validationDays >= 0 && Number.isFinite(o.validationDays)))
    throw new RangeError(`${TITLE[kind]}'s validationDays must be a number of days, 0 or more, got ${o.validationDays}.`);
  if (o.learningRate !== undefined && !(o.learningRate > 0))
    throw new RangeError(`${TITLE[kind]}'s learning rate must be above 0, got ${o.learningRate}.`);
  if (o.dropout !== undefined && !(o.dropout >= 0 && o.dropout < 1))
    throw new RangeError(`${TITLE[kind]}'s dropout must be from 0 up to (not including) 1, got ${o.dropout}.`);
}

/** Trains a network of `kind` on the events before the split and returns it as a static method. */
export async function sequenceMethod(kind: NetKind, events: readonly ReplayEvent[], n: number, o: SequenceOptions): Promise<StaticMethod> {
  validateSequenceOptions(kind, o);
  const popularity = new Float32Array(n);
  for (const e of events) if (!e.scored) popularity[e.item]! += 1;
  // Each shopper's items before the split; those of the last `validationDays` are the period held out.
  const split = o.split ?? events.find((e) => e.scored)?.t ?? (events.length ? events[events.length - 1]!.t + 1 : 0);
  const periodFrom = split - (o.validationDays ?? 28) * 86_400_000;
  const byShopper = new Map<string, TrainingSequence>();
  for (const e of events) {
    if (e.scored) break;
    let s = byShopper.get(e.user);
    if (!s) byShopper.set(e.user, (s = { items: [], heldFrom: -1 }));
    if (s.heldFrom < 0 && e.t >= periodFrom) s.heldFrom = s.items.length;
    s.items.push(e.item);
  }
  const sequences = [...byShopper.values()].map((s) => ({ items: s.items, heldFrom: s.heldFrom < 0 ? s.items.length : s.heldFrom }));
  const { net, training } = o.threads === 0 ? await trainNet(kind, sequences, n, o) : await trainInWorker(kind, sequences, n, o);
  // The weights are fixed from here on: the item rows are transposed once for every batch.
  const itemsT = net.itemsT();
  return {
    name: kind,
    kind: 'static',
    training: { ...training },
    async scoreBatch(histories) {
      const data = await net.scoreShifted(
        histories.map((h) => h.map((i) => i + 1)),
        itemsT,
      );
      // A shopper with no history has nothing to go on: rank by popularity before the split.
      histories.forEach((h, r) => {
        if (h.length === 0) data.set(popularity, r * n);
      });
      return data;
    },
    dispose() {
      itemsT.dispose();
      net.dispose();
    },
  };
}

/** SASRec, trained on the events before the split. */
export const sasrecMethod = (events: readonly ReplayEvent[], n: number, o: SequenceOptions): Promise<StaticMethod> =>
  sequenceMethod('sasrec', events, n, o);

/** GRU4Rec, trained on the events before the split. */
export const gru4recMethod = (events: readonly ReplayEvent[], n: number, o: SequenceOptions): Promise<StaticMethod> =>
  sequenceMethod('gru4rec', events, n, o);
