import semver from 'semver';
import { PolicyError } from './policy-error.ts';
import { parseSemverRange, parseTagVersion, satisfiesRange } from './semver-range.ts';

/**
 * Image tag policies with Flux ImagePolicy semantics (users move over from Flux):
 * - `semver`: tags are strict X.Y.Z (optional leading `v`); unparsable tags are skipped;
 *   the highest version inside the range wins (range semantics in semver-range.ts).
 * - `alphabetical`: byte-wise order; `asc` (default) picks the last, `desc` the first.
 * - `numerical`: tags as decimal numbers; `asc` (default) picks the highest, `desc` the lowest;
 *   a candidate that is not a number fails the whole policy (pair it with `filterTags`).
 * - `filterTags`: `pattern` is a JS regular expression (Go/RE2 `(?P<name>…)` groups and a
 *   leading `(?i)` are accepted so Flux patterns paste unchanged); tags it does not match are
 *   dropped; `extract` (`$name`, `${name}`, `$1`, `$$`, Go's Regexp.Expand rules) is what gets
 *   ranked, while the original tag is what gets reported.
 * Unlike Flux, ties (e.g. `1.0.0` and `v1.0.0`, or two tags extracting the same value) are broken
 * by byte order of the original tag, so the result never depends on the order tags were listed in.
 */

export type SortOrder = 'asc' | 'desc';

export interface TagFilter {
  pattern: string;
  extract?: string;
}

/** Exactly one of the three must be set. */
export interface TagPolicyChoice {
  semver?: { range: string };
  alphabetical?: { order?: SortOrder };
  numerical?: { order?: SortOrder };
}

export interface TagPolicy {
  policy: TagPolicyChoice;
  filterTags?: TagFilter;
}

export interface SelectedTag {
  tag: string;
}

export type TagSelector = (tags: readonly string[]) => SelectedTag | null;

interface Candidate {
  tag: string;
  value: string;
}

const byteCompare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Compiles a Go/RE2-flavoured pattern to a JS RegExp; throws PolicyError(policy.tag-filter-invalid). */
export function compileTagPattern(pattern: string): RegExp {
  let source = pattern.replace(/\(\?P</g, '(?<');
  let flags = '';
  const inline = /^\(\?([imsU]+)\)/.exec(source);
  if (inline) {
    const wanted = inline[1] as string;
    if (wanted.includes('U')) {
      throw new PolicyError(
        'policy.tag-filter-invalid',
        `filterTags.pattern "${pattern}": flag U is not supported`,
        {
          pattern,
        },
      );
    }
    flags = [...new Set(wanted)].join('');
    source = source.slice(inline[0].length);
  }
  try {
    return new RegExp(source, flags);
  } catch (err) {
    throw new PolicyError(
      'policy.tag-filter-invalid',
      `filterTags.pattern "${pattern}" is not a valid regular expression: ${(err as Error).message}`,
      { pattern },
    );
  }
}

/** Go's Regexp.Expand: `$name`/`${name}`/`$1`, `$$` is a literal `$`, unknown groups expand to ''. */
export function expandTemplate(template: string, match: RegExpExecArray): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if (ch !== '$') {
      out += ch;
      continue;
    }
    if (template[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    let end = i;
    if (template[i + 1] === '{') {
      const close = template.indexOf('}', i + 2);
      const inner = close < 0 ? '' : template.slice(i + 2, close);
      if (/^\w+$/.test(inner)) {
        name = inner;
        end = close;
      }
    } else {
      const m = /^\w+/.exec(template.slice(i + 1));
      if (m) {
        name = m[0];
        end = i + m[0].length;
      }
    }
    if (name === undefined) {
      out += '$'; // malformed reference: Go copies the `$` through
      continue;
    }
    const group = /^\d+$/.test(name) ? match[Number(name)] : match.groups?.[name];
    out += group ?? '';
    i = end;
  }
  return out;
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Validates a policy once and returns the function that ranks tags. Throws PolicyError. */
export function compileTagPolicy(policy: TagPolicy): TagSelector {
  const choice = policy.policy ?? {};
  const set = (['semver', 'alphabetical', 'numerical'] as const).filter((k) => choice[k] !== undefined);
  if (set.length !== 1) {
    throw new PolicyError(
      'policy.tag-policy-invalid',
      set.length === 0
        ? 'policy needs one of semver, alphabetical or numerical'
        : `policy must set only one of semver, alphabetical or numerical (got ${set.join(', ')})`,
    );
  }
  const filter = policy.filterTags
    ? compileFilter(policy.filterTags)
    : (tags: readonly string[]) => identity(tags);
  if (choice.semver) {
    const range = parseSemverRange(choice.semver.range);
    return (tags) => {
      let best: { tag: string; version: semver.SemVer } | null = null;
      for (const c of filter(tags)) {
        const version = parseTagVersion(c.value);
        if (!version || !satisfiesRange(version, range)) continue;
        const cmp = best ? semver.compare(version, best.version) : 1;
        if (best === null || cmp > 0 || (cmp === 0 && byteCompare(c.tag, best.tag) > 0)) {
          best = { tag: c.tag, version };
        }
      }
      return best ? { tag: best.tag } : null;
    };
  }
  if (choice.alphabetical) {
    const sign = orderSign(choice.alphabetical.order);
    return (tags) => pick(filter(tags), (a, b) => sign * byteCompare(a.value, b.value));
  }
  const sign = orderSign(choice.numerical?.order);
  return (tags) => {
    const numbered = filter(tags).map((c) => {
      if (!NUMBER.test(c.value)) {
        const what = c.value === c.tag ? `tag "${c.tag}"` : `tag "${c.tag}" (extracted "${c.value}")`;
        throw new PolicyError(
          'policy.tag-not-numeric',
          `numerical policy: ${what} is not a number; add filterTags to select and extract numeric tags`,
          { tag: c.tag, value: c.value },
        );
      }
      return { ...c, n: Number(c.value) };
    });
    return pick(numbered, (a, b) => sign * (a.n - b.n));
  };
}

/** Picks the newest tag under `policy` from `tags`, or null when none qualifies. Throws PolicyError. */
export function selectLatestTag(policy: TagPolicy, tags: readonly string[]): SelectedTag | null {
  return compileTagPolicy(policy)(tags);
}

function orderSign(order: SortOrder | undefined): number {
  if (order === undefined || order === 'asc') return 1;
  if (order === 'desc') return -1;
  throw new PolicyError('policy.tag-policy-invalid', `order must be asc or desc (got "${String(order)}")`);
}

/** The candidate ranked highest by `rank`; ties go to the byte-wise greater original tag. */
function pick<T extends Candidate>(
  candidates: readonly T[],
  rank: (a: T, b: T) => number,
): SelectedTag | null {
  let best: T | undefined;
  for (const c of candidates) {
    if (best === undefined) {
      best = c;
      continue;
    }
    const cmp = rank(c, best);
    if (cmp > 0 || (cmp === 0 && byteCompare(c.tag, best.tag) > 0)) best = c;
  }
  return best ? { tag: best.tag } : null;
}

function identity(tags: readonly string[]): Candidate[] {
  return tags.map((tag) => ({ tag, value: tag }));
}

function compileFilter(f: TagFilter): (tags: readonly string[]) => Candidate[] {
  const re = compileTagPattern(f.pattern);
  const extract = f.extract ?? '';
  return (tags) => {
    const out: Candidate[] = [];
    for (const tag of tags) {
      re.lastIndex = 0;
      const m = re.exec(tag);
      if (!m) continue;
      out.push({ tag, value: extract === '' ? tag : expandTemplate(extract, m) });
    }
    return out;
  };
}
