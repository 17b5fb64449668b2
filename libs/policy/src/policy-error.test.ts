import { isErrorCode } from '@flotilla/errors';
import { describe, expect, it } from 'vitest';
import { POLICY_ERROR_CODES, PolicyError } from './policy-error.ts';

describe('PolicyError', () => {
  it("names every code in the tree's one scheme, policy.<kebab-case>", () => {
    expect(POLICY_ERROR_CODES.filter((c) => !isErrorCode(c) || !c.startsWith('policy.'))).toEqual([]);
  });

  it('always stalls: the input has to change before a retry can help', () => {
    const err = new PolicyError('policy.tag-filter-invalid', 'bad filter', { pattern: '(' });
    expect(err.toJSON()).toEqual({
      code: 'policy.tag-filter-invalid',
      message: 'bad filter',
      disposition: 'stall',
      details: { pattern: '(' },
    });
  });
});
