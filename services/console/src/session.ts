import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { safeEqual } from '@flotilla/runtime';
import type { SessionIdentity } from './identity.ts';

export const SESSION_COOKIE = 'flotilla_session';

export interface Session extends SessionIdentity {
  /** Double-submit token: the page sends it back in `x-csrf-token` on every mutating call. */
  csrf: string;
  /** Expiry, ms since epoch. */
  exp: number;
}

/**
 * Sessions live in the cookie itself, sealed with AES-256-GCM (confidential and tamper-proof),
 * so any number of console instances can serve a person without shared state. The cookie is
 * HttpOnly (page scripts never see the bearer token) and SameSite=Strict.
 */
export class SessionSealer {
  private readonly key: Buffer;

  constructor(
    secret: string | undefined,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = secret ? createHash('sha256').update(secret).digest() : randomBytes(32);
  }

  create(identity: SessionIdentity): Session {
    return { ...identity, csrf: randomBytes(24).toString('base64url'), exp: this.now() + this.ttlMs };
  }

  seal(session: Session): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  /** undefined for a missing, forged, corrupted or expired cookie. */
  open(value: string | undefined): Session | undefined {
    if (!value || value.length > 8192) return undefined;
    try {
      const raw = Buffer.from(value, 'base64url');
      if (raw.length < 29) return undefined;
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const s = JSON.parse(text) as Session;
      if (typeof s.exp !== 'number' || s.exp <= this.now()) return undefined;
      return s;
    } catch {
      return undefined;
    }
  }

  cookie(value: string, opts: { secure: boolean; clear?: boolean }): string {
    const parts = [
      `${SESSION_COOKIE}=${opts.clear ? '' : value}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${opts.clear ? 0 : Math.floor(this.ttlMs / 1000)}`,
    ];
    if (opts.secure) parts.push('Secure');
    return parts.join('; ');
  }
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function csrfMatches(session: Session, presented: string | string[] | undefined): boolean {
  return typeof presented === 'string' && safeEqual(presented, session.csrf);
}
