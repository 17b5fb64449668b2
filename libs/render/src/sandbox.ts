import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';

/**
 * How the renderer is cut off from the network:
 * - `netns`: a fresh network namespace (`unshare --net`), which has only a loopback device that
 *   is down; no address, not even 127.0.0.1, is reachable.
 * - `netns-user`: the same inside a user namespace, for a planner that is not root.
 * - `proxy`: no namespace could be made here; every HTTP(S) request goes to a closed loopback
 *   port through the proxy variables, and git has no transport and no binary on PATH.
 */
export type Isolation = 'netns' | 'netns-user' | 'proxy';

export interface SandboxOptions {
  timeoutMs: number;
  maxMemoryBytes: number;
  maxOutputBytes: number;
  /** `auto` (default) uses a network namespace when one can be made; `proxy` forces the fallback. */
  isolation?: 'auto' | 'proxy';
  /** Aborting kills the child (its result then reads `exceeded: 'aborted'`). */
  signal?: AbortSignal;
}

export interface SandboxResult {
  /** Exit code, or null when killed. */
  code: number | null;
  stdout: string;
  /** The last 64 KiB of stderr. */
  stderr: string;
  /** Highest resident set size seen (VmHWM), in bytes; 0 where /proc is not available. */
  peakRssBytes: number;
  isolation: Isolation;
  /** The budget that made the sandbox kill the child. */
  exceeded?: 'time' | 'memory' | 'output' | 'aborted';
}

/** A port nothing listens on (tcpmux; unprivileged processes cannot bind it). */
const CLOSED_PROXY = 'http://127.0.0.1:1';
const STDERR_KEEP = 64 * 1024;

/**
 * The whole environment the renderer gets: nothing of the planner's (no tokens, no NATS
 * credentials, no key paths), an empty HOME and XDG dirs so no dotfile (`.gitconfig`,
 * `.kube/kuberc`, `.config/kustomize/plugin`, `.ssh/config`) is ever read, an empty PATH so no
 * helper (git, helm, ssh, a plugin) can be found, git with no config and no transport, kubectl
 * without a kubeconfig or kuberc, and every proxy variable pointing at a closed port.
 */
export function sandboxEnv(dirs: { home: string; emptyBin: string; tmp: string }): Record<string, string> {
  return {
    PATH: dirs.emptyBin,
    HOME: dirs.home,
    XDG_CONFIG_HOME: join(dirs.home, '.config'),
    XDG_CACHE_HOME: join(dirs.home, '.cache'),
    XDG_DATA_HOME: join(dirs.home, '.local/share'),
    TMPDIR: dirs.tmp,
    LANG: 'C',
    KUBECONFIG: '/dev/null',
    KUBECTL_KUBERC: 'false',
    KUSTOMIZE_PLUGIN_HOME: join(dirs.home, 'no-plugins'),
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    // Set and empty: git allows no protocol at all (file, ssh, http(s), ext).
    GIT_ALLOW_PROTOCOL: '',
    GIT_TERMINAL_PROMPT: '0',
    HTTP_PROXY: CLOSED_PROXY,
    HTTPS_PROXY: CLOSED_PROXY,
    http_proxy: CLOSED_PROXY,
    https_proxy: CLOSED_PROXY,
    ALL_PROXY: CLOSED_PROXY,
    all_proxy: CLOSED_PROXY,
    NO_PROXY: '',
    no_proxy: '',
  };
}

/** Absolute path of an executable, looked up on the planner's own PATH (the child has none). */
export async function resolveExecutable(command: string): Promise<string> {
  if (isAbsolute(command)) return command;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  throw new Error(`${command} not found on PATH`);
}

let detected: Promise<{ isolation: Isolation; prefix: string[] }> | undefined;

/** Which isolation this machine allows, found once by trying it. */
export function detectIsolation(): Promise<{ isolation: Isolation; prefix: string[] }> {
  detected ??= (async () => {
    const unshare = await resolveExecutable('unshare').catch(() => null);
    const truth = await resolveExecutable('true').catch(() => null);
    if (unshare && truth) {
      for (const [isolation, flags] of [
        ['netns', ['--net']],
        ['netns-user', ['--map-root-user', '--net']],
      ] as const) {
        const prefix = [unshare, ...flags, '--'];
        const ok = await new Promise<boolean>((res) => {
          const p = spawn(prefix[0] as string, [...prefix.slice(1), truth], { stdio: 'ignore', env: {} });
          p.on('error', () => res(false));
          p.on('close', (code) => res(code === 0));
        });
        if (ok) return { isolation, prefix };
      }
    }
    return { isolation: 'proxy' as const, prefix: [] };
  })();
  return detected;
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/**
 * Runs `command args` as the renderer: its own process group, the scrubbed environment of
 * {@link sandboxEnv}, an empty temporary HOME as working directory, no network (see
 * {@link Isolation}), and budgets: it is killed when it runs past `timeoutMs`, when its resident
 * memory passes `maxMemoryBytes` (watched through /proc; Go's GOMEMLIMIT is set below it so the
 * collector works first), or when it writes more than `maxOutputBytes`. The temporary
 * directories are removed afterwards, whatever happened.
 */
export async function runSandboxed(
  command: string,
  args: readonly string[],
  opts: SandboxOptions,
): Promise<SandboxResult> {
  const exe = await resolveExecutable(command);
  const { isolation, prefix } =
    opts.isolation === 'proxy' ? { isolation: 'proxy' as const, prefix: [] } : await detectIsolation();
  const base = await mkdtemp(join(tmpdir(), 'flotilla-render-'));
  const dirs = { home: join(base, 'home'), emptyBin: join(base, 'bin'), tmp: join(base, 'tmp') };
  await Promise.all([mkdir(dirs.home), mkdir(dirs.emptyBin), mkdir(dirs.tmp)]);
  const env = {
    ...sandboxEnv(dirs),
    GOMEMLIMIT: String(Math.floor(opts.maxMemoryBytes * 0.75)),
  };
  try {
    const argv = [...prefix, exe, ...args];
    return await new Promise<SandboxResult>((resolvePromise, reject) => {
      const child = spawn(argv[0] as string, argv.slice(1), {
        cwd: dirs.home,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let outBytes = 0;
      let err = '';
      let peak = 0;
      let exceeded: SandboxResult['exceeded'];
      const kill = (why: NonNullable<SandboxResult['exceeded']>) => {
        exceeded ??= why;
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      };
      child.stdout.on('data', (chunk: Buffer) => {
        outBytes += chunk.length;
        if (outBytes > opts.maxOutputBytes) kill('output');
        else out.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err = (err + chunk.toString('utf8')).slice(-STDERR_KEEP);
      });
      const timer = setTimeout(() => kill('time'), Math.max(1, opts.timeoutMs));
      const onAbort = () => kill('aborted');
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let polling = false;
      const watch = setInterval(() => {
        if (polling || !child.pid) return;
        polling = true;
        void peakRss(child.pid).then((rss) => {
          polling = false;
          peak = Math.max(peak, rss);
          if (rss > opts.maxMemoryBytes) kill('memory');
        });
      }, 20);
      child.on('error', (e) => {
        clearTimeout(timer);
        clearInterval(watch);
        reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        clearInterval(watch);
        opts.signal?.removeEventListener('abort', onAbort);
        const result: SandboxResult = {
          code: exceeded ? null : code,
          stdout: exceeded ? '' : Buffer.concat(out).toString('utf8'),
          stderr: err,
          peakRssBytes: peak,
          isolation,
        };
        if (exceeded) result.exceeded = exceeded;
        resolvePromise(result);
      });
    });
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}
