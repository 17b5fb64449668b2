import { describe, expect, it } from 'vitest';
import { DEFAULT_MUTABLE_TAGS } from './config.ts';
import { tagDetectedId, tagMovedId } from './event-ids.ts';
import { diffTags } from './tag-diff.ts';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const mutable = new RegExp(DEFAULT_MUTABLE_TAGS);

describe('diffTags', () => {
  it('needs no manifest request when nothing changed and no mutable tag is tracked', () => {
    const diff = diffTags({
      listed: ['v1', 'v2'],
      truncated: false,
      known: { v1: D1, v2: D2 },
      tagFilter: undefined,
      mutableTags: mutable,
      maxNew: 10,
    });
    expect(diff).toEqual({ added: [], recheck: [], removed: [], deferred: 0, invalid: [] });
  });

  it('adds new tags (bounded), rechecks mutable ones and forgets deleted ones', () => {
    const diff = diffTags({
      listed: ['latest', 'v1', 'v3', 'v4', 'v5'],
      truncated: false,
      known: { latest: D1, v1: D1, v2: D2 },
      tagFilter: /^(v\d+|latest)$/,
      mutableTags: mutable,
      maxNew: 2,
    });
    expect(diff).toEqual({
      added: ['v3', 'v4'],
      recheck: ['latest'],
      removed: ['v2'],
      deferred: 1,
      invalid: [],
    });
  });

  it('applies the tag filter, and keeps tags beyond a truncated list', () => {
    const diff = diffTags({
      listed: ['v1', 'sha-abc'],
      truncated: true,
      known: { v0: D1 },
      tagFilter: /^v/,
      mutableTags: undefined,
      maxNew: 10,
    });
    expect(diff).toEqual({ added: ['v1'], recheck: [], removed: [], deferred: 0, invalid: [] });
  });

  it('rechecks a hinted tag unless the hint names the digest we know; adds hinted tags not yet listed', () => {
    const diff = diffTags({
      listed: ['v1', 'v2'],
      truncated: false,
      known: { v1: D1, v2: D2 },
      tagFilter: undefined,
      mutableTags: undefined,
      hints: [{ tag: 'v1', digest: D2 }, { tag: 'v2', digest: D2 }, { tag: 'v9' }],
      maxNew: 10,
    });
    expect(diff).toEqual({ added: ['v9'], recheck: ['v1'], removed: [], deferred: 0, invalid: [] });
  });
});

describe('diffTags and names that are not tags', () => {
  it('drops a digest in a hint (Harbor untagged push) and junk in the list, and reports them', () => {
    const diff = diffTags({
      listed: ['v1', '-bad', 'x'.repeat(200)],
      truncated: false,
      known: { v1: D1 },
      tagFilter: undefined,
      mutableTags: undefined,
      hints: [{ tag: D2, digest: D2 }, { digest: D2 }, { tag: 'v2', digest: D2 }],
      maxNew: 10,
    });
    expect(diff).toEqual({
      added: ['v2'],
      recheck: [],
      removed: [],
      deferred: 0,
      invalid: ['-bad', 'x'.repeat(200), D2],
    });
  });
});

describe('event ids', () => {
  it('are deterministic per observation and distinct per move generation', () => {
    expect(tagDetectedId('r/x', 'v1', D1)).toBe(tagDetectedId('r/x', 'v1', D1));
    expect(tagDetectedId('r/x', 'v1', D1)).not.toBe(tagDetectedId('r/x', 'v1', D2));
    expect(tagMovedId('r/x', 'v1', D1, D2, 1)).not.toBe(tagMovedId('r/x', 'v1', D1, D2, 3));
    expect(tagDetectedId('r/x', 'v1', D1).length).toBeLessThanOrEqual(128);
  });
});
