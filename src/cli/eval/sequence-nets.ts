/**
 * The networks of the eval's two trained sequential baselines, over a shopper's last `maxLen`
 * items (left-padded; item i is row i + 1 of the embedding table E, row 0 the padding). Each gives
 * a hidden state at every position, scored against the item rows of E (tied input and output
 * embeddings), and is trained by `sequence-model.ts`.
 * - SASRec: item + learned position embeddings, causal self-attention blocks (one head,
 *   pre-layer-norm, feed-forward, residuals).
 * - GRU4Rec: a gated recurrent unit over the item embeddings (one layer, hidden size `dims`),
 *   back-propagated through the whole window.
 */
import * as tf from '@tensorflow/tfjs-core';
import { lookup, matMul } from '../tf-ops.js';

/** The settings a network is built with. */
export interface NetOptions {
  dims: number;
  maxLen: number;
  /** SASRec's attention blocks (default 2). */
  blocks?: number;
  dropout?: number;
}

/** The networks `sequence-model.ts` trains. */
export type NetKind = 'sasrec' | 'gru4rec';

/** The network: its weights, and its hidden states and scores for histories of shifted items. */
export interface SequenceNet {
  variables: tf.Variable[];
  forward(X: tf.Tensor2D, training: boolean): tf.Tensor3D;
  /**
   * Scores [histories.length × n] of the catalogue after each history (items shifted by one: 0 is
   * padding). `itemsT`, the item rows transposed ([d, n]), saves taking them from E on each call
   * once the weights no longer change.
   */
  scoreShifted(histories: readonly (readonly number[])[], itemsT?: tf.Tensor2D): Promise<Float32Array>;
  /** The item rows of E transposed ([d, n]), as scoring reads them. */
  itemsT(): tf.Tensor2D;
  dispose(): void;
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), gamma), beta);
}

interface Block {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  Wq: tf.Variable;
  Wk: tf.Variable;
  Wv: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  W1: tf.Variable;
  b1: tf.Variable;
  W2: tf.Variable;
  b2: tf.Variable;
}

/**
 * The network with random weights drawn from `rand`, or with `weights` (in the order of
 * `variables`) where given.
 */
