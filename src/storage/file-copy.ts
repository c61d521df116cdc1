/**
 * A copy of the catalogue file in the origin's private file system (OPFS), kept by the
 * catalogue's worker as it downloads the file, with the server's strong `ETag` for it.
 *
 * A later visit must know that the saved entry (`prepared-cache.ts`) is still for the shop's
 * file. Reading the file's body again from the HTTP cache costs about as much as the entry itself
 * (the browser moves both between its processes at one rate). Where the response's headers carry
 * the strong `ETag` the copy was kept with, the server says the bytes are the same (RFC 9110
 * §8.8.1): the worker reads the copy instead, through a sync access handle (a plain file read,
 * several times faster than either), and cancels the body. The copy's own digest must still equal
 * the saved entry's, so a damaged copy costs a download, never a wrong catalogue. A response
 * without an `ETag`, or with a weak one, is read as before.
 *
 * Beside it the worker keeps a copy of the prepared cache's entry for the file (its catalogue
 * part and item matrix, one file, `.entry`), tagged with the entry's generation: a later visit
 * whose saved entry still has that generation reads the copy, not the entry's pieces from
 * IndexedDB, which cost as much again. The copy is made by the first visit that reads the entry
 * from IndexedDB, part by part before each is handed to the page.
 *
 * Where the page compacts a large catalogue once ready (`compactCatalogAbove`), it keeps the
 * compacted text too (`.text`, the items' texts deflated in blocks, about a quarter of the file),
 * with the digest of the file it was made from: a later visit's worker that reads both other
 * copies sends the page that text instead of the file's copy (145 MB against 33 MB at a million
 * items), and the page compacts nothing again.
 *
 * Sync access handles exist in workers only; anywhere else, or where the file system is missing
 * or refused, nothing is kept and every call gives null. A handle is exclusive: a second tab that
 * writes or reads a copy at the same time simply does without it.
 */

import type { PreparedCatalog, PreparedMatrix, SavedBase, SavedEntry, StreamDigest } from '../core/prepared.js';
import type { CompactText } from '../core/catalog.js';
import { idTextBytes, idTextBytesSliced, utf16Length } from '../core/id-text.js';
import { asciiTextOf } from '../core/id-table.js';
import type { Kind, Numbers } from '../core/typed-arrays.js';
import { KINDS, kindOf } from '../core/typed-arrays.js';

/** The parts of the file system's interfaces used here (sync access handles are not in the DOM's types). */
interface SyncHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
interface FileHandle {
  createSyncAccessHandle(): Promise<SyncHandle>;
  getFile(): Promise<{ lastModified: number }>;
}
interface DirectoryHandle {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterable<string>;
}

/** The folder of copies in the origin's private file system. */
export const COPIES_DIR = 'clickwise-catalogs';

/** Copies kept (as the prepared cache keeps entries for three catalogue locations). */
export const MAX_COPIES = 3;

/** Bytes before the file's own: a magic word, the header's length, the header (JSON), zeros. */
export const HEAD_BYTES = 4096;
const MAGIC = 0x31435743; // "CWC1", little-endian

/** What a kept copy says of itself. */
interface CopyHeader {
  location: string;
  etag: string;
  length: number;
  /**
   * The digest of its bytes (`digestBytes`), once a later visit has made it and found it to be
   * the saved entry's: the visits after it compare it instead of digesting the bytes again.
   */
  digest?: string;
}

/** A copy's header as its first {@link HEAD_BYTES} hold it, or null where they hold none. */
function headerIn(handle: SyncHandle): CopyHeader | null {
  const head = new Uint8Array(HEAD_BYTES);
  if (handle.getSize() < HEAD_BYTES || handle.read(head, { at: 0 }) !== HEAD_BYTES) return null;
  const view = new DataView(head.buffer);
  const headLength = view.getUint32(4, true);
  if (view.getUint32(0, true) !== MAGIC || headLength > HEAD_BYTES - 8) return null;
  try {
    return JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + headLength))) as CopyHeader;
  } catch {
    return null;
  }
}

/** Writes a copy's header: the copy reads as whole from then on. */
function writeHeader(handle: SyncHandle, header: CopyHeader): void {
  const json = new TextEncoder().encode(JSON.stringify(header));
  if (json.length > HEAD_BYTES - 8) throw new Error('header too long');
  const head = new Uint8Array(8 + json.length);
  const view = new DataView(head.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, json.length, true);
  head.set(json, 8);
  handle.write(head, { at: 0 });
}

