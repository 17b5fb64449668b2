import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './policy-error.ts';
import { parseSemverRange, parseTagVersion, satisfiesRange } from './semver-range.ts';
import {
  compileTagPattern,
  compileTagPolicy,
  expandTemplate,
  selectLatestTag,
  type TagPolicy,
} from './tag-policy.ts';

const buildPolicy: TagPolicy = {
  policy: { numerical: { order: 'asc' } },
  filterTags: { pattern: '^main-(?P<build>[0-9]+)-[a-f0-9]+$', extract: '$build' },
};

describe('regex filter + numerical', () => {
  it('picks build 120 over 99', () => {
    expect(selectLatestTag(buildPolicy, ['main-99-abc', 'main-120-def', 'latest', 'pr-7-fff'])).toEqual({
      tag: 'main-120-def',
    });
  });

  it('desc picks the lowest', () => {
    const desc: TagPolicy = { ...buildPolicy, policy: { numerical: { order: 'desc' } } };
    expect(selectLatestTag(desc, ['main-99-abc', 'main-120-def', 'main-100-aaa'])).toEqual({
      tag: 'main-99-abc',
    });
  });

  it('a non-numeric candidate fails the policy and names the tag', () => {
    let caught: unknown;
    try {
      selectLatestTag({ policy: { numerical: {} } }, ['12', 'latest', '13']);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PolicyError);
    expect((caught as PolicyError).code).toBe('policy.tag-not-numeric');
    expect((caught as PolicyError).message).toContain('"latest"');
    expect((caught as PolicyError).details).toEqual({ tag: 'latest', value: 'latest' });
  });

  it('names both tag and extracted value when extraction yields a non-number', () => {
    const p: TagPolicy = {
      policy: { numerical: {} },
      filterTags: { pattern: '^b-(?<n>.*)$', extract: '$n' },
    };
    expect(() => selectLatestTag(p, ['b-1', 'b-x2'])).toThrow(/tag "b-x2" \(extracted "x2"\)/);
  });

  it('numbers compare as numbers, including decimals and exponents', () => {
    expect(
      selectLatestTag({ policy: { numerical: { order: 'desc' } } }, ['9', '10', '9.5', '2.5e0', '-1']),
    ).toEqual({
      tag: '-1',
    });
    expect(selectLatestTag({ policy: { numerical: {} } }, ['9', '10', '9.5'])).toEqual({ tag: '10' });
    // 1e1 and 10 tie at ten: the byte-wise greater tag wins so input order never matters.
    expect(selectLatestTag({ policy: { numerical: {} } }, ['10', '1e1'])).toEqual({ tag: '1e1' });
    expect(selectLatestTag({ policy: { numerical: {} } }, ['1e1', '10'])).toEqual({ tag: '1e1' });
  });

  it('timestamps extracted with a braced group reference rank the original tags', () => {
    const p: TagPolicy = {
      policy: { numerical: { order: 'asc' } },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Go template syntax, not JS
      filterTags: { pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '${ts}' },
    };
    expect(selectLatestTag(p, ['main-abc-1700000000', 'main-def-1710000000', 'other-1800000000'])).toEqual({
      tag: 'main-def-1710000000',
    });
  });
});

describe('alphabetical', () => {
  it('asc (default) picks the last in byte order', () => {
    expect(
      selectLatestTag({ policy: { alphabetical: {} } }, [
        'RELEASE.2024-01-01',
        'RELEASE.2024-03-01',
        'RELEASE.2023-12-31',
      ]),
    ).toEqual({ tag: 'RELEASE.2024-03-01' });
  });
  it('desc picks the first', () => {
    expect(selectLatestTag({ policy: { alphabetical: { order: 'desc' } } }, ['b', 'a', 'c'])).toEqual({
      tag: 'a',
    });
  });
  it('is byte-wise: uppercase sorts before lowercase', () => {
    expect(selectLatestTag({ policy: { alphabetical: {} } }, ['a', 'B'])).toEqual({ tag: 'a' });
  });
  it('filters first, then ranks the extracted value', () => {
    const p: TagPolicy = {
      policy: { alphabetical: { order: 'asc' } },
      filterTags: { pattern: '^(?<sha>[a-f0-9]{7})-(?<date>\\d{8})$', extract: '$date' },
    };
    expect(selectLatestTag(p, ['ffffff1-20240101', '0000001-20240202', 'zzz'])).toEqual({
      tag: '0000001-20240202',
    });
  });
  it('returns null when nothing passes the filter', () => {
    expect(
      selectLatestTag({ policy: { alphabetical: {} }, filterTags: { pattern: '^rc-' } }, ['1', '2']),
    ).toBeNull();
  });
});

describe('semver with filterTags', () => {
  it('ranks the extracted version and reports the original tag', () => {
    const p: TagPolicy = {
      policy: { semver: { range: '>=1.0.0' } },
      filterTags: { pattern: '^web-(?<v>.+)$', extract: '$v' },
    };
    expect(selectLatestTag(p, ['web-1.2.0', 'web-1.10.0', 'api-9.0.0'])).toEqual({ tag: 'web-1.10.0' });
  });
});

describe('policy validation', () => {
  it('needs exactly one policy kind', () => {
    expect(() => compileTagPolicy({ policy: {} })).toThrow(/needs one of/);
    expect(() => compileTagPolicy({ policy: { semver: { range: '1.x' }, alphabetical: {} } })).toThrow(
      /only one of/,
    );
  });
  it('rejects a bad regex with policy.tag-filter-invalid', () => {
    expect(() => compileTagPolicy({ policy: { alphabetical: {} }, filterTags: { pattern: '(' } })).toThrow(
      expect.objectContaining({ code: 'policy.tag-filter-invalid' }),
    );
  });
  it('rejects a bad order', () => {
    expect(() => compileTagPolicy({ policy: { alphabetical: { order: 'up' as 'asc' } } })).toThrow(
      /asc or desc/,
    );
  });
  it('accepts Go inline flags at the start of a pattern', () => {
    expect(compileTagPattern('(?i)^RC-').test('rc-1')).toBe(true);
    expect(() => compileTagPattern('(?U)a+')).toThrow(/flag U/);
  });
});

