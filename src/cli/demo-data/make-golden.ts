/**
 * `npm run make:golden`: records the encoder's output on a small fixture of product texts
 * (test/fixtures/encoder-golden.json). The unit test compares the encoder with it, so a change
 * to the tokenizer, the model files or the pooling that moves vectors is caught. Rerun it, and
 * say why in the commit, only when the encoder is meant to change.
 */
import { writeFileSync } from 'node:fs';
import { initBackend } from '../../core/backend.js';
import { loadEncoder } from '../../core/encoder.js';

export const GOLDEN_TEXTS = [
  { title: 'White hanging heart tea light holder', category: 'Home' },
  { title: 'Candle lantern', description: 'Glass lantern for tea lights' },
  { title: 'Stoneware Coffee Mug', category: 'Kitchen', description: 'Holds 350 ml.' },
  { title: 'Glowbrite zorbulator', description: 'A word the vocabulary has never seen.' },
  { title: 'Café crème bowl, 12 cm', category: 'Kitchen' },
];

async function main(): Promise<void> {
  await initBackend('cpu');
  const enc = await loadEncoder({ modelUrl: 'models/encoder' });
  const t = await enc.encode(GOLDEN_TEXTS);
  const vectors = (await t.array()) as number[][];
  t.dispose();
  const out = {
    encoderVersion: enc.version,
    dims: enc.dims,
    texts: GOLDEN_TEXTS,
    vectors: vectors.map((v) => v.map((x) => Number(x.toFixed(6)))),
  };
  writeFileSync('test/fixtures/encoder-golden.json', JSON.stringify(out) + '\n');
  console.log(`wrote test/fixtures/encoder-golden.json for ${enc.version}`);
  enc.dispose();
}

void main();