/** Whether `header` is a whole copy of the file at `location` sent with `etag`. */
const holds = (handle: SyncHandle, header: CopyHeader | null, location: string, etag: string): header is CopyHeader =>
  header !== null && header.location === location && header.etag === etag && handle.getSize() === HEAD_BYTES + header.length;

/** The response's `ETag` where it is strong (a weak one does not promise the same bytes), else null. */
export function strongEtag(res: Response): string | null {
  const etag = res.headers.get('etag');
  return etag && etag.startsWith('"') && etag.endsWith('"') && etag.length >= 2 ? etag : null;
}

/** The folder of copies, or null where there is no private file system to keep them in. */
async function copiesDir(): Promise<DirectoryHandle | null> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<unknown> } } }).navigator?.storage;
  if (typeof storage?.getDirectory !== 'function') return null;
  try {
    const root = (await storage.getDirectory()) as DirectoryHandle;
    return await root.getDirectoryHandle(COPIES_DIR, { create: true });
  } catch {
    return null;
  }
}

/** A copy's file name: a 64-bit hash of the location (the header holds the location itself), then `suffix` (the file's copy, or the entry's, {@link ENTRY_SUFFIX}). */
export function copyName(location: string, suffix = '.bin'): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  for (let i = 0; i < location.length; i++) {
    const c = location.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x85ebca6b);
    h2 ^= h2 >>> 13;
  }
  const hex = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
  return `catalog-${hex(h1)}${hex(h2)}${suffix}`;
}

async function openHandle(
  location: string,
  create: boolean,
  suffix = '.bin',
): Promise<{ dir: DirectoryHandle; handle: SyncHandle } | null> {
  const dir = await copiesDir();
  if (!dir) return null;
  try {
    const file = await dir.getFileHandle(copyName(location, suffix), { create });
    if (typeof file.createSyncAccessHandle !== 'function') return null;
    const handle = await file.createSyncAccessHandle();
    // An older browser's handle gives promises (its first version of the API): not used.
    if (typeof handle.getSize() !== 'number') {
      void Promise.resolve(handle.close()).catch(() => undefined);
      return null;
    }
    return { dir, handle };
  } catch {
    // No such copy, a page's thread (no sync handles), or another tab holds it.
    return null;
  }
}

/** A kept copy, opened: {@link openCopy}. */
export interface OpenCopy {
  /** The digest noted in it (`finish`, {@link noteDigest}), or null where none was. */
  digest: string | null;
  /** Its bytes, or null where they cannot be read whole. */
  read(): Uint8Array | null;
  /** Lets other tabs at it again; `read` gives null after. */
  close(): void;
}

/**
 * How a writer ends with its handle, once: `close(true)` keeps what was written, `close(false)`
 * empties the file (it then reads as missing); `isOpen` until then.
 */
function closer(handle: SyncHandle): { close: (keep: boolean) => void; isOpen: () => boolean } {
  let open = true;
  return {
    close(keep) {
      if (!open) return;
      open = false;
      try {
        if (!keep) handle.truncate(0);
        handle.flush();
      } catch {
        // nothing kept
      } finally {
        handle.close();
      }
    },
    isOpen: () => open,
  };
}

/** A reader's close of `handle`: once, however often it is called; `isOpen` until then. */
function closingOnce(handle: SyncHandle): { close: () => void; isOpen: () => boolean } {
  let open = true;
  return {
    close() {
      if (open) handle.close();
      open = false;
    },
    isOpen: () => open,
  };
}

/**
 * The copy of the file at `location` kept with `etag`, opened (its header read, its bytes not
 * yet), or null: none kept, kept with another `ETag`, incomplete, or out of reach (another tab
 * holds it). The caller closes it.
 */
export async function openCopy(location: string, etag: string): Promise<OpenCopy | null> {
  const opened = await openHandle(location, false);
  if (!opened) return null;
  const { handle } = opened;
  const { close, isOpen } = closingOnce(handle);
  try {
    const header = headerIn(handle);
    if (!holds(handle, header, location, etag)) {
      close();
      return null;
    }
    return {
      digest: header.digest ?? null,
      read() {
        if (!isOpen()) return null;
        try {
          const bytes = new Uint8Array(header.length);
          return handle.read(bytes, { at: HEAD_BYTES }) === header.length ? bytes : null;
        } catch {
          return null;
        }
      },
      close,
    };
  } catch {
    close();
    return null;
  }
}

