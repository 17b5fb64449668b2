import semver from 'semver';
import { PolicyError } from './policy-error.ts';

/**
 * Semver ranges with Masterminds/semver v3 (>= 3.4) semantics, because that is what Flux's
 * ImagePolicy uses and users will paste their Flux ranges into flotilla.yaml unchanged.
 * npm `semver` still does the version parsing and ordering (SemVer 2.0 precedence, build
 * metadata ignored); only the range language differs from npm's:
 *
 * - `,` and whitespace both mean AND, `||` means OR, `A - B` means `>= A, <= B`;
 *   operators `=`, `!=`, `>`, `<`, `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`; wildcards `x`, `X`, `*`.
 * - Partial versions keep Masterminds' meaning: `~1.4` is `>=1.4.0 <1.5.0`, `^1.4` is
 *   `>=1.4.0 <2.0.0`, `1.x` / `1` is `>=1.0.0 <2.0.0`, `<=1.4` admits every 1.4.z, `>1.4` needs 1.5+.
 * - Pre-releases: a pre-release version can match an AND group only if some comparator in
 *   that group names a pre-release (Masterminds 3.4 "whole AND group" rule, not npm's
 *   same-major.minor.patch rule); once admitted it is compared by plain precedence, so
 *   `>=1.0.0-0 <2` admits 2.0.0-rc.1. This never crosses `||`.
 * - Deliberate deviation: `^*` / `~*` match any version (Masterminds documents that, but its
 *   caret code only matches 0.x for `^*`).
 */

export type RangeOperator = '=' | '!=' | '>' | '<' | '>=' | '<=' | '~' | '^';

export interface Comparator {
  op: RangeOperator;
  /** The comparator's version with wildcards/missing parts as 0 (Masterminds' `con`). */
  version: semver.SemVer;
  /** Which part was a wildcard or missing: `major` (`*`), `minor` (`1`, `1.x`), `patch` (`1.2`, `1.2.x`). */
  wildcard: 'major' | 'minor' | 'patch' | null;
  /** The comparator as written, for messages. */
  text: string;
}

export interface SemverRange {
  raw: string;
  /** OR of AND groups. */
  groups: Comparator[][];
}

const PART = String.raw`(\d+|[xX*])`;
const IDENTS = String.raw`[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*`;
const VERSION = String.raw`v?${PART}(?:\.${PART})?(?:\.${PART})?(?:-(${IDENTS}))?(?:\+(${IDENTS}))?`;
// Longest operators first so `>=` is not read as `>` then `=`.
const COMPARATOR = new RegExp(String.raw`(!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*${VERSION}`, 'y');
const HYPHEN = new RegExp(String.raw`(?:^|\s)(${VERSION})\s+-\s+(${VERSION})(?=\s|,|$)`, 'g');

const OPS: Record<string, RangeOperator> = {
  '': '=',
  '=': '=',
  '!=': '!=',
  '>': '>',
  '<': '<',
  '>=': '>=',
  '=>': '>=',
  '<=': '<=',
  '=<': '<=',
  '~': '~',
  '~>': '~',
  '^': '^',
};

const isWild = (p: string | undefined): boolean => p === undefined || p === 'x' || p === 'X' || p === '*';

function invalid(range: string, why: string): PolicyError {
  return new PolicyError('policy.semver-range-invalid', `invalid semver range "${range}": ${why}`, { range });
}

/** Parses a Masterminds-style range; throws PolicyError(policy.semver-range-invalid) with the reason. */
export function parseSemverRange(range: string): SemverRange {
  if (typeof range !== 'string' || range.trim() === '') throw invalid(String(range), 'empty range');
  if (range.length > 1024) throw invalid(range.slice(0, 40), 'longer than 1024 characters');
  const groups: Comparator[][] = [];
  for (const orPart of range.split('||')) {
    const segment = orPart.replace(HYPHEN, (_m, lo: string, ...rest: unknown[]) => {
      // The hyphen regex has 5 groups per VERSION: the upper bound is group 1 + 5 + 1.
      const hi = rest[5] as string;
      return ` >= ${lo}, <= ${hi}`;
    });
    groups.push(parseAndGroup(range, segment));
  }
  return { raw: range, groups };
}

function parseAndGroup(range: string, segment: string): Comparator[] {
  const out: Comparator[] = [];
  let pos = 0;
  const len = segment.length;
  const skipSpace = () => {
    while (pos < len && /\s/.test(segment[pos] as string)) pos++;
  };
  skipSpace();
  if (pos >= len) throw invalid(range, 'empty comparator group');
  while (pos < len) {
    COMPARATOR.lastIndex = pos;
    const m = COMPARATOR.exec(segment);
    if (!m) throw invalid(range, `unexpected "${segment.slice(pos, pos + 20)}"`);
    pos = COMPARATOR.lastIndex;
    out.push(toComparator(range, m));
    // A comparator must be followed by whitespace, a comma, or the end.
    const before = pos;
    skipSpace();
    if (segment[pos] === ',') {
      pos++;
      skipSpace();
      if (pos >= len) throw invalid(range, 'trailing comma');
    } else if (pos < len && pos === before) {
      throw invalid(range, `unexpected "${segment.slice(pos, pos + 20)}"`);
    }
  }
  return out;
}

