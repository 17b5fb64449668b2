import { describe, expect, it } from 'vitest';
import { DEFAULT_IDEMPOTENCY_TTL_MS, hasLiveRequest, requestLive } from './idempotency.ts';

const at = '2026-11-30T10:00:00.000Z';
const t = Date.parse(at);
const DAY = DEFAULT_IDEMPOTENCY_TTL_MS;

describe('idempotency key lifetime', () => {
  it('a key answers retries for its lifetime (24 h by default) and is a new request after it', () => {
    expect(DAY).toBe(86_400_000);
    expect(requestLive(at, t, DAY)).toBe(true);
    expect(requestLive(at, t + DAY - 1, DAY)).toBe(true);
    expect(requestLive(at, t + DAY, DAY)).toBe(false);
    expect(requestLive(at, t + 1500, 1000)).toBe(false);
    // A lifetime of 0 answers no retry from the record.
    expect(requestLive(at, t, 0)).toBe(false);
  });

  it('a tag without a time is dated by its record, and expired when nothing dates it', () => {
    expect(requestLive(undefined, t + 1000, DAY, at)).toBe(true);
    expect(requestLive(undefined, t + DAY, DAY, at)).toBe(false);
    expect(requestLive(undefined, t, DAY)).toBe(false);
    expect(requestLive('not a time', t, DAY)).toBe(false);
  });

  it('finds a live tag among stamps and bare tags, never an expired or another one', () => {
    const list = [{ tag: 'req-a', at }, 'req-b'];
    expect(hasLiveRequest(list, 'req-a', t + 10, DAY)).toBe(true);
    expect(hasLiveRequest(list, 'req-a', t + DAY, DAY)).toBe(false);
    expect(hasLiveRequest(list, 'req-b', t + 10, DAY, at)).toBe(true);
    expect(hasLiveRequest(list, 'req-b', t + DAY + 10, DAY, at)).toBe(false);
    expect(hasLiveRequest(list, 'req-c', t, DAY, at)).toBe(false);
    expect(hasLiveRequest(undefined, 'req-a', t, DAY)).toBe(false);
  });
});
