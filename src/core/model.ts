/**
 * The shipped model: `models/manifest.json` names an encoder folder and a head folder. The head
 * holds the base θ: the query transform W₀, the re-buy weight α₀, and per-item biases and
 * residuals for the items the event logs know, keyed by item id.
 */
import { ModelLoadError } from './errors.js';
import type { BaseParams } from './head.js';
import { EARLIER_MIX_LENGTHS, MIX_LENGTH } from './memory.js';
import type { Fetcher, ManifestFile, TensorRows, TensorSpec } from './model-io.js';
import {
  decodeTensor,
  decodeTensorSliced,
  fetchJson,
  fetchVerified,
  halfBits,
  joinLocation,
  knownDtype,
  laterVersionError,
  refuseLaterFormat,
  tensorRows,
} from './model-io.js';
import type { SavedBase } from './prepared.js';
import type { Slicer } from './slice.js';
import { inRanges, ITEMS_PER_STEP, now as clock, runSteps } from './slice.js';

/** `models/manifest.json`. */
export interface ModelManifest {
  format: 'clickwise-model';
  formatVersion: 1;
  /** The version browsers store their delta against. */
  version: string;
  encoder: string;
  head: string;
  /** Folder of the catalogue vectors the shop computed (`npm run vectors`), if any. */
  vectors?: string;
  /** Folder of the shop delta the stream job publishes (`npm run stream`), if it runs. */
  delta?: string;
  /**
   * The base in force before this one, whose folders `npm run maintain` keeps until its next run:
   * a page that cannot read this base (written by a later version) loads that one instead.
   */
  previous?: { version: string; encoder: string; head: string };
}

/** `models/head/manifest.json`. */
export interface HeadManifest {
  format: 'clickwise-head';
  formatVersion: 1;
  version: string;
  /** The encoder version this base was trained on. */
  encoderVersion: string;
  dims: number;
  alpha: number;
  /** Number of items with per-item parameters (listed in items.txt). */
  items: number;
  /**
   * Versions of earlier heads whose per-shopper φ may be kept as is on this head. Any other
   * stored φ is rebuilt by replaying the shopper's event log.
   */
  deltaCompatibleWith: string[];
  /** Defaults for the incremental head's options, tuned with the base. */
  headOptions?: Record<string, number>;
  /**
   * Weights of the shopper features (`MEMORY_FEATURES`: the shop's transitions, click counts,
   * the shopper's own order, the items that began their visits, the popularity of the items
   * clicked, the items of the latest visit), each mid-visit then at a visit's start, chosen for
   * this shop by the maintenance job. Four, eight or ten entries (a head published before the
   * later features existed) leave the missing ones at 0. Default 0.
   */
  mix?: number[];
  /**
   * The bias of catalogue items the base does not know (new products), chosen for this shop by
   * the maintenance job on its log's last weeks. Default 0: the known items' average bias.
   */
  newItemBias?: number;
  /**
   * How far the browser trusts the shop delta ψ of the shop's stream job: the fused bias is
   * bᵢ + weight · ψᵢ. Chosen for this shop by the maintenance job, which runs the stream's learner
   * over its log's last weeks; default 1.
   */
  shopDeltaWeight?: number;
  /**
   * The weight of ψ on the catalogue's products this base does not know, chosen by the maintenance
   * job on the same weeks: the stream is all a browser learns of how a new product sells. Default:
   * `shopDeltaWeight`.
   */
  shopDeltaWeightNew?: number;
  /**
   * Places per ten of a recommendation list kept for the products this base does not know, where
   * the shop delta is in force: its best new products for the shopper, by the head's score, take
   * the last places (`src/core/new-slots.ts`). Chosen by the maintenance job where its held-out
   * weeks find new products less often than what sells now would; default 0.
   */
  newSlots?: number;
  /**
   * Places per ten of a list for launches: products this base does not know that are among the
   * shop's best sellers now, as the stream job last published what sells (the delta's `recent`),
   * one per launch up to this many (`src/core/new-slots.ts`). Written by the maintenance job
   * (1 unless the shop sets another); default 0.
   */
  launchSlots?: number;
  /**
   * Whether `recommend()` shows a shopper the items they viewed lately by default: true where the
   * maintenance job found, on its held-out weeks, that this shop's lists score better with them (a
   * shop whose shoppers re-buy what they looked at). A page's own `recommendViewed` (or the tag's
   * `data-recommend-viewed`) wins. Default false.
   */
  recommendViewed?: boolean;
  /**
   * Whether `recommend()` keeps places for the shopper's last three departments where the head's
   * ranking leaves one of them out (`shareAmongInterests`): false where the maintenance job found,
   * on its held-out weeks, that the places cost this shop's lists more than 1% (a grocer, whose
   * baskets go through many aisles). A page's own `keepLatestDepartments` wins. Default true.
   */
  keepLatestDepartments?: boolean;
  /**
   * Whether `recommend()` shares the places of each department holding a quarter of the shopper's
   * recent clicks among its last three distinct clicks (`shareAmongClicks`): false where the
   * maintenance job found, on its held-out weeks, that this costs the shop's lists more than 1%.
   * A page's own `shareInterestClicks` wins. Default true.
   */
  shareInterestClicks?: boolean;
  /**
   * Half-life, in days, of the `recent` tensor (what each item sold lately). The stream job keeps
   * what sold lately with the same half-life and publishes it with the shop delta, so that a
   * browser's own popularity follows what sells now. Absent where the head ships no `recent`.
   */
  recentHalfLifeDays?: number;
  /** When `recent` stands (ISO 8601): the base's cut-off. The stream job starts from it there. */
  recentAt?: string;
  files: ManifestFile[];
  tensors: TensorSpec[];
  provenance: Record<string, unknown>;
  metrics?: Record<string, unknown>;
}

