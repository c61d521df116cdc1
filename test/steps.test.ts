/** Work written as steps (src/core/slice.ts): run at once, or in turns with other work between. */
import { describe, expect, it } from 'vitest';
import { runSteps, runStepsInTurns } from '../src/core/slice.js';

/** Three steps that note what ran, returning how many there were. */
function* steps(log: string[]): Generator<void, number> {
  for (let k = 0; k < 3; k++) {
    log.push(`step ${k}`);
    if (k < 2) yield;
  }
  return 3;
}

describe('steps', () => {
  it('runs at once in this turn, or in turns with other work between two steps, to the same end', async () => {
    const atOnce: string[] = [];
    setImmediate(() => atOnce.push('other'));
    expect(runSteps(steps(atOnce))).toBe(3);
    expect(atOnce).toEqual(['step 0', 'step 1', 'step 2']);

    const inTurns: string[] = [];
    let others = 0;
    const other = (): void => {
      inTurns.push(`other ${others}`);
      if (++others < 2) setImmediate(other);
    };
    setImmediate(other);
    expect(await runStepsInTurns(steps(inTurns))).toBe(3);
    expect(inTurns).toEqual(['step 0', 'other 0', 'step 1', 'other 1', 'step 2']);
  });

  it('stops at a step that throws, and says so to the caller', async () => {
    function* failing(): Generator<void, number> {
      yield;
      throw new Error('the second step failed');
    }
    expect(() => runSteps(failing())).toThrow('the second step failed');
    await expect(runStepsInTurns(failing())).rejects.toThrow('the second step failed');
  });
});
