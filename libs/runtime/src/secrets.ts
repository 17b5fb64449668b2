/**
 * Values known to be secret (tokens, passwords, webhook secrets). Field-name redaction in pino
 * catches `password: …`; this catches the same value inside messages, URLs and error texts.
 */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  if (value.length >= 6) secrets.add(value);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
  return out;
}
