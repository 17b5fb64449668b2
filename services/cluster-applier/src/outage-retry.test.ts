import { retryable, stalled } from '@flotilla/errors';
import { KubeApiError } from '@flotilla/kube';
import { describe, expect, it } from 'vitest';
import { ApplyError } from './apply-error.ts';
import { apiserverUnreachable, retryAcrossOutages } from './outage-retry.ts';

/** What the applier throws when a request got no answer: ApplyError → KubeApiError (status 0). */
const unanswered = () =>
  retryable('kube.unavailable', 'apiserver unavailable', {
    cause: new ApplyError(
      'kube.unavailable',
      'apiserver unavailable, the plan will be retried',
      [],
      false,
      'retry',
      new KubeApiError(
        'kube.unavailable',
        'apply ConfigMap a/b: apiserver unreachable: UND_ERR_CONNECT_TIMEOUT',
        {
          httpStatus: 0,
          disposition: 'retry',
          ctx: { verb: 'apply' },
        },
      ),
    ),
  });

/** A scripted world: the apiserver answers /readyz per `readiness` (one value per probe). */
function world(readiness: boolean[]) {
  let t = 0;
  const probes: number[] = [];
  let working = 0;
  let outages = 0;
  return {
    probes,
    get working() {
      return working;
    },
    get outages() {
      return outages;
    },
    opts: {
      ready: async () => {
        probes.push(t);
        return readiness.shift() ?? true;
      },
      maxWaitMs: 10_000,
      probeEveryMs: 500,
      maxOutages: 3,
      working: () => {
        working++;
      },
      onOutage: () => {
        outages++;
      },
      sleep: async (ms: number) => {
        t += ms;
      },
      now: () => t,
    },
  };
}

function failing(results: (Error | string)[]) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    run: async () => {
      calls++;
      const r = results.shift();
      if (r instanceof Error) throw r;
      return r ?? 'done';
    },
  };
}

describe('retryAcrossOutages', () => {
  it('a retryable failure while /readyz does not answer is retried as soon as it answers again', async () => {
    const w = world([false, false, false, true]);
    const a = failing([retryable('kube.unavailable', 'refused'), 'applied']);
    await expect(retryAcrossOutages(a.run, w.opts)).resolves.toBe('applied');
    expect(a.calls).toBe(2);
    expect(w.probes).toEqual([0, 500, 1000, 1500]); // first probe says down, then every 500 ms
    expect(w.working).toBe(3); // the message is kept in flight while waiting
    expect(w.outages).toBe(1);
  });

  it('a failure while the apiserver is ready is not an outage: the consumer backoff gets it', async () => {
    const w = world([true]);
    const err = retryable('kube.conflict', 'conflict');
    const a = failing([err]);
    await expect(retryAcrossOutages(a.run, w.opts)).rejects.toBe(err);
    expect(a.calls).toBe(1);
    expect(w.outages).toBe(0);
  });

  it('stalls are never retried here and the apiserver is not even probed', async () => {
    const w = world([]);
    const err = stalled('kube.invalid', 'bad');
    await expect(retryAcrossOutages(failing([err]).run, w.opts)).rejects.toBe(err);
    expect(w.probes).toEqual([]);
  });

  it('an outage longer than maxWaitMs goes back to the consumer (the last error)', async () => {
    const w = world(Array.from({ length: 100 }, () => false));
    const err = retryable('kube.unavailable', 'refused');
    const a = failing([err]);
    await expect(retryAcrossOutages(a.run, w.opts)).rejects.toBe(err);
    expect(a.calls).toBe(1);
    expect(w.probes.at(-1)).toBe(10_000);
  });

  it('at most maxOutages outages per delivery', async () => {
    const w = world([false, true, false, true, false, true, false, true]);
    const errs = Array.from({ length: 5 }, (_, i) => retryable('kube.unavailable', `outage ${i}`));
    const a = failing([...errs]);
    await expect(retryAcrossOutages(a.run, w.opts)).rejects.toBe(errs[3]);
    expect(a.calls).toBe(4); // first try + 3 retries after 3 outages
    expect(w.outages).toBe(3);
  });
});

describe('retryAcrossOutages: abandon', () => {
  it('stops waiting when told to (lease lost, stopping) and hands back the last error', async () => {
    const w = world(Array.from({ length: 100 }, () => false));
    let probes = 0;
    const err = retryable('kube.unavailable', 'refused');
    const a = failing([err]);
    await expect(retryAcrossOutages(a.run, { ...w.opts, abandon: () => ++probes > 3 })).rejects.toBe(err);
    expect(w.probes.length).toBeLessThanOrEqual(4);
    expect(a.calls).toBe(1);
  });

  it('a failure for want of any answer is an outage even when /readyz answers by the time it is asked (retried at once)', async () => {
    const w = world([true]);
    const a = failing([unanswered(), 'applied']);
    await expect(retryAcrossOutages(a.run, { ...w.opts, unreachable: apiserverUnreachable })).resolves.toBe(
      'applied',
    );
    expect({ calls: a.calls, probes: w.probes, outages: w.outages }).toEqual({
      calls: 2,
      probes: [0],
      outages: 1,
    });
  });

  it('an answered failure (a 503) while /readyz answers still goes to the backoff', async () => {
    const w = world([true]);
    const answered = new KubeApiError('kube.unavailable', 'apiserver answered 503', {
      httpStatus: 503,
      disposition: 'retry',
      ctx: { verb: 'apply' },
    });
    const a = failing([retryable('kube.unavailable', '503', { cause: answered }), 'applied']);
    await expect(retryAcrossOutages(a.run, { ...w.opts, unreachable: apiserverUnreachable })).rejects.toThrow(
      '503',
    );
    expect({ calls: a.calls, outages: w.outages }).toEqual({ calls: 1, outages: 0 });
  });

  it('apiserverUnreachable looks through the wrapping errors for a status-less KubeApiError', () => {
    expect(apiserverUnreachable(unanswered())).toBe(true);
    expect(apiserverUnreachable(retryable('kube.unavailable', 'x'))).toBe(false);
    expect(apiserverUnreachable(new Error('x'))).toBe(false);
  });
});
