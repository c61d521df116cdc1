/**
 * Typed errors. Every message says what went wrong and what to do about it, and lists the valid
 * values where there is a closed set. Callers can match on the class or on `code`.
 */

/**
 * Base class of every error Clickwise throws on purpose. Each class names itself in `name`
 * (not from the class's own name, which a minifier renames in the storefront tag's build).
 */
export class ClickwiseError extends Error {
  override name = 'ClickwiseError';
  /** A stable machine-readable code, e.g. `'catalog/duplicate-id'`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The catalogue handed to Clickwise is malformed. Nothing was changed. */
export class CatalogError extends ClickwiseError {
  override name = 'CatalogError';
}

/** An option or argument has an invalid value. Nothing was changed. */
export class ArgumentError extends ClickwiseError {
  override name = 'ArgumentError';
}

/** An item id that is not in the catalogue. Nothing was learned. */
export class UnknownItemError extends ClickwiseError {
  override name = 'UnknownItemError';
  readonly itemId: string;
  constructor(itemId: string) {
    super(
      'item/unknown-id',
      `Unknown item id ${JSON.stringify(itemId)}: it is not in the catalogue. ` +
        'Check that data-clickwise-item / click() use the same ids as the catalogue (ids are compared as strings).',
    );
    this.itemId = itemId;
  }
}

/** A model file could not be fetched, parsed, or has the wrong shape. */
export class ModelLoadError extends ClickwiseError {
  override name = 'ModelLoadError';
  /** The file (URL or path) that failed. */
  readonly file: string;
  /**
   * `code`: `'model/load'`, or `'model/later-version'` for a model written by a later version of
   * Clickwise (a form this version does not read).
   */
  constructor(file: string, message: string, options?: { cause?: unknown; code?: 'model/load' | 'model/later-version' }) {
    super(options?.code ?? 'model/load', message, options);
    this.file = file;
  }
}

/** A model file does not match the sha256 its manifest states. */
export class ChecksumError extends ClickwiseError {
  override name = 'ChecksumError';
  /** The file whose bytes did not match. */
  readonly file: string;
  readonly expected: string;
  readonly actual: string;
  /** `kind`: the digest compared, `sha256` or `k64` (see `ManifestFile`). */
  constructor(file: string, expected: string, actual: string, kind: 'sha256' | 'k64' = 'sha256') {
    super(
      'model/checksum',
      `Checksum mismatch for ${file}: manifest says ${kind} ${expected}, file has ${actual}. ` +
        'The model folder is corrupt or mixes two versions: redeploy it as one piece (manifest.json and its files together).',
    );
    this.file = file;
    this.expected = expected;
    this.actual = actual;
  }
}

/** No requested tfjs backend could be initialised. */
export class BackendError extends ClickwiseError {
  override name = 'BackendError';
}

/** The recommender was used after `dispose()`. */
export class DisposedError extends ClickwiseError {
  override name = 'DisposedError';
  constructor() {
    super('recommender/disposed', 'This recommender was disposed. Create a new one with createRecommender().');
  }
}
