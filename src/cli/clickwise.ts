#!/usr/bin/env node
/**
 * `npx clickwise <command>`: the jobs a shop runs on its own side, from the installed package.
 *
 *   maintain   retrain the base from the shop's log into a new model version
 *   vectors    compute the catalogue's vectors once and ship them next to the model
 *   stream     learn the shop delta from every order and publish it for browsers
 *   eval       replay a log click by click and compare Clickwise with simple methods
 *
 * Each command has `--help`; `--version` prints the package's. Exit codes: 0 done, 1 failed (the message says why), 2 bad usage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './common.js';
import { runCommand } from './common.js';

/** The version of the package this tool came with (its package.json, above this file). */
function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'clickwise' && pkg.version) return pkg.version;
  }
  return 'unknown';
}

const COMMANDS: Record<string, { what: string; load: () => Promise<{ command: Command }> }> = {
  maintain: { what: "retrain the base from the shop's log into a new model version", load: () => import('./train/maintain.js') },
  vectors: { what: "compute the catalogue's vectors once and ship them next to the model", load: () => import('./vectors/vectors.js') },
  stream: { what: 'learn the shop delta from every order and publish it for browsers', load: () => import('./stream/main.js') },
  eval: { what: 'replay a log click by click and compare Clickwise with simple methods', load: () => import('./eval/eval.js') },
};

const USAGE = `Usage: clickwise <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.what}`)
  .join('\n')}

Run clickwise <command> --help for a command's options, clickwise --version for the package's version.`;

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`Unknown command ${JSON.stringify(name)}.\n\n${USAGE}`);
    process.exit(2);
  }
  runCommand((await entry.load()).command, rest);
}

void main();
