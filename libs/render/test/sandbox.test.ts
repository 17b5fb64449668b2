import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectIsolation, runSandboxed } from '../src/index.ts';
import { baitServer } from './hostile-setup.ts';

const budgets = { timeoutMs: 60_000, maxMemoryBytes: 512 * 1024 * 1024, maxOutputBytes: 8 * 1024 * 1024 };

// A local HTTP server that must never be reached from inside the sandbox.
const bait = baitServer();

describe('runSandboxed', () => {
  it('gives the child only the scrubbed environment, an empty HOME and an empty PATH', async () => {
    const secret = randomBytes(16).toString('hex');
    process.env.FLOTILLA_TEST_TOKEN = secret;
    try {
      const r = await runSandboxed(
        '/bin/sh',
        ['-c', '/usr/bin/env; echo "--"; /bin/ls -A "$HOME"; echo "--"; pwd'],
        budgets,
      );
      expect(r.code).toBe(0);
      const [env = '', home = '', cwd = ''] = r.stdout.split('--\n');
      const vars = Object.fromEntries(
        env
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(r.stdout).not.toContain(secret);
      expect(vars.FLOTILLA_TEST_TOKEN).toBeUndefined();
      expect(vars).toMatchObject({
        KUBECTL_KUBERC: 'false',
        KUBECONFIG: '/dev/null',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_ALLOW_PROTOCOL: '',
        HTTPS_PROXY: 'http://127.0.0.1:1',
        NO_PROXY: '',
      });
      // Nothing of the planner's environment except what sh itself adds.
      const allowed = new Set([
        ...Object.keys(vars).filter((k) => ['PWD', 'SHLVL', '_', 'OLDPWD'].includes(k)),
        'PATH',
        'HOME',
        'XDG_CONFIG_HOME',
        'XDG_CACHE_HOME',
        'XDG_DATA_HOME',
        'TMPDIR',
        'LANG',
        'KUBECONFIG',
        'KUBECTL_KUBERC',
        'KUSTOMIZE_PLUGIN_HOME',
        'GIT_CONFIG_GLOBAL',
        'GIT_CONFIG_NOSYSTEM',
        'GIT_ALLOW_PROTOCOL',
        'GIT_TERMINAL_PROMPT',
        'HTTP_PROXY',
        'HTTPS_PROXY',
        'http_proxy',
        'https_proxy',
        'ALL_PROXY',
        'all_proxy',
        'NO_PROXY',
        'no_proxy',
        'GOMEMLIMIT',
      ]);
      expect(Object.keys(vars).filter((k) => !allowed.has(k))).toEqual([]);
      expect(home.trim()).toBe('');
      expect(cwd.trim()).toBe(vars.HOME);
      expect(existsSync(vars.HOME as string)).toBe(false); // removed afterwards
    } finally {
      delete process.env.FLOTILLA_TEST_TOKEN;
    }
  });

  it('finds no helper on PATH and gives git no config and no transport', async () => {
    const sh = await runSandboxed('/bin/sh', ['-c', 'git --version'], budgets);
    expect(sh.code).toBe(127);
    const tmp = await mkdtemp(join(tmpdir(), 'sandbox-git-'));
    try {
      const marker = join(tmp, 'pwned');
      await writeFile(join(tmp, '.gitconfig'), `[core]\n\tsshCommand = touch ${marker}\n`);
      const g = await runSandboxed('/usr/bin/git', ['ls-remote', `file://${tmp}`], budgets);
      expect(g.code).not.toBe(0);
      expect(g.stderr).toContain("transport 'file' not allowed");
      const ssh = await runSandboxed('/usr/bin/git', ['ls-remote', 'git@example.invalid:org/repo'], budgets);
      expect(ssh.stderr).toContain("transport 'ssh' not allowed");
      expect(existsSync(marker)).toBe(false);
      const config = await runSandboxed('/usr/bin/git', ['config', '--list', '--show-origin'], budgets);
      expect(config.stdout).toBe('');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('cannot reach a server on the planner host, not even on 127.0.0.1', async () => {
    const { isolation } = await detectIsolation();
    expect(isolation).toMatch(/^netns/); // this machine allows namespaces; see the fallback test below
    const r = await runSandboxed(
      process.execPath,
      [
        '-e',
        `fetch(${JSON.stringify(bait.url)}).then(() => console.log('reached'), (e) => console.log('blocked', e.cause?.code))`,
      ],
      budgets,
    );
    expect(r.isolation).toBe(isolation);
    expect(r.stdout).toMatch(/^blocked (ENETUNREACH|ECONNREFUSED)/);
    expect(bait.requests).toBe(0);
  });

  it('without a namespace, HTTP(S) clients that honour the proxy variables hit a closed port', async () => {
    const r = await runSandboxed('/usr/bin/curl', ['-sS', '--max-time', '10', 'http://example.com/'], {
      ...budgets,
      isolation: 'proxy',
    });
    expect(r.isolation).toBe('proxy');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/127\.0\.0\.1 port 1|Connection refused|Could not connect/i);
  });

  it('kills the child past its wall time, memory and output budgets', async () => {
    const t = performance.now();
    const slow = await runSandboxed('/bin/sleep', ['30'], { ...budgets, timeoutMs: 300 });
    expect(slow).toMatchObject({ exceeded: 'time', code: null });
    expect(performance.now() - t).toBeLessThan(10_000);
    const hungry = await runSandboxed(
      process.execPath,
      ['-e', 'const a = []; for (;;) a.push(Buffer.alloc(16 << 20, 1));'],
      { ...budgets, maxMemoryBytes: 192 * 1024 * 1024 },
    );
    expect(hungry).toMatchObject({ exceeded: 'memory', code: null });
    expect(hungry.peakRssBytes).toBeGreaterThan(192 * 1024 * 1024);
    const chatty = await runSandboxed('/usr/bin/yes', [], { ...budgets, maxOutputBytes: 1024 * 1024 });
    expect(chatty).toMatchObject({ exceeded: 'output', code: null, stdout: '' });
  });
});
