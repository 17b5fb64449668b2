import type { Mirror } from './mirror.ts';
import type { SignatureVerification } from './signature.ts';

/**
 * A repository's signature policy, as the git-watcher and the planner both read it:
 * `off` checks nothing, `report` verifies and passes the status on, `require` lets through only
 * commits whose signature verifies against the allowed signers (ssh) or keyring (OpenPGP).
 */
export interface SignaturePolicy {
  policy: 'off' | 'report' | 'require';
  allowedSignersFile?: string;
  gpgHome?: string;
}

/** A commit that `require` refuses, with the code and message events carry. */
export interface SignatureRefusal {
  sha: string;
  verification: SignatureVerification;
  /** `git.signature-unsigned`, `git.signature-bad` or `git.signature-untrusted`. */
  code: string;
  message: string;
  /** The newest commit before it that passed, when there is one in the range. */
  lastGoodSha?: string;
}

export function signatureRejectionMessage(s: { status: string; signer?: string | undefined }): string {
  switch (s.status) {
    case 'unsigned':
      return 'commit is not signed';
    case 'bad':
      return 'commit signature does not verify (content changed or key revoked)';
    case 'untrusted':
      return `commit is signed${s.signer ? ` by ${s.signer}` : ''} with a key that is not in the allowed signers`;
    default:
      return `commit signature status ${s.status}`;
  }
}

/**
 * Under `require`: the oldest commit reachable from `to` but not from `from` (every commit of a
 * merged branch too) whose signature does not verify, or null when all do. Without `from` only
 * `to` itself is checked. Commits in `trusted` (ones the caller made itself) are not verified.
 */
export async function firstRefusedCommit(
  mirror: Mirror,
  from: string | null,
  to: string,
  policy: SignaturePolicy,
  opts: { trusted?: ReadonlySet<string> } = {},
): Promise<SignatureRefusal | null> {
  if (policy.policy !== 'require') return null;
  const commits = from ? await mirror.commitsBetween(from, to) : await mirror.commitsBetween(null, `${to}^!`);
  let lastGood: string | undefined;
  for (const c of commits) {
    if (opts.trusted?.has(c.sha)) {
      lastGood = c.sha;
      continue;
    }
    const verification = await mirror.verifyCommitSignature(c.sha, {
      ...(policy.allowedSignersFile ? { allowedSignersFile: policy.allowedSignersFile } : {}),
      ...(policy.gpgHome ? { gpgHome: policy.gpgHome } : {}),
    });
    if (verification.status !== 'good') {
      const refusal: SignatureRefusal = {
        sha: c.sha,
        verification,
        code: `git.signature-${verification.status}`,
        message: signatureRejectionMessage(verification),
      };
      if (lastGood) refusal.lastGoodSha = lastGood;
      return refusal;
    }
    lastGood = c.sha;
  }
  return null;
}