// biome-ignore-start lint/suspicious/noTemplateCurlyInString: Go template syntax, not JS
describe('expandTemplate (Go Regexp.Expand rules)', () => {
  const m = /^(?<a>x+)-(?<b_1>\d+)$/.exec('xx-42') as RegExpExecArray;
  it.each([
    ['$a', 'xx'],
    ['${a}', 'xx'],
    ['$b_1', '42'],
    ['$1.$2', 'xx.42'],
    ['${a}y', 'xxy'],
    ['$ay', ''], // `ay` is one (unknown) name
    ['$$a', '$a'],
    ['$missing', ''],
    ['cost: $', 'cost: $'],
    ['${', '${'],
  ])('%s → %s', (template, want) => {
    expect(expandTemplate(template, m)).toBe(want);
  });
});

// biome-ignore-end lint/suspicious/noTemplateCurlyInString: Go template syntax, not JS

// ---- properties ----

const semverTag = fc
  .tuple(
    fc.boolean(),
    fc.nat(12),
    fc.nat(12),
    fc.nat(12),
    fc.option(fc.constantFrom('rc.1', 'rc.2', 'alpha', 'beta.3', '0'), { nil: undefined }),
  )
  .map(([v, a, b, c, pre]) => `${v ? 'v' : ''}${a}.${b}.${c}${pre ? `-${pre}` : ''}`);
const noiseTag = fc.constantFrom('latest', 'main', '1.2', 'sha-abc', '1.0.0.1', 'V1.0.0', '');
const tagList = fc.array(fc.oneof(semverTag, semverTag, noiseTag), { maxLength: 30 });
const rangeArb = fc.constantFrom(
  '*',
  '~1.4',
  '^1',
  '>=2.0.0 <5',
  '1.x',
  '>=1.0.0-0 <3',
  '~0.3 || ^4.1',
  '!=3.3.3',
  '<=2.2',
  '>1',
  '1.2 - 4.0.1',
);
const shuffled = <T>(xs: T[]) =>
  fc.array(fc.nat(), { minLength: xs.length, maxLength: xs.length }).map((keys) =>
    xs
      .map((x, i) => ({ x, k: keys[i] as number }))
      .sort((p, q) => p.k - q.k)
      .map((p) => p.x),
  );

describe('tag policy properties', () => {
  it('semver: the result is an input tag inside the range, and no matching tag is higher', () => {
    fc.assert(
      fc.property(rangeArb, tagList, (range, tags) => {
        const r = parseSemverRange(range);
        const got = selectLatestTag({ policy: { semver: { range } } }, tags);
        const matching = tags.filter((t) => {
          const v = parseTagVersion(t);
          return v !== null && satisfiesRange(v, r);
        });
        if (got === null) return matching.length === 0;
        const best = parseTagVersion(got.tag);
        return (
          tags.includes(got.tag) &&
          matching.includes(got.tag) &&
          best !== null &&
          matching.every((t) => (parseTagVersion(t) as NonNullable<typeof best>).compare(best) <= 0)
        );
      }),
    );
  });

  it('semver: the result does not depend on tag order', () => {
    fc.assert(
      fc.property(
        rangeArb,
        tagList.chain((tags) => fc.tuple(fc.constant(tags), shuffled(tags))),
        (range, [a, b]) => {
          const p: TagPolicy = { policy: { semver: { range } } };
          expect(selectLatestTag(p, a)).toEqual(selectLatestTag(p, b));
        },
      ),
    );
  });

  it('alphabetical: the result is an input tag, extreme in byte order, order independent', () => {
    const tags = fc.array(fc.string({ maxLength: 8 }), { maxLength: 20 });
    fc.assert(
      fc.property(
        fc.constantFrom('asc' as const, 'desc' as const),
        tags.chain((t) => fc.tuple(fc.constant(t), shuffled(t))),
        (order, [a, b]) => {
          const p: TagPolicy = { policy: { alphabetical: { order } } };
          const got = selectLatestTag(p, a);
          expect(got).toEqual(selectLatestTag(p, b));
          if (a.length === 0) return got === null;
          if (got === null) return false;
          const sorted = [...a].sort();
          return got.tag === (order === 'asc' ? sorted[sorted.length - 1] : sorted[0]);
        },
      ),
    );
  });

  it('numerical + filter: the result matches the filter, is maximal, and is order independent', () => {
    const build = fc
      .tuple(fc.nat(100_000), fc.stringMatching(/^[a-f0-9]{3}$/))
      .map(([n, h]) => `main-${n}-${h}`);
    const tags = fc.array(fc.oneof(build, fc.constantFrom('latest', 'pr-1-abc', 'main-x-abc')), {
      maxLength: 20,
    });
    fc.assert(
      fc.property(
        tags.chain((t) => fc.tuple(fc.constant(t), shuffled(t))),
        ([a, b]) => {
          const got = selectLatestTag(buildPolicy, a);
          expect(got).toEqual(selectLatestTag(buildPolicy, b));
          const builds = a.filter((t) => /^main-\d+-[a-f0-9]+$/.test(t));
          if (builds.length === 0) return got === null;
          const num = (t: string) => Number(t.split('-')[1]);
          return got !== null && builds.includes(got.tag) && builds.every((t) => num(t) <= num(got.tag));
        },
      ),
    );
  });
});
