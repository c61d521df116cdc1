// End-to-end tests in Debian's Chromium (Playwright's own browser download does not work here),
// against the built site in dist/ served statically by `vite preview`.
import { defineConfig } from '@playwright/test';

export const CHROMIUM = process.env['CLICKWISE_CHROMIUM'] ?? '/usr/bin/chromium';
export const BASE_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const WEBGPU_ARGS = [...BASE_ARGS, '--enable-unsafe-webgpu'];
const PORT = 4173;

export default defineConfig({
  testDir: 'e2e',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  // Each run's temporary folders, checked at its end for any a test left behind.
  globalSetup: './e2e/temp-folders.ts',
  use: {
    baseURL: `http://localhost:${PORT}/`,
    launchOptions: { executablePath: CHROMIUM, args: BASE_ARGS },
    trace: 'off',
  },
  webServer: {
    command: `npx vite preview --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}/`,
    // Never test a server this run did not start: another build may be listening on the port.
    // `--strictPort` then fails at once, naming the port, instead of testing the wrong site.
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
