import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withSpan } from '@flotilla/telemetry';
import { type VulnerabilityCategory, vulnerabilityCheck } from '@simple-git/argv-parser';
import { credentialEnv, type GitCredentials, secretsOf } from './credentials.ts';
import { classifyGitFailure, GitCommandError, GitError } from './errors.ts';

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
  /** Stop a fetch or clone whose incoming pack outgrows a bound (see {@link IncomingPackLimit}). */
  incoming?: IncomingPackLimit;
}

/**
 * Git bounds neither a fetch nor a clone: a hostile or broken remote can send packs until the
 * disk is full. A transfer with this limit runs under RLIMIT_FSIZE (`prlimit --fsize`, util-linux),
 * so the kernel stops index-pack from writing its incoming pack past `maxBytes`; with SIGXFSZ
 * ignored (`trap "" XFSZ`, inherited through exec) the write fails with EFBIG and git says
 * "write error: File too large", which becomes `git.fetch-too-large`; the part-written pack in
 * `packDir` is removed. Every transfer must be kept as a pack (`boundedTransfer`'s config), or it
 * would be unpacked into loose objects, each bounded but not their sum.
 */
export interface IncomingPackLimit {
  packDir: string;
  maxBytes: number;
}

/** 1 GiB: far more than any configuration repository, far less than a disk. */
export const DEFAULT_MAX_FETCH_BYTES = 1024 * 1024 * 1024;

/**
 * What a clone or fetch into `gitDir` runs with so that it brings at most `maxBytes`: the limit on
 * its incoming pack, and every transfer kept as a pack (never unpacked into loose objects that the
 * limit would not see). `config` is to be put before the command's own.
 */
export function boundedTransfer(
  gitDir: string,
  maxBytes: number = DEFAULT_MAX_FETCH_BYTES,
): { incoming: IncomingPackLimit; config: string[] } {
  return {
    incoming: { packDir: join(gitDir, 'objects', 'pack'), maxBytes },
    config: ['fetch.unpackLimit=1', 'transfer.unpackLimit=1'],
  };
}

async function removeIncoming(packDir: string): Promise<void> {
  const names = await readdir(packDir).catch(() => [] as string[]);
  await Promise.all(
    names.filter((n) => n.startsWith('tmp_')).map((n) => rm(join(packDir, n), { force: true })),
  );
}

/** Ambient variables that would change what git runs or where it looks (an editor, GIT_DIR from a hook...). */
const AMBIENT_DROPPED = new Set(['editor', 'visual', 'pager', 'prefix', 'ssh_askpass']);

/**
 * What simple-git's argument checks (which we keep: `vulnerabilityCheck`) would refuse and our
 * own commands set deliberately: the credentials' ssh command, http headers through
 * GIT_CONFIG_COUNT, config paths.
 */
const DELIBERATE: ReadonlySet<VulnerabilityCategory> = new Set<VulnerabilityCategory>([
  'allowUnsafeSshCommand',
  'allowUnsafeConfigEnvCount',
  'allowUnsafeConfigPaths',
]);

/** After git exits, how long its output pipes may stay open before we stop reading them. */
const EXIT_GRACE_MS = 1000;

/** The process environment minus what must not leak into our commands (simple-git v4 also refuses it). */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (v !== undefined && !key.startsWith('git') && !AMBIENT_DROPPED.has(key)) env[k] = v;
  }
  return env;
}

/** Runs one git command and returns stdout. Every non-zero exit becomes a typed GitError. */
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

/** One git process; raw GitCommandError on any non-zero exit. */
function runGitRaw(args: string[], opts: RunOptions): Promise<string> {
  // The span names the subcommand only: arguments can hold URLs and paths of untrusted repos.
  return withSpan(
    `git ${opts.op ?? args[0] ?? 'command'}`,
    { kind: 'client', attributes: { 'flotilla.git.command': args[0] ?? '' } },
    () => runGitProcess(args, opts),
  );
}

/**
 * Spawns git itself, with simple-git's argument checks (`vulnerabilityCheck`, abbreviated options
 * refused) but not its runner: simple-git waits 50 ms more after any command that wrote nothing
 * (its completion plugin, in case output comes late), and most commands on a commit's path are
 * quiet (fetch, push, commit, update-ref): 50 ms each, every time.
 */
async function runGitProcess(args: string[], opts: RunOptions): Promise<string> {
  const env: Record<string, string> = {
    ...baseEnv(),
    ...credentialEnv(opts.url, opts.credentials),
    ...opts.env,
    // As simple-git sets it: git refuses abbreviated options (`--upload` for `--upload-pack`).
    GIT_TEST_DISALLOW_ABBREVIATED_OPTIONS: 'true',
  };
  const argv = [...(opts.config ?? []).flatMap((c) => ['-c', c]), ...args];
  for (const v of vulnerabilityCheck(argv, env))
    if (!DELIBERATE.has(v.category))
      throw new GitError('git.invalid-argument', `git ${args[0] ?? ''} refused: ${v.message}`);
  if (!existsSync(opts.cwd)) throw new Error(`git ${args[0] ?? ''}: directory ${opts.cwd} does not exist`);
  opts.onProcess?.();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const limit = opts.incoming;
  const [command, commandArgs] = limit
    ? [
        'prlimit',
        [`--fsize=${limit.maxBytes}`, '--', 'sh', '-c', 'trap "" XFSZ; exec git "$@"', 'sh', ...argv],
      ]
    : ['git', argv];
  return await new Promise<string>((resolve, reject) => {
    const child = spawn(command, commandArgs, {
      cwd: opts.cwd,
      env,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    // Killed after `timeoutMs` without output, as simple-git's block timeout did.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
    };
    arm();
    child.stdout?.on('data', (d: Buffer) => {
      stdout.push(d);
      arm();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr.push(d);
      arm();
    });
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stderrText = () => Buffer.concat(stderr).toString('utf8');
      if (limit && code !== 0 && /write error: File too large/.test(stderrText())) {
        const err = new GitError(
          'git.fetch-too-large',
          `git ${args[0] ?? ''} stopped: the remote sent more than the ${(limit.maxBytes / 1048576).toFixed(1)} MiB one transfer may bring`,
          { details: { maxBytes: limit.maxBytes } },
        );
        void removeIncoming(limit.packDir).finally(() => reject(err));
      } else if (timedOut)
        reject(new Error(`git ${args[0] ?? ''}: block timeout reached after ${timeoutMs} ms`));
      else if (code !== 0)
        reject(new GitCommandError(code ?? -1, stderrText(), Buffer.concat(stdout).toString('utf8')));
      else resolve(Buffer.concat(stdout).toString('utf8'));
    };
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    // 'close' comes once the output pipes are drained, right after the exit; a process git
    // started that outlives it (an ssh command killed with git) could hold them open much longer.
    child.on('close', (code) => settle(code));
    child.on('exit', (code) => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        settle(code);
      }, EXIT_GRACE_MS);
    });
    if (opts.input !== undefined) {
      // A git that exits before reading all of it (an error) closes the pipe: its exit code says why.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}
