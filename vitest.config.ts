import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Each run's temporary folders in a folder of its own, checked for leftovers at the end.
    globalSetup: ['test/temp-folders.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps one global engine per process: run files in separate processes, tests in order.
    pool: 'forks',
    fileParallelism: true,
  },
});
