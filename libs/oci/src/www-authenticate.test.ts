import { describe, expect, it } from 'vitest';
import { parseNextLink } from './link-header.ts';
import { parseWwwAuthenticate } from './www-authenticate.ts';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub style Bearer challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/nginx:pull',
        },
      },
    ]);
  });
  it('parses Basic, unquoted values, escapes and several challenges', () => {
    expect(parseWwwAuthenticate('Basic realm="flotilla-test"')).toEqual([
      { scheme: 'basic', params: { realm: 'flotilla-test' } },
    ]);
    expect(
      parseWwwAuthenticate('Basic realm="a \\"b\\"", Bearer realm=https://x/t, error=invalid_token'),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'a "b"' } },
      { scheme: 'bearer', params: { realm: 'https://x/t', error: 'invalid_token' } },
    ]);
    expect(parseWwwAuthenticate(null)).toEqual([]);
  });
  it('keeps scopes with several actions', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="r",scope="repository:a/b:pull,push"');
    expect(c?.params.scope).toBe('repository:a/b:pull,push');
  });
});

describe('parseNextLink', () => {
  const base = 'http://127.0.0.1:5000/v2/a/tags/list?n=2';
  it('resolves a path-only link against the base', () => {
    expect(parseNextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', base)?.href).toBe(
      'http://127.0.0.1:5000/v2/a/tags/list?n=2&last=b',
    );
  });
  it('handles absolute URLs, unquoted rel and several links', () => {
    expect(parseNextLink('<https://r.example/v2/a/tags/list?last=z>; rel=next', base)?.href).toBe(
      'https://r.example/v2/a/tags/list?last=z',
    );
    expect(parseNextLink('</prev>; rel="prev", </next?x=1>; rel="next"', base)?.pathname).toBe('/next');
    expect(parseNextLink('</x>; rel="prev"', base)).toBeUndefined();
    expect(parseNextLink(null, base)).toBeUndefined();
  });
});
