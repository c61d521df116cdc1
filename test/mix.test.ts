/**
 * The maintenance job learns each shop's character: on a log where the next item follows from
 * the last one it weights transitions, and on a log of re-buys it weights the shopper's counts.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_HEAD_OPTIONS } from '../src/core/head.js';
import { gaussian, mulberry32 } from '../src/core/rng.js';
import { buildTransitions, collectExamples, fitMix } from '../src/cli/train/mix.js';
import type { ReplayEvent } from '../src/cli/eval/replay.js';
import { sequencesBeforeSplit } from '../src/cli/eval/replay.js';

const N = 40;
const D = 8;
const H = 3_600_000;

/** A content model that knows nothing: random vectors, W = I, no biases. */
function blindModel(): { V: Float32Array; W: Float32Array; bias: Float32Array; n: number; d: number } {
  const rand = mulberry32(9);
  const W = new Float32Array(D * D);
  for (let k = 0; k < D; k++) W[k * D + k] = 1;
  return { V: new Float32Array(N * D).map(() => gaussian(rand) / Math.sqrt(D)), W, bias: new Float32Array(N), n: N, d: D };
}

function fit(events: ReplayEvent[], from: number): ReturnType<typeof fitMix> {
  const before = events.map((e) => ({ ...e, scored: e.t >= from }));
  const T = buildTransitions(sequencesBeforeSplit(before).values(), N);
  const examples = collectExamples(events, from, T, blindModel(), DEFAULT_HEAD_OPTIONS);
  expect(examples.length).toBeGreaterThan(50);
  return fitMix(examples, { alpha: 0, mix: [0, 0, 0, 0] });
}

describe('feature weights chosen from the shop’s own log', () => {
  it('a shop whose shoppers walk a fixed path weights transitions', () => {
    const rand = mulberry32(1);
    const events: ReplayEvent[] = [];
    let t = 0;
    for (let u = 0; u < 200; u++) {
      let item = Math.floor(rand() * N);
      for (let s = 0; s < 6; s++) {
        events.push({ user: `u${u}`, item, t: (t += 1000), scored: false });
        item = (item + 1) % N; // the next item always follows the last one
      }
    }
    const from = events[Math.floor(events.length * 0.7)]!.t;
    const x = fit(events, from);
    expect(x.mix[0]).toBeGreaterThan(0); // β mid-visit
    expect(x.ndcgAfter).toBeGreaterThan(x.ndcgBefore + 0.3);
  });

  it('a grocer whose shoppers re-buy their own items at each visit weights re-buy counts at a visit’s start', () => {
    const rand = mulberry32(2);
    const events: ReplayEvent[] = [];
    const users = Array.from({ length: 60 }, (_, u) => ({ u, items: [0, 1, 2].map(() => Math.floor(rand() * N)) }));
    for (let visit = 0; visit < 6; visit++) {
      for (const { u, items } of users) {
        // Each visit starts with one of the shopper's staples, then a random item.
        events.push({ user: `g${u}`, item: items[visit % 3]!, t: visit * 24 * H + u * 1000, scored: false });
        events.push({ user: `g${u}`, item: Math.floor(rand() * N), t: visit * 24 * H + u * 1000 + 10, scored: false });
      }
    }
    events.sort((a, b) => a.t - b.t);
    const x = fit(events, 3 * 24 * H);
    expect(x.mix[3]).toBeGreaterThan(0); // γ at a visit's start
    expect(x.ndcgAfter).toBeGreaterThan(x.ndcgBefore + 0.1);
  });
});
