/**
 * `npm run bench:read-cost [-- --mb 16 --runs 5]`: what it costs to read a file of MB megabytes
 * into memory on this machine, and how much of that is the memory being new. A later visit's
 * catalogue worker reads the entry's copy and the file's copy from the private file system into
 * new buffers (about 24 MB at 100,000 items); this tells the reading from the first touch of the
 * buffer's pages. Node: a copy into a new buffer and into the same buffer again, and a read of a
 * file (in the OS's cache) into a new buffer and into one already touched. Chromium (as the
 * visit benches start it, a fresh profile): in a dedicated worker, the private file system's
 * sync access handle read into a new buffer and into one already touched, and the file read as a
 * Blob. Prints one JSON object, ms per read, each list one figure per run.
 */
import { openSync, readSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright';
import { ownTempFolder, parseArgs, UsageError } from '../cli/common.js';
import { ARGS, CHROMIUM } from './load.js';

const args = parseArgs(process.argv.slice(2), { mb: 'string', runs: 'string' });
const mb = Number(args['mb'] ?? 16);
const runs = Number(args['runs'] ?? 5);
for (const [name, v] of [
  ['--mb', mb],
  ['--runs', runs],
] as const) {
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`${name} takes a positive integer, got ${String(args[name.slice(2)])}.`);
}
const bytes = mb << 20;
const round = (ms: number): number => Math.round(ms * 10) / 10;

/** ms that `f` takes. */
function timed(f: () => void): number {
  const t0 = performance.now();
  f();
  return round(performance.now() - t0);
}

const node = { copyIntoNew: [] as number[], copyIntoTouched: [] as number[], readIntoNew: [] as number[], readIntoTouched: [] as number[] };
const folder = ownTempFolder('clickwise-read-');
const dir = folder.path;
try {
  const file = join(dir, 'f.bin');
  const source = Buffer.alloc(bytes, 7);
  writeFileSync(file, source);
  for (let r = 0; r < runs; r++) {
    const fresh = Buffer.allocUnsafeSlow(bytes);
    node.copyIntoNew.push(timed(() => source.copy(fresh)));
    node.copyIntoTouched.push(timed(() => source.copy(fresh)));
    const fd = openSync(file, 'r');
    try {
      const into = Buffer.allocUnsafeSlow(bytes);
      node.readIntoNew.push(timed(() => void readSync(fd, into, 0, bytes, 0)));
      node.readIntoTouched.push(timed(() => void readSync(fd, into, 0, bytes, 0)));
    } finally {
      closeSync(fd);
    }
  }
} finally {
  folder.remove();
}

// The worker's side: written once, then read `runs` times each way.
const WORKER = `
onmessage = async ({ data: { bytes, runs } }) => {
  const root = await navigator.storage.getDirectory();
  const fh = await root.getFileHandle('read-cost.bin', { create: true });
  let h = await fh.createSyncAccessHandle();
  h.truncate(0);
  h.write(new Uint8Array(bytes).fill(7), { at: 0 });
  h.flush();
  h.close();
  const out = { syncIntoNew: [], syncIntoTouched: [], blob: [] };
  const ms = (t0) => Math.round((performance.now() - t0) * 10) / 10;
  for (let r = 0; r < runs; r++) {
    h = await fh.createSyncAccessHandle();
    const into = new Uint8Array(h.getSize());
    let t0 = performance.now();
    h.read(into, { at: 0 });
    out.syncIntoNew.push(ms(t0));
    t0 = performance.now();
    h.read(into, { at: 0 });
    out.syncIntoTouched.push(ms(t0));
    h.close();
    t0 = performance.now();
    await (await fh.getFile()).arrayBuffer();
    out.blob.push(ms(t0));
  }
  await root.removeEntry('read-cost.bin');
  postMessage(out);
};`;
const PAGE = `<!doctype html><meta charset="utf-8"><title>read cost</title><script>
window.measured = new Promise((resolve) => {
  const w = new Worker(URL.createObjectURL(new Blob([${JSON.stringify(WORKER)}], { type: 'text/javascript' })));
  w.onmessage = (e) => resolve(e.data);
  w.postMessage({ bytes: ${bytes}, runs: ${runs} });
});
</script>`;

const server = createServer((req, res) => {
  if (req.url !== '/') return void res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const profile = ownTempFolder('clickwise-read-profile-');
const context = await chromium.launchPersistentContext(profile.path, { executablePath: CHROMIUM, args: ARGS });
let browser: unknown;
try {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  browser = await page.evaluate(() => (window as unknown as { measured: Promise<unknown> }).measured);
} finally {
  await context.close();
  server.close();
  profile.remove();
}
console.log(JSON.stringify({ command: `npm run bench:read-cost -- --mb ${mb} --runs ${runs}`, mb, node, chromium: browser }));
