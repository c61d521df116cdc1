import type { Browser, Page } from '@playwright/test';
import { chromium } from '@playwright/test';
import { BASE_ARGS, CHROMIUM, WEBGPU_ARGS } from '../playwright.config.js';

export const BASE_URL = 'http://localhost:4173/';

/** Launches Debian Chromium with or without the WebGPU flag (SwiftShader adapter when on). */
export function launch(webgpu: boolean): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: webgpu ? WEBGPU_ARGS : BASE_ARGS });
}

/**
 * Serves a page at `path` holding only the Clickwise tag (with the given data attributes) and
 * optional body markup, as a shop would. Everything else comes from dist/.
 */
export async function tagPage(
  page: Page,
  attrs: Record<string, string>,
  body = '',
  path = 'e2e-tag.html',
  headers: Record<string, string> = {},
): Promise<void> {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${v}"`)
    .join('');
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>tag</title></head><body>${body}<script src="clickwise.js"${a}></script></body></html>`;
  await page.route(`**/${path}`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html, headers }));
  await page.goto(BASE_URL + path);
}

/** Console errors of a page, collected from now on. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

/**
 * How many catalogue entries the page's origin has saved for its next visit (0 before the
 * database exists). The save runs in the background after a load, piece by piece while the
 * shopper is quiet: a test that wants the next visit to find it waits for it.
 */
export function preparedEntries(page: Page): Promise<number> {
  return storeCount(page, 'clickwise-prepared', 'headers');
}

/** How many catalogue vectors the page's origin holds in its embedding cache (written after the prepared entry). */
export function cachedVectors(page: Page): Promise<number> {
  return storeCount(page, 'clickwise-embeddings', 'vectors');
}

/** The number of records in one object store of one of the page origin's databases (0 where there is none). */
function storeCount(page: Page, db: string, store: string): Promise<number> {
  return page.evaluate(
    ([name, storeName]) =>
      new Promise<number>((resolve) => {
        const req = indexedDB.open(name);
        // A database that does not exist yet is not made here (a version 1 with no stores would
        // stop the page's own upgrade from making them).
        req.onupgradeneeded = () => req.transaction?.abort();
        req.onerror = () => resolve(0);
        req.onsuccess = () => {
          const opened = req.result;
          if (!opened.objectStoreNames.contains(storeName)) {
            opened.close();
            resolve(0);
            return;
          }
          const count = opened.transaction(storeName).objectStore(storeName).count();
          count.onsuccess = () => {
            opened.close();
            resolve(count.result);
          };
          count.onerror = () => {
            opened.close();
            resolve(0);
          };
        };
      }),
    [db, store] as const,
  );
}
