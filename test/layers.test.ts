/** The lint rules that keep the layers pointing one way actually fire, with a message that says why. */
import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

async function lint(code: string, file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: resolve(root, file) });
  return (result?.messages ?? []).map((m) => m.message);
}

describe('layer rules', () => {
  it.each([
    ["import { openDB } from 'idb';\nvoid openDB;\n", 'idb'],
    ["import { useState } from 'react';\nvoid useState;\n", 'react'],
    ["import { openDeltaStore } from '../storage/index.js';\nvoid openDeltaStore;\n", 'storage'],
    ['export const x = document.title;\n', 'document'],
  ])('rejects %s in src/core', async (code) => {
    const messages = await lint(code, 'src/core/__layer_probe.ts');
    expect(messages.join('\n')).toMatch(/src\/core must stay free of DOM, React and IndexedDB/);
  });

  it('lets src/storage use idb but not React', async () => {
    expect(await lint("import { openDB } from 'idb';\nvoid openDB;\n", 'src/storage/__probe.ts')).toEqual([]);
    expect((await lint("import { useState } from 'react';\nvoid useState;\n", 'src/storage/__probe.ts')).join()).toMatch(/below React/);
  });

  it('forbids synchronous tensor reads anywhere in src', async () => {
    const messages = await lint(
      "import * as tf from '@tensorflow/tfjs-core';\nexport const v = tf.scalar(1).dataSync();\n",
      'src/core/__probe.ts',
    );
    expect(messages.join()).toMatch(/await t\.data\(\)/);
  });
});
