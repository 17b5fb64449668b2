import { Composer, type Document, isMap, LineCounter, Parser, type YAMLError } from 'yaml';
import { ManifestError, type ManifestErrorCode, type SourceLocation } from './errors.ts';
import { isPlainObject, type KubeObject } from './kube-object.ts';
import { type ManifestLimits, resolveLimits } from './limits.ts';
import { formatRef, type ObjectRef, refKey, refOf } from './object-ref.ts';
import { formatPath, type ObjectProblem, validateObject } from './validate-object.ts';

export interface ParseOptions {
  /** Shown in every error so users find the spot: a repo-relative path is best. */
  file?: string;
  limits?: Partial<ManifestLimits>;
  /**
   * Expand list objects (`List` and typed lists such as `ConfigMapList`) into their items, as
   * kubectl does. Default true.
   */
  expandLists?: boolean;
}

/** Where an object came from; lines and columns are 1-based, `document` is 0-based. */
export interface ObjectSource {
  file: string;
  document: number;
  line: number;
  column: number;
}

export interface ParsedObject {
  object: KubeObject;
  ref: ObjectRef;
  source: ObjectSource;
}

export interface ParseResult {
  /** True when `errors` is empty. Callers that apply must apply nothing unless ok. */
  ok: boolean;
  /** The objects that passed every check, in input order. */
  objects: ParsedObject[];
  /** Every problem found, in input order. */
  errors: ManifestError[];
}

/** Deepest nesting accepted; deeper input is hostile or broken and would risk the stack. */
const MAX_DEPTH = 256;
/** Lists inside lists are flattened this deep; deeper ones are reported as objects. */
const MAX_LIST_NESTING = 4;

function isListObject(value: unknown): value is { kind: string; items: unknown[] } {
  return (
    isPlainObject(value) &&
    typeof value.kind === 'string' &&
    value.kind.endsWith('List') &&
    Array.isArray(value.items)
  );
}

/**
 * Parses multi-document YAML into Kubernetes objects, safely: YAML 1.2 core schema (no
 * arbitrary types), alias expansion capped, size/document/depth limits, structural checks and
 * duplicate detection. Never throws for bad input: every problem comes back as a typed
 * {@link ManifestError} with file, line and column. Empty documents are skipped.
 */
