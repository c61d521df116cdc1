/**
 * `npm test` starts with this: the end-to-end tests need Debian's Chromium. Where it is missing,
 * a root shell with apt installs it (as `.ci/run` does); anywhere else the run stops at once with
 * the one command to run, instead of failing after minutes of other tests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** What to do about Chromium, decided from the facts alone (unit-tested). */
export function chromiumPlan(facts: {
  /** `CLICKWISE_CHROMIUM`, if set. */
  configured: string | undefined;
  exists: (path: string) => boolean;
  isRoot: boolean;
  hasApt: boolean;
}): { action: 'ok' | 'install' | 'stop'; message: string } {
  const path = facts.configured ?? '/usr/bin/chromium';
  if (facts.exists(path)) return { action: 'ok', message: `Chromium: ${path}` };
  if (facts.configured !== undefined) {
    return {
      action: 'stop',
      message: `CLICKWISE_CHROMIUM is ${path}, which does not exist. Point it at a Chromium binary, or unset it to use /usr/bin/chromium.`,
    };
  }
  if (facts.isRoot && facts.hasApt)
    return { action: 'install', message: "Chromium is missing: installing Debian's package (apt-get install -y chromium)." };
  return {
    action: 'stop',
    message:
      'The end-to-end tests need Chromium at /usr/bin/chromium. Run: sudo apt-get install -y chromium (or set CLICKWISE_CHROMIUM to another Chromium binary), then npm test again.',
  };
}

function main(): void {
  const plan = chromiumPlan({
    configured: process.env['CLICKWISE_CHROMIUM'],
    exists: existsSync,
    isRoot: process.getuid?.() === 0,
    hasApt: existsSync('/usr/bin/apt-get'),
  });
  if (plan.action === 'ok') return;
  console.error(plan.message);
  if (plan.action === 'stop') process.exit(1);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', 'chromium'], { stdio: 'inherit', env });
  if (!existsSync('/usr/bin/chromium')) {
    console.error('apt-get finished but /usr/bin/chromium is still missing. Install Chromium and set CLICKWISE_CHROMIUM.');
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
