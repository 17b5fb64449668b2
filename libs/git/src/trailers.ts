import { GitError } from './errors.ts';

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
