import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildSubject, decodeToken, encodeToken, parseSubject } from './subject.ts';

describe('subject tokens', () => {
  it('encodes the characters NATS reserves, and spaces', () => {
    expect(encodeToken('registry.example.com/shop/web')).toBe('registry%2Eexample%2Ecom%2Fshop%2Fweb');
    expect(encodeToken('a*b>c d\te')).toBe('a%2Ab%3Ec%20d%09e');
    expect(encodeToken('prod-eu_1')).toBe('prod-eu_1');
    expect(encodeToken('100%')).toBe('100%25');
  });

  it('rejects an empty token', () => {
    expect(() => encodeToken('')).toThrow(/empty/);
  });

  it('round-trips any string and never yields a reserved character', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'binary' }), (s) => {
        const token = encodeToken(s);
        expect(token).not.toMatch(/[.*>\s]/);
        expect(decodeToken(token)).toBe(s);
      }),
    );
  });

  it('builds and parses five-token subjects', () => {
    const subject = buildSubject('image', 'tag-detected', 'reg.io:5000/app');
    expect(subject).toBe('flotilla.v1.image.tag-detected.reg%2Eio%3A5000%2Fapp');
    expect(parseSubject(subject)).toEqual({
      domain: 'image',
      event: 'tag-detected',
      scope: 'reg.io:5000/app',
    });
    expect(buildSubject('plan', 'created', '*')).toBe('flotilla.v1.plan.created.*');
    expect(parseSubject('other.v1.a.b.c')).toBeUndefined();
  });
});
