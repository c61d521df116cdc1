/** The demo storefront, built with `npm run build`, in Debian Chromium. */
import type { Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { launch } from './helpers.js';

const rail = (page: Page) => page.getByRole('region', { name: 'Recommended for you' });

async function openDemo(page: Page, query = ''): Promise<void> {
  await page.goto(`index.html${query}`);
  await expect(page.getByTestId('backend')).not.toHaveText('…');
  await expect(rail(page).locator('[data-clickwise-item]')).toHaveCount(10);
}

async function clickProduct(page: Page, id: string): Promise<void> {
  const before = Number(await page.getByTestId('clicks').textContent());
  await page.locator(`.grid [data-clickwise-item="${id}"]`).click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByTestId('clicks')).toHaveText(String(before + 1));
  await page.getByRole('link', { name: '← All products' }).click();
}

async function railCategories(page: Page): Promise<string[]> {
  return rail(page)
    .locator('[data-clickwise-item]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-category') ?? ''));
}

test('three clicks in one department fill at least half of the rail with it; reload keeps it; reset empties it', async ({ page }, info) => {
  await openDemo(page, '?namespace=e2e-demo-1');
  await expect(page.getByTestId('storage')).toHaveText(/IndexedDB/);
  for (const id of ['out-01a', 'out-04b', 'out-06c']) await clickProduct(page, id);
  const cats = await railCategories(page);
  expect(cats.filter((c) => c === 'Outdoor').length).toBeGreaterThanOrEqual(5);
  const why = await rail(page).locator('.why').first().textContent();
  expect(why).toMatch(/because you viewed/);
  await page.screenshot({ path: info.outputPath('demo-desktop.png'), fullPage: false });

  await page.reload();
  await expect(page.getByTestId('clicks')).toHaveText('3');
  expect(await railCategories(page)).toEqual(cats);

  await page.getByRole('button', { name: /reset/i }).click();
  await expect(page.getByTestId('clicks')).toHaveText('0');
  await expect(page.getByTestId('delta-norm')).toHaveText('‖φ‖ = 0.000');
  await page.reload();
  await expect(page.getByTestId('clicks')).toHaveText('0');
});

test("the rail under the shopper's pointer is not changed by another tab's clicks until the pointer leaves it", async ({ context }) => {
  const [a, b] = [await context.newPage(), await context.newPage()];
  for (const p of [a, b]) await openDemo(p, '?namespace=e2e-demo-hold');
  const ids = (): Promise<(string | null)[]> =>
    rail(a)
      .locator('[data-clickwise-item]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-clickwise-item')));
  const before = await ids();
  await rail(a).hover();
  for (const id of ['out-01a', 'out-04b', 'out-06c']) await clickProduct(b, id);
  // Tab A learned the three clicks (its panel says so), and would have redrawn its rail by now.
  await expect(a.getByTestId('clicks')).toHaveText('3');
  await a.waitForTimeout(1000);
  expect(await ids()).toEqual(before);
  await a.mouse.move(0, 0);
  await expect.poll(async () => (await ids()).join()).not.toEqual(before.join());
  expect(
    await rail(b)
      .locator('[data-clickwise-item]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-clickwise-item'))),
  ).toEqual(await ids());
});

test('three clicks in one department and one in another share the rail; clicked products are not shown back', async ({ page }) => {
  await openDemo(page, '?namespace=e2e-demo-share');
  const clicked = ['out-01a', 'out-04b', 'out-06c', 'toy-02a'];
  for (const id of clicked) await clickProduct(page, id);
  const cats = await railCategories(page);
  expect(cats.filter((c) => c === 'Outdoor').length, cats.join(',')).toBeGreaterThanOrEqual(3);
  expect(cats.filter((c) => c === 'Toys').length, cats.join(',')).toBeGreaterThanOrEqual(3);
  const ids = await rail(page)
    .locator('[data-clickwise-item]')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-clickwise-item')));
  expect(ids.filter((id) => clicked.includes(id ?? ''))).toEqual([]);
  // Outdoor's places are shared among its three clicks: each explains an entry of its own.
  const whys = await rail(page)
    .locator('.why')
    .evaluateAll((els) => els.map((e) => e.textContent ?? ''));
  for (const title of ['Ultralight Tent', 'Waterproof Water Bottle', 'Trail Head Torch'])
    expect(whys, whys.join(' | ')).toContain(`because you viewed ${title}`);
});