function toComparator(range: string, m: RegExpExecArray): Comparator {
  const [text, opText = '', major, minor, patch, pre] = m;
  const op = OPS[opText];
  if (op === undefined || major === undefined) throw invalid(range, `bad comparator "${text}"`);
  let wildcard: Comparator['wildcard'] = null;
  let core: string;
  if (isWild(major)) {
    wildcard = 'major';
    core = '0.0.0';
  } else if (isWild(minor)) {
    wildcard = 'minor';
    core = `${Number(major)}.0.0`;
  } else if (isWild(patch)) {
    wildcard = 'patch';
    core = `${Number(major)}.${Number(minor)}.0`;
  } else {
    core = `${Number(major)}.${Number(minor)}.${Number(patch)}`;
  }
  const version = semver.parse(pre ? `${core}-${pre}` : core);
  if (!version) throw invalid(range, `bad version in "${text.trim()}"`);
  return { op, version, wildcard, text: text.trim() };
}

/** Parses an image tag as a version the way Flux does: strict X.Y.Z, optional leading `v`. */
export function parseTagVersion(tag: string): semver.SemVer | null {
  const body = tag.startsWith('v') ? tag.slice(1) : tag;
  // npm's parser would also accept `=1.2.3`, a second `v` and surrounding spaces; Masterminds' strict one does not.
  if (!/^\d/.test(body) || /\s/.test(body) || body.length > 256) return null;
  return semver.parse(body);
}

/** Does `version` satisfy `range` (Masterminds semantics, see the file comment)? */
export function satisfiesRange(version: semver.SemVer, range: SemverRange): boolean {
  const isPre = version.prerelease.length > 0;
  return range.groups.some((group) => {
    if (isPre && !group.some((c) => c.version.prerelease.length > 0)) return false;
    return group.every((c) => checkComparator(version, c));
  });
}

function checkComparator(v: semver.SemVer, c: Comparator): boolean {
  const con = c.version;
  const cmp = semver.compare(v, con);
  switch (c.op) {
    case '=':
      return c.wildcard ? tilde(v, c, cmp) : cmp === 0;
    case '!=':
      return c.wildcard ? !tilde(v, c, cmp) : cmp !== 0;
    case '>':
      if (!c.wildcard) return cmp > 0;
      if (c.wildcard === 'major') return cmp > 0;
      if (v.major !== con.major) return v.major > con.major;
      // `>1` needs 2.0.0+, `>1.4` needs 1.5.0+.
      return c.wildcard === 'patch' ? v.minor > con.minor : false;
    case '<':
      return cmp < 0;
    case '>=':
      return cmp >= 0;
    case '<=':
      if (!c.wildcard) return cmp <= 0;
      if (c.wildcard === 'major') return true;
      if (v.major !== con.major) return v.major < con.major;
      return c.wildcard === 'minor' || v.minor <= con.minor;
    case '~':
      return tilde(v, c, cmp);
    case '^':
      return caret(v, c, cmp);
  }
}

// ~1.2.3 / ~1.2 / ~1.2.x: >=con, same major.minor; ~1 / ~1.x: same major; ~* / ~0.0.0: anything >= con.
function tilde(v: semver.SemVer, c: Comparator, cmp: number): boolean {
  if (cmp < 0) return false;
  const con = c.version;
  if (c.wildcard === 'major') return true;
  if (con.major === 0 && con.minor === 0 && con.patch === 0 && c.wildcard === null) return true;
  if (v.major !== con.major) return false;
  return c.wildcard === 'minor' || v.minor === con.minor;
}

// ^1.2.3 → <2.0.0; ^0.2.3 → <0.3.0; ^0.0.3 → <0.0.4; ^0.0 → <0.1.0; ^0 → <1.0.0; ^* → any.
function caret(v: semver.SemVer, c: Comparator, cmp: number): boolean {
  if (cmp < 0) return false;
  const con = c.version;
  if (c.wildcard === 'major') return true;
  if (con.major > 0 || c.wildcard === 'minor') return v.major === con.major;
  if (v.major > 0) return false;
  if (con.minor > 0 || c.wildcard === 'patch') return v.minor === con.minor;
  if (v.minor > 0) return false;
  return v.patch === con.patch;
}
