/**
 * Text to tokens, and tokens to character n-gram hash buckets. Shared by the runtime encoder and
 * the offline build tool so that both see exactly the same tokens.
 */

/** Settings of the tokenizer, stored in the encoder manifest. */
export interface TokenizerConfig {
  /** Smallest and largest character n-gram, counted with the `<` `>` word boundary marks. */
  ngramMin: number;
  ngramMax: number;
  /** Number of hash buckets for n-grams. */
  buckets: number;
}

/**
 * Lower-cases, folds accents, and splits on anything that is not a letter or a digit. Tokens are
 * never dropped: a word the vocabulary lacks is embedded from its n-grams.
 */
export function tokenize(text: string): string[] {
  const folded = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
  return folded.split(/[^\p{L}\p{N}]+/u).filter((t) => t.length > 0);
}

/** 32-bit FNV-1a over the UTF-16 code units of `s`. Stable across platforms. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The n-gram hash buckets of one word (with boundary marks), de-duplicated, in order. */
export function ngramBuckets(word: string, cfg: TokenizerConfig): number[] {
  const w = `<${word}>`;
  const out: number[] = [];
  const seen = new Set<number>();
  for (let n = cfg.ngramMin; n <= cfg.ngramMax; n++) {
    for (let i = 0; i + n <= w.length; i++) {
      const b = fnv1a(w.slice(i, i + n)) % cfg.buckets;
      if (!seen.has(b)) {
        seen.add(b);
        out.push(b);
      }
    }
  }
  // A one-letter word has no n-gram of length >= 3 inside "<a>" other than itself.
  if (out.length === 0) out.push(fnv1a(w) % cfg.buckets);
  return out;
}