/**
 * Notes in the copy of `location` kept with `etag` the digest of its bytes, made by the caller and
 * found to be the saved entry's. Nothing where the copy is not that one or cannot be reached.
 */
export async function noteDigest(location: string, etag: string, digest: string): Promise<void> {
  const opened = await openHandle(location, false);
  if (!opened) return;
  const { handle } = opened;
  try {
    const header = headerIn(handle);
    if (holds(handle, header, location, etag) && header.digest !== digest) {
      writeHeader(handle, { ...header, digest });
      handle.flush();
    }
  } catch {
    // the next visit digests the bytes again
  } finally {
    handle.close();
  }
}

/** Keeps a copy as its bytes arrive: {@link startCopy}. */
export interface CopyWriter {
  /** Appends the next bytes of the file. */
  write(chunk: Uint8Array): void;
  /**
   * The whole file is in: the copy becomes readable (its header is written last), with the
   * file's digest where the caller made it as the bytes came.
   */
  finish(digest?: string | null): Promise<void>;
  /** The download failed: nothing is kept. */
  abort(): void;
}

/**
 * Starts a copy of the file at `location`, which the server sent with `etag`, replacing any
 * copy kept before; null where none can be kept. A failed write stops the copy, never the
 * download.
 */
export async function startCopy(location: string, etag: string): Promise<CopyWriter | null> {
  const opened = await openHandle(location, true);
  if (!opened) return null;
  const { dir, handle } = opened;
  let at = HEAD_BYTES;
  const { close, isOpen: open } = closer(handle);
  try {
    // Until the header is written, the copy reads as incomplete.
    handle.truncate(0);
    handle.truncate(HEAD_BYTES);
  } catch {
    close(false);
    return null;
  }
  return {
    write(chunk) {
      if (!open()) return;
      try {
        at += handle.write(chunk, { at });
      } catch {
        close(false);
      }
    },
    async finish(digest) {
      if (!open()) return;
      try {
        writeHeader(handle, { location, etag, length: at - HEAD_BYTES, ...(digest ? { digest } : {}) });
        close(true);
      } catch {
        close(false);
        return;
      }
      await evict(dir, copyName(location));
    },
    abort() {
      close(false);
    },
  };
}

/**
 * Drops the least recently written locations' copies (a file's and its entry's) beyond
 * {@link MAX_COPIES}, never those of `keep` (a copy's file name).
 */
async function evict(dir: DirectoryHandle, keep: string): Promise<void> {
  const stem = (name: string): string => name.replace(/\.[a-z]+$/, '');
  try {
    const latest = new Map<string, number>();
    for await (const name of dir.keys()) {
      if (!name.startsWith('catalog-') || stem(name) === stem(keep)) continue;
      const at = (await (await dir.getFileHandle(name)).getFile()).lastModified;
      latest.set(stem(name), Math.max(at, latest.get(stem(name)) ?? -Infinity));
    }
    const old = [...latest].sort((a, b) => b[1] - a[1]).slice(MAX_COPIES - 1);
    for (const [name] of old) {
      for (const suffix of SUFFIXES) await dir.removeEntry(name + suffix).catch(() => undefined);
    }
  } catch {
    // another tab is at it; the next copy tries again
  }
}

/**
 * `body`, passing through unchanged, with every chunk appended to `copy` and taken by `digester`
 * on the way (either may be null). At the body's end the copy is finished with the digest;
 * `digest` then resolves to it (null without a digester, or where the body fails or is
 * cancelled, which drops the copy).
 */
export function copying(
  body: ReadableStream<Uint8Array>,
  copy: CopyWriter | null,
  digester: StreamDigest | null,
): { body: ReadableStream<Uint8Array>; digest: Promise<string | null> } {
  const reader = body.getReader();
  let settle: (d: string | null) => void = () => undefined;
  const digest = new Promise<string | null>((r) => (settle = r));
  const passed = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (r.done) {
          const d = digester ? digester.digest() : null;
          await copy?.finish(d);
          settle(d);
          controller.close();
        } else {
          digester?.update(r.value);
          copy?.write(r.value);
          controller.enqueue(r.value);
        }
      } catch (err) {
        copy?.abort();
        settle(null);
        controller.error(err);
      }
    },
    cancel(reason) {
      copy?.abort();
      settle(null);
      return reader.cancel(reason);
    },
  });
  return { body: passed, digest };
}

