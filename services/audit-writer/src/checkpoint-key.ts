import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { splitUrlCredentials } from '@flotilla/git';
import { generateNoteSigner, type NoteSigner, noteSignerFromPem } from '@flotilla/trust';

/** Where a generated key lives: inside `.git`, so it is never committed nor pushed. */
export const GENERATED_KEY = join('.git', 'flotilla-checkpoint-key.pem');

/**
 * The writer's checkpoint signer: from `keyFile` when configured (production: a mounted
 * Secret), else generated once per clone and kept beside it. Only the public half ever leaves.
 */
export async function loadCheckpointSigner(opts: {
  keyFile: string;
  keyName: string;
  auditDir: string;
}): Promise<{ signer: NoteSigner; generated: boolean }> {
  if (opts.keyFile) {
    return {
      signer: noteSignerFromPem(opts.keyName, await readFile(opts.keyFile, 'utf8')),
      generated: false,
    };
  }
  const path = join(opts.auditDir, GENERATED_KEY);
  if (existsSync(path)) {
    return { signer: noteSignerFromPem(opts.keyName, await readFile(path, 'utf8')), generated: false };
  }
  const { signer, privatePem } = generateNoteSigner(opts.keyName);
  await writeFile(path, privatePem, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600);
  return { signer, generated: true };
}

/** `host/path#branch` of the audit repo, without scheme or credentials: the log's name. */
export function defaultOrigin(url: string, branch: string): string {
  const bare = splitUrlCredentials(url)
    .url.replace(/^[a-z+]+:\/\//i, '')
    .replace(/^[^@/]*@/, '')
    .replace(/\s+/g, '');
  return `${bare}#${branch}`;
}
