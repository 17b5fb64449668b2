import { FlotillaError } from '@flotilla/errors';

/** Every code this package can report; one registry so callers can switch on them. */
export type ManifestErrorCode =
  | 'manifest.yaml-syntax'
  | 'manifest.duplicate-key'
  | 'manifest.alias-bomb'
  | 'manifest.too-large'
  | 'manifest.too-many-documents'
  | 'manifest.not-an-object'
  | 'manifest.missing-field'
  | 'manifest.invalid-field'
  | 'manifest.invalid-name'
  | 'manifest.duplicate-object'
  | 'bundle.invalid-json'
  | 'bundle.invalid-shape'
  | 'bundle.too-large'
  | 'bundle.too-many-objects'
  | 'bundle.digest-mismatch'
  | 'canonical-json.unsupported-value';

/** Where in the input a problem sits. Lines and columns are 1-based. */
export interface SourceLocation {
  file?: string;
  /** 0-based index of the YAML document (or of the object inside a bundle). */
  document?: number;
  line?: number;
  column?: number;
  /** JSON-pointer-ish path inside the object, e.g. `.metadata.name`. */
  path?: string;
}

/**
 * Invalid input never gets better by retrying, so every manifest error stalls. Location fields are
 * also copied into `details` so `toJSON()` (what goes into events) carries them.
 */
export class ManifestError extends FlotillaError {
  declare readonly code: ManifestErrorCode;
  readonly file: string | undefined;
  readonly document: number | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  readonly path: string | undefined;
  /** All problems when one error stands for many (e.g. encoding an invalid bundle). */
  errors: ManifestError[] = [];

  constructor(code: ManifestErrorCode, message: string, location: SourceLocation = {}, cause?: unknown) {
    const details: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(location)) if (v !== undefined) details[k] = v;
    super(code, message, { disposition: 'stall', details, cause });
    this.name = 'ManifestError';
    this.file = location.file;
    this.document = location.document;
    this.line = location.line;
    this.column = location.column;
    this.path = location.path;
  }

  /** Attaches the full list of problems; also copied into `details.errors` for events. */
  withErrors(errors: ManifestError[]): this {
    this.errors = errors;
    this.details.errors = errors.map((e) => e.toJSON());
    return this;
  }

  /** `file:line:col: message [code]`, the shape editors and CI logs link from. */
  format(): string {
    const where = [this.file ?? '<input>', this.line, this.column].filter((x) => x !== undefined).join(':');
    return `${where}: ${this.message} [${this.code}]`;
  }
}

export function isManifestError(err: unknown): err is ManifestError {
  return err instanceof ManifestError;
}
