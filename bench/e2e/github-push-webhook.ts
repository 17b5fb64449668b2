import { createHmac, randomBytes, randomUUID } from 'node:crypto';

/**
 * What GitHub sends after a push to a repository with a webhook (docs.github.com "Webhook events
 * and payloads", `push`; "Validating webhook deliveries": `X-Hub-Signature-256: sha256=<hex HMAC
 * of the body as sent>`), trimmed to the fields a receiver reads plus a few of the rest. The
 * git daemon the stack runs has no webhooks of its own, so the bench plays the forge: right after
 * the push is accepted it POSTs this to the git-watcher's `/hooks/github`.
 */
export interface GithubPushHook {
  /** A fresh secret for the watcher's `webhooks.githubSecret`. */
  readonly secret: string;
  /**
   * Delivers the push of `before → after` on `branch` of the repository at `repoUrl` (`owner/name`
   * on the forge: `fullName`); resolves with the HTTP status.
   */
  deliver(
    hookUrl: string,
    push: { repoUrl: string; fullName: string; before: string; after: string; branch: string },
  ): Promise<number>;
}

export function githubPushHook(): GithubPushHook {
  const secret = randomBytes(24).toString('hex');
  return {
    secret,
    async deliver(hookUrl, { repoUrl, fullName, before, after, branch }) {
      const body = JSON.stringify({
        ref: `refs/heads/${branch}`,
        before,
        after,
        created: false,
        deleted: false,
        forced: false,
        base_ref: null,
        commits: [],
        head_commit: { id: after, timestamp: new Date().toISOString() },
        repository: {
          name: fullName.split('/').pop(),
          full_name: fullName,
          // The remote as the watcher is configured with it (a git:// URL here, https on GitHub).
          git_url: repoUrl,
          default_branch: branch,
        },
        pusher: { name: 'bench', email: 'bench@example.test' },
        sender: { login: 'bench' },
      });
      const res = await fetch(hookUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/bench',
          'x-github-event': 'push',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
        },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    },
  };
}
