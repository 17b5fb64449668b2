import { describe, expect, it } from 'vitest';
import { parseUntrustedJson, UntrustedJsonError } from './untrusted-json.ts';

const refusal = (text: string) => {
  try {
    parseUntrustedJson(text);
  } catch (err) {
    return err instanceof UntrustedJsonError ? err.reason : 'other';
  }
  return 'accepted';
};

describe('parseUntrustedJson', () => {
  it('parses what forges and registries send, "constructor" as a plain key included', () => {
    expect(parseUntrustedJson('{"ref":"refs/heads/main","commits":[{"id":"a"}]}')).toEqual({
      ref: 'refs/heads/main',
      commits: [{ id: 'a' }],
    });
    expect(parseUntrustedJson('{"constructor":"kaniko","proto":1,"__proto":2}')).toEqual({
      constructor: 'kaniko',
      proto: 1,
      __proto: 2,
    });
    expect(parseUntrustedJson('"__proto__"')).toBe('__proto__');
  });

  it('refuses a key reaching for a prototype, also escaped or nested', () => {
    expect(refusal('{"__proto__":{"isAdmin":true}}')).toBe('prototype');
    expect(refusal('{"a":[{"b":{"__proto__":{"x":1}}}]}')).toBe('prototype');
    expect(refusal('{"\\u005f_proto__":{"x":1}}')).toBe('prototype');
    expect(refusal('{"constructor":{"prototype":{"x":1}}}')).toBe('prototype');
  });

  it('says when the text is not JSON at all', () => {
    expect(refusal('{')).toBe('syntax');
    expect(refusal('')).toBe('syntax');
    expect(() => parseUntrustedJson('{')).toThrow('is not valid JSON');
  });
});
