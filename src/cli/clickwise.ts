#!/usr/bin/env node
/**
 * `npx clickwise <command>`: the jobs a shop runs on its own side, from the installed package.
 *
 *   maintain   retrain the base from the shop's log into a new model version
 *   vectors    compute the catalogue's vectors once and ship them next to the model
 *   stream     learn the shop delta from every order and publish it for browsers
 *   eval       replay a log click by click and compare Clickwise with simple methods
 *
 * Each command has `--help`. Exit codes: 0 done, 1 failed (the message says why), 2 bad usage.
 */
import type { Command } from './common.js';
import { runCommand } from './common.js';

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

Run clickwise <command> --help for a command's options.`;

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
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
