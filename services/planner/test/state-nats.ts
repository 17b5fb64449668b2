import { randomUUID } from 'node:crypto';
import { Bus } from '@flotilla/bus';
import { type NatsServer, startNats } from '@flotilla/test-support';
import { afterAll, beforeAll } from 'vitest';

/**
 * A real nats-server and a planner bus on it for the tests of one file (started before them,
 * closed after), for tests of the planner's state that need NATS KV but no planner; each
 * `bucket()` names a fresh state bucket, so tests do not see each other's entries.
 */
export function stateNats(): { readonly bus: Bus; bucket(): string } {
  let nats: NatsServer | undefined;
  let bus: Bus | undefined;
  beforeAll(async () => {
    nats = await startNats();
    bus = await Bus.connect({ servers: nats.url, service: 'planner', instance: 'test', provision: true });
  });
  afterAll(async () => {
    await bus?.close();
    await nats?.dispose();
  });
  return {
    get bus(): Bus {
      if (!bus) throw new Error('NATS is started before the tests: use the bus inside one');
      return bus;
    },
    bucket: () => `planner-state-${randomUUID().slice(0, 8)}`,
  };
}
