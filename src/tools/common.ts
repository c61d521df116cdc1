/** Helpers shared by the Node command-line tools: argument parsing, progress bars, hashing. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Parses `--name value` and `--flag` arguments. Unknown names are an error listing the valid ones. */
export function parseArgs(
  argv: string[],
  spec: Record<string, 'string' | 'number' | 'boolean'>,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--'))
      throw new Error(
        `Unexpected argument ${JSON.stringify(a)}. Valid options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}.`,
      );
    const name = a.slice(2);
    const kind = spec[name];
    if (!kind)
      throw new Error(
        `Unknown option --${name}. Valid options: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}.`,
      );
    if (kind === 'boolean') {
      out[name] = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`Option --${name} needs a value.`);
    if (kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`Option --${name} must be a number, got ${JSON.stringify(v)}.`);
      out[name] = n;
    } else out[name] = v;
  }
  return out;
}

/** A one-line progress bar on stderr (plain lines when stderr is not a terminal). */
export function progressBar(label: string, total: number): { tick(done: number): void; end(): void } {
  const start = Date.now();
  let lastPct = -1;
  const tty = process.stderr.isTTY;
  return {
    tick(done: number) {
      const pct = Math.floor((100 * done) / Math.max(1, total));
      if (pct === lastPct) return;
      if (!tty && pct % 10 !== 0) return;
      lastPct = pct;
      const width = 30;
      const fill = Math.round((width * pct) / 100);
      const secs = ((Date.now() - start) / 1000).toFixed(1);
      const line = `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${secs}s`;
      if (tty) process.stderr.write(`\r${line}`);
      else process.stderr.write(`${line}\n`);
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/** Hex sha256 of a file's bytes. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Hex sha256 of bytes. */
export function sha256Bytes(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
