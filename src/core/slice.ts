/**
 * Cooperative time slicing: long loops check `slicer.due()` and `await slicer.yield()` when it
 * says so, so that no task of Clickwise's holds the page's main thread for long. A yield is a
 * real macrotask (the browser can paint and handle input in between); resolving a promise, or
 * awaiting `tensor.data()` on the WASM or CPU backend, is only a microtask and does not count.
 */

/** Work budget of one slice, in ms: well under the 50 ms that makes a long task. */
export const SLICE_MS = 12;

/**
 * Items (a catalogue's ids, a learner's per-item figures) worked on in one step of the work done
 * in steps (`alignBaseSteps`, `carryOverSteps`, `publishedSteps`, …): a few ms each.
 */
export const ITEMS_PER_STEP = 65_536;

interface PostTaskScheduler {
  yield?: () => Promise<void>;
  postTask?: (fn: () => void, options: { priority: 'background' | 'user-visible' }) => Promise<void>;
}

let channel: MessageChannel | null = null;
const queue: (() => void)[] = [];

/**
 * Resolves in a new macrotask: `scheduler.yield()` where there is one, `setImmediate` in Node,
 * else a MessageChannel message (not `setTimeout`, which browsers clamp to 4 ms when nested).
 */
export function nextTask(): Promise<void> {
  const sched = (globalThis as { scheduler?: PostTaskScheduler }).scheduler;
  if (typeof sched?.yield === 'function') return sched.yield();
  // Node: setImmediate lets timers and I/O run in between. Node drains a MessagePort's queue in
  // one go, messages posted meanwhile included, so a MessageChannel loop would starve them.
  const immediate = (globalThis as { setImmediate?: (fn: () => void) => unknown }).setImmediate;
  if (typeof immediate === 'function') return new Promise((r) => immediate(() => r()));
  if (typeof MessageChannel === 'undefined') return new Promise((r) => setTimeout(r, 0));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => queue.shift()?.();
  }
  return new Promise((r) => {
    queue.push(r);
    channel!.port2.postMessage(0);
  });
}

/**
 * Resolves in a new macrotask of background priority where the page has a scheduler
 * (`scheduler.postTask`): it runs only when nothing more urgent (input, rendering, the page's own
 * tasks, a click being learned) is waiting. Elsewhere, {@link nextTask}.
 */
export function nextBackgroundTask(): Promise<void> {
  const sched = (globalThis as { scheduler?: PostTaskScheduler }).scheduler;
  if (typeof sched?.postTask === 'function') return sched.postTask(() => undefined, { priority: 'background' });
  return nextTask();
}

/**
 * Resolves in a new macrotask of the page's normal priority where the page has a scheduler
 * (`scheduler.postTask`, 'user-visible'): the tasks already queued run first, where a
 * `scheduler.yield()` continuation would run ahead of them. For work that others wait behind (a
 * download read while the runtime's modules still load). Elsewhere, {@link nextTask}.
 */
export function nextQueuedTask(): Promise<void> {
  const sched = (globalThis as { scheduler?: PostTaskScheduler }).scheduler;
  if (typeof sched?.postTask === 'function') return sched.postTask(() => undefined, { priority: 'user-visible' });
  return nextTask();
}

/**
 * Runs work written as steps (a generator that yields between two) to its end in this turn, and
 * returns what it returns: the same work as {@link runStepsInTurns}, at once.
 */
export function runSteps<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** {@link runSteps} with a new macrotask between two steps (`yieldTo`), other work running between them. */
export async function runStepsInTurns<T>(steps: Generator<void, T>, yieldTo: () => Promise<void> = nextTask): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await yieldTo();
  }
}

/**
 * {@link runSteps} in the slices of `slicer`: the steps run on while the slice has time left, and
 * a new macrotask begins where it is used up. For work written in small steps (a thousand items
 * each) that a page runs beside its own.
 */
export async function runStepsSliced<T>(steps: Generator<void, T>, slicer: Slicer): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (slicer.due()) await slicer.yield();
  }
}

/** Tracks the time spent since the last yield. */
export class Slicer {
  private start = now();
  /**
   * @param budgetMs the work of one slice.
   * @param yieldTo how a slice ends: {@link nextTask}, or {@link nextBackgroundTask} for work that can wait.
   */
  constructor(
    private readonly budgetMs = SLICE_MS,
    private readonly yieldTo: () => Promise<void> = nextTask,
  ) {}

  /** True once this slice has used its budget. Cheap: call it every few iterations. */
  due(): boolean {
    return now() - this.start >= this.budgetMs;
  }

  /** Yields a macrotask and starts a new slice. */
  async yield(): Promise<void> {
    await this.yieldTo();
    this.start = now();
  }

  /** Yields only if the slice is used up. */
  async maybeYield(): Promise<void> {
    if (this.due()) await this.yield();
  }
}

/**
 * Runs `run(from, to)` over [0, n) in ranges of `step`, yielding between two ranges where the
 * slice is used up (as `slicer.maybeYield()` would).
 * The loop lives in `run`, a plain function that the engine optimises while it runs: the same
 * loops with an `await` in their bodies, inside async functions, took about 1.7 times as long on
 * their first run (the checks of a saved entry at 100,000 items in Node: 19 to 23 ms against 11
 * to 13), and a page runs such checks once.
 */
export async function inRanges(n: number, slicer: Slicer, run: (from: number, to: number) => void, step = 2048): Promise<void> {
  for (let from = 0; from < n; from += step) {
    run(from, Math.min(n, from + step));
    // No promise where the slice goes on: most ranges end with time to spare.
    if (slicer.due()) await slicer.yield();
  }
}

/** Milliseconds on the monotonic clock where there is one (the wall clock else). */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
