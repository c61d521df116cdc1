/**
 * The core: catalogue, tokenizer, encoder, head, recommender, backend choice, store interface.
 * Pure TypeScript + tfjs: no DOM, React or IndexedDB, so it runs in Node and in the browser.
 */
export { initBackend } from './backend.js';
export type { BackendChoice } from './backend.js';
export { lazyCatalog, validateCatalog } from './catalog.js';
export type { Catalog, CompactText, ValidatedCatalog } from './catalog.js';
export { indexCatalog } from './catalog-index.js';
export type { CatalogIndex, CatalogIndexer, EarlyCatalog, EarlyResult } from './catalog-index.js';
export { deflateBlocks } from './deflate-blocks.js';
export type { BlockBatch, BlockDeflater, DeflatedBlocks } from './deflate-blocks.js';
export { Emitter } from './emitter.js';
export { loadEncoder } from './encoder.js';
export type { Encoder, EncoderInput, EncoderManifest, LoadEncoderOptions } from './encoder.js';
export {
  ArgumentError,
  BackendError,
  CatalogError,
  ChecksumError,
  ClickwiseError,
  DisposedError,
  ModelLoadError,
  UnknownItemError,
} from './errors.js';
export { DEFAULT_HEAD_OPTIONS, IncrementalHead, normalisedHistory, pushHistory } from './head.js';
export type { BaseParams, HeadGradients, HeadOptions, HeadState, LearnInput } from './head.js';
export { defaultFetcher, joinLocation, prefetchingFetcher, sha256Hex } from './model-io.js';
export type { Fetcher, FetchOptions, ManifestFile, TensorSpec } from './model-io.js';
export { alignBase, loadHeadModel, loadModelManifest } from './model.js';
export type { HeadManifest, HeadModel, ModelManifest } from './model.js';
export { createRecommenderCore, loadHead } from './recommender.js';
export type {
  CoreRecommenderOptions,
  EmbeddingCache,
  LoadHeadOptions,
  Recommendation,
  RecommendOptions,
  Recommender,
  RecommenderEvents,
  RecommenderStats,
} from './recommender.js';
export { digestBytes, MemoryPreparedCache } from './prepared.js';
export type { MatrixShape, PreparedCache, PreparedCatalog, PreparedEntry, PreparedMatrix, SavedBase, SavedEntry } from './prepared.js';
export { mixSeed, mulberry32 } from './rng.js';
export { nextTask, Slicer } from './slice.js';
export { copyEvent, DEFAULT_KEEP_EVENTS, MAX_SEQ, MemoryDeltaStore } from './store.js';
export type { DeltaStore, RemoteChange, StoredEvent, StoredSnapshot, StoredState, StoreWarning } from './store.js';
export { fnv1a, ngramBuckets, tokenize } from './tokenizer.js';
export type { TokenizerConfig } from './tokenizer.js';
export type { BackendName, BackendRequest, Item, Progress, ProgressCallback, ProgressPhase } from './types.js';
export { whyText } from './why.js';
