import { describe, expect, it } from 'vitest';
import { dispositionOf, FlotillaError, isErrorCode, retryable, stalled, waiting } from './flotilla-error.ts';

describe('FlotillaError', () => {
  it('defaults to stall and carries code, details and cause', () => {
    const cause = new Error('boom');
    const err = new FlotillaError('x.bad', 'bad thing', { cause, details: { file: 'a.yaml' } });
    expect(err.disposition).toBe('stall');
    expect(err.retryable).toBe(false);
    expect(err.cause).toBe(cause);
    expect(err.toJSON()).toEqual({
      code: 'x.bad',
      message: 'bad thing',
      disposition: 'stall',
      details: { file: 'a.yaml' },
    });
  });

  it('helpers set the disposition; unknown errors count as retryable', () => {
    expect(retryable('a', 'b').disposition).toBe('retry');
    expect(waiting('a', 'b').disposition).toBe('wait');
    expect(stalled('a', 'b').disposition).toBe('stall');
    expect(dispositionOf(new Error('x'))).toBe('retry');
  });

  it('knows the one code scheme: domain.kebab-case', () => {
    for (const ok of [
      'oci.manifest-unknown',
      'git.unreachable',
      'registry-watcher.check-failed',
      'held.expired',
      'a.b.c',
    ])
      expect(isErrorCode(ok), ok).toBe(true);
    for (const bad of [
      'MANIFEST_UNKNOWN',
      'TOOMANYREQUESTS',
      'unauthorised',
      'oci.Manifest',
      'oci.',
      '.x',
      'oci..x',
      'oci.a_b',
      'oci.-a',
      'oci.a-',
      'Oci.x',
    ])
      expect(isErrorCode(bad), bad).toBe(false);
  });
});
