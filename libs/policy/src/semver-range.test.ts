import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PolicyError } from './policy-error.ts';
import { parseSemverRange, parseTagVersion, satisfiesRange } from './semver-range.ts';
import { selectLatestTag } from './tag-policy.ts';

interface Vectors {
  match: Array<{ range: string; version: string; expect: boolean; npm?: 'invalid' | boolean }>;
  invalid: string[];
  tags: { valid: string[]; invalid: string[] };
  select: Array<{ range: string; tags: string[]; expect: string | null }>;
}

const vectors = parse(
  readFileSync(new URL('./fixtures/semver-vectors.yaml', import.meta.url), 'utf8'),
) as Vectors;

describe('semver ranges (Masterminds semantics)', () => {
  it.each(vectors.match)('$range vs $version → $expect', ({ range, version, expect: want }) => {
    const v = semver.parse(version);
    expect(v).not.toBeNull();
    expect(satisfiesRange(v as semver.SemVer, parseSemverRange(range))).toBe(want);
  });

  // Keeps the divergences from npm `semver` honest: if npm changed, these notes would be wrong.
  it.each(vectors.match.filter((m) => m.npm !== undefined))(
    'npm semver differs on $range vs $version',
    (m) => {
      if (m.npm === 'invalid') expect(semver.validRange(m.range)).toBeNull();
      else expect(semver.satisfies(m.version, m.range)).toBe(m.npm);
    },
  );

  it.each(vectors.invalid)('rejects %j with policy.semver-range-invalid', (range) => {
    expect(() => parseSemverRange(range)).toThrow(PolicyError);
    try {
      parseSemverRange(range);
    } catch (err) {
      expect((err as PolicyError).code).toBe('policy.semver-range-invalid');
      expect((err as PolicyError).disposition).toBe('stall');
    }
  });

  it('parses groups and comparators', () => {
    const r = parseSemverRange('>= 1.2, <2 || ~3.1');
    expect(r.groups.map((g) => g.map((c) => `${c.op}${c.version.version}:${c.wildcard}`))).toEqual([
      ['>=1.2.0:patch', '<2.0.0:minor'],
      ['~3.1.0:patch'],
    ]);
  });
});

describe('tag versions', () => {
  it.each(vectors.tags.valid)('accepts %j', (tag) => {
    expect(parseTagVersion(tag)).not.toBeNull();
  });
  it.each(vectors.tags.invalid)('skips %j', (tag) => {
    expect(parseTagVersion(tag)).toBeNull();
  });
});

describe('semver selection', () => {
  it.each(vectors.select)('$range over $tags → $expect', ({ range, tags, expect: want }) => {
    const got = selectLatestTag({ policy: { semver: { range } } }, tags);
    expect(got).toEqual(want === null ? null : { tag: want });
  });

  it('~1.4 ignores 2.0.0 and picks 1.4.7 over 1.4.10-rc1', () => {
    expect(
      selectLatestTag({ policy: { semver: { range: '~1.4' } } }, ['2.0.0', '1.4.10-rc1', '1.4.7', '1.4.2']),
    ).toEqual({
      tag: '1.4.7',
    });
  });
});