export function buildSasrecNet(n: number, o: NetOptions, rand: () => number, weights?: readonly Float32Array[]): SequenceNet {
  const d = o.dims;
  const L = o.maxLen;
  const nBlocks = o.blocks ?? 2;
  const drop = o.dropout ?? 0.2;
  const init = (shape: number[], scale: number): tf.Variable =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', Math.floor(rand() * 1e9)), scale));
  const E = init([n + 1, d], 1 / Math.sqrt(d)) as tf.Variable<tf.Rank.R2>;
  const P = init([L, d], 0.02);
  const blocks: Block[] = [];
  for (let b = 0; b < nBlocks; b++) {
    blocks.push({
      ln1g: tf.variable(tf.ones([d])),
      ln1b: tf.variable(tf.zeros([d])),
      Wq: init([d, d], 1 / Math.sqrt(d)),
      Wk: init([d, d], 1 / Math.sqrt(d)),
      Wv: init([d, d], 1 / Math.sqrt(d)),
      ln2g: tf.variable(tf.ones([d])),
      ln2b: tf.variable(tf.zeros([d])),
      W1: init([d, d], 1 / Math.sqrt(d)),
      b1: tf.variable(tf.zeros([d])),
      W2: init([d, d], 1 / Math.sqrt(d)),
      b2: tf.variable(tf.zeros([d])),
    });
  }
  const lnFg = tf.variable(tf.ones([d]));
  const lnFb = tf.variable(tf.zeros([d]));
  // Causal mask: position i attends to j ≤ i.
  const causal = tf.tidy(() => tf.linalg.bandPart(tf.ones([L, L]), -1, 0));

  // Dropout draws from the seeded generator too, so a run is reproducible.
  const dropout = (x: tf.Tensor): tf.Tensor => tf.dropout(x, drop, undefined, Math.floor(rand() * 2 ** 31));
  /**
   * The input states [b, L, d] of left-padded sequences X [b, L], the column [b, L, 1] that zeroes
   * the padded positions, and the attention's mask [b, L, L]: keys causal and not padding (padded
   * queries are masked out of the loss).
   */
  const embed = (X: tf.Tensor2D, training: boolean): { h: tf.Tensor; padCol: tf.Tensor; negInf: tf.Tensor } => {
    const pad = tf.cast(tf.notEqual(X, 0), 'float32'); // [b, L]
    const padCol = tf.expandDims(pad, 2);
    let h = tf.add(tf.mul(lookup(E, X), Math.sqrt(d)), P);
    if (training) h = dropout(h);
    const allowed = tf.mul(tf.expandDims(causal, 0), tf.expandDims(pad, 1));
    return { h: tf.mul(h, padCol), padCol, negInf: tf.mul(tf.sub(1, allowed), -1e9) };
  };
  /** Keys and values [b, L, d] of a block's input states `h` [b, L, d]. */
  const keysValues = (bl: Block, h: tf.Tensor, nb: number): [tf.Tensor3D, tf.Tensor3D] => {
    const flatH = tf.reshape(h, [nb * L, d]);
    return [tf.reshape(matMul(flatH, bl.Wk), [nb, L, d]), tf.reshape(matMul(flatH, bl.Wv), [nb, L, d])];
  };
  /**
   * A block from its queries' layer-normed states `x` [b, m, d] (the last m positions), the keys
   * and values of every position and the attention's mask [b, m, L] (a large negative number
   * where a query may not look); `padCol` [b, m, 1] zeroes the padded positions' output.
   */
  const attend = (
    bl: Block,
    x: tf.Tensor,
    [k, v]: [tf.Tensor3D, tf.Tensor3D],
    negInf: tf.Tensor,
    padCol: tf.Tensor,
    training: boolean,
  ): tf.Tensor => {
    const [nb, m] = x.shape as [number, number, number];
    const q = tf.reshape(matMul(tf.reshape(x, [nb * m, d]), bl.Wq), [nb, m, d]);
    let att = tf.softmax(tf.add(tf.div(matMul(q, k, false, true), Math.sqrt(d)), negInf));
    if (training) att = dropout(att);
    const h = tf.add(x, matMul(att, v));
    const y = tf.reshape(layerNorm(h, bl.ln2g, bl.ln2b), [nb * m, d]);
    let f = tf.add(matMul(tf.relu(tf.add(matMul(y, bl.W1), bl.b1)), bl.W2), bl.b2);
    if (training) f = dropout(f);
    return tf.mul(tf.add(h, tf.reshape(f, [nb, m, d])), padCol);
  };
  /** Hidden states [b, L, d] of left-padded sequences X [b, L]. */
  const forward = (X: tf.Tensor2D, training: boolean): tf.Tensor3D => {
    const nb = X.shape[0];
    const { h: input, padCol, negInf } = embed(X, training);
    let h = input;
    for (const bl of blocks) h = attend(bl, layerNorm(h, bl.ln1g, bl.ln1b), keysValues(bl, h, nb), negInf, padCol, training);
    return layerNorm(h, lnFg, lnFb) as tf.Tensor3D;
  };
  /**
   * The last position's hidden state [b, d], as `forward`'s last row (the same operations on the
   * same rows, so the same numbers), without the queries, attention and feed-forward of the other
   * positions in the last block, which scoring does not read: the eval's replay scores each event
   * from its history's last state alone.
   */
  const forwardLast = (X: tf.Tensor2D): tf.Tensor2D => {
    const nb = X.shape[0];
    const { h: input, padCol, negInf } = embed(X, false);
    let h = input;
    for (const bl of blocks.slice(0, -1)) h = attend(bl, layerNorm(h, bl.ln1g, bl.ln1b), keysValues(bl, h, nb), negInf, padCol, false);
    const last = (t: tf.Tensor): tf.Tensor => tf.slice(t, [0, L - 1, 0], [nb, 1, t.shape[2]!]);
    const bl = blocks[blocks.length - 1];
    h = bl ? attend(bl, layerNorm(last(h), bl.ln1g, bl.ln1b), keysValues(bl, h, nb), last(negInf), last(padCol), false) : last(h);
    return tf.reshape(layerNorm(h, lnFg, lnFb), [nb, d]);
  };
  const variables = [E, P, lnFg, lnFb, ...blocks.flatMap((b) => Object.values(b) as tf.Variable[])];
  return withScoring(n, o, E, variables, forward, weights, [causal], forwardLast);
}

/**
 * A GRU over the item embeddings: at each position z = σ(x·Wz + h·Uz + bz), r = σ(x·Wr + h·Ur + br),
 * c = tanh(x·Wc + r ⊙ (h·Uc) + bc), and h moves to h + z ⊙ (c − h). The input projections of the
 * whole window are one product; the padding (always before the items) keeps h at 0.
 */
