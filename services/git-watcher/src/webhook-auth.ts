/**
 * Whether a webhook request comes from the forge it claims, per receiver: pure functions of the
 * configured secrets, the headers and the raw body, so each forge's scheme is tested on fixtures
 * without a server. The receiver (libs/runtime) answers 401 and publishes WebhookRejected on a
 * failed check, before anything is parsed.
 */
import {
  type SignatureCheck,
  verifyBasicAuth,
  verifyGithubSignature,
  verifyGitlabToken,
  verifyHexHmac,
  verifyStandardWebhook,
} from '@flotilla/runtime';
import type { Config } from './config.ts';
import { type Headers, header, type Receiver, signedBytes } from './webhook-payload.ts';

type Secrets = Config['webhooks'];

/** A receiver without its secret is not served (404): unsigned hooks are never accepted. */
export function receiverEnabled(receiver: Receiver, s: Secrets): boolean {
  switch (receiver) {
    case 'github':
      return !!s.githubSecret;
    case 'gitlab':
      return !!(s.gitlabSecret || s.gitlabSigningToken);
    case 'gitea':
      return !!s.giteaSecret;
    case 'gogs':
      return !!s.gogsSecret;
    case 'bitbucket-server':
      return !!s.bitbucketServerSecret;
    case 'bitbucket-cloud':
      return !!s.bitbucketCloudSecret;
    case 'azure-devops':
      return !!s.azureDevOpsPassword;
    case 'generic':
      return !!s.genericSecret;
  }
}

/**
 * Headers naming the delivery in a WebhookRejected, besides the common ones the receiver knows
 * (GitHub, GitLab, Gitea, Forgejo). Azure DevOps names its delivery only in the body.
 */
export const DELIVERY_HEADERS: Partial<Record<Receiver, readonly string[]>> = {
  gogs: ['x-gogs-delivery'],
  'bitbucket-server': ['x-request-id'],
  'bitbucket-cloud': ['x-request-uuid'],
};

/** Gitea, Forgejo and Gogs: bare hex over the JSON payload, which the form content type wraps in `payload=`. */
function verifyPayloadHex(
  receiver: 'gitea' | 'gogs',
  secret: string,
  body: Buffer,
  contentType: string | undefined,
  sig: string | undefined,
): SignatureCheck {
  const signed = signedBytes(receiver, body, contentType);
  if (!signed) return { ok: false, reason: sig ? 'bad-signature' : 'missing-signature' };
  return verifyHexHmac(secret, signed, sig);
}

/**
 * Every configured GitLab scheme must pass: the signing token when set (over the body), the secret
 * token when set (a header).
 */
function verifyGitlab(s: Secrets, headers: Headers, body: Buffer | undefined, now: number) {
  if (s.gitlabSigningToken) {
    if (!body) return undefined;
    const signed = verifyStandardWebhook(
      s.gitlabSigningToken,
      body,
      {
        id: header(headers, 'webhook-id'),
        timestamp: header(headers, 'webhook-timestamp'),
        signature: header(headers, 'webhook-signature'),
      },
      now,
    );
    if (!signed.ok) return signed;
  }
  return s.gitlabSecret
    ? verifyGitlabToken(s.gitlabSecret, header(headers, 'x-gitlab-token'))
    : { ok: true as const };
}

/**
 * Bitbucket Data Center's "Test connection" may send its `diagnostics:ping` without a signature
 * (Bitbucket Server 5.x did, runatlantis/atlantis#474; Argo CD and go-playground/webhooks let it
 * through): such a ping is answered as a ping, which starts nothing. Any other request, a ping
 * with a wrong signature included, must carry the right one.
 */
function verifyBitbucketServer(secret: string, headers: Headers, body: Buffer): SignatureCheck {
  const sig = header(headers, 'x-hub-signature');
  if (!sig && header(headers, 'x-event-key') === 'diagnostics:ping') return { ok: true };
  return verifyGithubSignature(secret, body, sig);
}

/**
 * The check for an enabled receiver. `body` is undefined when it was not read (too large, not
 * parsable): undefined is then answered when the check needs the body, so such requests are told
 * apart from unsigned ones.
 */
export function verifyWebhook(
  receiver: Receiver,
  s: Secrets,
  headers: Headers,
  body: Buffer | undefined,
  now: number = Date.now(),
): SignatureCheck | undefined {
  // Azure DevOps has no signature: its credentials are a header, so the body is not needed.
  if (receiver === 'azure-devops')
    return verifyBasicAuth(
      s.azureDevOpsUsername ?? '',
      s.azureDevOpsPassword ?? '',
      header(headers, 'authorization'),
    );
  if (receiver === 'gitlab') return verifyGitlab(s, headers, body, now);
  if (!body) return undefined;
  const contentType = header(headers, 'content-type');
  switch (receiver) {
    // GitHub signs the body as sent, JSON or form-encoded.
    case 'github':
      return verifyGithubSignature(s.githubSecret ?? '', body, header(headers, 'x-hub-signature-256'));
    // Gitea sends X-Gitea-Signature (and a GitHub-style copy), Forgejo X-Forgejo-Signature.
    case 'gitea':
      return verifyPayloadHex(
        'gitea',
        s.giteaSecret ?? '',
        body,
        contentType,
        header(headers, 'x-forgejo-signature') ??
          header(headers, 'x-gitea-signature') ??
          header(headers, 'x-hub-signature-256'),
      );
    case 'gogs':
      return verifyPayloadHex(
        'gogs',
        s.gogsSecret ?? '',
        body,
        contentType,
        header(headers, 'x-gogs-signature'),
      );
    case 'bitbucket-server':
      return verifyBitbucketServer(s.bitbucketServerSecret ?? '', headers, body);
    // The webhook secret Bitbucket Cloud added in 2023: GitHub's scheme under GitHub's old header name.
    case 'bitbucket-cloud':
      return verifyGithubSignature(s.bitbucketCloudSecret ?? '', body, header(headers, 'x-hub-signature'));
    case 'generic':
      return verifyHexHmac(s.genericSecret ?? '', body, header(headers, 'x-flotilla-signature'));
  }
}