test('a shopper who wanders through five departments sees the last three in the rail, not the last alone', async ({ page }) => {
  // The head's ranking can show the last department alone, or nine of it with one of the department
  // before and none of the third (the second path, on the demo's model and its rail's impressions).
  for (const [n, path, last] of [
    [1, ['kit-01a', 'gar-01a', 'out-01a', 'toy-01a', 'pet-01a'], ['Pets', 'Toys', 'Outdoor']],
    [2, ['kit-01a', 'gar-01a', 'sta-01a', 'out-01a', 'clo-01a'], ['Clothing', 'Outdoor', 'Stationery']],
  ] as const) {
    await openDemo(page, `?namespace=e2e-demo-wander-${n}`);
    for (const id of path) await clickProduct(page, id);
    // The rail once it has taken in the last click: each of the three twice or more.
    await expect
      .poll(async () => {
        const cats = await railCategories(page);
        return last.map((g) => `${g} ${Math.min(2, cats.filter((c) => c === g).length)}`);
      })
      .toEqual(last.map((g) => `${g} 2`));
  }
});

test('the panel names the backend, with and without WebGPU', async () => {
  for (const [webgpu, query, expected] of [
    [false, '?namespace=e2e-b1', /^WASM: no WebGPU adapter/],
    [true, '?namespace=e2e-b2', /^WASM: WebGPU adapter is swiftshader \(software\)/],
    [true, '?namespace=e2e-b3&backend=webgpu', /^WebGPU: swiftshader/],
  ] as const) {
    const browser = await launch(webgpu);
    const page = await browser.newPage({ baseURL: 'http://localhost:4173/' });
    await openDemo(page, query);
    await expect(page.getByTestId('backend')).toHaveText(expected);
    await clickProduct(page, 'kit-02a');
    await expect(page.getByTestId('clicks')).toHaveText('1');
    await browser.close();
  }
});

test('works with the keyboard alone: open a product, then reach the rail', async ({ page }) => {
  await openDemo(page, '?namespace=e2e-kbd');
  // Tab from the top to the first product card and open it with Enter.
  await page.locator('body').focus();
  let onCard = false;
  for (let i = 0; i < 30 && !onCard; i++) {
    await page.keyboard.press('Tab');
    onCard = await page.evaluate(() => document.activeElement?.classList.contains('card') ?? false);
  }
  expect(onCard).toBe(true);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByTestId('clicks')).toHaveText('1');
  let inRail = false;
  for (let i = 0; i < 30 && !inRail; i++) {
    await page.keyboard.press('Tab');
    inRail = await page.evaluate(() => !!document.activeElement?.closest('[aria-label="Recommended for you"]'));
  }
  expect(inRail).toBe(true);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('clicks')).toHaveText('2');
});

test('reads on a phone-sized viewport', async ({ browser }, info) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, baseURL: 'http://localhost:4173/' });
  await openDemo(page, '?namespace=e2e-phone');
  await clickProduct(page, 'hom-02a');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: info.outputPath('demo-phone.png') });
  // On a phone the rail comes first, above the products.
  const railTop = await rail(page).evaluate((e) => e.getBoundingClientRect().top + window.scrollY);
  expect(
    railTop,
    await page.evaluate(() => `${location.href} ${document.querySelector('.layout')?.getBoundingClientRect().top}`),
  ).toBeLessThan(844);
});

