import { GitError } from './errors.ts';

/** The W3C traceparent of the operation that wrote a commit, so its trace continues past Git. */
export const TRACEPARENT_TRAILER = 'Flotilla-Traceparent';

const KEY = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** Appends `Key: value` trailer lines to a commit message, in a paragraph of their own. */
export function formatCommitMessage(message: string, trailers: Record<string, string> = {}): string {
  const body = message.replace(/\s+$/, '');
  if (!body) throw new GitError('git.invalid-argument', 'commit message must not be empty');
  const lines: string[] = [];
  for (const [key, value] of Object.entries(trailers)) {
    if (!KEY.test(key))
      throw new GitError('git.invalid-argument', `invalid trailer key ${JSON.stringify(key)}`);
    if (/[\r\n]/.test(value) || value.trim() !== value || value === '') {
      throw new GitError('git.invalid-argument', `invalid value for trailer ${key}`);
    }
    lines.push(`${key}: ${value}`);
  }
  return lines.length ? `${body}\n\n${lines.join('\n')}\n` : `${body}\n`;
}

/**
 * The value of trailer `key` in a commit message (the last one when repeated), or undefined.
 * Only the message's last paragraph counts, as for `git interpret-trailers`. The value is
 * untrusted text: callers validate it before use.
 */
export function trailerValue(message: string, key: string): string | undefined {
  const paragraphs = message.replace(/\s+$/, '').split(/\n\s*\n/);
  const last = paragraphs.length > 1 ? paragraphs[paragraphs.length - 1] : undefined;
  if (!last) return undefined;
  const prefix = `${key.toLowerCase()}:`;
  let value: string | undefined;
  for (const line of last.split('\n'))
    if (line.toLowerCase().startsWith(prefix)) value = line.slice(prefix.length).trim();
  return value;
}
