import { eventSubjectsOf, type NatsResources } from '@flotilla/bus';
import { ImageCheckRequest, requestSubjects } from '@flotilla/events';

/** Everything the registry-watcher uses on NATS (see `NatsResources`). */
export function natsResources(
  config: { lease?: { bucket?: string }; state?: { bucket?: string } } = {},
): NatsResources {
  return {
    identity: 'registry-watcher',
    producer: 'registry-watcher',
    consumers: [],
    kv: [
      { bucket: config.lease?.bucket ?? 'registry-watcher-leases', access: 'rw' },
      { bucket: config.state?.bucket ?? 'registry-watcher-state', access: 'rw' },
    ],
    objectStores: [],
    publishes: eventSubjectsOf('registry-watcher'),
    // A webhook is forwarded to the image's lease owner (ImageCheckRequest).
    internal: {
      publish: [requestSubjects(ImageCheckRequest)],
      subscribe: [requestSubjects(ImageCheckRequest)],
    },
  };
}
