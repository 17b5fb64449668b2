import { Type } from '@sinclair/typebox';
import { defineEvent } from '../define-event.ts';
import { DateTime, ErrorCode, GitSha, Message, Name, Person, Trigger } from '../shared-schemas.ts';

const Repo = Type.String({
  minLength: 1,
  maxLength: 253,
  description: 'repository name from the watcher config',
});

export const GitCommitDetected = defineEvent({
  name: 'GitCommitDetected',
  domain: 'git',
  event: 'commit-detected',
  description: 'A new commit on a watched branch touched a watched path.',
  producers: ['git-watcher'],
  scope: (d) => d.repo,
  data: Type.Object({
    repo: Repo,
    url: Type.String({ description: 'remote URL with credentials removed' }),
    branch: Name,
    sha: GitSha,
    parents: Type.Array(GitSha),
    author: Person,
    committer: Person,
    authoredAt: DateTime,
    committedAt: DateTime,
    message: Message,
    paths: Type.Array(Type.String(), { maxItems: 5000 }),
    signature: Type.Object({
      status: Type.Union([
        Type.Literal('good'),
        Type.Literal('bad'),
        Type.Literal('unsigned'),
        Type.Literal('untrusted'),
        Type.Literal('unchecked'),
      ]),
      signer: Type.Optional(Type.String()),
      key: Type.Optional(Type.String()),
    }),
    trigger: Trigger,
  }),
});

export const GitHistoryRewritten = defineEvent({
  name: 'GitHistoryRewritten',
  domain: 'git',
  event: 'history-rewritten',
  description: 'The branch head moved to a commit that does not descend from the last seen one (force-push).',
  producers: ['git-watcher'],
  scope: (d) => d.repo,
  data: Type.Object({
    repo: Repo,
    branch: Name,
    previousSha: GitSha,
    newSha: GitSha,
    action: Type.Union([Type.Literal('continue'), Type.Literal('halt')]),
  }),
});

export const GitCommitRejected = defineEvent({
  name: 'GitCommitRejected',
  domain: 'git',
  event: 'commit-rejected',
  description: 'A commit failed the signature policy; the watcher stops at the last good commit.',
  producers: ['git-watcher'],
  scope: (d) => d.repo,
  data: Type.Object({
    repo: Repo,
    branch: Name,
    sha: GitSha,
    code: ErrorCode,
    message: Message,
    lastGoodSha: Type.Optional(GitSha),
  }),
});

export const GitSourceFailed = defineEvent({
  name: 'GitSourceFailed',
  domain: 'git',
  event: 'source-failed',
  description: 'A repository could not be reached or read after repeated attempts.',
  producers: ['git-watcher'],
  scope: (d) => d.repo,
  data: Type.Object({
    repo: Repo,
    url: Type.String(),
    code: ErrorCode,
    message: Message,
    consecutiveFailures: Type.Integer({ minimum: 1 }),
  }),
});

export const GitPushRejected = defineEvent({
  name: 'GitPushRejected',
  domain: 'git',
  event: 'push-rejected',
  description:
    'The config repo refused a push (branch protection, a pre-receive hook, or losing every rebase race); the change is held and retried until the push succeeds, never dropped.',
  producers: ['planner'],
  scope: (d) => d.repo,
  data: Type.Object({
    repo: Repo,
    branch: Name,
    code: ErrorCode,
    message: Message,
    /** What is held: the idempotency trailer of the change (e.g. `Flotilla-Event: <id>`). */
    change: Type.String({ maxLength: 512 }),
    /** Attempts so far, including this one. */
    attempts: Type.Integer({ minimum: 1 }),
  }),
});
