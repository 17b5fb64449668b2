import { type RunOptions, runGit } from './git-runner.ts';

export type SignatureStatus = 'good' | 'bad' | 'unsigned' | 'untrusted';

export interface SignatureVerification {
  status: SignatureStatus;
  /** `ssh`, `openpgp` or `x509`, when signed. */
  format?: 'ssh' | 'openpgp' | 'x509';
  /** Principal (ssh) or user ID (gpg) that signed, when git could establish it. */
  signer?: string;
  /** Key fingerprint. */
  key?: string;
  /** git's `%G?` letter, for the record. */
  raw?: string;
}

export interface VerifyOptions {
  /** ssh allowed signers file (`gpg.ssh.allowedSignersFile`). Without it ssh signatures are `untrusted`. */
  allowedSignersFile?: string;
  /** GNUPGHOME holding the trusted public keys for OpenPGP signatures. */
  gpgHome?: string;
}

function signatureFormat(commitObject: string): SignatureVerification['format'] | undefined {
  const header = commitObject.split('\n\n', 1)[0] ?? '';
  const m = /^gpgsig(?:-sha256)? (.*)$/m.exec(header);
  if (!m) return undefined;
  const first = m[1] ?? '';
  if (first.includes('SSH SIGNATURE')) return 'ssh';
  if (first.includes('PGP SIGNATURE')) return 'openpgp';
  return 'x509';
}

/**
 * Verifies a commit's signature with git itself. The commit object is read first, because git
 * reports an ssh-signed commit as `N` (unsigned) when no allowed signers file is configured.
 */
export async function verifyCommitSignature(
  sha: string,
  base: Pick<RunOptions, 'cwd' | 'env'>,
  opts: VerifyOptions = {},
): Promise<SignatureVerification> {
  const object = await runGit(['cat-file', 'commit', sha], { ...base, op: 'cat-file' });
  const format = signatureFormat(object);
  if (!format) return { status: 'unsigned', raw: 'N' };
  const config = opts.allowedSignersFile ? [`gpg.ssh.allowedSignersFile=${opts.allowedSignersFile}`] : [];
  const env = { ...base.env, ...(opts.gpgHome ? { GNUPGHOME: opts.gpgHome } : {}) };
  const out = await runGit(['log', '-1', '--no-show-signature', '--format=%G?%x1f%GS%x1f%GF', sha, '--'], {
    ...base,
    env,
    config,
    op: 'verify-commit',
  });
  const [letter = 'N', signer = '', key = ''] = out.replace(/\n$/, '').split('\x1f');
  const result: SignatureVerification = { status: statusOf(letter), format, raw: letter };
  if (signer) result.signer = signer;
  if (key) result.key = key;
  return result;
}

function statusOf(letter: string): SignatureStatus {
  switch (letter) {
    case 'G':
      return 'good';
    case 'B': // the signature does not match the content
    case 'R': // made by a revoked key
      return 'bad';
    default:
      // U (unknown validity), X/Y (expired), E (key missing), N (signed, but nothing to verify against)
      return 'untrusted';
  }
}
