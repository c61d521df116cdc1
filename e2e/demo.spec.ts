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
