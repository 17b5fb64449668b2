import { type Disposition, FlotillaError } from '@flotilla/errors';
import { redactText } from './redact.ts';

/** Every failure of @flotilla/git carries one of these codes, so callers can react without parsing text. */
export type GitErrorCode =
  | 'git.unreachable'
  | 'git.auth-failed'
  | 'git.repo-not-found'
  | 'git.ref-not-found'
  | 'git.non-fast-forward'
  | 'git.push-rejected'
  | 'git.rebase-conflict'
  | 'git.corrupt-cache'
  | 'git.timeout'
  | 'git.invalid-argument'
  | 'git.object-too-large'
  | 'git.fetch-too-large'
  | 'git.command-failed';

const DISPOSITIONS: Record<GitErrorCode, Disposition> = {
  // Network trouble and lost push races pass on their own: retry with backoff.
  'git.unreachable': 'retry',
  'git.timeout': 'retry',
  'git.non-fast-forward': 'retry',
  // The remote refused the push by policy (pre-receive hook, branch protection): retrying at once
  // cannot help, but the policy may be lifted; hold the change and retry later.
  'git.push-rejected': 'wait',
  // A corrupt cache is repaired by re-cloning, which the next attempt does.
  'git.corrupt-cache': 'retry',
  // A branch or repository that does not exist yet may be created later.
  'git.repo-not-found': 'wait',
  'git.ref-not-found': 'wait',
  // Retrying with the same credentials or the same conflicting content cannot help.
  'git.auth-failed': 'stall',
  'git.rebase-conflict': 'stall',
  'git.invalid-argument': 'stall',
  // A revision that holds an object over the reader's limit holds it for good.
  'git.object-too-large': 'stall',
  // The remote holds more than one fetch may bring; a later push may shrink what is new, so the
  // poll goes on, backing off.
  'git.fetch-too-large': 'wait',
  'git.command-failed': 'stall',
};

export class GitError extends FlotillaError {
  declare readonly code: GitErrorCode;

  constructor(
    code: GitErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, { ...options, disposition: DISPOSITIONS[code] });
    this.name = 'GitError';
  }
}

export function isGitError(err: unknown, code?: GitErrorCode): err is GitError {
  return err instanceof GitError && (code === undefined || err.code === code);
}

/** The raw failure of one git process: exit code and output, before classification. */
export class GitCommandError extends Error {
  constructor(
    readonly exitCode: number,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(stderr.trim() || stdout.trim() || `git exited with code ${exitCode}`);
    this.name = 'GitCommandError';
  }
}

const PATTERNS: Array<[RegExp, GitErrorCode]> = [
  [
    /\[rejected\].*\((fetch first|non-fast-forward)\)|Updates were rejected because|failed to update ref|cannot lock ref|incorrect old value provided/i,
    'git.non-fast-forward',
  ],
  [
    /\[remote rejected\]|pre-receive hook declined|protected branch|GH006|pushing to this branch is not allowed/i,
    'git.push-rejected',
  ],
  [
    /Authentication failed|could not read (Username|Password)|Permission denied \(|terminal prompts disabled|HTTP (Basic: )?Access denied|The requested URL returned error: 40[13]|Host key verification failed|invalid credentials/i,
    'git.auth-failed',
  ],
  [
    /repository .* not found|does not appear to be a git repository|access denied or repository not exported|not found: did you run git update-server-info|The requested URL returned error: 404/i,
    'git.repo-not-found',
  ],
  [
    /couldn't find remote ref|Remote branch .* not found|unknown revision or path not in the working tree/i,
    'git.ref-not-found',
  ],
  [
    /unable to connect|Connection refused|Could not resolve host|Could not resolve hostname|Failed to connect|Connection timed out|Network is unreachable|No route to host|Connection reset|the remote end hung up unexpectedly|early EOF|Operation timed out|The requested URL returned error: 5\d\d|ssh: connect to host/i,
    'git.unreachable',
  ],
  [
    /bad object|missing (blob|tree|commit|object)|did not send all necessary objects|unable to read|object file .* is empty|loose object .* is corrupt|packfile .* cannot be accessed|not a git repository|bad HEAD|invalid HEAD|broken link from|fatal: bad config/i,
    'git.corrupt-cache',
  ],
];

/** Maps a failed git invocation to a typed error, with any credential-bearing text redacted. */
export function classifyGitFailure(
  err: unknown,
  context: { op: string; url?: string; secrets?: readonly string[] },
): GitError {
  if (err instanceof GitError) return err;
  const raw =
    err instanceof GitCommandError
      ? `${err.stderr}\n${err.stdout}`.trim() || err.message
      : err instanceof Error
        ? err.message
        : String(err);
  const text = redactText(raw, context.secrets);
  let code: GitErrorCode = 'git.command-failed';
  if (/timed? ?out|Abort signal|block timeout/i.test(raw) && !(err instanceof GitCommandError))
    code = 'git.timeout';
  else {
    for (const [re, c] of PATTERNS) {
      if (re.test(raw)) {
        code = c;
        break;
      }
    }
  }
  const firstLines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(0, 4)
    .join(' | ');
  const where = context.url ? ` (${redactText(context.url, context.secrets)})` : '';
  return new GitError(code, `git ${context.op} failed${where}: ${firstLines}`, {
    cause: err instanceof GitCommandError ? undefined : err,
    details: {
      op: context.op,
      ...(context.url ? { url: redactText(context.url, context.secrets) } : {}),
      ...(err instanceof GitCommandError ? { exitCode: err.exitCode } : {}),
    },
  });
}
