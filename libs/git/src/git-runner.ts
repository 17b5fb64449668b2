import { withSpan } from '@flotilla/telemetry';
import { simpleGit } from 'simple-git';
import { credentialEnv, type GitCredentials, secretsOf } from './credentials.ts';
import { classifyGitFailure, GitCommandError } from './errors.ts';

export interface RunOptions {
  /** Working directory of the git process (must exist). */
  cwd: string;
  /** Extra environment (identities, GIT_DIR...). */
  env?: Record<string, string>;
  /** `-c key=value` settings for this invocation only (never secrets: argv is visible in `ps`). */
  config?: string[];
  /** Remote this command talks to, for credentials and error messages. */
  url?: string;
  credentials?: GitCredentials;
  /** Kill git after this long without output. */
  timeoutMs?: number;
  /** Written to git's stdin. */
  input?: string;
  /** Operation name for error messages. */
  op?: string;
  /** Called once for every git process started (a mirror counts its processes with it). */
  onProcess?: () => void;
}

/** Ambient variables that would change what git runs or where it looks (an editor, GIT_DIR from a hook...). */
const AMBIENT_DROPPED = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass']);

/** The process environment minus what must not leak into our commands (simple-git v4 also refuses it). */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (v !== undefined && !key.startsWith('git') && !AMBIENT_DROPPED.has(key)) env[k] = v;
  }
  return env;
}

/**
 * Runs one git command through simple-git and returns stdout. Every non-zero exit becomes a typed
 * GitError (simple-git alone only fails when stderr is non-empty).
 */
export async function runGit(args: string[], opts: RunOptions): Promise<string> {
  try {
    return await runGitRaw(args, opts);
  } catch (err) {
    throw classify(err, args, opts);
  }
}

function classify(err: unknown, args: string[], opts: RunOptions) {
  return classifyGitFailure(err, {
    op: opts.op ?? args[0] ?? 'command',
    ...(opts.url ? { url: opts.url } : {}),
    secrets: secretsOf(opts.credentials),
  });
}

/** Like runGit but returns the exit code instead of throwing for the expected non-zero codes. */
export async function runGitStatus(
  args: string[],
  opts: RunOptions,
  okCodes: number[] = [0, 1],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const stdout = await runGitRaw(args, opts);
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    if (err instanceof GitCommandError && okCodes.includes(err.exitCode)) {
      return { code: err.exitCode, stdout: err.stdout, stderr: err.stderr };
    }
    throw classify(err, args, opts);
  }
}

/**
 * One git process through simple-git; raw GitCommandError on any non-zero exit (simple-git alone
 * only fails when stderr is non-empty).
 */
function runGitRaw(args: string[], opts: RunOptions): Promise<string> {
  // The span names the subcommand only: arguments can hold URLs and paths of untrusted repos.
  return withSpan(
    `git ${opts.op ?? args[0] ?? 'command'}`,
    { kind: 'client', attributes: { 'flotilla.git.command': args[0] ?? '' } },
    () => runGitProcess(args, opts),
  );
}

async function runGitProcess(args: string[], opts: RunOptions): Promise<string> {
  const env = { ...baseEnv(), ...credentialEnv(opts.url, opts.credentials), ...opts.env };
  opts.onProcess?.();
  return simpleGit({
    baseDir: opts.cwd,
    config: opts.config ?? [],
    // simple-git v4 guards every GIT_* variable and some -c keys; we set these ourselves, deliberately.
    allowEnvironment: Object.keys(env),
    unsafe: { allowUnsafeSshCommand: true, allowUnsafeConfigEnvCount: true, allowUnsafeConfigPaths: true },
    timeout: { block: opts.timeoutMs ?? 120_000 },
    ...(opts.input !== undefined ? { input: () => opts.input } : {}),
    errors: (error, result) =>
      result.exitCode !== 0
        ? new GitCommandError(
            result.exitCode,
            Buffer.concat(result.stdErr).toString('utf8'),
            Buffer.concat(result.stdOut).toString('utf8'),
          )
        : error,
  })
    .env(env)
    .raw(args);
}