/** The entry's copy beside the file's: `catalog-<hash>.entry`. */
export const ENTRY_SUFFIX = '.entry';
const ENTRY_MAGIC = 0x31455743; // "CWE1", little-endian
/** The compacted text's copy beside them: `catalog-<hash>.text` ({@link keepTextCopy}). */
export const TEXT_SUFFIX = '.text';
const TEXT_MAGIC = 0x31545743; // "CWT1", little-endian
/** Every kind of copy kept for a location, by suffix. */
const SUFFIXES = ['.bin', ENTRY_SUFFIX, TEXT_SUFFIX];
/** The first bytes of a copy made of parts: magic, zero, where its header starts (a float64), its length. */
const PARTS_PREFIX = 24;

/** Where one array of a copy made of parts lies. */
interface PartRef {
  kind: Kind;
  length: number;
  at: number;
}

/** One write of a copy: where, and what. */
interface Write {
  at: number;
  bytes: Uint8Array;
}

/**
 * Where each array of a copy made of parts (an entry's, a compacted text's) goes, in the order
 * they are placed, each on an 8-byte boundary after the prefix; the header (JSON, with where each
 * part lies) goes after the last, and the prefix, written last, says where it is.
 */
class PartsLayout {
  private at = PARTS_PREFIX;
  private readonly parts: Record<string, PartRef> = {};
  constructor(private readonly magic: number) {}

  place(name: string, a: Numbers): Write {
    this.at = Math.ceil(this.at / 8) * 8;
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.parts[name] = { kind: kindOf(a), length: a.length, at: this.at };
    const write = { at: this.at, bytes };
    this.at += bytes.length;
    return write;
  }

  /** The header's write (at the end) and the prefix's (at the start: write it last). */
  close(header: object): Write[] {
    const json = new TextEncoder().encode(JSON.stringify({ ...header, parts: this.parts }));
    const prefix = new DataView(new ArrayBuffer(PARTS_PREFIX));
    prefix.setUint32(0, this.magic, true);
    prefix.setFloat64(8, this.at, true);
    prefix.setUint32(16, json.length, true);
    return [
      { at: this.at, bytes: json },
      { at: 0, bytes: new Uint8Array(prefix.buffer) },
    ];
  }
}

/**
 * A copy made of parts ({@link PartsLayout}), opened through `handle`: its header, and each part
 * read as asked for (null where it is missing or cannot be read whole); null where the copy is
 * not whole or not of `magic`.
 */
function readParts<H extends object>(
  handle: SyncHandle,
  magic: number,
): { header: H & { parts: Record<string, PartRef> }; part(name: string): Numbers | null } | null {
  const size = handle.getSize();
  if (size < PARTS_PREFIX) return null;
  const prefix = new Uint8Array(PARTS_PREFIX);
  handle.read(prefix, { at: 0 });
  const view = new DataView(prefix.buffer);
  const headAt = view.getFloat64(8, true);
  const headLength = view.getUint32(16, true);
  if (view.getUint32(0, true) !== magic || headAt + headLength !== size) return null;
  const json = new Uint8Array(headLength);
  handle.read(json, { at: headAt });
  const header = JSON.parse(new TextDecoder().decode(json)) as H & { parts: Record<string, PartRef> };
  return {
    header,
    part(name) {
      const ref = header.parts[name];
      const Ctor = ref && KINDS[ref.kind];
      if (!ref || !Ctor) return null;
      const out = new Ctor(ref.length);
      const bytes = new Uint8Array(out.buffer);
      return handle.read(bytes, { at: ref.at }) === bytes.length ? out : null;
    },
  };
}

interface EntryHeader {
  location: string;
  generation: string;
  digest: string;
  skipped: string[];
  names: string[] | null;
  /** `base`: the names of the aligned base's arrays kept with the matrix (`PreparedMatrix.base`), where it is. */
  matrix: { modelKey: string; dims: number; embeddings: PreparedMatrix['embeddings']; base?: string[] } | null;
}

/** Where each part of an entry's copy goes, in the order they are written: the same for every writer. */
class EntryLayout {
  private readonly layout = new PartsLayout(ENTRY_MAGIC);
  private head: Omit<EntryHeader, 'matrix'> | null = null;
  constructor(
    private readonly location: string,
    private readonly generation: string,
  ) {}

