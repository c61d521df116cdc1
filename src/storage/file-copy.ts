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
 * Sync access handles exist in workers only; anywhere else, or where the file system is missing
 * or refused, nothing is kept and every call gives null. A handle is exclusive: a second tab that
 * writes or reads a copy at the same time simply does without it.
 */

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
}

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

/** The copy's file name: a 64-bit hash of the location (the header holds the location itself). */
export function copyName(location: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x9e3779b9;
  for (let i = 0; i < location.length; i++) {
    const c = location.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x85ebca6b);
    h2 ^= h2 >>> 13;
  }
  const hex = (x: number): string => (x >>> 0).toString(16).padStart(8, '0');
  return `catalog-${hex(h1)}${hex(h2)}.bin`;
}

async function openHandle(location: string, create: boolean): Promise<{ dir: DirectoryHandle; handle: SyncHandle } | null> {
  const dir = await copiesDir();
  if (!dir) return null;
  try {
    const file = await dir.getFileHandle(copyName(location), { create });
    if (typeof file.createSyncAccessHandle !== 'function') return null;
    return { dir, handle: await file.createSyncAccessHandle() };
  } catch {
    // No such copy, a page's thread (no sync handles), or another tab holds it.
    return null;
  }
}

/**
 * The copy of the file at `location` kept with `etag`, or null: none kept, kept with another
 * `ETag`, incomplete, or out of reach. The caller still checks its digest.
 */
export async function readCopy(location: string, etag: string): Promise<Uint8Array | null> {
  const opened = await openHandle(location, false);
  if (!opened) return null;
  const { handle } = opened;
  try {
    const size = handle.getSize();
    if (size < HEAD_BYTES) return null;
    const head = new Uint8Array(HEAD_BYTES);
    handle.read(head, { at: 0 });
    const view = new DataView(head.buffer);
    const headLength = view.getUint32(4, true);
    if (view.getUint32(0, true) !== MAGIC || headLength > HEAD_BYTES - 8) return null;
    let header: CopyHeader;
    try {
      header = JSON.parse(new TextDecoder().decode(head.subarray(8, 8 + headLength))) as CopyHeader;
    } catch {
      return null;
    }
    if (header.location !== location || header.etag !== etag || size !== HEAD_BYTES + header.length) return null;
    const bytes = new Uint8Array(header.length);
    if (handle.read(bytes, { at: HEAD_BYTES }) !== header.length) return null;
    return bytes;
  } catch {
    return null;
  } finally {
    handle.close();
  }
}

/** Keeps a copy as its bytes arrive: {@link startCopy}. */
export interface CopyWriter {
  /** Appends the next bytes of the file. */
  write(chunk: Uint8Array): void;
  /** The whole file is in: the copy becomes readable (its header is written last). */
  finish(): Promise<void>;
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
  let open = true;
  const close = (keep: boolean): void => {
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
  };
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
      if (!open) return;
      try {
        at += handle.write(chunk, { at });
      } catch {
        close(false);
      }
    },
    async finish() {
      if (!open) return;
      try {
        const json = new TextEncoder().encode(JSON.stringify({ location, etag, length: at - HEAD_BYTES } satisfies CopyHeader));
        if (json.length > HEAD_BYTES - 8) throw new Error('header too long');
        const head = new Uint8Array(8 + json.length);
        const view = new DataView(head.buffer);
        view.setUint32(0, MAGIC, true);
        view.setUint32(4, json.length, true);
        head.set(json, 8);
        handle.write(head, { at: 0 });
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

/** Drops the least recently written copies beyond {@link MAX_COPIES}, never `keep`. */
async function evict(dir: DirectoryHandle, keep: string): Promise<void> {
  try {
    const seen: { name: string; at: number }[] = [];
    for await (const name of dir.keys()) {
      if (name === keep || !name.startsWith('catalog-')) continue;
      const file = await dir.getFileHandle(name);
      seen.push({ name, at: (await file.getFile()).lastModified });
    }
    seen.sort((a, b) => b.at - a.at);
    for (const old of seen.slice(MAX_COPIES - 1)) await dir.removeEntry(old.name).catch(() => undefined);
  } catch {
    // another tab is at it; the next copy tries again
  }
}

/**
 * `body`, passing through unchanged, with every chunk appended to `copy` on the way; the copy
 * is finished when the body ends and dropped when it fails or is cancelled.
 */
export function copying(body: ReadableStream<Uint8Array>, copy: CopyWriter): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (r.done) {
          await copy.finish();
          controller.close();
        } else {
          copy.write(r.value);
          controller.enqueue(r.value);
        }
      } catch (err) {
        copy.abort();
        controller.error(err);
      }
    },
    cancel(reason) {
      copy.abort();
      return reader.cancel(reason);
    },
  });
}