/** A loaded head model, not yet aligned to a catalogue. */
export interface HeadModel {
  manifest: HeadManifest;
  W: Float32Array;
  /** id → row in bias / residual. */
  itemIndex: Map<string, number>;
  bias: Float32Array;
  residual: Float32Array | null;
  /**
   * The residuals read a row at a time where `head.bin` holds them, with `withResidual: 'rows'`
   * (`residual` is then null): a page aligns them with its catalogue without decoding them all
   * first, and not at all where its item matrix is saved with them in it.
   */
  residualRows?: TensorRows | null;
  /**
   * The shop's transitions over items.txt rows (CSR), or null (also where they are read later).
   * With `halves`, `p` holds the probabilities' float16 bits where the file holds them so (read
   * through `halfTable`); otherwise, and always where the file holds float32, their numbers.
   */
  transitions: { ptr: Float32Array; to: Float32Array; p: Float32Array | Uint16Array } | null;
  /**
   * With `transitions: 'later'`: the transitions, read (their file downloaded, where they have one
   * of their own: `transitions.bin`) and checked when first asked for, once. A page ranks its
   * first list without them and needs them only once the shopper has clicked.
   */
  transitionsLater?: () => Promise<HeadModel['transitions']>;
  /**
   * With `transitions: 'later'`: how many ms their files would take to download at the rate the
   * base's other files came (their bytes by the manifest), from when they are asked for.
   */
  transitionsEtaMs?: number;
  /** What each row's item sold in the days before the base was made (see `BaseParams.recent`), or null. */
  recent: Float32Array | null;
}

/**
 * Loads and verifies a head folder. `withResidual: false` leaves the per-item residuals out (their
 * shape is still checked): N × d numbers, copied twice as they are decoded, that a caller which
 * reads only the biases (the shop's stream job) need not hold; `'rows'` reads them a row at a
 * time where the file holds them (`residualRows`), for a caller that aligns them. With a
 * `slicer`, the work after the download (decoding the tensors, reading items.txt, the checks, the
 * id map) goes in slices, with other work between them: a base that knows 100,000 items is some
 * 60 MB, whose reading at once held a page's main thread for about 150 ms.
 */
