import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Bus } from '@flotilla/bus';
import {
  ApplySucceeded,
  childTraceparent,
  type FlotillaEvent,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  ImageUpdateCommitted,
  PlanCreated,
  traceIdOf,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { type NatsServer, programArgs, startNats } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `flotilla trace` as a user runs it (the built bundle in a child process) against a real
// nats-server whose stream holds a delivery published the way the services publish it: each
// service through its own bus, every event caused by the one before.

const root = resolve(import.meta.dirname, '../..');

function cli(args: string[], natsUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      programArgs('cli', ...args),
      { cwd: root, env: { PATH: process.env.PATH ?? '', FLOTILLA_NATS_URL: natsUrl }, timeout: 60_000 },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let nats: NatsServer;
const buses: Bus[] = [];
const commit = randomBytes(20).toString('hex');
let tag: FlotillaEvent;
let unrelated: FlotillaEvent;

beforeAll(async () => {
  nats = await startNats();
  const bus = async (service: 'registry-watcher' | 'planner' | 'git-watcher' | 'cluster-applier') => {
    const b = await Bus.connect({ servers: nats.url, service, instance: 'trace-test', ensureStream: true });
    buses.push(b);
    return b;
  };
  const [registry, planner, git, applier] = [
    await bus('registry-watcher'),
    await bus('planner'),
    await bus('git-watcher'),
    await bus('cluster-applier'),
  ];
  tag = (await registry.publish(ImageTagDetected, samples.ImageTagDetected)).event;
  const update = (
    await planner.publish(ImageUpdateCommitted, { ...samples.ImageUpdateCommitted, commit }, { cause: tag })
  ).event;
  const plan = (
    await planner.publish(PlanCreated, { ...samples.PlanCreated, revision: commit }, { cause: update })
  ).event;
  // The git-watcher's event for the planner's commit: its own correlation, the trailer's trace.
  await git.publish(
    GitCommitDetected,
    { ...samples.GitCommitDetected, sha: commit },
    { traceparent: childTraceparent(update.traceparent) },
  );
  const applied = (
    await applier.publish(ApplySucceeded, { ...samples.ApplySucceeded, revision: commit }, { cause: plan })
  ).event;
  await applier.publish(HealthChanged, { ...samples.HealthChanged, revision: commit }, { cause: applied });
  unrelated = (await planner.publish(PlanCreated, { ...samples.PlanCreated, cluster: 'prod' })).event;
});

afterAll(async () => {
  for (const b of buses) await b.close();
  await nats?.dispose();
});

describe('flotilla trace against a real nats-server', () => {
  it('prints the timeline of a delivery by correlation id, the git-watcher echo included', async () => {
    const r = await cli(['trace', tag.correlationid], nats.url);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^6 events over \d+\.\d{3}s from /);
    const names = lines.slice(1, 7).map((l) => l.trim().split(/\s+/)[2]);
    expect(names).toEqual([
      'ImageTagDetected',
      'ImageUpdateCommitted',
      'PlanCreated',
      'GitCommitDetected',
      'ApplySucceeded',
      'HealthChanged',
    ]);
    expect(lines.at(-1)).toBe(`trace ids: ${traceIdOf(tag.traceparent)}`);
  });

  it('finds the same delivery by abbreviated commit; JSON lists the events', async () => {
    const r = await cli(['trace', commit.slice(0, 10), '-o', 'json'], nats.url);
    expect(r.code).toBe(0);
    const events = JSON.parse(r.stdout) as FlotillaEvent[];
    expect(events.map((e) => e.type)).toContain(GitCommitDetected.type);
    expect(events[0]?.id).toBe(tag.id);
    expect(events.some((e) => e.id === unrelated.id)).toBe(false);
    expect(new Set(events.map((e) => traceIdOf(e.traceparent)))).toEqual(
      new Set([traceIdOf(tag.traceparent)]),
    );
  });

  it('exits 1 naming the id when nothing matches, and 2 on a malformed id', async () => {
    const none = await cli(['trace', 'no-such-correlation'], nats.url);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no event names no-such-correlation');
    const bad = await cli(['trace', 'a b;rm'], nats.url);
    expect(bad.code).toBe(2);
  });
});
