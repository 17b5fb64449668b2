import { Lexer, LineCounter, parse, parseAllDocuments, type Scalar, visit } from 'yaml';
import { PolicyError } from './policy-error.ts';

/**
 * Setter markers: which YAML fields an image policy may rewrite. Flotilla uses Flux's marker
 * form so manifests already automated by Flux work unchanged:
 *
 *   image: registry.example.com/shop/web:1.4.7@sha256:…  # {"$imagepolicy": "web"}
 *   newTag: 1.4.7                                       # {"$imagepolicy": "web:tag"}
 *   digest: sha256:…                                    # {"$imagepolicy": "web:digest"}
 *
 * The value names an image of flotilla.yaml (`spec.images[].name`). Flux's `<namespace>:<name>`
 * form is accepted and the namespace ignored. Suffixes: none writes the full reference
 * (`repo:tag`, plus `@digest` when pinning), `:name` the repository, `:tag` the tag and
 * `:digest` the digest (kustomize `images:` entries use tag + digest markers). Consequently a
 * policy cannot itself be called `tag`, `name` or `digest`.
 *
 * The marker must be an end-of-line comment on the scalar it controls. Rewrites splice only
 * that scalar's source text, so comments, ordering, indentation and other documents in the
 * file stay byte-for-byte as they were.
 */

export type MarkerField = 'full' | 'name' | 'tag' | 'digest';

export interface Marker {
  /** 1-based line of the marked value. */
  line: number;
  /** 1-based column where the value starts. */
  column: number;
  policy: string;
  /** The Flux namespace part, if the marker had one. */
  namespace?: string;
  field: MarkerField;
  /** Current value of the marked scalar. */
  value: string;
}

export interface ImageUpdate {
  /** Image policy name the markers refer to. */
  policy: string;
  /** Repository, e.g. `registry.example.com/shop/web`. */
  image: string;
  tag: string;
  /** `sha256:…`; needed when `pin` is set or a `:digest` marker exists. */
  digest?: string;
  /** Write `repo:tag@digest` for full-reference markers. */
  pin: boolean;
}

export interface ImageUpdateChange {
  line: number;
  field: MarkerField;
  old: string;
  new: string;
}

export interface ImageUpdateResult {
  text: string;
  /** Only fields whose value actually changed; empty when the file was already up to date. */
  changes: ImageUpdateChange[];
}

interface Found extends Marker {
  node: Scalar;
  start: number;
  end: number;
}

const SUFFIXES: Record<string, MarkerField> = { tag: 'tag', name: 'name', digest: 'digest' };
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const REPOSITORY = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/;

/** Parses a marker value (`web`, `web:tag`, `flux-system:web:digest`). Throws PolicyError. */
export function parseMarkerValue(value: string): Pick<Marker, 'policy' | 'namespace' | 'field'> {
  const parts = value.split(':');
  let field: MarkerField = 'full';
  const last = parts[parts.length - 1] as string;
  if (parts.length >= 2 && SUFFIXES[last]) {
    field = SUFFIXES[last] as MarkerField;
    parts.pop();
  }
  if (parts.length === 1 && parts[0]) return { policy: parts[0], field };
  if (parts.length === 2 && parts[0] && parts[1]) return { policy: parts[1], namespace: parts[0], field };
  throw new PolicyError(
    'policy.marker-invalid',
    `image policy marker "${value}" must be "<policy>" or "<namespace>:<policy>", optionally with :tag, :name or :digest`,
    { marker: value },
  );
}

/** Every setter marker in a (multi-document) YAML file. Throws PolicyError on broken YAML or markers. */
export function findMarkers(text: string): Marker[] {
  return scan(text).map(({ node: _n, start: _s, end: _e, ...m }) => m);
}

function scan(text: string): Found[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const found: Found[] = [];
  if (!Array.isArray(docs)) return found;
  const claimed = new Set<number>();
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const p = lc.linePos(err.pos[0]);
      throw new PolicyError(
        'policy.manifest-invalid',
        `YAML error at line ${p.line}, column ${p.col}: ${err.message.split('\n')[0]}`,
        {
          line: p.line,
          column: p.col,
        },
      );
    }
    visit(doc, {
      Scalar(key, node) {
        if (key === 'key' || !node.comment || !node.range) return;
        const [start, valueEnd, nodeEnd] = node.range;
        const tail = text.slice(valueEnd, nodeEnd);
        const hash = tail.indexOf('#');
        // Only an end-of-line comment on the value's own line is a marker.
        if (hash < 0 || tail.slice(0, hash).includes('\n')) return;
        claimed.add(valueEnd + hash);
        const lineEnd = text.indexOf('\n', valueEnd + hash);
        const comment = text.slice(valueEnd + hash + 1, lineEnd < 0 ? undefined : lineEnd).trim();
        const markerValue = readMarker(comment);
        if (markerValue === undefined) return;
        const pos = lc.linePos(start);
        if (node.type !== 'PLAIN' && node.type !== 'QUOTE_DOUBLE' && node.type !== 'QUOTE_SINGLE') {
          throw new PolicyError(
            'policy.marker-invalid',
            `line ${pos.line}: an image policy marker must be on a single-line value`,
            {
              line: pos.line,
            },
          );
        }
        let parsed: ReturnType<typeof parseMarkerValue>;
        try {
          parsed = parseMarkerValue(markerValue);
        } catch (e) {
          throw new PolicyError('policy.marker-invalid', `line ${pos.line}: ${(e as Error).message}`, {
            line: pos.line,
          });
        }
        const value = typeof node.value === 'string' ? node.value : text.slice(start, valueEnd);
        found.push({ ...parsed, line: pos.line, column: pos.col, value, node, start, end: valueEnd });
      },
    });
  }
  // A marker that is not the line comment of a plain or quoted value would silently do
  // nothing; say so instead.
  for (const offset of markerComments(text)) {
    if (!claimed.has(offset)) {
      const pos = lc.linePos(offset);
      throw new PolicyError(
        'policy.marker-invalid',
        `line ${pos.line}: an image policy marker must be the end-of-line comment of a single-line value`,
        { line: pos.line },
      );
    }
  }
  return found;
}