export async function loadHeadModel(
  fetcher: Fetcher,
  base: string,
  options: { withResidual?: boolean | 'rows'; slicer?: Slicer; manifest?: HeadManifest; transitions?: 'later'; halves?: boolean } = {},
): Promise<HeadModel> {
  const slicer = options.slicer ?? null;
  const manifestUrl = joinLocation(base, 'manifest.json');
  const manifest = options.manifest ?? (await loadHeadManifest(fetcher, base));
  // With `transitions: 'later'`, the files that hold the transitions alone (`transitions.bin`)
  // wait until `transitionsLater` asks for them; the others download together.
  const onlyTransitions = (path: string): boolean => {
    const held = manifest.tensors.filter((t) => t.file === path);
    return held.length > 0 && held.every((t) => TRANSITION_TENSORS.includes(t.name));
  };
  const waiting = options.transitions === 'later' ? manifest.files.filter((f) => onlyTransitions(f.path)) : [];
  const now = manifest.files.filter((f) => !waiting.includes(f));
  const fetchedFrom = clock();
  const got = await Promise.all(now.map((f) => fetchVerified(fetcher, base, f)));
  // How long the files left for later would take at the rate these came (from the network or a
  // cache, as they will): what a page waiting for them can expect.
  const fetchedMs = Math.max(1, clock() - fetchedFrom);
  const nowBytes = now.reduce((sum, f) => sum + f.bytes, 0);
  const laterBytes = waiting.reduce((sum, f) => sum + f.bytes, 0);
  const laterEtaMs = waiting.length > 0 && nowBytes > 0 ? (laterBytes * fetchedMs) / nowBytes : undefined;
  const buffers = new Map<string, ArrayBuffer>(now.map((f, i) => [f.path, got[i]!]));
  const fileOf = (spec: TensorSpec): ArrayBuffer => {
    const buf = buffers.get(spec.file);
    if (!buf)
      throw new ModelLoadError(
        joinLocation(base, spec.file),
        `Head tensor ${spec.name} refers to ${spec.file}, which the manifest does not list.`,
      );
    return buf;
  };
  const tensor = async (name: string): Promise<Float32Array | null> => {
    const spec = manifest.tensors.find((t) => t.name === name);
    if (!spec) return null;
    const buf = fileOf(spec);
    return slicer ? await decodeTensorSliced(buf, spec, slicer) : decodeTensor(buf, spec);
  };
  // `run` over [0, n): in the slicer's ranges where there is one, else at once.
  const ranges = async (n: number, run: (from: number, to: number) => void): Promise<void> => {
    if (slicer) await inRanges(n, slicer, run, CHECK_STEP);
    else run(0, n);
  };
  // Whether every entry of `a` passes.
  const all = async (a: Float32Array, ok: (x: number) => boolean): Promise<boolean> => {
    let good = true;
    await ranges(a.length, (from, to) => {
      for (let k = from; good && k < to; k++) good = ok(a[k]!);
    });
    return good;
  };
  const d = manifest.dims;
  const W = await tensor('W');
  if (!W || W.length !== d * d) throw new ModelLoadError(manifestUrl, `Head tensor W must have shape [${d},${d}].`);
  const ids = buffers.has('items.txt') ? await lines(buffers.get('items.txt')!, slicer) : [];
  if (ids.length !== manifest.items) {
    throw new ModelLoadError(
      joinLocation(base, 'items.txt'),
      `items.txt lists ${ids.length} ids, manifest says ${manifest.items}. Redeploy the head.`,
    );
  }
  const bias = (await tensor('bias')) ?? new Float32Array(ids.length);
  const residualSpec = manifest.tensors.find((t) => t.name === 'residual');
  const residual = options.withResidual === false || options.withResidual === 'rows' ? null : await tensor('residual');
  const residualRows = options.withResidual === 'rows' && residualSpec ? tensorRows(fileOf(residualSpec), residualSpec) : null;
  const recent = await tensor('recent');
  if (
    bias.length !== ids.length ||
    (residualSpec && residualSpec.shape.reduce((a, b) => a * b, 1) !== ids.length * d) ||
    (residualRows && (residualRows.rows !== ids.length || residualRows.cols !== d)) ||
    (recent && (recent.length !== ids.length || !(await all(recent, (x) => Number.isFinite(x) && x >= 0))))
  ) {
    throw new ModelLoadError(manifestUrl, 'Head per-item tensors do not match items.txt. Redeploy the head.');
  }
  // The transitions, checked: read with the rest, or when `transitionsLater` asks.
  const readTransitions = async (): Promise<HeadModel['transitions']> => {
    const ptr = await tensor('transPtr');
    const to = await tensor('transTo');
    // Kept as float16 bits where asked: half the memory of their numbers, the same numbers read.
    const pSpec = manifest.tensors.find((t) => t.name === 'transP');
    const p = options.halves && pSpec?.dtype === 'float16' ? halfBits(fileOf(pSpec), pSpec) : await tensor('transP');
    if (!ptr && !to && !p) return null;
    const nnz = ptr?.[ids.length];
    if (
      !ptr ||
      !to ||
      !p ||
      ptr.length !== ids.length + 1 ||
      to.length !== p.length ||
      nnz !== to.length ||
      !(await all(to, (j) => j >= 0 && j < ids.length))
    ) {
      throw new ModelLoadError(manifestUrl, 'Head transition tensors (transPtr, transTo, transP) do not fit items.txt. Redeploy the head.');
    }
    return { ptr, to, p };
  };
  let later: Promise<HeadModel['transitions']> | null = null;
  const transitionsLater = (): Promise<HeadModel['transitions']> =>
    (later ??= (async () => {
      const files = await Promise.all(waiting.map((f) => fetchVerified(fetcher, base, f)));
      waiting.forEach((f, i) => buffers.set(f.path, files[i]!));
      try {
        return await readTransitions();
      } finally {
        // The files' bytes are let go once read (the residuals' rows keep their own file).
        buffers.clear();
      }
    })());
  const transitions = options.transitions === 'later' ? null : await readTransitions();
  const itemIndex = new Map<string, number>();
  await ranges(ids.length, (from, to) => {
    for (let i = from; i < to; i++) itemIndex.set(ids[i]!, i);
  });
  return {
    manifest,
    W,
    itemIndex,
    bias,
    residual,
    ...(residualRows ? { residualRows } : {}),
    transitions,
    ...(options.transitions === 'later' ? { transitionsLater } : {}),
    ...(laterEtaMs !== undefined ? { transitionsEtaMs: laterEtaMs } : {}),
    recent,
  };
}

