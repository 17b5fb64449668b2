import { describe, expect, it } from 'vitest';
import { chainStatus, type VerifyWire } from './audit-client.ts';

const res = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body: body as VerifyWire,
  headers: new Headers(headers),
});

describe('chainStatus', () => {
  it('passes a verdict through, with whether it covers an earlier head', () => {
    expect(chainStatus(res(200, { ok: true, files: 2, records: 9, head: null }))).toEqual({
      ok: true,
      files: 2,
      records: 9,
      head: null,
      stale: false,
    });
    const broken = { ok: false, kind: 'hash-mismatch', file: 'a.jsonl', line: 3, message: 'edited' };
    expect(chainStatus(res(409, broken, { 'x-flotilla-verify-stale': 'true' }))).toEqual({
      ...broken,
      stale: true,
    });
  });

  it('never reports a refusal or an outage of the audit API as a broken chain', () => {
    const limited = res(429, { error: 'rate-limited', message: 'verify ran moments ago; try again in 3 s' });
    expect(chainStatus(limited)).toEqual({
      ok: null,
      kind: 'unverified',
      message: 'verify ran moments ago; try again in 3 s',
    });
    expect(chainStatus(res(503, null))).toEqual({
      ok: null,
      kind: 'unverified',
      message: 'the audit API answered HTTP 503',
    });
  });
});
