/**
 * A small static file server: URL prefixes mapped to folders, with ETags and 304s, and where
 * asked text gzipped for a client that takes it (as a shop's host sends it). The Vite plugin
 * serves the package's model and WASM files with it in development; the benchmarks and tests
 * serve pages with it.
 */
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { gzipSync } from 'node:zlib';

/**
 * A slower network for the benchmarks: every response waits `rttMs` before its first byte, and
 * the bodies of all responses share one link of `bytesPerSecond` (Infinity: a round trip alone),
 * in the order their bytes are read from disk (as one connection's worth of bandwidth is shared).
 */
export class Link {
  private free = 0;
  constructor(
    readonly bytesPerSecond: number,
    readonly rttMs: number,
  ) {
    if (!(bytesPerSecond > 0) || !(rttMs >= 0)) throw new RangeError('a link needs bytes per second > 0 and a round trip ≥ 0 ms');
  }
  /** A stream that lets bytes through at the link's pace. */
  pace(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        const now = performance.now();
        this.free = Math.max(this.free, now) + (1000 * chunk.length) / this.bytesPerSecond;
        setTimeout(() => done(null, chunk), this.free - now);
      },
    });
  }
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.bin': 'application/octet-stream',
};

/**
 * The types a host gzips: text, and the WASM binary (which servers compress by its type). The
 * model's and vectors' `.bin` files go as they are, as a host sends `application/octet-stream`.
 */
const GZIPPED = new Set(['.html', '.js', '.json', '.wasm', '.css', '.svg', '.txt']);

/** How the files are sent. */
export interface ServeOptions {
  /**
   * Text gzipped for a client that says it takes gzip, as a shop's host sends it (default false:
   * every file as it is on disk).
   */
  gzip?: boolean;
}

/** Bytes sent to the link in one piece: as a file is read from disk, so the body streams. */
const PIECE = 64 * 1024;

/** A file's gzipped bytes, made once for its ETag: a file served again is not compressed again. */
const gzipped = new Map<string, { etag: string; bytes: Buffer }>();

function gzippedFile(file: string, etag: string): Buffer {
  const had = gzipped.get(file);
  if (had?.etag === etag) return had.bytes;
  const bytes = gzipSync(readFileSync(file));
  gzipped.set(file, { etag, bytes });
  return bytes;
}

/**
 * Gzips ahead the files under `folder` that a client taking gzip would be sent so: a benchmark's
 * first request then waits for the link alone, as a host's compressed copy is ready before.
 */
export function gzipAhead(folder: string): void {
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !GZIPPED.has(extname(entry.name))) continue;
    const file = join(entry.parentPath, entry.name);
    const st = statSync(file);
    gzippedFile(file, etagOf(st.size, st.mtimeMs, true));
  }
}

/** The ETag of a file of `size` bytes changed at `mtime`, in its gzipped form or as it is. */
function etagOf(size: number, mtime: number, coded: boolean): string {
  return `"${size.toString(36)}-${Math.floor(mtime).toString(36)}${coded ? '-gz' : ''}"`;
}

/** Whether the request's Accept-Encoding takes gzip (a q of 0 refuses it). */
function takesGzip(req: IncomingMessage): boolean {
  const accept = req.headers['accept-encoding'];
  if (typeof accept !== 'string') return false;
  return accept.split(',').some((part) => {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find((m) => m);
    return (name === 'gzip' || name === '*') && !(q && Number(q[1]) === 0);
  });
}

/** A request handler serving each prefix (longest first) from its folder, with ETags; 404 for the rest. */
export function serveStatic(
  mounts: Record<string, string>,
  link?: Link,
  options?: ServeOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = staticFiles(mounts, link, options);
  return (req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  };
}

/**
 * Serves a request from the mounted folders and returns true, or returns false (and sends
 * nothing) when no mounted file matches: a middleware then passes it on.
 */
export function staticFiles(
  mounts: Record<string, string>,
  link?: Link,
  options: ServeOptions = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const gzip = options.gzip ?? false;
  const entries = Object.entries(mounts).sort((a, b) => b[0].length - a[0].length);
  return (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const mount = entries.find(([prefix]) => path.startsWith(prefix));
    const rel = mount ? normalize(path.slice(mount[0].length)) : '';
    if (!mount || rel.startsWith('..')) return false;
    const file = join(mount[1], rel);
    let size: number;
    let mtime: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
      mtime = st.mtimeMs;
    } catch {
      return false;
    }
    const compressible = gzip && GZIPPED.has(extname(file));
    const coded = compressible && takesGzip(req);
    // Each form of the file has its own ETag, as a host gives them.
    const etag = etagOf(size, mtime, coded);
    const send = (): void => {
      const vary = compressible ? { vary: 'accept-encoding' } : {};
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag, ...vary }).end();
        return;
      }
      const bytes = coded ? gzippedFile(file, etag) : null;
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': bytes ? bytes.length : size,
        'cache-control': 'no-cache',
        etag,
        ...vary,
        ...(bytes ? { 'content-encoding': 'gzip' } : {}),
      });
      const body = bytes
        ? Readable.from(
            (function* () {
              for (let at = 0; at < bytes.length; at += PIECE) yield bytes.subarray(at, at + PIECE);
            })(),
          )
        : createReadStream(file);
      if (link && Number.isFinite(link.bytesPerSecond)) body.pipe(link.pace()).pipe(res);
      else body.pipe(res);
    };
    if (link && link.rttMs > 0) setTimeout(send, link.rttMs);
    else send();
    return true;
  };
}
