import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnTracked, stopProcess } from './child-process.ts';
import { GiveUp, waitFor } from './wait.ts';

const RELAY = join(import.meta.dirname, 'git-daemon-relay.ts');

/** Environment for test git processes: no user/system config, no prompts, a fixed identity. */
function testGitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test Author',
    GIT_AUTHOR_EMAIL: 'author@example.test',
    GIT_COMMITTER_NAME: 'Test Committer',
    GIT_COMMITTER_EMAIL: 'committer@example.test',
    ...extra,
  };
}

/** Runs git for tests and returns trimmed stdout; rejects with stderr on failure. */
export function execGit(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: opts.cwd, env: testGitEnv(opts.env), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout.trim());
      },
    );
    // Always close stdin: a git command that reads it must not wait forever.
    // A command that exits before reading its input closes the pipe: not an error of ours.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${stderr || err.message}`)) : resolve(stdout.trim()),
    );
  });
}

export interface CreateRepoOptions {
  /** Initial files committed to `branch`; without files the repository stays empty. */
  files?: Record<string, string>;
  /** Default `main`. */
  branch?: string;
}

export interface GitServer {
  /** Directory holding the bare repositories (`<name>.git`). */
  readonly root: string;
  readonly port: number;
  /** `git://127.0.0.1:<port>/<name>.git` */
  url(repo: string): string;
  /** `file:///…/<name>.git` */
  fileUrl(repo: string): string;
  /** Path of the bare repository on disk (to inspect or damage it in tests). */
  path(repo: string): string;
  /** Creates a bare repository; returns the head sha when files were committed. */
  createRepo(name: string, opts?: CreateRepoOptions): Promise<{ url: string; head: string | null }>;
  stop(): Promise<void>;
}

/**
 * Serves a temp dir of bare repositories with `git daemon` on a free loopback port, pushes enabled.
 * Always `stop()` it in afterAll: the listener and its per-connection daemons are killed as a group.
 *
 * The listener is git-daemon-relay.ts (Nagle off, one `git daemon --inetd` per connection), not
 * `git daemon --listen`, whose sockets hold each small reply ~40 ms for a delayed ACK: a cost no
 * forge charges that would otherwise sit in every latency the tests and benches see.
 */
