/**
 * NATS subject tokens cannot contain `.`, `*`, `>` or whitespace, and image or repo names
 * routinely do (`registry.example.com/shop/web`). We percent-encode every byte outside a
 * conservative safe set so the mapping is reversible and still readable in `nats sub` output.
 */
const SAFE = /^[A-Za-z0-9_-]$/;

export const SUBJECT_PREFIX = 'flotilla.v1';

export function encodeToken(value: string): string {
  if (value.length === 0) throw new Error('subject token must not be empty');
  let out = '';
  for (const ch of value) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch))
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function decodeToken(token: string): string {
  return decodeURIComponent(token);
}

/** `flotilla.v1.<domain>.<event>.<scope>`; scope `*` or `>` are wildcards for filters. */
export function buildSubject(domain: string, event: string, scope: string): string {
  const tail = scope === '*' || scope === '>' ? scope : encodeToken(scope);
  return `${SUBJECT_PREFIX}.${domain}.${event}.${tail}`;
}

export interface ParsedSubject {
  domain: string;
  event: string;
  scope: string;
}

export function parseSubject(subject: string): ParsedSubject | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== SUBJECT_PREFIX) return undefined;
  const [, , domain, event, scope] = parts as [string, string, string, string, string];
  return { domain, event, scope: decodeToken(scope) };
}