// yaml's Lexer marks document start, flow errors and scalars with these; they are not source text.
const ZERO_WIDTH_TOKENS = new Set(['\x02', '\x18', '\x1f']);

/** Offsets of real comments (not block-scalar text) that mention `$imagepolicy`. */
function markerComments(text: string): number[] {
  const out: number[] = [];
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token.startsWith('#') && token.includes('$imagepolicy')) out.push(offset);
    // The lexer's document/scalar/flow-error control tokens take no room in the source.
    if (!ZERO_WIDTH_TOKENS.has(token)) offset += token.length;
  }
  return out;
}

/** The `$imagepolicy` value of a comment, or undefined if it is not a marker. */
function readMarker(comment: string): string | undefined {
  if (!comment.startsWith('{') || !comment.includes('$imagepolicy')) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(comment);
  } catch {
    throw new PolicyError('policy.marker-invalid', `marker comment is not valid JSON: ${comment}`, {
      comment,
    });
  }
  const v = (obj as Record<string, unknown> | null)?.$imagepolicy;
  if (typeof v !== 'string') {
    throw new PolicyError('policy.marker-invalid', `"$imagepolicy" must be a string in ${comment}`, {
      comment,
    });
  }
  return v;
}

/**
 * Rewrites every field marked for `update.policy`. Pure text in, text out; throws PolicyError
 * for invalid YAML, invalid markers, a malformed tag/digest, or a `:digest` marker without a digest.
 */
export function applyImageUpdate(text: string, update: ImageUpdate): ImageUpdateResult {
  validateUpdate(update);
  const markers = scan(text).filter((m) => m.policy === update.policy);
  const edits: Array<{ start: number; end: number; source: string; change: ImageUpdateChange }> = [];
  for (const m of markers) {
    const next = valueFor(m, update);
    if (next === m.value) continue;
    edits.push({
      start: m.start,
      end: m.end,
      source: render(next, m.node.type),
      change: { line: m.line, field: m.field, old: m.value, new: next },
    });
  }
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, e.start) + e.source + out.slice(e.end);
  }
  if (edits.length > 0) verify(out, update, edits.length);
  return { text: out, changes: edits.map((e) => e.change).sort((a, b) => a.line - b.line) };
}

function validateUpdate(u: ImageUpdate): void {
  if (!REPOSITORY.test(u.image)) {
    throw new PolicyError(
      'policy.image-ref-invalid',
      `image "${u.image}" is not a repository name (no tag or digest)`,
      {
        image: u.image,
      },
    );
  }
  if (!TAG.test(u.tag))
    throw new PolicyError('policy.image-ref-invalid', `tag "${u.tag}" is not a valid image tag`, {
      tag: u.tag,
    });
  if (u.digest !== undefined && !DIGEST.test(u.digest)) {
    throw new PolicyError(
      'policy.image-ref-invalid',
      `digest "${u.digest}" is not a valid digest (e.g. sha256:<64 hex>)`,
      {
        digest: u.digest,
      },
    );
  }
  if (u.pin && u.digest === undefined) {
    throw new PolicyError(
      'policy.digest-required',
      `policy ${u.policy} pins digests but the update carries no digest`,
      {
        policy: u.policy,
      },
    );
  }
}

function valueFor(m: Found, u: ImageUpdate): string {
  switch (m.field) {
    case 'name':
      return u.image;
    case 'tag':
      return u.tag;
    case 'digest':
      if (u.digest === undefined) {
        throw new PolicyError(
          'policy.digest-required',
          `line ${m.line}: ${u.policy}:digest marker needs a digest`,
          {
            line: m.line,
            policy: u.policy,
          },
        );
      }
      return u.digest;
    case 'full':
      return u.pin && u.digest ? `${u.image}:${u.tag}@${u.digest}` : `${u.image}:${u.tag}`;
  }
}

/**
 * Source text for a new scalar in the old quoting style. A plain scalar that would read back
 * as something other than this string (`1.10` is a number, `on` is a YAML 1.1 boolean to
 * kubectl) gets double quotes instead.
 */
function render(value: string, type: Scalar['type']): string {
  if (type === 'QUOTE_SINGLE') return `'${value.replace(/'/g, "''")}'`;
  if (type === 'QUOTE_DOUBLE' || !readsBackAsString(value)) return JSON.stringify(value);
  return value;
}

function readsBackAsString(value: string): boolean {
  try {
    return parse(value) === value && parse(value, { version: '1.1' }) === value && !/[#:]\s|\s$/.test(value);
  } catch {
    return false;
  }
}

function verify(out: string, u: ImageUpdate, expected: number): void {
  const after = scan(out).filter((m) => m.policy === u.policy);
  const wrong = after.find((m) => m.value !== valueFor(m, u));
  if (wrong || after.length < expected) {
    throw new PolicyError(
      'policy.manifest-invalid',
      `rewriting ${u.policy} markers did not produce the expected YAML`,
      {
        line: wrong?.line,
      },
    );
  }
}