export async function startGitServer(
  opts: {
    dir?: string;
    /** Listen on this port (a server stopped and started again, as a remote going away and back). */
    port?: number;
  } = {},
): Promise<GitServer> {
  const root = opts.dir ?? (await mkdtemp(join(tmpdir(), 'flotilla-git-')));
  await mkdir(root, { recursive: true });
  const ownsRoot = opts.dir === undefined;
  // Per port: two servers may serve one root, and each waits for its own ready line.
  const logFile = join(root, opts.port ? `.daemon-${opts.port}.log` : '.daemon.log');
  await writeFile(logFile, '');
  const running = spawnTracked(process.execPath, [RELAY, root, String(opts.port ?? 0)], {
    env: testGitEnv(),
    cwd: root,
    logFile,
  });
  let port = 0;
  try {
    port = await waitFor(
      'git daemon relay',
      async () => {
        const log = await readFile(logFile, 'utf8');
        const ready = /Ready to rumble on port (\d+)/.exec(log);
        if (ready) return Number(ready[1]);
        if (running.child.exitCode !== null || running.child.signalCode !== null)
          throw new GiveUp(`git daemon relay exited: ${log.trim()}`);
        return undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
  } catch (err) {
    await stopProcess(running, 1000);
    throw err;
  }

  const path = (repo: string) => join(root, `${repo}.git`);
  return {
    root,
    port,
    url: (repo) => `git://127.0.0.1:${port}/${repo}.git`,
    fileUrl: (repo) => `file://${path(repo)}`,
    path,
    async createRepo(name, { files, branch = 'main' } = {}) {
      const bare = path(name);
      await mkdir(dirname(bare), { recursive: true });
      await execGit(['init', '--quiet', '--bare', `--initial-branch=${branch}`, bare]);
      let head: string | null = null;
      if (files && Object.keys(files).length > 0) {
        const work = await GitWorkdir.clone(`file://${bare}`, { branch });
        try {
          for (const [p, content] of Object.entries(files)) await work.writeFile(p, content);
          head = await work.commit('initial commit');
          await work.push();
        } finally {
          await work.remove();
        }
      }
      return { url: `git://127.0.0.1:${port}/${name}.git`, head };
    },
    async stop() {
      await stopProcess(running, 3000);
      if (ownsRoot) await rm(root, { recursive: true, force: true });
    },
  };
}

export interface SshSigningKey {
  dir: string;
  privateKeyFile: string;
  publicKeyFile: string;
  publicKey: string;
  /** Principal (email) the key signs as. */
  principal: string;
  /** allowed signers file that trusts this key for `principal`. */
  allowedSignersFile: string;
}

/** Generates an ed25519 ssh key and an allowed-signers file trusting it (for signed-commit tests). */
export async function generateSshSigningKey(principal = 'signer@example.test'): Promise<SshSigningKey> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-sshkey-'));
  const privateKeyFile = join(dir, 'id_ed25519');
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', principal, '-f', privateKeyFile]);
  const publicKey = (await readFile(`${privateKeyFile}.pub`, 'utf8')).trim();
  const allowedSignersFile = join(dir, 'allowed_signers');
  await writeAllowedSigners(allowedSignersFile, [{ principal, publicKey }]);
  return {
    dir,
    privateKeyFile,
    publicKeyFile: `${privateKeyFile}.pub`,
    publicKey,
    principal,
    allowedSignersFile,
  };
}

export async function writeAllowedSigners(
  file: string,
  entries: Array<{ principal: string; publicKey: string }>,
): Promise<void> {
  await writeFile(file, entries.map((e) => `${e.principal} namespaces="git" ${e.publicKey}\n`).join(''));
}

export interface WorkdirCommitOptions {
  author?: { name: string; email: string };
  /** Author and committer date. */
  date?: Date;
  /** Sign with the key set by `useSigningKey` (default: signed iff a key is set). */
  sign?: boolean;
  allowEmpty?: boolean;
}

/**
 * A non-bare clone for tests to play a human or CI pushing to a repository: write files, commit
 * with a given author and date, push, force-push, sign with ssh.
 */
export class GitWorkdir {
  private signingKey: SshSigningKey | undefined;
  readonly dir: string;
  readonly branch: string;

  private constructor(dir: string, branch: string) {
    this.dir = dir;
    this.branch = branch;
  }

  /** Clones `url` (an empty repository is fine) and checks out `branch`. */
  static async clone(url: string, opts: { branch?: string; dir?: string } = {}): Promise<GitWorkdir> {
    const branch = opts.branch ?? 'main';
    const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'flotilla-work-')));
    await execGit(['clone', '--quiet', url, dir]);
    const wd = new GitWorkdir(dir, branch);
    const remoteHas = await execGit(['ls-remote', '--heads', 'origin', `refs/heads/${branch}`], { cwd: dir });
    if (remoteHas) await wd.git('checkout', '--quiet', '-B', branch, `origin/${branch}`);
    else await wd.git('checkout', '--quiet', '--orphan', branch);
    return wd;
  }

  git(...args: string[]): Promise<string> {
    return execGit(args, { cwd: this.dir });
  }

  async writeFile(path: string, content: string): Promise<void> {
    const full = join(this.dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }

  async removeFile(path: string): Promise<void> {
    await rm(join(this.dir, path), { force: true, recursive: true });
  }

  /** Sign later commits with this ssh key (`gpg.format ssh`, `user.signingkey`). */
  async useSigningKey(key: SshSigningKey | undefined): Promise<void> {
    this.signingKey = key;
    if (key) {
      await this.git('config', 'gpg.format', 'ssh');
      await this.git('config', 'user.signingkey', key.privateKeyFile);
      await this.git('config', 'gpg.ssh.allowedSignersFile', key.allowedSignersFile);
    }
  }

  /** Stages everything and commits; returns the new sha. */
  async commit(message: string, opts: WorkdirCommitOptions = {}): Promise<string> {
    await this.git('add', '--all');
    const env: Record<string, string> = {};
    if (opts.author) {
      env.GIT_AUTHOR_NAME = opts.author.name;
      env.GIT_AUTHOR_EMAIL = opts.author.email;
    }
    if (opts.date) {
      const d = `@${Math.floor(opts.date.getTime() / 1000)} +0000`;
      env.GIT_AUTHOR_DATE = d;
      env.GIT_COMMITTER_DATE = d;
    }
    const sign = opts.sign ?? this.signingKey !== undefined;
    const args = ['commit', '--quiet', '--no-verify', sign ? '-S' : '--no-gpg-sign', '-F', '-'];
    if (opts.allowEmpty) args.push('--allow-empty');
    await execGit(args, { cwd: this.dir, env, input: message });
    return this.head();
  }

  head(): Promise<string> {
    return this.git('rev-parse', 'HEAD');
  }

  async push(): Promise<void> {
    await this.git('push', '--quiet', 'origin', `HEAD:refs/heads/${this.branch}`);
  }

  /** Force-pushes the current head (after `resetHard` or an amend: a history rewrite). */
  async forcePush(): Promise<void> {
    await this.git('push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${this.branch}`);
  }

  async pull(): Promise<void> {
    await this.git('pull', '--quiet', '--rebase', 'origin', this.branch);
  }

  async resetHard(rev: string): Promise<void> {
    await this.git('reset', '--quiet', '--hard', rev);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
