// Builds the storefront script: dist/clickwise.js (a small classic script) and the runtime it
// imports lazily, dist/embed/runtime.js with one chunk per tfjs backend.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const root = import.meta.dirname;
const version = (JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { version: string }).version;

export default defineConfig(({ mode }) =>
  mode === 'loader'
    ? {
        publicDir: false,
        define: { __CLICKWISE_VERSION__: JSON.stringify(version) },
        build: {
          outDir: 'dist',
          emptyOutDir: false,
          target: 'es2020',
          lib: { entry: resolve(root, 'src/embed/loader.ts'), formats: ['iife'], name: 'ClickwiseLoader', fileName: () => 'clickwise.js' },
        },
      }
    : {
        publicDir: false,
        // Files the runtime asks for by URL (the catalogue's worker) are found next to it, wherever
        // the shop serves dist/embed/ from.
        base: './',
        // The workers have fixed names: the tag starts the catalogue's on a first visit while the
        // runtime's code still loads (src/embed/early-index.ts); the compaction's follows it.
        worker: { rolldownOptions: { output: { entryFileNames: (chunk) => `${chunk.name}.js` } } },
        build: {
          outDir: 'dist/embed',
          emptyOutDir: true,
          target: 'es2022',
          chunkSizeWarningLimit: 2000,
          lib: { entry: resolve(root, 'src/embed/runtime.ts'), formats: ['es'], fileName: () => 'runtime.js' },
        },
      },
);
