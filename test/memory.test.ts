/** What a shopper's clicks leave for the head's sparse features (src/core/memory.ts). */
import { describe, expect, it } from 'vitest';
import { bumpCount, ShopperMemory } from '../src/core/memory.js';

const O = { transitionVotes: 3, transitionDecay: 0.5, countItems: 100, pairItems: 100, sessionGapMs: 30 * 60_000 };
const MIN = 60_000;

describe('ShopperMemory', () => {
  it('counts which item followed which in the shopper’s own clicks, and votes with the recent items', () => {
    const m = new ShopperMemory<string>();
    let t = 0;
    // Two visits walking the same list a → b → c, then a visit that has just bought a.
    for (const visit of [0, 1]) {
      t = visit * 24 * 60 * MIN;
      for (const id of ['a', 'b', 'c']) m.note(id, (t += MIN), O);
    }
    m.note('a', (t += 24 * 60 * MIN), O);
    expect(m.pairs.get('a')?.get('b')).toBe(2);
    expect(m.pairs.get('b')?.get('c')).toBe(2);
    // c → a crosses visits: it is the shopper's order too.
    expect(m.pairs.get('c')?.get('a')).toBe(2);
    expect(m.pairCount).toBe(3);
    const v = m.ownVotes(O);
    // a (most recent) votes for b with weight 1; c (second) for a with 0.5; b (third) for c with 0.25.
    expect(v.get('b')).toBeCloseTo(Math.log1p(2), 12);
    expect(v.get('a')).toBeCloseTo(0.5 * Math.log1p(2), 12);
    expect(v.get('c')).toBeCloseTo(0.25 * Math.log1p(2), 12);
  });

  it('counts the items that began a visit, and only those', () => {
    const m = new ShopperMemory<number>();
    m.note(7, 0, O); // the first click ever starts a visit
    m.note(8, 5 * MIN, O);
    m.note(7, 10 * MIN, O);
    m.note(9, 10 * MIN + O.sessionGapMs, O); // exactly the gap later: a new visit
    m.note(7, 11 * MIN + O.sessionGapMs, O);
    expect([...m.starts]).toEqual([
      [7, 1],
      [9, 1],
    ]);
    expect(m.counts.get(7)).toBe(3);
    expect(m.context(11 * MIN + O.sessionGapMs + 1, O)).toBe(0);
    expect(m.context(11 * MIN + 2 * O.sessionGapMs, O)).toBe(1);
    // A click whose time is unknown starts a visit only as the very first click.
    const f = new ShopperMemory<number>();
    f.note(1, null, O);
    f.note(2, null, O);
    expect([...f.starts.keys()]).toEqual([1]);
    expect(f.lastTime).toBeNull();
  });

  it('keeps the latest visit’s items: those taken in this visit, and at a visit’s start those of the one before', () => {
    const m = new ShopperMemory<number>();
    m.note(1, 0, O);
    m.note(2, MIN, O);
    m.note(1, 2 * MIN, O);
    expect([...m.visitItems()]).toEqual([
      [1, 1],
      [2, 1],
    ]);
    // Until the next visit's first click, the visit before stands (at a start it is what they took last time).
    expect(m.context(2 * MIN + O.sessionGapMs, O)).toBe(1);
    expect([...m.visitItems().keys()]).toEqual([1, 2]);
    m.note(3, 2 * MIN + O.sessionGapMs, O);
    expect([...m.visitItems().keys()]).toEqual([3]);
    // Saved and restored as it is; a memory saved before it existed has none.
    const saved = m.save();
    expect(saved.visit).toEqual([3]);
    expect([...ShopperMemory.restore(saved).visitItems().keys()]).toEqual([3]);
    const beforeVisit: Partial<typeof saved> = { ...saved };
    delete beforeVisit.visit;
    expect(ShopperMemory.restore(beforeVisit).visitItems().size).toBe(0);
    // A visit of more distinct items than the counts keep forgets its first.
    const b = new ShopperMemory<number>();
    for (const i of [1, 2, 3, 2]) b.note(i, 0, { ...O, countItems: 2 });
    expect([...b.visitItems().keys()]).toEqual([2, 3]);
  });

  it('stays within its bounds: the least counted pair or item goes, never the one just clicked', () => {
    const m = new ShopperMemory<number>();
    const o = { ...O, pairItems: 3, countItems: 2 };
    for (const i of [1, 2, 1, 2]) m.note(i, 0, o); // 1→2 twice, 2→1 once
    expect(m.pairCount).toBe(2);
    m.note(3, 0, o); // 2→3: a third pair
    m.note(4, 0, o); // 3→4: over the bound, the least counted first pair (2→1) goes
    expect(m.pairCount).toBe(3);
    expect(m.pairs.get(2)?.has(1)).toBe(false);
    expect(m.pairs.get(1)?.get(2)).toBe(2);
    expect(m.pairs.get(3)?.get(4)).toBe(1);
    // Counts: 1 and 2 twice each, then 3 and 4 once; each new item pushed out the least counted other.
    expect(m.counts.size).toBe(2);
    expect(m.counts.has(4)).toBe(true);
    expect([...m.countLogs.keys()]).toEqual([...m.counts.keys()]);
    const c = new Map<string, number>();
    for (const k of ['x', 'x', 'y', 'z']) bumpCount(c, k, 2);
    expect([...c]).toEqual([
      ['x', 2],
      ['z', 1],
    ]);
  });

  it('saves and restores to the same features', () => {
    const m = new ShopperMemory<string>();
    let t = 0;
    for (const id of ['a', 'b', 'c', 'a', 'b', 'd', 'a']) m.note(id, (t += id === 'a' ? 2 * O.sessionGapMs : MIN), O);
    const r = ShopperMemory.restore(JSON.parse(JSON.stringify(m.save())) as ReturnType<typeof m.save>);
    expect([...r.ownVotes(O)]).toEqual([...m.ownVotes(O)]);
    expect([...r.starts]).toEqual([...m.starts]);
    expect([...r.counts]).toEqual([...m.counts]);
    // The log counts the features read are restored with them, and follow later clicks.
    expect([...r.countLogs]).toEqual([...m.counts].map(([k, c]) => [k, Math.log1p(c)]));
    expect([...r.startLogs]).toEqual([...m.starts].map(([k, c]) => [k, Math.log1p(c)]));
    expect(r.last).toEqual(m.last);
    expect(r.pairCount).toBe(m.pairCount);
    expect(r.lastTime).toBe(m.lastTime);
    expect(m.ownVotes(O).size).toBeGreaterThan(0);
    r.note('b', t + MIN, O);
    expect(r.countLogs.get('b')).toBe(Math.log1p(m.counts.get('b')! + 1));
  });
});
