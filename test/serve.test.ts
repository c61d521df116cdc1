/**
 * The benchmarks' static server: files as they are on disk, and a slower network when asked.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Link, serveStatic } from '../src/vite/serve.js';
import { tempFolder } from './helpers.js';

const dir = tempFolder('clickwise-serve-');
const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251));
writeFileSync(join(dir, 'file.bin'), body);

async function timedGet(link?: Link): Promise<{ ms: number; bytes: Buffer }> {
  const server = createServer(serveStatic({ '/': dir }, link));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/file.bin`);
    const bytes = Buffer.from(await res.arrayBuffer());
    return { ms: performance.now() - t0, bytes };
  } finally {
    server.close();
  }
}

describe('serveStatic', () => {
  it('serves a file whole, and over a link no faster than its bandwidth and round trip allow', async () => {
    expect((await timedGet()).bytes.equals(body)).toBe(true);
    // 100,000 bytes at 1,000,000 bytes/s take 100 ms, after a 30 ms round trip: 130 ms, less a
    // margin for timers that fire a millisecond early (the loop's clock is coarser); unpaced, the
    // same request takes about the round trip alone.
    const slow = await timedGet(new Link(1_000_000, 30));
    expect(slow.bytes.equals(body)).toBe(true);
    expect(slow.ms).toBeGreaterThanOrEqual(110);
  });

  it('refuses a link without bandwidth or with a negative round trip', () => {
    expect(() => new Link(0, 10)).toThrow(RangeError);
    expect(() => new Link(1000, -1)).toThrow(RangeError);
  });
});
