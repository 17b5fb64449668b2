export { type CommitInfo, type GitIdentity, matchesPaths, normalisePaths } from './commit-log.ts';
export {
  credentialEnv,
  type GitCredentials,
  secretsOf,
  splitUrlCredentials,
  sshCommand,
} from './credentials.ts';
export { classifyGitFailure, GitError, type GitErrorCode, isGitError } from './errors.ts';
export { DEFAULT_MAX_FETCH_BYTES, type RunOptions, runGit, runGitStatus } from './git-runner.ts';
export { type FetchResult, Mirror, type MirrorOptions, mirrorDirName } from './mirror.ts';
export { type GitObject, ObjectReader, type ObjectReaderOptions, type ObjectType } from './object-reader.ts';
export { redactText, redactUrl } from './redact.ts';
export type { SignatureStatus, SignatureVerification, VerifyOptions } from './signature.ts';
export {
  firstRefusedCommit,
  type SignaturePolicy,
  type SignatureRefusal,
  signatureRejectionMessage,
} from './signature-policy.ts';
export { formatCommitMessage, TRACEPARENT_TRAILER, trailerValue } from './trailers.ts';
export { TreeCache, TreeCopy, treeReader } from './tree-copy.ts';
export { diffTrees, type ReadTree, type TreeChange } from './tree-diff.ts';
export { type CommitHeader, type EntryKind, parseCommit, parseTree, type TreeEntry } from './tree-objects.ts';
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
