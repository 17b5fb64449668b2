import type { TSchema } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';
import { parseDuration } from './duration.ts';
import { type Pipeline, PipelineSchema } from './pipeline-schema.ts';
import { PolicyError } from './policy-error.ts';
import { parseSemverRange } from './semver-range.ts';
import { compileTagPattern } from './tag-policy.ts';
import { isValidTimeZone, parseClock } from './time-window.ts';

/** One problem in a flotilla.yaml, precise enough for an editor or a CI annotation. */
export interface PipelineIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** Readable path into the document, e.g. `spec.stages[1].promotion.soak` (`` for the root). */
  path: string;
  /** The same location as a JSON Pointer, e.g. `/spec/stages/1/promotion/soak`. */
  pointer: string;
  /** Stable machine code: yaml-syntax, schema, duplicate-name, path-traversal, … */
  code: PipelineIssueCode;
  message: string;
}

export type PipelineIssueCode =
  | 'yaml-syntax'
  | 'yaml-documents'
  | 'schema'
  | 'duplicate-name'
  | 'path-traversal'
  | 'path-absolute'
  | 'path-invalid'
  | 'duration'
  | 'promotion-missing'
  | 'approvers-missing'
  | 'approver-invalid'
  | 'operator-invalid'
  | 'window'
  | 'timezone'
  | 'tag-policy'
  | 'semver-range'
  | 'tag-filter'
  /** Across files of one repo (pipeline-set.ts): a name or a cluster path claimed twice. */
  | 'duplicate-pipeline'
  | 'path-conflict'
  | 'pipeline-limit'
  /** A pipeline file that is a symlink or not a regular file: never followed. */
  | 'not-a-file';

export type ParsePipelineResult = { ok: true; pipeline: Pipeline } | { ok: false; errors: PipelineIssue[] };

type Segment = string | number;

const MAX_ISSUES = 50;