/** The tensors of a base's transitions (see {@link HeadModel.transitionsLater}). */
const TRANSITION_TENSORS = ['transPtr', 'transTo', 'transP'];

/**
 * A head folder's manifest, whose format is checked (the rest is checked as its files are read,
 * by {@link loadHeadModel}, which takes it as `manifest`): a page that keeps its base aligned with
 * the catalogue reads this alone, to tell whether what it kept is of this base.
 */
export async function loadHeadManifest(fetcher: Fetcher, base: string): Promise<HeadManifest> {
  const manifestUrl = joinLocation(base, 'manifest.json');
  const manifest = await fetchJson<HeadManifest>(fetcher, manifestUrl);
  refuseLaterFormat(manifest, 'clickwise-head', manifestUrl, 'a head');
  if (manifest.format !== 'clickwise-head' || manifest.formatVersion !== 1) {
    throw new ModelLoadError(
      manifestUrl,
      `${manifestUrl} is not a Clickwise head manifest of format version 1. Point modelUrl at the models/ folder.`,
    );
  }
  if (
    !Array.isArray(manifest.files) ||
    !Array.isArray(manifest.tensors) ||
    !Number.isInteger(manifest.dims) ||
    !Number.isInteger(manifest.items)
  ) {
    throw new ModelLoadError(manifestUrl, `${manifestUrl} lacks its files, tensors, dims or item count. Redeploy the head.`);
  }
  const unread = manifest.tensors.find((t) => !knownDtype(String((t as { dtype?: unknown } | null)?.dtype)));
  if (unread && typeof unread.dtype === 'string') {
    throw laterVersionError(manifestUrl, `${manifestUrl} holds tensor ${unread.name} of dtype ${JSON.stringify(unread.dtype)}`);
  }
  const mix = manifest.mix;
  // More weights than this version's features: a later version's head.
  if (Array.isArray(mix) && mix.length > MIX_LENGTH && mix.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw laterVersionError(manifestUrl, `${manifestUrl} has ${mix.length} feature weights (mix), where this version has ${MIX_LENGTH}`);
  }
  // All the weights, or as many as a head of an earlier version has: those it lacks are 0.
  if (
    mix !== undefined &&
    !(
      Array.isArray(mix) &&
      [...EARLIER_MIX_LENGTHS, MIX_LENGTH].includes(mix.length) &&
      mix.every((x) => typeof x === 'number' && Number.isFinite(x))
    )
  ) {
    throw new ModelLoadError(
      manifestUrl,
      `Head manifest field mix must be ${EARLIER_MIX_LENGTHS.join(', ')} or ${MIX_LENGTH} finite numbers. Redeploy the head.`,
    );
  }
  const fresh = manifest.newItemBias;
  if (fresh !== undefined && !(typeof fresh === 'number' && Number.isFinite(fresh))) {
    throw new ModelLoadError(manifestUrl, 'Head manifest field newItemBias must be a finite number. Redeploy the head.');
  }
  for (const field of ['shopDeltaWeight', 'shopDeltaWeightNew'] as const) {
    const trust = manifest[field];
    if (trust !== undefined && !(typeof trust === 'number' && Number.isFinite(trust) && trust >= 0)) {
      throw new ModelLoadError(manifestUrl, `Head manifest field ${field} must be a finite number ≥ 0. Redeploy the head.`);
    }
  }
  for (const field of ['newSlots', 'launchSlots'] as const) {
    const slots = manifest[field];
    if (slots !== undefined && !(typeof slots === 'number' && Number.isInteger(slots) && slots >= 0 && slots <= 10)) {
      throw new ModelLoadError(manifestUrl, `Head manifest field ${field} must be a whole number from 0 to 10. Redeploy the head.`);
    }
  }
  const life = manifest.recentHalfLifeDays;
  if (life !== undefined && !(typeof life === 'number' && Number.isFinite(life) && life > 0)) {
    throw new ModelLoadError(manifestUrl, 'Head manifest field recentHalfLifeDays must be a finite number of days > 0. Redeploy the head.');
  }
  if (manifest.recentAt !== undefined && !(typeof manifest.recentAt === 'string' && Number.isFinite(Date.parse(manifest.recentAt)))) {
    throw new ModelLoadError(manifestUrl, 'Head manifest field recentAt must be an ISO 8601 time. Redeploy the head.');
  }
  return manifest;
}

