import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time compare after a length check (timingSafeEqual throws on unequal lengths). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export function hmacSha256Hex(secret: string, body: Uint8Array | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing-signature' | 'bad-signature' };

const check = (header: string | undefined, expected: () => string): SignatureCheck => {
  if (!header) return { ok: false, reason: 'missing-signature' };
  return safeEqual(header.trim().toLowerCase(), expected())
    ? { ok: true }
    : { ok: false, reason: 'bad-signature' };
};

/**
 * GitHub (and Gitea's copy of it): `X-Hub-Signature-256: sha256=<hex>`. Bitbucket Data Center and
 * Bitbucket Cloud send the same value in `X-Hub-Signature`.
 */
export function verifyGithubSignature(
  secret: string,
  body: Uint8Array,
  header: string | undefined,
): SignatureCheck {
  return check(header, () => `sha256=${hmacSha256Hex(secret, body)}`);
}

/** Gitea `X-Gitea-Signature` / Forgejo `X-Forgejo-Signature`, Gogs `X-Gogs-Signature`, and the generic receiver: bare hex. */
export function verifyHexHmac(secret: string, body: Uint8Array, header: string | undefined): SignatureCheck {
  return check(header?.replace(/^sha256=/, ''), () => hmacSha256Hex(secret, body));
}

/**
 * Sonatype Nexus Repository: `X-Nexus-Webhook-Signature: <hex HMAC-SHA1 of the body>`, keyed with
 * the capability's "Secret Key" (Nexus signs with HmacSHA1 and nothing stronger).
 */
export function verifyNexusSignature(
  secret: string,
  body: Uint8Array,
  header: string | undefined,
): SignatureCheck {
  return check(header, () => createHmac('sha1', secret).update(body).digest('hex'));
}

/**
 * JFrog Artifactory (JFrog Platform webhooks): `X-JFrog-Event-Auth` carries the webhook's "Secret
 * token" itself, or, when "Use secret for payload signing" is on, the hex HMAC-SHA256 of the body
 * keyed with it (the secret then never travels). A webhook is set up one way or the other, so both
 * forms are accepted; both comparisons always run, each in constant time.
 */
export function verifyJfrogEventAuth(
  secret: string,
  body: Uint8Array,
  header: string | undefined,
): SignatureCheck {
  const given = header?.trim();
  if (!given) return { ok: false, reason: 'missing-signature' };
  const signed = safeEqual(given.toLowerCase(), hmacSha256Hex(secret, body));
  const token = digestEqual(given, secret);
  return signed || token ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

/** GitLab sends the shared secret itself in `X-Gitlab-Token`. */
export function verifyGitlabToken(secret: string, header: string | undefined): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing-signature' };
  return safeEqual(header, secret) ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

/** A static bearer token (Distribution notifications, Harbor): `Authorization: Bearer <token>`. */
export function verifyBearer(token: string, header: string | undefined): SignatureCheck {
  if (!header) return { ok: false, reason: 'missing-signature' };
  return safeEqual(header.replace(/^Bearer\s+/i, ''), token)
    ? { ok: true }
    : { ok: false, reason: 'bad-signature' };
}

/** Equal in constant time whatever the lengths: both sides are hashed first, so not even the length leaks. */
function digestEqual(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

/**
 * HTTP Basic credentials configured on the sender's hook (Azure DevOps service hooks have no
 * signature, only these): `Authorization: Basic base64(user:password)`. Both parts are compared,
 * each in constant time, and both always, so the time taken does not tell which one was wrong.
 */
export function verifyBasicAuth(
  username: string,
  password: string,
  header: string | undefined,
): SignatureCheck {
  const m = header ? /^Basic\s+(.*)$/i.exec(header.trim()) : null;
  // No credentials, or another scheme (a Bearer token is not what the hook was configured with).
  if (!m) return { ok: false, reason: 'missing-signature' };
  const token = m[1]!.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return { ok: false, reason: 'bad-signature' };
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { ok: false, reason: 'bad-signature' };
  const userOk = digestEqual(decoded.slice(0, colon), username);
  const passwordOk = digestEqual(decoded.slice(colon + 1), password);
  return userOk && passwordOk ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

export interface StandardWebhookHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** How far a signed timestamp may be from our clock (Standard Webhooks recommends 5 minutes). */
export const STANDARD_WEBHOOK_TOLERANCE_MS = 5 * 60_000;

/**
 * Standard Webhooks signatures, as GitLab sends them for a hook with a signing token:
 * `webhook-signature: v1,<base64 HMAC-SHA256>` (space-separated when several keys sign) over
 * `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the base64 after `whsec_`. The
 * timestamp is signed, so a delivery older than the tolerance is refused (replay).
 */
export function verifyStandardWebhook(
  secret: string,
  body: Uint8Array,
  headers: StandardWebhookHeaders,
  nowMs: number = Date.now(),
): SignatureCheck {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing-signature' };
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : Number.NaN;
  if (!Number.isFinite(seconds) || Math.abs(nowMs - seconds * 1000) > STANDARD_WEBHOOK_TOLERANCE_MS)
    return { ok: false, reason: 'bad-signature' };
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64');
  const given = signature
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => s.slice(3));
  // Every candidate is compared, so the time taken does not depend on which one matched.
  let ok = false;
  for (const g of given) ok = safeEqual(g, expected) || ok;
  return ok ? { ok: true } : { ok: false, reason: 'bad-signature' };
}
