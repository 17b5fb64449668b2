export { type CommitInfo, type GitIdentity, matchesPaths, normalisePaths } from './commit-log.ts';
export {
  credentialEnv,
  type GitCredentials,
  secretsOf,
  splitUrlCredentials,
  sshCommand,
} from './credentials.ts';
export { classifyGitFailure, GitError, type GitErrorCode, isGitError } from './errors.ts';
export { type RunOptions, runGit, runGitStatus } from './git-runner.ts';
export { changedIndexPaths, type IndexEntries, parseIndexEntries } from './index-file.ts';
export { type FetchResult, Mirror, type MirrorOptions, mirrorDirName } from './mirror.ts';
export { redactText, redactUrl } from './redact.ts';
export type { SignatureStatus, SignatureVerification, VerifyOptions } from './signature.ts';
export {
  firstRefusedCommit,
  type SignaturePolicy,
  type SignatureRefusal,
  signatureRejectionMessage,
} from './signature-policy.ts';
export { formatCommitMessage, TRACEPARENT_TRAILER, trailerValue } from './trailers.ts';
export {
  type CommitOptions,
  DEFAULT_NOTES_REF,
  type GitAuthor,
  type NoteOptions,
  type NotesMergeStrategy,
  type PushResult,
  Workspace,
  type WorkspaceOptions,
} from './workspace.ts';
