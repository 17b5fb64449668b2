import { describe, expect, it } from 'vitest';
import { chainStatus, type VerifyWire } from './audit-client.ts';

const res = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  body: body as VerifyWire,
  headers: new Headers(headers),
});

describe('chainStatus', () => {
  it('passes a verdict through, with whether it covers an earlier head', () => {
    const intact: VerifyWire = {
      ok: true,
      files: 2,
      records: 9,
      head: { seq: 9, hash: `sha256:${'a'.repeat(64)}` },
    };
    expect(chainStatus(res(200, intact))).toEqual({ ...intact, stale: false });
    // The audit-writer's 409 as it sends it (chain.ts VerifyResult): where the walk stopped, in `problem`.
    const broken: VerifyWire = {
      ok: false,
      files: 1,
      records: 2,
      head: { seq: 2, hash: `sha256:${'b'.repeat(64)}` },
      problem: {
        kind: 'hash-mismatch',
        file: '2026/11/30.jsonl',
        line: 3,
        seq: 3,
        message: 'record 3 was edited',
      },
    };
    expect(chainStatus(res(409, broken, { 'x-flotilla-verify-stale': 'true' }))).toEqual({
      ok: false,
      kind: 'hash-mismatch',
      file: '2026/11/30.jsonl',
      line: 3,
      seq: 3,
      message: 'record 3 was edited',
      stale: true,
    });
  });

  it('still says the chain is broken when a 409 does not say where', () => {
    expect(chainStatus(res(409, { ok: false, files: 0, records: 0 }))).toMatchObject({
      ok: false,
      kind: 'unknown',
      message: 'the audit API found the chain broken without saying where',
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