test('a shop can point the demo at its own catalogue with ?catalog=', async ({ page }) => {
  const items = [
    { id: 'x1', title: 'Lemon drizzle cake', category: 'Bakery' },
    { id: 'x2', title: 'Sourdough loaf', category: 'Bakery' },
    { id: 'x3', title: 'Espresso beans', category: 'Coffee' },
    ...Array.from({ length: 12 }, (_, i) => ({ id: `y${i}`, title: `Garden hose ${i}`, category: 'Garden' })),
  ];
  await page.route('**/my-catalog.json', (r) => r.fulfill({ json: items }));
  await page.goto('index.html?catalog=my-catalog.json&namespace=e2e-own&storage=memory');
  await expect(page.locator('.grid [data-clickwise-item]')).toHaveCount(items.length);
  await expect(page.getByTestId('storage')).toHaveText(/memory/);
});

test('products show before the recommender is ready, and the rail fills in when it is', async ({ page }) => {
  // Hold the model's manifest until the grid has been checked.
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  await page.route('**/models/manifest.json', async (route) => {
    await held;
    await route.continue();
  });
  await page.goto('index.html?namespace=e2e-early');
  await expect(page.locator('.grid [data-clickwise-item]').first()).toBeVisible();
  expect(await page.locator('.grid [data-clickwise-item]').count()).toBeGreaterThan(100);
  await expect(rail(page).locator('[data-clickwise-item]')).toHaveCount(0);
  release();
  await expect(rail(page).locator('[data-clickwise-item]')).toHaveCount(10);
});

test('the shop keeps working when the recommender cannot start', async ({ page }) => {
  await page.route('**/models/manifest.json', (route) => route.fulfill({ status: 500, body: 'down' }));
  await page.goto('index.html?namespace=e2e-down');
  await expect(rail(page)).toContainText('Recommendations are not available right now');
  await page.locator('.grid [data-clickwise-item="kit-02a"]').click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await page.getByRole('link', { name: '← All products' }).click();
  await expect(page.locator('.grid [data-clickwise-item]').first()).toBeVisible();
});

test('on a 1280×800 screen the panel and reset stay reachable, and a product opens at its top', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, baseURL: 'http://localhost:4173/' });
  await openDemo(page, '?namespace=e2e-reach');
  const last = page.locator('.grid [data-clickwise-item]').last();
  await last.scrollIntoViewIfNeeded();
  expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(2000);
  // Far down the page, the reset is still on screen (the side column scrolls on its own).
  const reset = page.getByRole('button', { name: /reset/i });
  await reset.scrollIntoViewIfNeeded();
  const box = (await reset.boundingBox())!;
  expect(box.y + box.height).toBeLessThanOrEqual(800);
  expect(box.y).toBeGreaterThanOrEqual(0);
  expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(2000);
  await last.click();
  await expect(page.getByRole('heading', { level: 1 })).toBeInViewport();
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBe(0);
  await page.close();
});

test('on a phone, the rail is in view after a tap on a product far down', async ({ browser }) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, baseURL: 'http://localhost:4173/' });
  await openDemo(page, '?namespace=e2e-phone-tap');
  const far = page.locator('.grid [data-clickwise-item]').nth(60);
  await far.scrollIntoViewIfNeeded();
  await far.click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(rail(page)).toBeInViewport();
  await page.close();
});

test('the panel says in plain words what was learned; the comparison shows the list without learning', async ({ page }) => {
  await openDemo(page, '?namespace=e2e-plain');
  await expect(page.getByTestId('leaning')).toHaveText(/Nothing yet/);
  for (const id of ['out-01a', 'out-04b', 'out-06c']) await clickProduct(page, id);
  await expect(page.getByTestId('leaning')).toContainText('Outdoor');
  await expect(page.getByTestId('because-items')).not.toBeEmpty();
  await expect(page.getByTestId('storage')).toHaveText(/In this browser only \(IndexedDB\)\. Nothing is sent anywhere\./);
  await page.getByLabel('Compare with').selectOption('the list without learning');
  const without = page.getByRole('region', { name: 'Without learning' });
  await expect(without.locator('[data-clickwise-item]')).toHaveCount(10);
  // The comparison got the same clicks: its list is explained by them too.
  await expect(without.locator('.why').first()).toHaveText(/because you viewed/);
});