export function parseManifests(text: string, options: ParseOptions = {}): ParseResult {
  const file = options.file ?? '<input>';
  const limits = resolveLimits(options.limits);
  const errors: ManifestError[] = [];
  const objects: ParsedObject[] = [];
  const done = (): ParseResult => ({ ok: errors.length === 0, objects, errors });

  if (typeof text !== 'string') {
    errors.push(new ManifestError('manifest.yaml-syntax', 'input is not text', { file }));
    return done();
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxInputBytes) {
    errors.push(
      new ManifestError(
        'manifest.too-large',
        `input is ${bytes} bytes, over the limit of ${limits.maxInputBytes}`,
        {
          file,
        },
      ),
    );
    return done();
  }

  const lineCounter = new LineCounter();
  const at = (offset: number, document: number, path?: string): SourceLocation => {
    const { line, col } = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, document, line, column: col, ...(path === undefined ? {} : { path }) };
  };
  const seen = new Map<string, ObjectSource>();

  let index = -1;
  try {
    const parser = new Parser(lineCounter.addNewLine);
    // YAML 1.2 core schema: `yes`/`on` stay strings, no custom tags. Merge keys (`<<`) are
    // allowed because real manifests use them; they count against maxAliasCount.
    const composer = new Composer({
      version: '1.2',
      schema: 'core',
      merge: true,
      uniqueKeys: true,
      strict: true,
    });
    for (const doc of composer.compose(parser.parse(text))) {
      index++;
      if (index >= limits.maxDocuments) {
        errors.push(
          new ManifestError(
            'manifest.too-many-documents',
            `more than ${limits.maxDocuments} documents; split the input`,
            at(doc.range[0], index),
          ),
        );
        break;
      }
      handleDocument(doc, index);
    }
  } catch (err) {
    // The yaml package reports problems per document; anything thrown is an internal limit
    // (e.g. stack depth). Report it, never let it escape untyped.
    errors.push(
      new ManifestError(
        err instanceof RangeError ? 'manifest.too-large' : 'manifest.yaml-syntax',
        `cannot parse YAML: ${err instanceof Error ? err.message : String(err)}`,
        { file, ...(index >= 0 ? { document: index } : {}) },
        err,
      ),
    );
  }
  return done();

  function handleDocument(doc: Document.Parsed, docIndex: number): void {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push(yamlError(e, docIndex));
      return;
    }
    const contents = doc.contents;
    if (contents === null) return; // empty document, e.g. a trailing `---`
    let value: unknown;
    try {
      value = toPlainJson(doc.toJS({ maxAliasCount: limits.maxAliasCount }), 0);
    } catch (err) {
      const [code, message] = classifyToJsError(err, limits.maxAliasCount);
      errors.push(new ManifestError(code, message, at(contents.range[0], docIndex), err));
      return;
    }
    // `null` / `~` documents are empty too.
    if (value === null) return;

    addOrExpand(value, doc, docIndex, [], 0);
    return;
  }

  /**
   * kubectl flattens every list object (any `…List` kind with an `items` array: `List`,
   * `ConfigMapList`, `RoleBindingList`, as kube-prometheus ships them) into its items, lists
   * inside lists included; so does this. A `…List` kind without `items` is an ordinary object
   * (CRDs such as `IPAllowList` exist).
   */
  function addOrExpand(
    value: unknown,
    doc: Document.Parsed,
    docIndex: number,
    prefix: (string | number)[],
    depth: number,
  ): void {
    if (options.expandLists !== false && isListObject(value) && depth < MAX_LIST_NESTING) {
      value.items.forEach((item, i) => {
        addOrExpand(item, doc, docIndex, [...prefix, 'items', i], depth + 1);
      });
      return;
    }
    addObject(value, doc, docIndex, prefix);
  }

  function addObject(
    value: unknown,
    doc: Document.Parsed,
    docIndex: number,
    prefix: (string | number)[],
  ): void {
    const problems = validateObject(value, limits);
    if (problems.length > 0) {
      for (const p of problems) errors.push(problemError(p, doc, docIndex, prefix));
      return;
    }
    const object = value as KubeObject;
    const ref = refOf(object);
    const loc = at(nodeOffset(doc, prefix), docIndex);
    const source: ObjectSource = { file, document: docIndex, line: loc.line ?? 1, column: loc.column ?? 1 };
    const key = refKey(ref);
    const first = seen.get(key);
    if (first) {
      errors.push(
        new ManifestError(
          'manifest.duplicate-object',
          `duplicate object ${formatRef(ref)}: first defined at ${first.file}:${first.line}:${first.column}`,
          { ...loc },
        ),
      );
      return;
    }
    seen.set(key, source);
    objects.push({ object, ref, source });
  }

  function problemError(
    p: ObjectProblem,
    doc: Document.Parsed,
    docIndex: number,
    prefix: (string | number)[],
  ): ManifestError {
    const full = [...prefix, ...p.path];
    const path = full.length > 0 ? formatPath(full) : undefined;
    return new ManifestError(p.code, p.message, at(nodeOffset(doc, full), docIndex, path));
  }

  function yamlError(e: YAMLError, docIndex: number): ManifestError {
    const code: ManifestErrorCode =
      e.code === 'DUPLICATE_KEY'
        ? 'manifest.duplicate-key'
        : e.code === 'RESOURCE_EXHAUSTION'
          ? 'manifest.alias-bomb'
          : 'manifest.yaml-syntax';
    // The yaml message may embed a source excerpt when pretty-printed; keep the first line.
    const message = e.message.split('\n')[0] ?? e.message;
    return new ManifestError(code, message, at(e.pos[0], docIndex), e);
  }
}

/** Offset of the deepest existing node along `path`, so errors point at the offending value. */
function nodeOffset(doc: Document.Parsed, path: (string | number)[]): number {
  // An object's own position is its first key, not a comment above it.
  if (path.length === 0 && isMap(doc.contents)) {
    const first = doc.contents.items[0]?.key as { range?: [number, number, number] } | undefined;
    if (first?.range) return first.range[0];
  }
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) return range[0];
  }
  return doc.range[0];
}

function classifyToJsError(err: unknown, maxAliasCount: number): [ManifestErrorCode, string] {
  if (err instanceof ManifestError) return [err.code, err.message];
  const msg = err instanceof Error ? err.message : String(err);
  if (/alias count|resource exhaustion/i.test(msg)) {
    return ['manifest.alias-bomb', `too many alias expansions (limit ${maxAliasCount}): ${msg}`];
  }
  if (err instanceof RangeError || /nest/i.test(msg)) {
    return ['manifest.too-large', `document nests too deeply: ${msg}`];
  }
  return ['manifest.yaml-syntax', msg];
}

/**
 * Copies the yaml output into plain JSON data: aliases become independent copies (so callers can
 * mutate safely), and cycles, non-finite numbers (`.inf`, `.nan`) and excessive depth are rejected.
 */
function toPlainJson(value: unknown, depth: number, stack: Set<object> = new Set()): unknown {
  if (depth > MAX_DEPTH)
    throw new ManifestError('manifest.too-large', `nesting deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new ManifestError('manifest.invalid-field', `${value} is not a valid JSON number`);
    }
    return value;
  }
  if (typeof value === 'object') {
    if (stack.has(value)) throw new ManifestError('manifest.alias-bomb', 'recursive alias');
    stack.add(value);
    let out: unknown;
    if (Array.isArray(value)) {
      out = value.map((v) => toPlainJson(v, depth + 1, stack));
    } else {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v === undefined) continue;
        // defineProperty so a `__proto__` key stays a plain own property.
        Object.defineProperty(obj, k, {
          value: toPlainJson(v, depth + 1, stack),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      out = obj;
    }
    stack.delete(value);
    return out;
  }
  throw new ManifestError('manifest.invalid-field', `unsupported YAML value of type ${typeof value}`);
}
