/**
 * `clickwise/vite`: the Vite plugin for a storefront app that uses the library
 * (`clickwise` or `clickwise/react`). With it the app needs no asset options: the model and the
 * tfjs WASM binaries are served from the app's own origin at `<base>clickwise/models/` and
 * `<base>clickwise/tfjs/` in development, copied there on build, and named in a
 * `<meta name="clickwise-assets">` of each page, where `createRecommender` finds them.
 *
 * @example
 * // vite.config.js
 * import clickwise from 'clickwise/vite';
 * export default { plugins: [clickwise()] };
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { staticFiles } from './serve.js';

/** Options of the plugin. */
export interface ClickwiseViteOptions {
  /**
   * The model folder to serve: the one `npx clickwise maintain` wrote for this shop. Default: the
   * model shipped in the package.
   */
  models?: string;
}

/** The package's root: the folder of its package.json, found upward from this file. */
function packageRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'clickwise') return dir;
    } catch {
      // no package.json here
    }
    if (dirname(dir) === dir) throw new Error('clickwise/vite: the clickwise package folder was not found.');
  }
}

/** Every file under a folder, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(dir, f)).isFile());
}

export default function clickwise(options: ClickwiseViteOptions = {}): Plugin {
  const root = packageRoot();
  const models = resolve(options.models ?? join(root, 'models'));
  const wasm = dirname(createRequire(join(root, 'package.json')).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const wasmDir = join(wasm, 'dist');
  let base = '/';
  return {
    name: 'clickwise',
    configResolved(config) {
      base = config.base.endsWith('/') ? config.base : `${config.base}/`;
    },
    configureServer(server) {
      const serve = staticFiles({ [`${base}clickwise/models/`]: models, [`${base}clickwise/tfjs/`]: wasmDir });
      server.middlewares.use((req, res, next) => {
        if (!serve(req, res)) next();
      });
    },
    transformIndexHtml() {
      return [{ tag: 'meta', attrs: { name: 'clickwise-assets', content: `${base}clickwise/` }, injectTo: 'head' }];
    },
    generateBundle() {
      for (const f of filesUnder(models)) {
        this.emitFile({
          type: 'asset',
          fileName: `clickwise/models/${relative(models, join(models, f)).split('\\').join('/')}`,
          source: readFileSync(join(models, f)),
        });
      }
      for (const f of readdirSync(wasmDir).filter((x) => x.endsWith('.wasm'))) {
        this.emitFile({ type: 'asset', fileName: `clickwise/tfjs/${f}`, source: readFileSync(join(wasmDir, f)) });
      }
    },
  };
}
