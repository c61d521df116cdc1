/**
 * A small static file server: URL prefixes mapped to folders, with ETags and 304s. The Vite
 * plugin serves the package's model and WASM files with it in development; the benchmarks and
 * tests serve pages with it.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { Transform } from 'node:stream';

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

/** A request handler serving each prefix (longest first) from its folder, with ETags; 404 for the rest. */
export function serveStatic(mounts: Record<string, string>, link?: Link): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = staticFiles(mounts, link);
  return (req, res) => {
    if (!handle(req, res)) res.writeHead(404).end();
  };
}

/**
 * Serves a request from the mounted folders and returns true, or returns false (and sends
 * nothing) when no mounted file matches: a middleware then passes it on.
 */
export function staticFiles(mounts: Record<string, string>, link?: Link): (req: IncomingMessage, res: ServerResponse) => boolean {
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
    const etag = `"${size.toString(36)}-${Math.floor(mtime).toString(36)}"`;
    const send = (): void => {
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
        return;
      }
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': size,
        'cache-control': 'no-cache',
        etag,
      });
      if (link && Number.isFinite(link.bytesPerSecond)) createReadStream(file).pipe(link.pace()).pipe(res);
      else createReadStream(file).pipe(res);
    };
    if (link && link.rttMs > 0) setTimeout(send, link.rttMs);
    else send();
    return true;
  };
}
