import { eventSubjectsOf, type NatsResources } from '@flotilla/bus';

/** Core NATS request/reply between instances: a webhook is forwarded to the image's lease owner. */
export const CHECK_SUBJECT_PREFIX = 'flotilla.internal.registry-watcher.check';

/** Everything the registry-watcher uses on NATS (see `NatsResources`). */
export function natsResources(
  config: { leases?: { bucket?: string }; state?: { bucket?: string } } = {},
): NatsResources {
  return {
    identity: 'registry-watcher',
    producer: 'registry-watcher',
    consumers: [],
    kv: [
      { bucket: config.leases?.bucket ?? 'registry-watcher-leases', access: 'rw' },
      { bucket: config.state?.bucket ?? 'registry-watcher-state', access: 'rw' },
    ],
    objectStores: [],
    publishes: eventSubjectsOf('registry-watcher'),
    internal: { publish: [`${CHECK_SUBJECT_PREFIX}.*`], subscribe: [`${CHECK_SUBJECT_PREFIX}.*`] },
  };
}
