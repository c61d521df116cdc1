/**
 * The benchmarks' static server: files as they are on disk, or text gzipped as a shop's host
 * sends it, and a slower network when asked.
 */
import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Link, serveStatic } from '../src/vite/serve.js';
import { tempFolder } from './helpers.js';

const dir = tempFolder('clickwise-serve-');
const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251));
writeFileSync(join(dir, 'file.bin'), body);
const json = JSON.stringify(Array.from({ length: 5_000 }, (_, i) => ({ id: `p${i}`, title: `Product ${i % 97}` })));
writeFileSync(join(dir, 'catalog.json'), json);

/** One GET of `path` with `headers`, its body as sent (not decoded). */
async function rawGet(
  serve: ReturnType<typeof serveStatic>,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: Buffer }> {
  const server = createServer(serve);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, bytes: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
  } finally {
    server.close();
  }
}

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

  it('gzips text for a client that takes it, as a host does, and sends binary files as they are', async () => {
    const serve = serveStatic({ '/': dir }, undefined, { gzip: true });
    const gz = await rawGet(serve, '/catalog.json', { 'accept-encoding': 'gzip, deflate, br' });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['vary']).toBe('accept-encoding');
    expect(Number(gz.headers['content-length'])).toBe(gz.bytes.length);
    expect(gz.bytes.length).toBeLessThan(json.length / 4);
    expect(gunzipSync(gz.bytes).toString()).toBe(json);
    // A client that takes no gzip gets the file as it is, under another ETag.
    const plain = await rawGet(serve, '/catalog.json', {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.bytes.toString()).toBe(json);
    expect(plain.headers['etag']).not.toBe(gz.headers['etag']);
    // Each form's ETag revalidates that form only.
    expect((await rawGet(serve, '/catalog.json', { 'accept-encoding': 'gzip', 'if-none-match': String(gz.headers['etag']) })).status).toBe(
      304,
    );
    expect(
      (await rawGet(serve, '/catalog.json', { 'accept-encoding': 'gzip', 'if-none-match': String(plain.headers['etag']) })).status,
    ).toBe(200);
    // Binary files (vectors, weights) go as they are: a host sends them so, and gzip wins little on them.
    const bin = await rawGet(serve, '/file.bin', { 'accept-encoding': 'gzip' });
    expect(bin.headers['content-encoding']).toBeUndefined();
    expect(bin.bytes.equals(body)).toBe(true);
    // And a server not told to gzip sends every file as it is.
    const asIs = await rawGet(serveStatic({ '/': dir }), '/catalog.json', { 'accept-encoding': 'gzip' });
    expect(asIs.headers['content-encoding']).toBeUndefined();
    expect(asIs.bytes.toString()).toBe(json);
  });

  it('paces a gzipped body over a link by its bytes on the wire', async () => {
    // About 18 KB gzipped of 178 KB: over 100,000 bytes/s, the gzipped body comes in about 0.2 s,
    // the file as it is in 1.8 s.
    const link = new Link(100_000, 0);
    const t0 = performance.now();
    const gz = await rawGet(serveStatic({ '/': dir }, link, { gzip: true }), '/catalog.json', { 'accept-encoding': 'gzip' });
    const ms = performance.now() - t0;
    expect(gunzipSync(gz.bytes).toString()).toBe(json);
    expect(ms).toBeGreaterThanOrEqual((1000 * gz.bytes.length) / 100_000 - 5);
    expect(ms).toBeLessThan((1000 * json.length) / 100_000);
  });

  it('refuses a link without bandwidth or with a negative round trip', () => {
    expect(() => new Link(0, 10)).toThrow(RangeError);
    expect(() => new Link(1000, -1)).toThrow(RangeError);
  });
});
