/**
 * The storefront tag against hostile or careless pages: markup that shadows `document`
 * properties, a page's own preventDefault, clicks made before Clickwise is ready, odd ids and
 * unparseable links. Against dist/, in Chromium.
 */
import type { Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { BASE_URL, collectErrors, tagPage } from './helpers.js';

type Rec = { stats(): { clicks: number } };
async function ready(page: Page): Promise<void> {
  await page.evaluate(async () => {
    const w = window as unknown as { Clickwise: { ready: Promise<unknown> }; rec: unknown };
    w.rec = await w.Clickwise.ready;
  });
}
const clicks = (page: Page): Promise<number> => page.evaluate(() => (window as unknown as { rec: Rec }).rec.stats().clicks);

test('markup named currentScript cannot make the tag load a foreign script, and id="Clickwise" does not turn it off', async ({ page }) => {
  const foreign: string[] = [];
  await page.route('**/uploads/**', (r) => {
    if (r.request().resourceType() !== 'image') foreign.push(r.request().url());
    return r.fulfill({ status: 200, contentType: 'text/javascript', body: 'window.__pwned = 1; export function start() {}' });
  });
  const errors = collectErrors(page);
  await tagPage(
    page,
    { 'data-catalog': 'catalog.json', 'data-namespace': 'clobber' },
    '<div class="review">Nice! <img name="currentScript" src="/uploads/u1/"><img name="readyState"><img name="baseURI"></div><div id="Clickwise">review widget</div><button id="b" data-clickwise-item="toy-01a">b</button>',
  );
  await ready(page);
  await page.locator('#b').click();
  await expect.poll(() => clicks(page)).toBe(1);
  expect(foreign).toEqual([]);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
});

test("a page's own preventDefault on a tagged link is respected; the click is still learned", async ({ page }) => {
  await tagPage(
    page,
    { 'data-catalog': 'catalog.json', 'data-namespace': 'prevent' },
    `<a id="quick" href="shop/pet-01a.html" data-clickwise-item="pet-01a">quick view</a><p id="log"></p>
     <a id="plain" href="shop/pet-01b.html" data-clickwise-item="pet-01b">open</a>
     <script>
       document.getElementById('quick').addEventListener('click', (e) => { e.preventDefault(); document.getElementById('log').textContent = 'quick view open'; });
     </script>`,
  );
  await ready(page);
  await page.locator('#quick').click();
  await expect(page.locator('#log')).toHaveText('quick view open');
  await expect.poll(() => clicks(page)).toBe(1);
  await page.waitForTimeout(600); // longer than the tag's navigation wait
  expect(page.url()).toBe(`${BASE_URL}e2e-tag.html`);
  // A link nobody prevents still navigates.
  await page.locator('#plain').click();
  await page.waitForURL('**/shop/pet-01b.html');
});

test('clicks made before Clickwise is ready are learned, including one that left the page', async ({ page }) => {
  // Hold the runtime back so that the clicks certainly come first.
  await page.route('**/embed/runtime.js', async (r) => {
    await new Promise((res) => setTimeout(res, 1500));
    await r.continue();
  });
  await tagPage(
    page,
    { 'data-catalog': 'catalog.json', 'data-namespace': 'early' },
    '<button id="b" data-clickwise-item="toy-01a">b</button><a id="go" href="shop.html" data-clickwise-item="toy-01b">go</a>',
  );
  await page.locator('#b').click();
  expect(await page.evaluate(() => typeof (window as unknown as { Clickwise?: { ready: unknown } }).Clickwise?.ready)).toBe('object');
  await page.locator('#go').click();
  await page.waitForURL('**/shop.html');
  // shop.html uses the default namespace: its own tag must not take the other namespace's clicks.
  await ready(page);
  expect(await clicks(page)).toBe(0);
  await tagPage(page, { 'data-catalog': 'catalog.json', 'data-namespace': 'early' }, '');
  await ready(page);
  expect(await clicks(page)).toBe(2);
  // Learned once: another page of the shop does not learn them again.
  await page.reload();
  await ready(page);
  expect(await clicks(page)).toBe(2);
});

test('odd ids: a lone surrogate, "." and "..", an id with a space in data-exclude; unparseable links do not throw', async ({ page }) => {
  const catalog = [
    { id: '\ud800x', title: 'Lone surrogate' },
    { id: '.', title: 'Dot' },
    { id: '..', title: 'Dot dot' },
    { id: 'a b', title: 'Spaced' },
    { id: 'ok', title: 'Plain' },
  ];
  await page.route('**/odd-catalog.json', (r) => r.fulfill({ contentType: 'application/json', body: JSON.stringify(catalog) }));
  const errors = collectErrors(page);
  await tagPage(
    page,
    { 'data-catalog': 'odd-catalog.json', 'data-namespace': 'odd' },
    `<a id="bad" href="http://[" data-clickwise-item="ok" onclick="event.preventDefault()">bad link</a>
     <div id="all" data-clickwise-slot data-k="5" data-href="p/{id}"></div>
     <div id="ex" data-clickwise-slot data-k="5" data-exclude='["a b", "ok"]'></div>`,
  );
  await ready(page);
  await expect(page.locator('#all [data-clickwise-item]')).toHaveCount(5);
  const hrefs = await page.locator('#all a').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
  expect(hrefs.length).toBe(3);
  for (const h of hrefs) expect(h.startsWith(`${BASE_URL}p/`), h).toBe(true);
  const excluded = await page
    .locator('#ex [data-clickwise-item]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-clickwise-item')));
  expect(excluded.sort()).toEqual(['.', '..', '\ud800x'].sort());
  await page.locator('#bad').click();
  await expect.poll(() => clicks(page)).toBe(1);
  expect(errors.filter((e) => e.startsWith('pageerror'))).toEqual([]);
});

test('one bad row in the feed is skipped with one console warning naming it; the shop keeps its recommendations', async ({ page }) => {
  const warnings: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'warning' && m.text().startsWith('Clickwise:')) warnings.push(m.text());
  });
  const errors = collectErrors(page);
  await page.route('**/feed.json', async (r) => {
    const items = (await (await r.fetch({ url: `${BASE_URL}catalog.json` })).json()) as Record<string, unknown>[];
    items.splice(3, 0, { id: 'bad-row', title: 'Priced as text', price: '12.50' });
    await r.fulfill({ json: items });
  });
  await tagPage(page, { 'data-catalog': 'feed.json', 'data-namespace': 'feed' }, '<div data-clickwise-slot data-k="4"></div>');
  await ready(page);
  await expect(page.locator('[data-clickwise-slot] [data-clickwise-item]')).toHaveCount(4);
  const skipped = warnings.filter((w) => /invalid item/.test(w));
  expect(skipped).toHaveLength(1);
  expect(skipped[0]).toMatch(/item "bad-row" has price 12\.50/);
  expect(errors.filter((e) => e.startsWith('Clickwise:') || e.startsWith('pageerror'))).toEqual([]);
});