/** `file:line:column path: message`, one line per issue. */
export function formatPipelineIssue(i: PipelineIssue): string {
  return `${i.file}:${i.line}:${i.column} ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/**
 * Parses and validates a flotilla.yaml. Never throws: every problem (YAML syntax, schema,
 * semantics) comes back as an issue with its line and column, sorted by position.
 */
export function parsePipeline(text: string, file = 'flotilla.yaml'): ParsePipelineResult {
  try {
    return parseUnsafe(String(text), file);
  } catch (err) {
    // A bug in this function must still surface as a typed, locatable result.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [issue(file, 1, 1, [], 'yaml-syntax', `could not be parsed: ${message}`)] };
  }
}

/** parsePipeline, throwing PolicyError(policy.pipeline-invalid) with the issues in `details.issues`. */
export function loadPipeline(text: string, file = 'flotilla.yaml'): Pipeline {
  const result = parsePipeline(text, file);
  if (result.ok) return result.pipeline;
  throw new PolicyError(
    'policy.pipeline-invalid',
    `${file} is invalid:\n${result.errors.map(formatPipelineIssue).join('\n')}`,
    { file, issues: result.errors },
  );
}

/**
 * An issue located at `path` (e.g. `['metadata', 'name']`) of a pipeline file that parsed: for
 * checks across files, which know the field but not its line.
 */
export function issueAt(
  text: string,
  file: string,
  path: ReadonlyArray<string | number>,
  code: PipelineIssueCode,
  message: string,
): PipelineIssue {
  const lineCounter = new LineCounter();
  const doc = parseAllDocuments(text, { lineCounter, prettyErrors: false })[0];
  const offset = doc && !Array.isArray(doc) ? findOffset(doc as Document, [...path], false) : 0;
  const pos = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
  return issue(file, pos.line, pos.col, [...path], code, message);
}

function parseUnsafe(text: string, file: string): ParsePipelineResult {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const pos = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { line: pos.line, column: pos.col };
  };
  if (!Array.isArray(docs) || docs.length === 0) {
    return {
      ok: false,
      errors: [issue(file, 1, 1, [], 'yaml-documents', 'file is empty: expected a Pipeline')],
    };
  }
  const errors: PipelineIssue[] = [];
  if (docs.length > 1) {
    const second = docs[1] as Document;
    const p = at(second.range?.[0] ?? 0);
    errors.push(issue(file, p.line, p.column, [], 'yaml-documents', 'expected exactly one YAML document'));
  }
  const doc = docs[0] as Document;
  for (const e of doc.errors) {
    const p = at(e.pos[0]);
    errors.push(issue(file, p.line, p.column, [], 'yaml-syntax', firstLine(e.message)));
  }
  if (errors.length > 0) return fail(errors);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return fail([issue(file, 1, 1, [], 'yaml-syntax', firstLine((err as Error).message))]);
  }
  const locate = (path: Segment[], onKey = false) => at(findOffset(doc, path, onKey));
  const report = (path: Segment[], code: PipelineIssueCode, message: string, onKey = false) => {
    const p = locate(path, onKey);
    errors.push(issue(file, p.line, p.column, path, code, message));
  };

  if (value === null || value === undefined) {
    return fail([issue(file, 1, 1, [], 'yaml-documents', 'file is empty: expected a Pipeline')]);
  }
  // One complaint per location: TypeBox reports a missing field both as "required" and as
  // "wrong type", and repeats checks at the same path.
  const seen = new Set<string>();
  const schemaErrors = Value.Check(PipelineSchema, value) ? [] : Value.Errors(PipelineSchema, value);
  for (const e of schemaErrors) {
    const path = fromPointer(e.path);
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    const { message, target, onKey } = schemaMessage(e, path);
    report(target, 'schema', message, onKey);
    if (errors.length >= MAX_ISSUES) break;
  }
  // Where the schema already complained, a semantic complaint about the same spot is noise.
  const schemaPointers = new Set(errors.map((e) => e.pointer));
  const schemaIssues = errors.length;
  checkSemantics(
    value,
    (path, code, message, onKey) => {
      if (schemaIssues === 0 || !schemaPointers.has(toPointer(path))) report(path, code, message, onKey);
    },
    (path) => locate(path).line,
  );
  if (errors.length > 0) return fail(errors);
  const pipeline = value as Pipeline;
  applyDefaults(pipeline);
  return { ok: true, pipeline };
}

function applyDefaults(p: Pipeline): void {
  for (const image of p.spec.images ?? []) image.digestPin ??= true;
  for (const stage of p.spec.stages) {
    for (const w of stage.promotion?.windows ?? []) w.timezone ??= 'UTC';
  }
  const first = p.spec.stages[0];
  if (first && !first.promotion) first.promotion = { rule: 'auto' };
}

type Report = (path: Segment[], code: PipelineIssueCode, message: string, onKey?: boolean) => void;

// Semantic checks also run when the schema failed (so one pass shows every problem), hence
// they read the document defensively instead of trusting the Pipeline type.
type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function checkSemantics(doc: unknown, report: Report, lineOf: (path: Segment[]) => number): void {
  const unique = (kind: string, names: Array<{ name: string | undefined; path: Segment[] }>) => {
    const first = new Map<string, Segment[]>();
    for (const { name, path } of names) {
      if (name === undefined) continue;
      const prev = first.get(name);
      if (prev)
        report(
          path,
          'duplicate-name',
          `duplicate ${kind} name "${name}" (first defined on line ${lineOf(prev)})`,
        );
      else first.set(name, path);
    }
  };
  const spec = obj(obj(doc).spec);
  const stages = arr(spec.stages).map(obj);
  unique(
    'stage',
    stages.map((s, i) => ({ name: str(s.name), path: ['spec', 'stages', i, 'name'] })),
  );
  // A cluster belongs to exactly one stage, or promotion order would be meaningless.
  unique(
    'cluster',
    stages.flatMap((s, i) =>
      arr(s.clusters).map((c, j) => ({
        name: str(obj(c).name),
        path: ['spec', 'stages', i, 'clusters', j, 'name'],
      })),
    ),
  );

  stages.forEach((stage, i) => {
    const base: Segment[] = ['spec', 'stages', i];
    arr(stage.clusters).forEach((c, j) => {
      const path = str(obj(c).path);
      const problem = path === undefined ? null : checkRepoPath(path);
      if (problem) report([...base, 'clusters', j, 'path'], problem.code, problem.message);
    });
    arr(stage.operators).forEach((a, k) => {
      if (typeof a === 'string' && a !== '' && (a.trim() !== a || a === 'group:')) {
        report(
          [...base, 'operators', k],
          'operator-invalid',
          `operator "${a}" is not a name or group:<name>`,
        );
      }
    });
    if (stage.promotion === undefined) {
      if (i > 0) {
        report(
          base,
          'promotion-missing',
          `stage "${str(stage.name) ?? i}" needs a promotion rule (auto or manual): only the first stage may omit it`,
        );
      }
      return;
    }
    const promo = obj(stage.promotion);
    const soak = str(promo.soak);
    if (soak !== undefined && parseDuration(soak) === null) {
      report(
        [...base, 'promotion', 'soak'],
        'duration',
        `soak "${soak}" is not a duration; use e.g. 30s, 5m, 1h30m`,
      );
    }
    const approvers = arr(promo.approvers);
    if (promo.rule === 'manual' && approvers.length === 0) {
      report(
        [...base, 'promotion'],
        'approvers-missing',
        `stage "${str(stage.name) ?? i}" has rule manual but no approvers; list names or "group:<name>"`,
      );
    }
    approvers.forEach((a, k) => {
      if (typeof a === 'string' && a !== '' && (a.trim() !== a || a === 'group:')) {
        report(
          [...base, 'promotion', 'approvers', k],
          'approver-invalid',
          `approver "${a}" is not a name or group:<name>`,
        );
      }
    });
    arr(promo.windows).forEach((raw, k) => {
      const w = obj(raw);
      const wp: Segment[] = [...base, 'promotion', 'windows', k];
      const startText = str(w.start);
      const endText = str(w.end);
      const start = startText === undefined ? null : parseClock(startText);
      const end = endText === undefined ? null : parseClock(endText, true);
      if (startText !== undefined && start === null) {
        report([...wp, 'start'], 'window', `start "${startText}" must be HH:MM (24-hour)`);
      }
      if (endText !== undefined && end === null) {
        report([...wp, 'end'], 'window', `end "${endText}" must be HH:MM (24-hour) or 24:00`);
      }
      if (start !== null && end !== null && end <= start) {
        report(
          [...wp, 'end'],
          'window',
          `end ${endText} must be after start ${startText}; for a window across midnight write two windows`,
        );
      }
      const tz = str(w.timezone);
      if (tz !== undefined && tz !== '' && !isValidTimeZone(tz)) {
        report(
          [...wp, 'timezone'],
          'timezone',
          `unknown time zone "${tz}"; use an IANA name like Europe/Berlin`,
        );
      }
    });
  });

  const images = arr(spec.images).map(obj);
  unique(
    'image',
    images.map((im, i) => ({ name: str(im.name), path: ['spec', 'images', i, 'name'] })),
  );
  images.forEach((im, i) => {
    const base: Segment[] = ['spec', 'images', i];
    const policy = obj(im.policy);
    const range = str(obj(policy.semver).range);
    const filter = obj(im.filterTags);
    const pattern = str(filter.pattern);
    try {
      if (range !== undefined && range !== '') parseSemverRange(range);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      report([...base, 'policy', 'semver', 'range'], 'semver-range', err.message);
    }
    try {
      if (pattern !== undefined && pattern !== '') compileTagPattern(pattern);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      report([...base, 'filterTags', 'pattern'], 'tag-filter', err.message);
    }
    const chosen = ['semver', 'alphabetical', 'numerical'].filter((k) => policy[k] !== undefined);
    if (im.policy !== undefined && chosen.length !== 1) {
      report(
        [...base, 'policy'],
        'tag-policy',
        chosen.length === 0
          ? 'policy needs one of semver, alphabetical or numerical'
          : `policy must set only one of semver, alphabetical or numerical (got ${chosen.join(', ')})`,
      );
    }
  });
}

/** Cluster paths are resolved inside a checkout of the config repo: never let one escape it. */
function checkRepoPath(path: string): { code: PipelineIssueCode; message: string } | null {
  if (path.includes('\0')) return { code: 'path-invalid', message: 'path contains a NUL byte' };
  if (path.includes('\\')) return { code: 'path-invalid', message: `path "${path}" must use "/" separators` };
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) {
    return { code: 'path-absolute', message: `path "${path}" must be relative to the config repo root` };
  }
  if (path.split('/').includes('..')) {
    return {
      code: 'path-traversal',
      message: `path "${path}" must not contain ".." (it would leave the config repo)`,
    };
  }
  return null;
}

function schemaMessage(
  e: ValueError,
  path: Segment[],
): { message: string; target: Segment[]; onKey: boolean } {
  const last = path[path.length - 1];
  const schema = e.schema as TSchema & { 'x-message'?: string; anyOf?: TSchema[] };
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { message: `missing required field "${String(last)}"`, target: path.slice(0, -1), onKey: false };
    case ValueErrorType.ObjectAdditionalProperties:
      return { message: `unknown field "${String(last)}"`, target: path, onKey: true };
    case ValueErrorType.Union: {
      const consts = (schema.anyOf ?? []).map((s) => (s as { const?: unknown }).const);
      if (consts.length > 0 && consts.every((c) => typeof c === 'string')) {
        return {
          message: `must be one of ${consts.join(', ')} (got ${describe(e.value)})`,
          target: path,
          onKey: false,
        };
      }
      return { message: e.message, target: path, onKey: false };
    }
    case ValueErrorType.Literal:
      return {
        message: `must be "${String(schema.const)}" (got ${describe(e.value)})`,
        target: path,
        onKey: false,
      };
    case ValueErrorType.StringPattern:
    case ValueErrorType.StringMaxLength:
    case ValueErrorType.StringMinLength:
      return {
        message: schema['x-message']
          ? `${describe(e.value)} ${schema['x-message']}`
          : e.type === ValueErrorType.StringMinLength
            ? 'must not be empty'
            : e.message,
        target: path,
        onKey: false,
      };
    case ValueErrorType.ArrayMinItems:
      return {
        message: `must list at least ${String(schema.minItems)} item${schema.minItems === 1 ? '' : 's'}`,
        target: path,
        onKey: false,
      };
    case ValueErrorType.String:
      return { message: `expected a string, got ${typeName(e.value)}`, target: path, onKey: false };
    case ValueErrorType.Boolean:
      return { message: `expected true or false, got ${typeName(e.value)}`, target: path, onKey: false };
    case ValueErrorType.Object:
      return { message: `expected a mapping, got ${typeName(e.value)}`, target: path, onKey: false };
    case ValueErrorType.Array:
      return { message: `expected a list, got ${typeName(e.value)}`, target: path, onKey: false };
    default:
      return { message: e.message, target: path, onKey: false };
  }
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return typeName(v);
}

/** Offset of the node at `path`, or of its deepest existing ancestor. */
function findOffset(doc: Document, path: Segment[], onKey: boolean): number {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    const isLast = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      if ((isLast && onKey) || !value || !value.range) {
        offset = key.range?.[0] ?? offset;
        break;
      }
      node = value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item?.range) break;
      node = item;
    } else {
      break;
    }
    offset = node.range?.[0] ?? offset;
  }
  return offset;
}

function fromPointer(pointer: string): Segment[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^(0|[1-9]\d*)$/.test(s) ? Number(s) : s));
}

function toPointer(path: Segment[]): string {
  return path.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function toReadable(path: Segment[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function issue(
  file: string,
  line: number,
  column: number,
  path: Segment[],
  code: PipelineIssueCode,
  message: string,
): PipelineIssue {
  return { file, line, column, path: toReadable(path), pointer: toPointer(path), code, message };
}

function fail(errors: PipelineIssue[]): ParsePipelineResult {
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, errors: errors.slice(0, MAX_ISSUES) };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
