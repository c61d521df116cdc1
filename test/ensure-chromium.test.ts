import { describe, expect, it } from 'vitest';
import { chromiumPlan } from '../src/cli/dev/ensure-chromium.js';

const none = (): boolean => false;
const only =
  (p: string) =>
  (q: string): boolean =>
    q === p;

describe('npm test and a missing Chromium', () => {
  it('goes on when Chromium is where it is expected', () => {
    expect(chromiumPlan({ configured: undefined, exists: only('/usr/bin/chromium'), isRoot: false, hasApt: false }).action).toBe('ok');
    expect(chromiumPlan({ configured: '/opt/c/chrome', exists: only('/opt/c/chrome'), isRoot: false, hasApt: false }).action).toBe('ok');
  });
  it("installs Debian's package as root with apt", () => {
    expect(chromiumPlan({ configured: undefined, exists: none, isRoot: true, hasApt: true }).action).toBe('install');
  });
  it('stops at once with the one command to run otherwise', () => {
    for (const facts of [
      { isRoot: false, hasApt: true },
      { isRoot: true, hasApt: false },
    ]) {
      const plan = chromiumPlan({ configured: undefined, exists: none, ...facts });
      expect(plan.action).toBe('stop');
      expect(plan.message).toMatch(/apt-get install -y chromium/);
    }
    const wrong = chromiumPlan({ configured: '/nope/chromium', exists: none, isRoot: true, hasApt: true });
    expect(wrong.action).toBe('stop');
    expect(wrong.message).toMatch(/CLICKWISE_CHROMIUM is \/nope\/chromium/);
  });
});