/** Entries checked (or ids mapped) between two looks at the slice's time. */
const CHECK_STEP = 8192;

/** Entries of a saved base checked between two looks at the slice's time (each a compare or two). */
const SAVED_STEP = 1 << 16;

/** Bytes of items.txt decoded between two looks at the slice's time. */
const LINES_PIECE = 1 << 18;

/** The non-empty lines of a UTF-8 file, decoded a piece at a time (each piece ends at a line's end). */
async function lines(buf: ArrayBuffer, slicer: Slicer | null): Promise<string[]> {
  const bytes = new Uint8Array(buf);
  const decoder = new TextDecoder();
  const out: string[] = [];
  for (let from = 0; from < bytes.length;) {
    let to = Math.min(bytes.length, from + LINES_PIECE);
    if (to < bytes.length) {
      const nl = bytes.indexOf(10, to - 1);
      to = nl < 0 ? bytes.length : nl + 1;
    }
    for (const line of decoder.decode(bytes.subarray(from, to), { stream: true }).split('\n')) if (line.length > 0) out.push(line);
    from = to;
    if (slicer) await slicer.maybeYield();
  }
  return out;
}

/**
 * The half-life and time of what a head ships as sold lately, where it ships the figures with
 * both (the stream job then keeps them up to date, and pages fetch its delta for them); else null.
 */
export function recentFiguresOf(head: Pick<HeadModel, 'manifest'>): { halfLifeDays: number; at: number } | null {
  const { recentHalfLifeDays: halfLifeDays, recentAt, tensors } = head.manifest;
  const ships = tensors.some((t) => t.name === 'recent');
  return ships && halfLifeDays !== undefined && recentAt !== undefined ? { halfLifeDays, at: Date.parse(recentAt) } : null;
}

/** The sha256 of a base's `items.txt` as its manifest names it (`baseItems`), where it does. */
export function itemListSha(head: Pick<HeadModel, 'manifest'>): { baseItems?: string } {
  const sha = head.manifest.files.find((f) => f.path === 'items.txt')?.sha256;
  return sha ? { baseItems: sha } : {};
}

/** A catalogue's ids without an array of them: its size and the id at each index. */
export interface IdLookup {
  readonly size: number;
  id(i: number): string;
}

/** A catalogue's ids: an array, or a lookup (a catalogue of a million items need not make the array). */
export type IdSource = readonly string[] | IdLookup;

/**
 * Aligns a head model's per-item parameters with a catalogue (items the logs lack get 0). The
 * head's items are looked up in the catalogue (`indexOf`, when the caller has the catalogue's id
 * map), not the other way round: a base knows thousands of items, a catalogue may hold millions.
 * `withResidual: false` leaves the residuals out (N × d floats a caller may not need), and
 * `withTransitions: false` the transitions (their re-indexing, one pass over the table).
 */
export function alignBase(
  head: HeadModel,
  ids: IdSource,
  options: { indexOf?: (id: string) => number | undefined; withResidual?: boolean; withTransitions?: boolean } = {},
): AlignedBase {
  return runSteps(alignBaseSteps(head, ids, options));
}

/**
 * A base aligned with a catalogue: `known` is 1 for the catalogue's items the base knows, and
 * `rowIndex` gives each of the base's rows (its lines of `items.txt`) its item's catalogue index,
 * or -1 where the catalogue lacks it: a shop delta names the items the base knows by row.
 */
export type AlignedBase = BaseParams & { known: Uint8Array; rowIndex: Int32Array };

/**
 * {@link alignBase} in steps (a yield after every `itemsPerStep` of the base's items and of its
 * transitions' rows), for a caller that runs other work between them: a base of a million items.
 */
