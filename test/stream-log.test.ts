/**
 * The stream job's own log (src/cli/stream/log.ts) is read back in pieces of whole lines: a log
 * longer than the longest string the runtime can hold (512 MiB in Node) must still let the job
 * start again, and its lines need not all be held at once.
 */
import { appendFileSync, openSync, closeSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../src/cli/stream/log.js';
import { EventLog } from '../src/cli/stream/log.js';
import type { LinePiece } from '../src/cli/stream/line-pieces.js';
import { chunkLinePieces, fileLinePieces } from '../src/cli/stream/line-pieces.js';
import { mulberry32 } from '../src/core/rng.js';
import { tempFolder } from './helpers.js';

const event = (k: number, user = `u${k % 3}`): LogLine => ({
  kind: 'event',
  event: { id: `e${k}`, user, item: `sku-${k % 7}`, t: 1_700_000_000_000 + k },
});

describe('the stream job’s log', () => {
  it('visits every line in order as it opens, read in pieces, and cuts a torn last line off', async () => {
    const dir = tempFolder('clickwise-stream-log-');
    const written: LogLine[] = [{ kind: 'base', version: 'v1' }];
    // Some shoppers' ids are longer than a piece.
    for (let k = 0; k < 60; k++) written.push(event(k, k % 9 === 0 ? `shopper-${'y'.repeat(90)}-${k}` : undefined));
    written.push({ kind: 'base', version: 'v2' }, event(60));
    const first = EventLog.open(dir);
    first.log.append(written.slice(0, 30));
    first.log.append(written.slice(30));
    first.log.close();
    const path = join(dir, 'events.log');
    const whole = statSync(path).size;
    appendFileSync(path, '{"id":"e61","user":"u1","it');
    for (const pieceBytes of [64, 1 << 20]) {
      const seen: LogLine[] = [];
      const again = EventLog.open(dir, (line) => seen.push(line), pieceBytes);
      expect(seen).toEqual(written);
      expect(again.torn).toBe(pieceBytes === 64 ? 27 : 0);
      expect(statSync(path).size).toBe(whole);
      // The replay of a rebase, in turns, reads the same lines.
      const replayed: LogLine[] = [];
      await again.log.forEachInTurns((line) => replayed.push(line), pieceBytes);
      expect(replayed).toEqual(written);
      again.log.close();
    }
  });
});

describe('pieces of whole lines', () => {
  it('end each with a newline, hold at most the piece or twice a longer line, and together make the file up to its last newline', async () => {
    const rand = mulberry32(5);
    const lines = Array.from({ length: 300 }, (_, k) => `${k}:${'z'.repeat(Math.floor(rand() * (k % 50 === 0 ? 400 : 60)))}`);
    const text = `${lines.join('\n')}\npartial`;
    const dir = tempFolder('clickwise-line-pieces-');
    const path = join(dir, 'lines.txt');
    writeFileSync(path, text);
    const longest = Math.max(...lines.map((l) => l.length + 1));
    for (const pieceBytes of [1, 7, 64, 1000, 1 << 20]) {
      const fd = openSync(path, 'r');
      const pieces = [...fileLinePieces(fd, 0, Buffer.byteLength(text), pieceBytes)];
      closeSync(fd);
      expect(Buffer.concat(pieces.map((p) => p.bytes)).toString()).toBe(`${lines.join('\n')}\n`);
      let at = 0;
      for (const p of pieces) {
        expect(p.bytes.at(-1)).toBe(0x0a);
        expect(p.bytes.length).toBeLessThanOrEqual(2 * Math.max(pieceBytes, longest));
        at += p.bytes.length;
        expect(p.end).toBe(at);
      }
      if (pieceBytes === 64) expect(pieces.length).toBeGreaterThan(100);
      // As chunks come (a file as it unzips), of sizes that do not fall on lines: the last line
      // without a newline ends the last piece.
      for (const chunkBytes of [1, 100, 5000]) {
        const chunks = async function* (): AsyncGenerator<Buffer> {
          const all = readFileSync(path);
          for (let k = 0; k < all.length; k += chunkBytes) yield all.subarray(k, k + chunkBytes);
        };
        const streamed: LinePiece[] = [];
        for await (const p of chunkLinePieces(chunks(), pieceBytes)) streamed.push(p);
        expect(Buffer.concat(streamed.map((p) => p.bytes)).toString()).toBe(text);
        expect(streamed.at(-1)!.bytes.toString()).toMatch(/partial$/);
        let end = 0;
        for (const p of streamed.slice(0, -1)) {
          expect(p.bytes.at(-1)).toBe(0x0a);
          expect(p.bytes.length).toBeLessThanOrEqual(Math.max(pieceBytes, longest) + chunkBytes);
          end += p.bytes.length;
          expect(p.end).toBe(end);
        }
        if (pieceBytes === 64) expect(streamed.length).toBeGreaterThan(100);
      }
    }
    await expect(chunkLinePieces((async function* () {})(), 0).next()).rejects.toThrow(/whole number of bytes > 0/);
  });
});
