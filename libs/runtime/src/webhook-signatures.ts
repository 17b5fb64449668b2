import { createHmac, timingSafeEqual } from 'node:crypto';

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

/** GitHub (and Gitea's copy of it): `X-Hub-Signature-256: sha256=<hex>`. */
export function verifyGithubSignature(
  secret: string,
  body: Uint8Array,
  header: string | undefined,
): SignatureCheck {
  return check(header, () => `sha256=${hmacSha256Hex(secret, body)}`);
}

/** Gitea `X-Gitea-Signature` / Forgejo `X-Forgejo-Signature`, and the generic receiver: bare hex. */
export function verifyHexHmac(secret: string, body: Uint8Array, header: string | undefined): SignatureCheck {
  return check(header?.replace(/^sha256=/, ''), () => hmacSha256Hex(secret, body));
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
