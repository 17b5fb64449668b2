import { catalog, type EventDefinition, parseSubject } from '@flotilla/events';
import { describe, expect, it } from 'vitest';
import { natsIdentities, nkeyEnvVar, passwordEnvVar, renderNatsAuthorization } from './nats-auth.ts';
import { flotillaDeclarations } from './nats-declarations.ts';

const shape = { clusters: ['dev', 'prod'] };

describe('nats authorization model', () => {
  const ids = natsIdentities(shape);
  const id = (user: string) => ids.find((i) => i.user === user);
  const restricted = ids.filter((i) => i.user !== 'admin');

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

  it("an applier may publish only its cluster's results and bind only its own consumer", () => {
    const pub = id('applier-dev')?.publish?.allow ?? [];
    expect(pub.filter((s) => s.startsWith('flotilla.v1.'))).toEqual([
      'flotilla.v1.apply.started.dev',
      'flotilla.v1.apply.succeeded.dev',
      'flotilla.v1.apply.failed.dev',
      'flotilla.v1.health.changed.dev',
      'flotilla.v1.drift.detected.dev',
      'flotilla.v1.drift.corrected.dev',
      'flotilla.v1.bus.dead-lettered.applier-dev',
    ]);
    expect(pub).toContain('$JS.API.CONSUMER.MSG.NEXT.FLOTILLA_EVENTS.applier-dev');
    expect(pub.filter((s) => s.includes('CONSUMER.CREATE.FLOTILLA_EVENTS'))).toEqual([]);
    expect(id('applier-dev')?.subscribe?.allow).toEqual(['_INBOX_applier-dev.>']);
    expect(id('applier-dev')?.publish?.deny).toContain(
      '$JS.API.CONSUMER.MSG.NEXT.FLOTILLA_EVENTS.applier-prod',
    );
  });

  it('no identity but admin may create, update or delete a stream, or create a durable itself', () => {
    for (const i of restricted) {
      const allow = i.publish?.allow ?? [];
      expect(
        allow.filter((s) => /\.STREAM\.(CREATE|UPDATE|DELETE|RESTORE)\./.test(s)),
        i.user,
      ).toEqual([]);
      expect(i.publish?.deny, i.user).toEqual(
        expect.arrayContaining([
          '$JS.API.STREAM.CREATE.>',
          '$JS.API.STREAM.UPDATE.>',
          '$JS.API.STREAM.DELETE.>',
          '$JS.API.STREAM.PURGE.FLOTILLA_EVENTS',
          '$JS.API.CONSUMER.PAUSE.>',
        ]),
      );
      // Every other identity's durable is denied in every form, whatever wildcard is allowed.
      for (const other of ['planner', 'audit-writer', 'applier-dev', 'applier-prod'].filter(
        (u) => u !== i.user,
      ))
        expect(i.publish?.deny, `${i.user} vs ${other}`).toEqual(
          expect.arrayContaining([
            `$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.${other}`,
            `$JS.API.CONSUMER.CREATE.FLOTILLA_EVENTS.${other}.>`,
            `$JS.API.CONSUMER.DELETE.FLOTILLA_EVENTS.${other}`,
            `$JS.API.CONSUMER.MSG.NEXT.FLOTILLA_EVENTS.${other}`,
          ]),
        );
    }
  });

  it('every private inbox is its own; nobody but admin subscribes to the shared one', () => {
    for (const i of restricted) {
      expect(i.subscribe?.allow, i.user).toContain(`_INBOX_${i.user}.>`);
      expect(
        i.subscribe?.allow.some((s) => s.startsWith('_INBOX.')),
        i.user,
      ).toBe(false);
      expect(i.subscribe?.deny).toContain('_INBOX.>');
    }
  });

  // Event authenticity by construction: a consumer trusts an event's `source` because the only
  // identity the server lets publish on that subject runs as that source's service.
  it('each identity may publish only events its service produces, an applier only in its cluster', () => {
    const declarations = flotillaDeclarations(shape);
    for (const d of declarations) {
      for (const subject of d.publishes) {
        const parsed = parseSubject(subject);
        expect(parsed, subject).toBeDefined();
        const def = catalog.find((e) => e.domain === parsed?.domain && e.event === parsed?.event) as
          | EventDefinition
          | undefined;
        expect(def, subject).toBeDefined();
        if (def?.name === 'DeadLettered') {
          expect(
            d.consumers.map((c) => c.durable),
            subject,
          ).toContain(parsed?.scope);
          continue;
        }
        expect(d.producer && def?.producers, `${d.identity} → ${subject}`).toContain(d.producer);
        if (d.producer === 'cluster-applier') expect(`applier-${parsed?.scope}`).toBe(d.identity);
      }
    }
  });

  it('no two identities may publish the same subject (except the watchers’ WebhookRejected)', () => {
    const owners = new Map<string, string[]>();
    for (const d of flotillaDeclarations(shape))
      for (const s of d.publishes) owners.set(s, [...(owners.get(s) ?? []), d.identity]);
    const shared = [...owners].filter(([, who]) => who.length > 1);
    expect(shared).toEqual([['flotilla.v1.webhook.rejected.*', ['git-watcher', 'registry-watcher']]]);
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

  it('renders every identity as an nkey read from the environment (the shipped install), no password', () => {
    const text = renderNatsAuthorization({ clusters: ['dev', 'prod'], nkeysFromEnv: true });
    expect(text).toContain(`nkey: $${nkeyEnvVar('applier-prod')} # applier-prod`);
    expect(nkeyEnvVar('applier-prod-eu')).toBe('FLOTILLA_NATS_NKEY_APPLIER_PROD_EU');
    expect(text.match(/^\s*nkey: /gm)).toHaveLength(natsIdentities({ clusters: ['dev', 'prod'] }).length);
    expect(text).not.toMatch(/password|user: /);
    expect(() =>
      renderNatsAuthorization({ clusters: ['dev'], nkeysFromEnv: true, nkeys: { planner: 'U' } }),
    ).toThrow(/either/);
  });

  it('refuses cluster names that are not DNS labels', () => {
    expect(() => natsIdentities({ clusters: ['prod.eu'] })).toThrow(/DNS label/);
  });
});