export function* alignBaseSteps(
  head: HeadModel,
  ids: IdSource,
  options: { indexOf?: (id: string) => number | undefined; withResidual?: boolean; withTransitions?: boolean } = {},
  itemsPerStep = ITEMS_PER_STEP,
): Generator<void, AlignedBase> {
  const d = head.manifest.dims;
  const list = Array.isArray(ids) ? (ids as readonly string[]) : null;
  const n = list ? list.length : (ids as IdLookup).size;
  const idAt = list ? (i: number): string => list[i]! : (i: number): string => (ids as IdLookup).id(i);
  // Items the base does not know start at the shop's new-item bias (0 where it has none). Arrays
  // of n are written only where needed: the first write to each page of a fresh array is most of
  // their cost (about 15 ms for 4 MB at 1,000,000 items).
  const newItemBias = head.manifest.newItemBias ?? 0;
  const bias = new Float32Array(n);
  if (newItemBias !== 0) bias.fill(newItemBias);
  const rowsOf = head.residualRows ?? null;
  const residual = (head.residual || rowsOf) && options.withResidual !== false ? new Float32Array(n * d) : null;
  const known = new Uint8Array(n);
  const recent = head.recent ? new Map<number, number>() : null;
  const catIndex = new Int32Array(head.itemIndex.size).fill(-1);
  let indexOf = options.indexOf;
  if (!indexOf) {
    const map = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      map.set(idAt(i), i);
      if ((i + 1) % itemsPerStep === 0) yield;
    }
    indexOf = (id) => map.get(id);
  }
  let done = 0;
  for (const [id, j] of head.itemIndex) {
    if (++done % itemsPerStep === 0) yield;
    const i = indexOf(id);
    if (i === undefined || idAt(i) !== id) continue;
    known[i] = 1;
    catIndex[j] = i;
    bias[i] = head.bias[j]!;
    if (recent && head.recent![j]! > 0) recent.set(i, head.recent![j]!);
    if (residual && head.residual) residual.set(head.residual.subarray(j * d, (j + 1) * d), i * d);
    else if (residual && rowsOf) rowsOf.row(j, residual, i * d);
  }
  // Transitions re-indexed to the catalogue.
  const T = options.withTransitions === false ? null : head.transitions;
  const transitions = T ? yield* alignTransitionsSteps(T, catIndex, n, itemsPerStep) : null;
  return { ...manifestParams(head.manifest), W: head.W, bias, residual, transitions, recent, known, rowIndex: catIndex };
}

/**
 * A base's transitions (over its rows) re-indexed to a catalogue of `n` items, whose item of base
 * row j is `rowIndex[j]` (-1: none); successors the catalogue lacks are left out. Only the items
 * that have successors get a row (`rows`), in catalogue order. In steps as {@link alignBaseSteps}
 * (which runs this), or apart from the rest, once the transitions are read (`transitionsLater`).
 */
export function* alignTransitionsSteps(
  T: NonNullable<HeadModel['transitions']>,
  rowIndex: Int32Array,
  n: number,
  itemsPerStep = ITEMS_PER_STEP,
): Generator<void, NonNullable<BaseParams['transitions']>> {
  // The base's row of catalogue item i, plus one (0: the base does not know it), and the
  // catalogue's items that have successors in the base, put in catalogue order below.
  const rowOf = new Int32Array(n);
  let count = 0;
  const withRow = new Int32Array(rowIndex.length);
  for (let j = 0; j < rowIndex.length; j++) {
    const i = rowIndex[j]!;
    if (i >= 0) {
      rowOf[i] = j + 1;
      if (T.ptr[j + 1]! > T.ptr[j]!) withRow[count++] = i;
    }
    if ((j + 1) % itemsPerStep === 0) yield;
  }
  const order = withRow.subarray(0, count).sort();
  yield;
  // Written into arrays of the base's size (an upper bound): no growing lists of numbers. A step
  // ends after about `itemsPerStep` rows and entries, however the entries fall among the rows.
  const nnz = T.to.length;
  const to = new Int32Array(nnz);
  // The probabilities in the form they come in (float16 bits, or numbers), copied as they are.
  const p = T.p instanceof Uint16Array ? new Uint16Array(nnz) : new Float32Array(nnz);
  const rows = new Int32Array(count);
  const ptr = new Int32Array(count + 1);
  let e = 0;
  let r = 0;
  let work = 0;
  for (const i of order) {
    const j = rowOf[i]! - 1;
    const end = T.ptr[j + 1]!;
    for (let k = T.ptr[j]!; k < end; k++) {
      const c = rowIndex[T.to[k]!]!;
      if (c >= 0) {
        to[e] = c;
        p[e] = T.p[k]!;
        e++;
      }
    }
    if (e > ptr[r]!) {
      rows[r++] = i;
      ptr[r] = e;
    }
    work += 1 + end - T.ptr[j]!;
    if (work >= itemsPerStep) {
      work = 0;
      yield;
    }
  }
  return { ptr: ptr.subarray(0, r + 1), to: to.subarray(0, e), p: p.subarray(0, e), rows: rows.subarray(0, r) };
}

