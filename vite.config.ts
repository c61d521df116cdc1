// Vite builds the demo storefront (index.html → dist/) and serves it in development. The shipped
// models (models/) and the tfjs WASM binaries are served from the same origin, at /models/ and
// /tfjs/, and copied into dist/ on build: a storefront never fetches anything from a third party.
import { cpSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { Plugin } from 'vite';
import { defineConfig } from 'vite';
import { writeShopPages } from './src/cli/demo-data/shop-pages.js';

const root = import.meta.dirname;
const wasmDir = resolve(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
const mounts: Record<string, string> = { '/models/': resolve(root, 'models'), '/tfjs/': wasmDir };
const types: Record<string, string> = {
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

/** Serves models/ and the WASM binaries in dev, and copies them into dist/ on build. */
function clickwiseAssets(): Plugin {
  let outDir = resolve(root, 'dist');
  return {
    name: 'clickwise-assets',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = (req.url ?? '').split('?')[0]!;
        for (const [prefix, dir] of Object.entries(mounts)) {
          if (!url.startsWith(prefix)) continue;
          const file = resolve(dir, decodeURIComponent(url.slice(prefix.length)));
          if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) break;
          res.setHeader('Content-Type', types[extname(file)] ?? 'application/octet-stream');
          createReadStream(file).pipe(res);
          return;
        }
        next();
      });
    },
    closeBundle() {
      cpSync(resolve(root, 'models'), join(outDir, 'models'), { recursive: true });
      mkdirSync(join(outDir, 'tfjs'), { recursive: true });
      for (const f of readdirSync(wasmDir).filter((x) => x.endsWith('.wasm'))) cpSync(join(wasmDir, f), join(outDir, 'tfjs', f));
      writeShopPages(outDir, resolve(root, 'public', 'catalog.json'));
    },
  };
}

export default defineConfig({
  base: './',
  // A multi-page static site: unknown paths are 404s, as on any shop's static server.
  appType: 'mpa',
  plugins: [clickwiseAssets()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2000,
    // The demo, and the benchmark page that `npm run bench` drives.
    rollupOptions: { input: { main: resolve(root, 'index.html'), bench: resolve(root, 'src/bench/bench.html') } },
  },
  server: { port: 5173, strictPort: false },
  preview: { port: 4173 },
});
