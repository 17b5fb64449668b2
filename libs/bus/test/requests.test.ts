import { randomUUID } from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';
import { GitCheckRequest, requestSubject } from '@flotilla/events';
import { type NatsServer, startNats, waitFor } from '@flotilla/test-support';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, ownerRequests } from '../src/index.ts';

let nats: NatsServer;
let a: Bus;
let b: Bus;
const warnings: Array<{ obj: object; msg?: string }> = [];
const logger = {
  info() {},
  warn: (obj: object, msg?: string) => warnings.push({ obj, ...(msg ? { msg } : {}) }),
  error: (obj: object, msg?: string) => warnings.push({ obj, ...(msg ? { msg } : {}) }),
};

beforeAll(async () => {
  nats = await startNats();
  a = await Bus.connect({ servers: nats.url, service: 'git-watcher', instance: 'a', ensureStream: true });
  b = await Bus.connect({ servers: nats.url, service: 'git-watcher', instance: 'b', logger });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await nats?.dispose();
});

const uniq = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

async function rejection(p: Promise<unknown>): Promise<FlotillaError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FlotillaError);
  return err as FlotillaError;
}

describe('typed request/reply', () => {
  it('reaches the one instance that owns the scope; the others stay silent', async () => {
    const owned = uniq('repo');
    const started: string[] = [];
    const onA = await ownerRequests(a, GitCheckRequest, {
      instance: 'a',
      timeoutMs: 2000,
      logger,
      runIfOwned: (r) => r.repo === owned && started.push(`a:${r.repo}:${r.receivedAt}`) > 0,
    });
    const onB = await ownerRequests(b, GitCheckRequest, {
      instance: 'b',
      timeoutMs: 2000,
      logger,
      runIfOwned: () => false,
    });
    try {
      expect(await onB.dispatch({ repo: owned, receivedAt: 7 })).toBe('a');
      expect(await onA.dispatch({ repo: owned, receivedAt: 8 })).toBe('a');
      expect(started).toEqual([`a:${owned}:7`, `a:${owned}:8`]);
      // Nobody owns it: a clear, typed answer instead of silence.
      const before = warnings.length;
      expect(await onB.dispatch({ repo: uniq('orphan'), receivedAt: 1 })).toBeNull();
      expect(warnings.slice(before).map((w) => w.obj)).toEqual([
        expect.objectContaining({ request: 'GitCheckRequest', code: 'bus.request-timeout' }),
      ]);
    } finally {
      // Awaited: the next test's "no responders" needs the server to have dropped both.
      await onA.stop();
      await onB.stop();
    }
  });

  it('names the failure: no responders, an invalid request, an invalid reply', async () => {
    // The server answers "no responders" at once; the long timeout only keeps a loaded machine
    // (CI saw a 2 s timeout win the race at load 24) from turning that answer into a timeout.
    const err = await rejection(
      a.request(GitCheckRequest, { repo: uniq('none'), receivedAt: 1 }, { timeoutMs: 30_000 }),
    );
    expect(err.code).toBe('bus.no-responders');
    expect(err.disposition).toBe('wait');

    const bad = await rejection(
      a.request(GitCheckRequest, { repo: '', receivedAt: -1 } as never, { timeoutMs: 2000 }),
    );
    expect(bad.code).toBe('bus.invalid-request');
    expect(bad.message).toMatch(/repo/);

    // A foreign responder whose answer breaks the contract: the caller refuses it rather than trusting it.
    const raw = await connect({ servers: nats.url });
    const subject = requestSubject(GitCheckRequest, { repo: uniq('r'), receivedAt: 1 });
    raw.subscribe(subject, {
      callback: (_e, m) => {
        m.respond(JSON.stringify({ instance: '' }));
      },
    });
    await raw.flush();
    try {
      const lie = await rejection(
        a.request(GitCheckRequest, { repo: subject.split('.').pop()!, receivedAt: 1 }, { timeoutMs: 30_000 }),
      );
      expect(lie.code).toBe('bus.invalid-reply');
      expect(lie.message).toMatch(/instance/);
    } finally {
      await raw.close();
    }
  });

  it('a request that does not fit the schema is logged by the server, never handed to the handler', async () => {
    const handled: unknown[] = [];
    const served = await b.serve(GitCheckRequest, (r) => {
      handled.push(r);
      return { instance: 'b' };
    });
    try {
      const before = warnings.length;
      const subject = requestSubject(GitCheckRequest, { repo: 'x', receivedAt: 1 });
      // Raw bytes, as a foreign client could send them; nobody answers, so the client times out.
      const nc = await connect({ servers: nats.url });
      await expect(
        nc.request(subject, JSON.stringify({ repo: 'x', receivedAt: 'soon' }), { timeout: 500 }),
      ).rejects.toThrow();
      await nc.close();
      // Refused in the same callback that would have called the handler: once the warning is there,
      // the handler was not called.
      await waitFor('the refusal is logged', async () => warnings.length > before || undefined, {
        timeoutMs: 5000,
      });
      expect(handled).toEqual([]);
      expect(warnings.slice(before)).toEqual([
        {
          obj: expect.objectContaining({
            request: 'GitCheckRequest',
            err: expect.stringMatching(/receivedAt/),
          }),
          msg: 'request refused',
        },
      ]);
    } finally {
      await served.stop();
    }
  });
});
