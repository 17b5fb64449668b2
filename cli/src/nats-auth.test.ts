import { describe, expect, it } from 'vitest';
import { natsIdentities, passwordEnvVar, renderNatsAuthorization } from './nats-auth.ts';

describe('nats authorization model', () => {
  const ids = natsIdentities({ clusters: ['dev', 'prod'] });
  const id = (user: string) => ids.find((i) => i.user === user);

  it('one identity per service, per cluster applier, a subscriber and an admin', () => {
    expect(ids.map((i) => i.user)).toEqual([
      'planner',
      'git-watcher',
      'registry-watcher',
      'audit-writer',
      'applier-dev',
      'applier-prod',
      'subscriber',
      'admin',
    ]);
  });

  it("an applier may publish only its cluster's results and pull only its own consumer", () => {
    const pub = id('applier-dev')?.publish?.allow ?? [];
    expect(pub.filter((s) => s.startsWith('flotilla.v1.'))).toEqual([
      'flotilla.v1.apply.*.dev',
      'flotilla.v1.health.changed.dev',
      'flotilla.v1.drift.*.dev',
      'flotilla.v1.bus.dead-lettered.applier-dev',
    ]);
    expect(pub.filter((s) => s.includes('FLOTILLA_EVENTS.applier'))).not.toContainEqual(
      expect.stringContaining('prod'),
    );
    expect(pub).toContain('$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.applier-dev.flotilla.v1.plan.created.dev');
    expect(pub).not.toContain('$JS.API.CONSUMER.DURABLE.CREATE.FLOTILLA_EVENTS.applier-dev');
    expect(id('applier-dev')?.subscribe?.allow).toEqual(['_INBOX_applier-dev.>']);
  });

  it('watchers and the audit-writer cannot publish plans; the subscriber publishes no events', () => {
    for (const u of ['git-watcher', 'registry-watcher', 'audit-writer', 'subscriber'])
      expect(
        id(u)?.publish?.allow.some((s) => s.startsWith('flotilla.v1.plan') || s === 'flotilla.v1.>'),
      ).toBe(false);
    expect(id('subscriber')?.publish?.allow.some((s) => s.startsWith('flotilla.v1.'))).toBe(false);
  });

  it('renders quoted subjects and environment-variable passwords', () => {
    const text = renderNatsAuthorization({ clusters: ['dev'] });
    expect(text).toContain(`password: $${passwordEnvVar('applier-dev')}`);
    expect(passwordEnvVar('applier-prod-eu')).toBe('FLOTILLA_NATS_PASSWORD_APPLIER_PROD_EU');
    expect(text).toContain('"$JS.API.INFO"');
    expect(renderNatsAuthorization({ clusters: ['dev'], password: () => 'p"w' })).toContain(
      'password: "p\\"w"',
    );
  });
});