export function buildGruNet(n: number, o: NetOptions, rand: () => number, weights?: readonly Float32Array[]): SequenceNet {
  const d = o.dims;
  const L = o.maxLen;
  const drop = o.dropout ?? 0.2;
  const init = (shape: number[], scale: number): tf.Variable =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', Math.floor(rand() * 1e9)), scale));
  const E = init([n + 1, d], 1 / Math.sqrt(d)) as tf.Variable<tf.Rank.R2>;
  // The three gates' weights side by side: update, reset, candidate.
  const Wx = init([d, 3 * d], 1 / Math.sqrt(d));
  const Uh = init([d, 3 * d], 1 / Math.sqrt(d));
  const b = tf.variable(tf.zeros([3 * d]));
  const dropout = (x: tf.Tensor): tf.Tensor => tf.dropout(x, drop, undefined, Math.floor(rand() * 2 ** 31));
  const forward = (X: tf.Tensor2D, training: boolean): tf.Tensor3D => {
    const nb = X.shape[0];
    const pad = tf.cast(tf.notEqual(X, 0), 'float32'); // [b, L]
    let x = lookup(E, X) as tf.Tensor; // [b, L, d]
    if (training) x = dropout(x);
    const xp = tf.reshape(tf.add(matMul(tf.reshape(x, [nb * L, d]), Wx), b), [nb, L, 3 * d]);
    let h: tf.Tensor = tf.zeros([nb, d]);
    const states: tf.Tensor[] = [];
    for (let t = 0; t < L; t++) {
      const xt = tf.reshape(tf.slice(xp, [0, t, 0], [nb, 1, 3 * d]), [nb, 3 * d]);
      const hp = matMul(h, Uh);
      const gate = (k: number, from: tf.Tensor): tf.Tensor => tf.slice(from, [0, k * d], [nb, d]);
      const z = tf.sigmoid(tf.add(gate(0, xt), gate(0, hp)));
      const r = tf.sigmoid(tf.add(gate(1, xt), gate(1, hp)));
      const c = tf.tanh(tf.add(gate(2, xt), tf.mul(r, gate(2, hp))));
      h = tf.mul(tf.add(h, tf.mul(z, tf.sub(c, h))), tf.slice(pad, [0, t], [nb, 1]));
      states.push(h);
    }
    let H = tf.stack(states, 1);
    if (training) H = dropout(H);
    return H as tf.Tensor3D;
  };
  return withScoring(n, o, E, [E, Wx, Uh, b], forward, weights, []);
}

/**
 * A network from its forward pass: scoring of the catalogue after each history by the last
 * position's state times the item rows of E, and the trained weights set where given.
 */
function withScoring(
  n: number,
  o: NetOptions,
  E: tf.Variable<tf.Rank.R2>,
  variables: tf.Variable[],
  forward: (X: tf.Tensor2D, training: boolean) => tf.Tensor3D,
  weights: readonly Float32Array[] | undefined,
  constants: tf.Tensor[],
  forwardLast: (X: tf.Tensor2D) => tf.Tensor2D = (X) =>
    tf.reshape(tf.slice(forward(X, false), [0, o.maxLen - 1, 0], [X.shape[0], 1, o.dims]), [X.shape[0], o.dims]),
): SequenceNet {
  const d = o.dims;
  const L = o.maxLen;
  const itemsT = (): tf.Tensor2D => tf.tidy(() => tf.transpose(tf.slice(E, [1, 0], [n, d])));
  /** Scores [histories.length × n] of the catalogue after each history (items shifted by one). */
  const scoreShifted = async (histories: readonly (readonly number[])[], ready?: tf.Tensor2D): Promise<Float32Array> => {
    const X = new Int32Array(histories.length * L);
    histories.forEach((h, r) => {
      const tail = h.slice(-L);
      tail.forEach((item, j) => (X[r * L + L - tail.length + j] = item));
    });
    const s = tf.tidy(() => {
      const last = forwardLast(tf.tensor2d(X, [histories.length, L], 'int32'));
      return ready ? tf.matMul(last, ready) : tf.matMul(last, itemsT());
    });
    const data = (await s.data()) as Float32Array;
    s.dispose();
    return data;
  };
  if (weights) {
    if (weights.length !== variables.length) throw new Error(`${weights.length} weight arrays for ${variables.length} variables.`);
    variables.forEach((v, k) => v.assign(tf.tensor(weights[k]!, v.shape)));
  }
  return {
    variables,
    forward,
    scoreShifted,
    itemsT,
    dispose: () => tf.dispose([...variables, ...constants]),
  };
}

/** Builds a network of the given kind. */
export function buildNet(kind: NetKind, n: number, o: NetOptions, rand: () => number, weights?: readonly Float32Array[]): SequenceNet {
  return kind === 'gru4rec' ? buildGruNet(n, o, rand, weights) : buildSasrecNet(n, o, rand, weights);
}