/** What a base's manifest alone gives its aligned form. */
function manifestParams(m: HeadManifest): Omit<BaseParams, 'W' | 'bias' | 'residual' | 'transitions' | 'recent' | 'known'> {
  return {
    ...(m.recentHalfLifeDays !== undefined ? { recentHalfLifeDays: m.recentHalfLifeDays } : {}),
    ...(m.recentAt !== undefined ? { recentAt: Date.parse(m.recentAt) } : {}),
    alpha: m.alpha,
    mix: m.mix ?? [],
    shopDeltaWeight: m.shopDeltaWeight ?? 1,
    shopDeltaWeightNew: m.shopDeltaWeightNew ?? m.shopDeltaWeight ?? 1,
    newSlots: m.newSlots ?? 0,
    launchSlots: m.launchSlots ?? 0,
  };
}

/**
 * What a load keeps of a base aligned with its catalogue, for the next load of the same catalogue
 * and model (with the item matrix: `PreparedMatrix.base`): its arrays as they are (the head never
 * changes them), by name, and the biases of the base's rows and what sold lately as arrays, made a
 * slice at a time. The residuals are not kept: the saved matrix holds them.
 */
export async function savedBaseOf(base: AlignedBase, slicer: Slicer): Promise<SavedBase> {
  const T = base.transitions;
  // The biases of the base's rows only: the catalogue's other items are at the new-item bias, and
  // `known` is where the rows are (a catalogue of a million items whose base knows a few thousand
  // keeps a few thousand biases, not a million).
  const { rowIndex } = base;
  const rowBias = new Float32Array(rowIndex.length);
  await inRanges(
    rowIndex.length,
    slicer,
    (from, to) => {
      for (let j = from; j < to; j++) if (rowIndex[j]! >= 0) rowBias[j] = base.bias[rowIndex[j]!]!;
    },
    CHECK_STEP,
  );
  const sold = base.recent;
  const recent = sold ? { items: new Int32Array(sold.size), values: new Float32Array(sold.size) } : null;
  if (sold && recent) {
    let k = 0;
    for (const [i, v] of sold) {
      recent.items[k] = i;
      recent.values[k++] = v;
      if (k % CHECK_STEP === 0) await slicer.maybeYield();
    }
  }
  return {
    W: base.W,
    rowIndex,
    rowBias,
    ...(T
      ? { transPtr: T.ptr, transTo: T.to, transP: T.p, transRows: T.rows ?? Int32Array.from({ length: T.ptr.length - 1 }, (_, i) => i) }
      : {}),
    ...(recent ? { recentItems: recent.items, recentValues: recent.values } : {}),
  };
}

/**
 * A base as {@link savedBaseOf} kept it, taken back for a catalogue of `n` items and the base whose
 * manifest is `manifest` (which gives what is not in the arrays: α, the mix, the delta's weights),
 * every array checked a slice at a time: its type and length, each index in range, each number
 * finite, the transitions' rows in order. Throws a RangeError on anything else (a damaged entry:
 * the base's files are then read and aligned as on a first visit).
 */