  /**
   * The catalogue part's writes; null where its ids cannot be kept (a lone surrogate: UTF-8
   * cannot carry it). `text`: the ids' text as UTF-8, where the caller made it already.
   */
  catalog(c: PreparedCatalog, text: ArrayBuffer | Uint8Array | null = idTextBytes(c.ids.text)): Write[] | null {
    if (!text) return null;
    const place = (name: string, a: Numbers): Write => this.layout.place(name, a);
    const writes = [
      place('text', text instanceof Uint8Array ? text : new Uint8Array(text)),
      place('lengths', c.ids.lengths),
      place('marks', c.ids.marks),
      place('slots', c.ids.slots),
      place('bounds', c.bounds),
      place('spread', c.spread),
      ...(c.categories ? [place('categories', c.categories.codes)] : []),
    ];
    const names = c.categories ? c.categories.names : null;
    this.head = { location: this.location, generation: this.generation, digest: c.digest, skipped: c.skipped, names };
    return writes;
  }

  /** The matrix's writes, then the header's (at the end) and the prefix's (at the start, last). */
  finish(matrix: PreparedMatrix | null): Write[] {
    if (!this.head) throw new Error('the catalogue part comes first');
    const base = Object.entries(matrix?.base ?? {});
    const writes = matrix
      ? [
          this.layout.place('codes', matrix.codes),
          this.layout.place('scales', matrix.scales),
          ...base.map(([name, a]) => this.layout.place(`base.${name}`, a)),
        ]
      : [];
    const header: EntryHeader = {
      ...this.head,
      matrix: matrix
        ? {
            modelKey: matrix.modelKey,
            dims: matrix.dims,
            embeddings: matrix.embeddings,
            ...(matrix.base ? { base: base.map(([name]) => name) } : {}),
          }
        : null,
    };
    return [...writes, ...this.layout.close(header)];
  }
}

/** Writes an entry's copy part by part, in a worker: {@link startEntryCopy}. */
export interface EntryCopyWriter {
  /** Writes the entry's catalogue part; false where it cannot be kept (the copy is then dropped). */
  catalog(c: PreparedCatalog): boolean;
  /** Writes the item matrix (or none) and makes the copy readable. */
  finish(matrix: PreparedMatrix | null): Promise<void>;
  abort(): void;
}

/**
 * Starts the copy of the entry of `generation` saved for `location`, replacing any kept before;
 * null where none can be kept (sync access handles: a worker only). The copy reads as missing
 * until it is finished.
 */
export async function startEntryCopy(location: string, generation: string): Promise<EntryCopyWriter | null> {
  const opened = await openHandle(location, true, ENTRY_SUFFIX);
  if (!opened) return null;
  const { dir, handle } = opened;
  const layout = new EntryLayout(location, generation);
  let started = false;
  const { close, isOpen: open } = closer(handle);
  const apply = (writes: Write[]): void => {
    for (const w of writes) if (handle.write(w.bytes, { at: w.at }) !== w.bytes.length) throw new Error('short write');
  };
  try {
    // Until its prefix is written, last, the copy reads as incomplete.
    handle.truncate(0);
    handle.truncate(PARTS_PREFIX);
  } catch {
    close(false);
    return null;
  }
  return {
    catalog(c) {
      if (!open()) return false;
      try {
        const writes = layout.catalog(c);
        if (!writes) throw new Error('ids UTF-8 cannot carry');
        apply(writes);
        started = true;
        return true;
      } catch {
        close(false);
        return false;
      }
    },
    async finish(matrix) {
      if (!open() || !started) return close(false);
      try {
        apply(layout.finish(matrix));
        close(true);
      } catch {
        close(false);
        return;
      }
      await evict(dir, copyName(location));
    },
    abort() {
      close(false);
    },
  };
}

/** The async writer a page has (`createWritable`): written to a scratch file, in place when it closes. */
interface Writable {
  write(command: { type: 'write'; position: number; data: Uint8Array }): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}

/** Bytes a page hands the writer at a time, each after `pause`. */
const PAGE_PIECE = 1 << 20;

/**
 * Keeps a copy of the entry of `generation` just saved for `location`, from a page (through the
 * file system's async writer, in pieces of at most 1 MiB, each after `pause`), so that the next
 * visit's worker reads it rather than IndexedDB's pieces. Nothing where the page has no private
 * file system or async writer, or the entry's ids cannot be kept; a failure keeps nothing.
 */
