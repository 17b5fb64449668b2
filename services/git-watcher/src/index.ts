export { preferredOwner } from '@flotilla/bus';
export { Config, RepositoryConfig } from './config.ts';
export { type Cursor, CursorStore, cursorKey } from './cursor.ts';
export { HostLimiter, remoteHost } from './host-limiter.ts';
export { resolveRepos, type WatchedRepo } from './repo.ts';
export { type CheckResult, eventId, RepoWatcher, type Trigger } from './repo-watcher.ts';
export { type GitWatcherHandle, startGitWatcher } from './service.ts';
export { decodeBody, matchRepos, normaliseRemote, type PushNotice, parseWebhook } from './webhook-payload.ts';
