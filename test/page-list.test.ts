/**
 * The evaluation measures the list a page shows (`clickwise-page`) by the page's own rule: the
 * same items, in the same order, as `recommend()` gives for the same clicks.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Recommender } from '../src/index.js';
import { createRecommenderCore, loadHead } from '../src/core/recommender.js';
import { shareAmongInterests } from '../src/core/interests.js';
import { pageList, plainHeadFrom } from '../src/cli/eval/clickwise-method.js';
import { freshState } from '../src/cli/eval/plain-head.js';
import { demoCatalog, MODELS, useBackend } from './helpers.js';

const catalog = demoCatalog();
const index = new Map(catalog.map((item, i) => [item.id, i]));
const open: Recommender[] = [];
afterEach(() => {
  open.splice(0).forEach((r) => r.dispose());
});
beforeAll(async () => {
  await useBackend('cpu');
});

describe('the page list of the evaluation', () => {
  it('is the list recommend() shows after every click, with the viewed items left out and kept, with and without sharing and the latest departments', async () => {
    // A frozen head on both sides: the page's clicks carry its own clock, the replay's the log's,
    // and only the click memory and the history move, the same on both.
    const rec = await createRecommenderCore({ catalog, modelUrl: MODELS, backend: 'cpu', head: { learningRate: 0 } });
    const ranked = await createRecommenderCore({
      catalog,
      modelUrl: MODELS,
      backend: 'cpu',
      head: { learningRate: 0 },
      keepLatestDepartments: false,
    });
    open.push(rec, ranked);
    const plain = await plainHeadFrom(await loadHead({ catalog, modelUrl: MODELS, head: { learningRate: 0 }, warn: () => undefined }));
    plain.state = freshState(plain.d);
    const category = (i: number): string | undefined => catalog[i]!.category;
    const clicks = ['gar-01a', 'gar-02b', 'gar-03c', 'toy-01a', 'kit-04a', 'gar-01a', 'pet-02c', 'out-01a', 'hom-01a', 'clo-01a'];
    let t = 1_700_000_000_000;
    let compared = 0;
    let shared = 0;
    let kept = 0;
    for (const id of clicks) {
      await rec.click(id);
      await ranked.click(id);
      plain.learnOne({ item: index.get(id)!, impressions: [], ranked: [], time: (t += 5_000) });
      const scores = plain.scores(t + 5_000);
      for (const includeViewed of [false, true]) {
        for (const diversify of [true, false]) {
          const lists: string[][] = [];
          for (const keepLatest of [true, false]) {
            const page = (await (keepLatest ? rec : ranked).recommend({ k: 10, includeViewed, diversify })).map((r) => r.id);
            const replayed = pageList(plain, scores, 10, { includeViewed, diversify, category, keepLatest, shareClicks: true }).map(
              (i) => catalog[i]!.id,
            );
            expect(replayed).toEqual(page);
            compared++;
            lists.push(page);
            if (diversify && new Set(page.map((p) => catalog[index.get(p)!]!.category)).size > 1) shared++;
          }
          if (lists[0]!.join() !== lists[1]!.join()) kept++;
        }
      }
      if (id === 'toy-01a') {
        // Three Garden clicks and one Toys click: the page's default list holds three of each, and no viewed item.
        const top = pageList(plain, scores, 10, { includeViewed: false, diversify: true, category });
        expect(top.filter((i) => category(i) === 'Toys').length).toBeGreaterThanOrEqual(3);
        expect(top.filter((i) => category(i) === 'Garden').length).toBeGreaterThanOrEqual(3);
        expect(top.some((i) => plain.historyWeights().some((h) => h.i === i))).toBe(false);
      }
    }
    expect(compared).toBe(8 * clicks.length);
    expect(shared).toBeGreaterThan(0);
    // The latest departments' places changed some of the lists.
    expect(kept).toBeGreaterThan(0);
  });
});

describe('shareAmongInterests', () => {
  const department = (i: number): string | undefined => ['Garden', 'Toys', 'Kitchen', 'Pets', 'Home', 'Outdoor'][i % 10 < 6 ? i % 10 : 0];
  // Candidates best first: 40 items, scores 40 down to 1; item i is of department (i % 10) (0 and 6..9: Garden).
  const candidates = Array.from({ length: 40 }, (_, i) => ({ i, s: 40 - i }));

  it('keeps three places for each department holding a quarter of the recent clicks, in the order of the scores', () => {
    // Three Garden clicks and one Toys click (item 21 is Toys); the head's first ten hold one Toys item.
    const list = shareAmongInterests(candidates, [10, 20, 30, 21], 10, department);
    const of = (g: string): number => list.filter((c) => department(c.i) === g).length;
    expect(of('Garden')).toBeGreaterThanOrEqual(3);
    expect(of('Toys')).toBe(3);
    expect(list.map((c) => c.s)).toEqual([...list.map((c) => c.s)].sort((a, b) => b - a));
    // The Toys items beyond the head's ten came in for their department, in place of the list's last
    // items that no interest needs: Garden's beyond its three.
    expect(list.map((c) => c.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 11, 21]);
    expect(list.filter((c) => department(c.i) === 'Toys').every((c) => c.group === 'Toys')).toBe(true);
  });

  it('keeps the head’s ranking where the clicks spread over many departments, or the items have none', () => {
    // Six departments, one click each: none holds a quarter of them.
    expect(shareAmongInterests(candidates, [0, 1, 2, 3, 4, 5], 10, department).map((c) => c.i)).toEqual(
      candidates.slice(0, 10).map((c) => c.i),
    );
    expect(shareAmongInterests(candidates, [10, 20, 30, 21], 10, () => undefined)).toEqual(candidates.slice(0, 10));
    // One interest alone: the ranking too.
    expect(shareAmongInterests(candidates, [10, 20, 30], 10, department)).toEqual(candidates.slice(0, 10));
  });

  it('keeps two places for each of the last three departments clicked where the ranking leaves one of them out, as a shop chooses', () => {
    // Items 0-19 Outdoor, then four each of Home, Pets, Kitchen, Toys and Garden; best first by index.
    const wander = (i: number): string => (i < 20 ? 'Outdoor' : ['Home', 'Pets', 'Kitchen', 'Toys', 'Garden'][(i - 20) >> 2]!);
    // One click in each of five departments, the latest Outdoor: none holds a quarter of the clicks,
    // and the head's first ten are all Outdoor, as a ranking led by the last click can be.
    const history = [0, 20, 24, 28, 32];
    const list = shareAmongInterests(candidates, history, 10, wander, true);
    const of = (g: string): number => list.filter((c) => wander(c.i) === g).length;
    expect([of('Outdoor'), of('Home'), of('Pets'), of('Kitchen'), of('Toys')]).toEqual([6, 2, 2, 0, 0]);
    // Each department's best candidates came in, in place of the list's last Outdoor items, in score order.
    expect(list.map((c) => c.i)).toEqual([0, 1, 2, 3, 4, 5, 20, 21, 24, 25]);
    expect(list.filter((c) => wander(c.i) === 'Home').every((c) => c.group === 'Home')).toBe(true);
    // A shop that does not keep them (a grocer) gets the ranking.
    expect(shareAmongInterests(candidates, history, 10, wander, false)).toEqual(candidates.slice(0, 10));
    // Where the ranking already shows all three, it is kept.
    expect(shareAmongInterests(candidates, [0, 1, 2, 3, 4, 5], 10, department, true)).toEqual(candidates.slice(0, 10));
    // Where it shows two of them (nine Outdoor and one Home), the third (Pets) still gets its two
    // places, and Home a second one: the shopper's click in Pets is not lost behind the other two.
    const nineAndOne = (i: number): string => (i === 9 ? 'Home' : wander(i));
    const twoShown = shareAmongInterests(candidates, [0, 20, 24, 28, 32], 10, nineAndOne, true);
    const ofTwo = (g: string): number => twoShown.filter((c) => nineAndOne(c.i) === g).length;
    expect([ofTwo('Outdoor'), ofTwo('Home'), ofTwo('Pets')]).toEqual([6, 2, 2]);
    expect(twoShown.map((c) => c.i)).toEqual([0, 1, 2, 3, 4, 5, 9, 20, 24, 25]);
  });

  it('shares an interest’s places among its clicks, with a likeness: a click the ranking left without an item gets its best one', () => {
    // Items 0-29 Outdoor, 30-39 Toys. Outdoor items like the click of their own tens most: 0-9 the
    // torch (item 5), 10-19 the bottle (item 15), 20-29 the tent (item 25). The head's first ten
    // are all the torch's, as a ranking led by the last click can be.
    const dept = (i: number): string => (i < 30 ? 'Outdoor' : 'Toys');
    const likeness = (click: number, i: number): number => (Math.floor(click / 10) === Math.floor(i / 10) ? 1 : 0) + (click === i ? 1 : 0);
    // A tent, a bottle, a puzzle (item 35), then the torch, most recent first.
    const history = [5, 35, 15, 25];
    const list = shareAmongInterests(candidates, history, 10, dept, false, likeness);
    const ids = list.map((c) => c.i);
    // Each Outdoor click owns an item: the bottle's and the tent's best candidates came in, in place
    // of the torch's last two; Toys (a quarter of the clicks) has its three places.
    expect(ids.filter((i) => i >= 10 && i < 20)).toEqual([10]);
    expect(ids.filter((i) => i >= 20 && i < 30)).toEqual([20]);
    expect(ids.filter((i) => i >= 30)).toHaveLength(3);
    expect(ids.filter((i) => i < 10)).toHaveLength(5);
    expect(list.find((c) => c.i === 20)!.group).toBe('Outdoor');
    expect(list.map((c) => c.s)).toEqual([...list.map((c) => c.s)].sort((a, b) => b - a));
    // Without a likeness (a shop that chose not to share them: its pages pass none), the places are
    // the departments' alone: the torch's items fill Outdoor's.
    expect(shareAmongInterests(candidates, history, 10, dept).filter((c) => c.i >= 10 && c.i < 30)).toEqual([]);
    // One interest alone (three Outdoor clicks) is shared among its clicks too.
    const alone = shareAmongInterests(candidates, [5, 15, 25], 10, dept, false, likeness).map((c) => c.i);
    expect([
      alone.filter((i) => i < 10).length,
      alone.filter((i) => i >= 10 && i < 20).length,
      alone.filter((i) => i >= 20 && i < 30).length,
    ]).toEqual([8, 1, 1]);
    // A click whose items the ranking already shows changes nothing.
    expect(shareAmongInterests(candidates, [5, 6], 10, dept, false, likeness)).toEqual(candidates.slice(0, 10));
  });

  it('adds an interest’s items to a list shorter than k instead of dropping others', () => {
    const few = candidates.filter((c) => c.i < 6 || c.i === 21);
    const list = shareAmongInterests(few, [10, 20, 30, 21], 8, department);
    expect(list.map((c) => c.i)).toEqual([0, 1, 2, 3, 4, 5, 21]);
  });
});