export async function keepEntryCopy(
  location: string,
  generation: string,
  entry: { catalog: PreparedCatalog; matrix: PreparedMatrix | null },
  pause: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const dir = await copiesDir();
  if (!dir) return;
  const layout = new EntryLayout(location, generation);
  // The ids' text (7 million characters at a million items) is encoded a piece after each pause,
  // where it did not come as ASCII bytes (then those are its UTF-8 bytes).
  const ascii = asciiTextOf(entry.catalog.ids);
  const text = ascii ?? (await idTextBytesSliced(entry.catalog.ids.text, pause));
  const writes = layout.catalog(entry.catalog, text);
  if (!writes) return;
  writes.push(...layout.finish(entry.matrix));
  if (await writeFromPage(dir, copyName(location, ENTRY_SUFFIX), writes, pause)) await evict(dir, copyName(location));
}

/**
 * Writes `writes` to the file `name` from a page, through the file system's async writer (to a
 * scratch file, in place when it closes), in pieces of at most 1 MiB, each after `pause`. False,
 * and nothing kept, where the page has no async writer or a write fails.
 */
async function writeFromPage(dir: DirectoryHandle, name: string, writes: Write[], pause: () => Promise<void>): Promise<boolean> {
  let w: Writable | null = null;
  try {
    const file = (await dir.getFileHandle(name, { create: true })) as FileHandle & {
      createWritable?: () => Promise<Writable>;
    };
    if (typeof file.createWritable !== 'function') return false;
    w = await file.createWritable();
    for (const { at, bytes } of writes) {
      for (let from = 0; from < bytes.length; from += PAGE_PIECE) {
        await pause();
        await w.write({ type: 'write', position: at + from, data: bytes.subarray(from, from + PAGE_PIECE) });
      }
    }
    await w.close();
    return true;
  } catch {
    await w?.abort().catch(() => undefined);
    return false;
  }
}

/** What a compacted text's copy says of itself, beside where its parts lie. */
interface TextHeader {
  location: string;
  /** The digest of the file whose items the blocks hold. */
  digest: string;
  /** Their text's bytes, inflated (the blocks' `raw` summed). */
  textBytes: number;
}

/**
 * Keeps beside the copy of the file at `location` the catalogue's compacted text (`text`, made
 * from the file whose digest is `digest`), from a page as {@link keepEntryCopy} does: the next
 * visit's worker hands it to the page ({@link readTextCopy}) instead of the file's copy, about a
 * quarter of its bytes. Nothing where no copy of the file is kept (the worker would not get that
 * far), or where the page cannot write.
 */
export async function keepTextCopy(
  location: string,
  digest: string,
  text: CompactText,
  pause: () => Promise<void> = () => Promise.resolve(),
): Promise<boolean> {
  const dir = await copiesDir();
  if (!dir) return false;
  try {
    await dir.getFileHandle(copyName(location));
  } catch {
    return false; // no copy of the file
  }
  const layout = new PartsLayout(TEXT_MAGIC);
  const { packed, ends, counts, raw } = text.blocks;
  const writes = [
    layout.place('dictionary', text.dictionary),
    layout.place('ends', ends),
    layout.place('counts', counts),
    layout.place('raw', raw),
    layout.place('packed', packed),
  ];
  const header: TextHeader = { location, digest, textBytes: raw.reduce((sum, r) => sum + r, 0) };
  writes.push(...layout.close(header));
  return writeFromPage(dir, copyName(location, TEXT_SUFFIX), writes, pause);
}

/** A compacted text's copy, opened: {@link openTextCopy}. */
export interface OpenText {
  /** The digest of the file whose items its blocks hold. */
  digest: string;
  /** Their text's bytes, inflated (each item's text and a NUL). */
  textBytes: number;
  /** The text, read whole, or null where it cannot be; closes the copy. */
  read(): CompactText | null;
  close(): void;
}

/**
 * The compacted text kept for `location` ({@link keepTextCopy}), opened (its header read, its
 * parts not yet), or null: none kept, not whole, or out of reach (a page's thread: sync access
 * handles are a worker's; another tab holds it). Opening a copy costs tens of ms in a worker: a
 * later visit opens it while the entry is read, and reads it where its `digest` is the file's.
 * Whether its blocks hold the catalogue's items is for the page to check as it takes them.
 */
