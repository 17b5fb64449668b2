/**
 * Removes the user-info part (`user:token@`) of a URL: tokens often sit in the username position,
 * so the whole user-info goes, not only the password. scp-like SSH addresses (`git@host:repo`)
 * carry no secret and are left alone.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1***@');
}

/** Redacts URL credentials anywhere in a text, and any of the given secret strings. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s'"]*@/gi, '$1***@');
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join('***');
  }
  return out;
}