test('the comparison with this product alone shows what the earlier clicks add to the list', async ({ page }) => {
  await openDemo(page, '?namespace=e2e-alone');
  for (const id of ['toy-02a', 'toy-05b', 'out-01a']) await clickProduct(page, id);
  await page.getByLabel('Compare with').selectOption('this product alone');
  const alone = page.getByRole('region', { name: 'This product alone' });
  // No product open: what every shopper is shown.
  await expect(alone.locator('.hint')).toHaveText(/No product open/);
  await expect(alone.locator('[data-clickwise-item]')).toHaveCount(10);
  await page.locator('.grid [data-clickwise-item="out-04b"]').click();
  const title = await page.getByRole('heading', { level: 1 }).textContent();
  await expect(alone.locator('.hint')).toHaveText(new RegExp(`Only ${title}`));
  // Every reason the list gives is the product on screen: none of the earlier clicks counts.
  await expect
    .poll(async () =>
      [...new Set(await alone.locator('.why').evaluateAll((els) => els.map((e) => e.textContent ?? '')))].filter((t) =>
        t.startsWith('because'),
      ),
    )
    .toEqual([`because you viewed ${title}`]);
  // The learned list keeps the Toys the shopper looked at first; the product alone shows none.
  const categories = (region: typeof alone) =>
    region.locator('[data-clickwise-item]').evaluateAll((els) => els.map((e) => e.getAttribute('data-category') ?? ''));
  await expect.poll(async () => (await categories(rail(page))).filter((c) => c === 'Toys').length).toBeGreaterThanOrEqual(3);
  expect((await categories(alone)).filter((c) => c === 'Toys')).toEqual([]);
  // Changing product starts the comparison again from that product.
  await page.getByRole('link', { name: '← All products' }).click();
  await expect(alone.locator('.hint')).toHaveText(/No product open/);
  await page.locator('.grid [data-clickwise-item="toy-03a"]').click();
  const toy = await page.getByRole('heading', { level: 1 }).textContent();
  await expect(alone.locator('.hint')).toHaveText(new RegExp(`Only ${toy}`));
  await expect.poll(async () => (await categories(alone)).filter((c) => c === 'Outdoor').length).toBeLessThan(3);
  // Its resets and clicks are the demo's own: nothing of them is stored in the shopper's browser.
  const databases = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name ?? ''));
  expect(databases).toContain('clickwise:e2e-alone');
  expect(databases.filter((name) => name.includes('alone-this-product'))).toEqual([]);
});

test('screenshots of the demo at 1280×800 and 390×844 (written to docs/screenshots with CLICKWISE_SCREENSHOTS=1)', async ({
  browser,
}, info) => {
  const out = (name: string): string => (process.env['CLICKWISE_SCREENSHOTS'] === '1' ? `docs/screenshots/${name}` : info.outputPath(name));
  for (const [name, viewport] of [
    ['demo-1280x800.png', { width: 1280, height: 800 }],
    ['demo-390x844.png', { width: 390, height: 844 }],
  ] as const) {
    const page = await browser.newPage({ viewport, baseURL: 'http://localhost:4173/' });
    await openDemo(page, `?namespace=e2e-shot-${viewport.width}`);
    for (const id of ['out-01a', 'out-04b', 'toy-02a']) await clickProduct(page, id);
    if (viewport.width > 800) await page.getByLabel('Compare with').selectOption('this product alone');
    await page.locator('.grid [data-clickwise-item="out-06c"]').click();
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await expect(rail(page).locator('[data-clickwise-item]')).toHaveCount(10);
    if (viewport.width > 800)
      await expect(page.getByRole('region', { name: 'This product alone' }).locator('[data-clickwise-item]')).toHaveCount(10);
    // Let the lists' moves (300 ms) finish: a picture, not a check.
    await page.waitForTimeout(800);
    await page.screenshot({ path: out(name), animations: 'disabled' });
    await page.close();
  }
});
