import { eventSubjectsOf, type NatsResources } from '@flotilla/bus';
import { GitCheckRequest, requestSubjects } from '@flotilla/events';

/**
 * Everything the git-watcher uses on NATS (see `NatsResources`): no consumer, its lease,
 * membership and cursor buckets, and the git events it produces.
 */
export function natsResources(
  config: { lease?: { bucket?: string; membersBucket?: string }; state?: { bucket?: string } } = {},
): NatsResources {
  return {
    identity: 'git-watcher',
    producer: 'git-watcher',
    consumers: [],
    kv: [
      { bucket: config.lease?.bucket ?? 'git-watcher-leases', access: 'rw' },
      { bucket: config.lease?.membersBucket ?? 'git-watcher-members', access: 'rw' },
      { bucket: config.state?.bucket ?? 'git-watcher-cursors', access: 'rw' },
    ],
    objectStores: [],
    publishes: eventSubjectsOf('git-watcher'),
    // A webhook is forwarded to the repo's lease owner (GitCheckRequest).
    internal: { publish: [requestSubjects(GitCheckRequest)], subscribe: [requestSubjects(GitCheckRequest)] },
  };
}