export async function alignedFromSaved(manifest: HeadManifest, saved: SavedBase, n: number, slicer: Slicer): Promise<AlignedBase> {
  const d = manifest.dims;
  const bad: (what: string) => never = (what) => {
    throw new RangeError(`a saved base's ${what} does not fit`);
  };
  const { W, rowIndex, rowBias, transPtr, transTo, transP, transRows, recentItems, recentValues } = saved;
  if (!(W instanceof Float32Array) || W.length !== d * d) bad('W');
  if (!(rowIndex instanceof Int32Array) || rowIndex.length !== manifest.items) bad('rows');
  if (!(rowBias instanceof Float32Array) || rowBias.length !== manifest.items) bad('biases');
  // The checks, a slice at a time, each a plain loop over one type of array (a callback per entry
  // made them some 80 ms of a later visit with a base of 3.8 million transitions).
  const ranges = (length: number, run: (from: number, to: number) => void): Promise<void> => inRanges(length, slicer, run, SAVED_STEP);
  // Every entry in [lo, hi).
  const within = (a: Int32Array, lo: number, hi: number, what: string): Promise<void> =>
    ranges(a.length, (from, to) => {
      for (let k = from; k < to; k++) if (!(a[k]! >= lo && a[k]! < hi)) bad(what);
    });
  // Every entry finite (and above 0 with `positive`).
  const finite = (a: Float32Array, what: string, positive = false): Promise<void> =>
    ranges(a.length, (from, to) => {
      for (let k = from; k < to; k++) if (a[k]! - a[k]! !== 0 || (positive && !(a[k]! > 0))) bad(what);
    });
  // Every entry above the one before (or not below it, without `strict`).
  const ascending = (a: Int32Array, strict: boolean, what: string): Promise<void> =>
    ranges(a.length, (from, to) => {
      for (let k = Math.max(1, from); k < to; k++) if (a[k]! < a[k - 1]! || (strict && a[k] === a[k - 1])) bad(what);
    });
  await finite(W, 'W');
  await finite(rowBias, 'biases');
  // As the alignment makes them: the new-item bias, then each known item's row's.
  const newItemBias = manifest.newItemBias ?? 0;
  const bias = new Float32Array(n);
  if (newItemBias !== 0) bias.fill(newItemBias);
  const known = new Uint8Array(n);
  // Each row names a catalogue item, or none (-1), and no two rows the same item.
  await within(rowIndex, -1, n, 'rows');
  await ranges(rowIndex.length, (from, to) => {
    for (let j = from; j < to; j++) {
      const i = rowIndex[j]!;
      if (i < 0) continue;
      if (known[i] === 1) bad('rows');
      known[i] = 1;
      bias[i] = rowBias[j]!;
    }
  });
  let transitions: BaseParams['transitions'] = null;
  if (transPtr || transTo || transP || transRows) {
    if (
      !(transPtr instanceof Int32Array) ||
      !(transTo instanceof Int32Array) ||
      !(transP instanceof Float32Array || transP instanceof Uint16Array) ||
      !(transRows instanceof Int32Array) ||
      transPtr.length !== transRows.length + 1 ||
      transTo.length !== transP.length ||
      transPtr[0] !== 0 ||
      transPtr[transRows.length] !== transTo.length
    ) {
      return bad('transitions');
    }
    await within(transRows, 0, n, 'transitions');
    await ascending(transRows, true, 'transitions');
    await ascending(transPtr, false, 'transitions');
    await within(transTo, 0, n, 'transitions');
    // Numbers finite; float16 bits (as a base's file holds them) not a NaN or ±∞ (exponent all ones).
    if (transP instanceof Float32Array) await finite(transP, 'transitions');
    else
      await ranges(transP.length, (from, to) => {
        for (let k = from; k < to; k++) if ((transP[k]! & 0x7c00) === 0x7c00) bad('transitions');
      });
    transitions = { ptr: transPtr, to: transTo, p: transP, rows: transRows };
  }
  let recent: Map<number, number> | null = null;
  if (recentItems || recentValues) {
    if (!(recentItems instanceof Int32Array) || !(recentValues instanceof Float32Array) || recentItems.length !== recentValues.length) {
      return bad('recent sales');
    }
    await within(recentItems, 0, n, 'recent sales');
    await finite(recentValues, 'recent sales', true);
    recent = new Map();
    for (let k = 0; k < recentItems.length; k++) {
      recent.set(recentItems[k]!, recentValues[k]!);
      if ((k & 8191) === 8191) await slicer.maybeYield();
    }
  }
  return { ...manifestParams(manifest), W, bias, residual: null, transitions, recent, known, rowIndex };
}

/** Loads `models/manifest.json`. */
export async function loadModelManifest(fetcher: Fetcher, modelUrl: string): Promise<ModelManifest> {
  const url = joinLocation(modelUrl, 'manifest.json');
  let m: ModelManifest;
  try {
    // Replaced in place by each maintenance run: a cached copy could name a head folder since removed.
    m = await fetchJson<ModelManifest>(fetcher, url, { revalidate: true });
  } catch (cause) {
    throw new ModelLoadError(
      url,
      `The model could not be loaded: ${cause instanceof Error ? cause.message : String(cause)} Set modelUrl / data-model to the folder that holds manifest.json (the build copies it to dist/models/).`,
      { cause },
    );
  }
  refuseLaterFormat(m, 'clickwise-model', url, 'a model folder');
  if (m.format !== 'clickwise-model' || m.formatVersion !== 1) {
    throw new ModelLoadError(
      url,
      `${url} is not a Clickwise model manifest (format "clickwise-model", formatVersion 1). Set modelUrl / data-model to the folder that holds models/manifest.json.`,
    );
  }
  // A base before that is not named whole is no base to fall back on (the one named loads as ever).
  const before = m.previous as unknown;
  if (
    before !== undefined &&
    !(
      typeof before === 'object' &&
      before !== null &&
      ['version', 'encoder', 'head'].every((k) => typeof (before as Record<string, unknown>)[k] === 'string')
    )
  ) {
    delete m.previous;
  }
  return m;
}