export async function openTextCopy(location: string): Promise<OpenText | null> {
  const opened = await openHandle(location, false, TEXT_SUFFIX);
  if (!opened) return null;
  const { handle } = opened;
  const { close, isOpen } = closingOnce(handle);
  try {
    const got = readParts<TextHeader>(handle, TEXT_MAGIC);
    const header = got?.header;
    if (!got || !header || header.location !== location || typeof header.digest !== 'string' || typeof header.textBytes !== 'number') {
      close();
      return null;
    }
    return {
      digest: header.digest,
      textBytes: header.textBytes,
      read() {
        if (!isOpen()) return null;
        try {
          const [dictionary, ends, counts, raw, packed] = ['dictionary', 'ends', 'counts', 'raw', 'packed'].map(got.part);
          if (!(dictionary instanceof Uint8Array) || !(packed instanceof Uint8Array)) return null;
          if (!(ends instanceof Uint32Array) || !(counts instanceof Uint32Array) || !(raw instanceof Uint32Array)) return null;
          return { blocks: { packed, ends, counts, raw }, dictionary };
        } catch {
          return null;
        } finally {
          close();
        }
      },
      close,
    };
  } catch {
    close();
    return null;
  }
}

/**
 * An entry read from its copy by {@link readEntryCopy} with its ids' text left as the copy holds
 * it: UTF-8 bytes (`idText`, in a buffer of their own), the ids' `text` empty, and the text's
 * length (`idTextLength`, in UTF-16 units, as `String.length` counts).
 */
export type EntryWithIdText = SavedEntry & { idText: ArrayBuffer; idTextLength: number };

/**
 * The copy of the entry of `generation` saved for `location`, as the prepared cache gives an
 * entry; null where none is kept for that generation, or it cannot be read whole. The ids' text
 * stays as the copy's UTF-8 bytes ({@link EntryWithIdText}): the catalogue's worker hands them on
 * to the page as they are, which decodes them, rather than decoding them here to encode them
 * again (13 to 46 ms at 100,000 items in the worker of a later visit, on the way to the page's
 * first list). Bytes that are not UTF-8 are refused as a decoder would refuse them.
 */
export async function readEntryCopy(location: string, generation: string): Promise<EntryWithIdText | null> {
  const opened = await openHandle(location, false, ENTRY_SUFFIX);
  if (!opened) return null;
  const { handle } = opened;
  try {
    const got = readParts<EntryHeader>(handle, ENTRY_MAGIC);
    if (!got) return null;
    const { header, part } = got;
    if (header.location !== location || header.generation !== generation) return null;
    const text = part('text') as Uint8Array | null;
    const [lengths, marks, slots, bounds, spread] = ['lengths', 'marks', 'slots', 'bounds', 'spread'].map(part);
    const codes = header.names ? part('categories') : null;
    if (!text || !lengths || !marks || !slots || !bounds || !spread || (header.names && !codes)) return null;
    const idTextLength = utf16Length(text);
    if (idTextLength === null) return null;
    const catalog: PreparedCatalog = {
      digest: header.digest,
      ids: {
        text: '',
        lengths: lengths as Uint8Array | Uint16Array | Uint32Array,
        marks: marks as Uint32Array,
        slots: slots as Int32Array,
      },
      bounds: bounds as Uint32Array,
      skipped: header.skipped,
      spread: spread as Int32Array,
      categories: header.names ? { names: header.names, codes: codes as Uint8Array | Uint16Array } : null,
    };
    const m = header.matrix;
    const mc = m ? part('codes') : null;
    const ms = m ? part('scales') : null;
    // A base part that cannot be read costs the base only: it is read from the model's files again.
    let base: SavedBase | null = m?.base ? {} : null;
    for (const name of m?.base ?? []) {
      const a = base && part(`base.${name}`);
      if (a && base) (base as Record<string, Numbers>)[name] = a;
      else base = null;
    }
    const matrix: PreparedMatrix | null =
      m && mc && ms
        ? {
            modelKey: m.modelKey,
            dims: m.dims,
            embeddings: m.embeddings,
            codes: mc as Int8Array,
            scales: ms as Float32Array,
            ...(base ? { base } : {}),
          }
        : null;
    if (m && !matrix) return null;
    return { catalog, matrix: Promise.resolve(matrix), idText: text.buffer as ArrayBuffer, idTextLength };
  } catch {
    return null;
  } finally {
    handle.close();
  }
}
