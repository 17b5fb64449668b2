/**
 * The service images as users run them, side by side in one run with the same bundle run by
 * plain `node` on the host (the baseline: what the container itself adds):
 *   - image size: `podman image inspect --format {{.Size}}` of each image scripts/images.sh built
 *   - container: `podman run -d --read-only --network host <image>` → first 200 from /readyz
 *     (polled every 50 ms), then `podman rm -f`
 *   - host:      `node --enable-source-maps services/<name>/dist/main.js` with the same
 *     environment (mounted files by their host paths; the applier by kubeconfig instead of the
 *     in-cluster ServiceAccount, which only exists in a container) → first 200 from /readyz
 * against the same real NATS, git and test apiserver (serviceContainerConfig, as the image test).
 * NATS likewise: the project's image vs the same nats-server binary, to /healthz?js-enabled-only.
 * Medians of --runs starts; the two modes alternate which goes first.
 *
 * Run: node bench/runtime/images.ts [--runs 3]   → the "Images" section of bench/results/runtime.md
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  buildImages,
  COMPOSE_INFRA_IMAGES,
  FLOTILLA_SERVICES,
  type FlotillaService,
  freePort,
  natsServerBinary,
  podman,
  programPath,
  type Spawned,
  serviceContainerConfig,
  serviceRunArgs,
  spawnTracked,
  startGitServer,
  startNats,
  startTestCluster,
  stopProcess,
} from '@flotilla/test-support';
import { median } from '../stats.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(args.runs);
const root = resolve(import.meta.dirname, '../..');
const RESULTS = join(root, 'bench/results/runtime.md');
const BEGIN = '<!-- bench/runtime/images.ts: begin -->';
const END = '<!-- bench/runtime/images.ts: end -->';

type Mode = 'container' | 'host';
/** Polls `url` every 50 ms until 200; fails early when `alive()` says the process is gone. */
async function until200(url: string, alive: () => Promise<boolean>, what: string): Promise<void> {
  const started = performance.now();
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (!(await alive())) throw new Error(`${what} exited before ready`);
    if (performance.now() - started > 180_000) throw new Error(`${what} not ready in 180 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-images-'));
chmodSync(dir, 0o755);
console.log('building (or finding cached) images …');
const [images, nats, git, cluster] = await Promise.all([
  buildImages(FLOTILLA_SERVICES, { composeInfra: true }),
  startNats(),
  startGitServer(),
  startTestCluster('bench-images', { kwok: false }),
]);
const config = await serviceContainerConfig({ nats, git, cluster, dir });

/** The host run of a service: its container environment, mounted paths replaced by the host's. */
function hostEnv(service: FlotillaService): Record<string, string> {
  const env = { ...config.env[service] };
  for (const m of config.mounts[service] ?? []) {
    const [host, ctr] = m.split(':') as [string, string];
    for (const [k, v] of Object.entries(env)) if (v.includes(ctr)) env[k] = v.replaceAll(ctr, host);
  }
  if (service === 'cluster-applier') {
    env.FLOTILLA_KUBE_IN_CLUSTER = 'false';
    env.FLOTILLA_KUBE_KUBECONFIG = cluster.kubeconfigPath;
  }
  for (const k of [
    'FLOTILLA_WORK_DIR',
    'FLOTILLA_CACHE_DIR',
    'FLOTILLA_AUDIT_DIR',
    'FLOTILLA_CONFIG_REPO_DIR',
  ])
    if (env[k]?.startsWith('/tmp/')) env[k] = join(dir, `host-${randomBytes(4).toString('hex')}`);
  return env;
}

/** nats-server's arguments: monitoring (the health check) on `port`, JetStream stored in `storeDir`. */
const natsArgs = async (port: number, storeDir: string) => [
  '-a',
  '127.0.0.1',
  '-p',
  String(await freePort()),
  '-m',
  String(port),
  '-js',
  '-sd',
  storeDir,
];

/**
 * Both modes' measurement: ms from `start()` to the first 200 from `url`; `stop()` runs whatever
 * happened, and a start that dies before it is ready fails the run instead of timing out.
 */
async function timeToReady(
  url: string,
  what: string,
  run: { start(): Promise<unknown>; alive(): Promise<boolean>; stop(): Promise<unknown> },
): Promise<number> {
  const started = performance.now();
  try {
    await run.start();
    await until200(url, run.alive, what);
    return performance.now() - started;
  } finally {
    await run.stop();
  }
}

async function startOnce(service: FlotillaService | 'nats', mode: Mode): Promise<number> {
  const port = await freePort();
  const path = service === 'nats' ? '/healthz?js-enabled-only=true' : '/readyz';
  const url = `http://127.0.0.1:${port}${path}`;
  const name = `flotilla-bench-${service}-${randomBytes(3).toString('hex')}`;
  if (mode === 'container') {
    const runArgs =
      service === 'nats'
        ? [
            ...['run', '-d', '--name', name, '--read-only', '--tmpfs', '/data', '--network', 'host'],
            COMPOSE_INFRA_IMAGES.FLOTILLA_NATS_IMAGE,
            ...(await natsArgs(port, '/data')),
          ]
        : [...serviceRunArgs(config, service, name, port), images[service]];
    return timeToReady(url, `${service} (container)`, {
      start: () => podman(runArgs),
      alive: async () =>
        (await podman(['inspect', '--format', '{{.State.Running}}', name])).trim() === 'true',
      stop: () => podman(['rm', '-f', '-t', '5', name]).catch(() => undefined),
    });
  }
  const logFile = join(dir, `${name}.log`);
  const [cmd, cmdArgs, env] =
    service === 'nats'
      ? [natsServerBinary(), await natsArgs(port, join(dir, name)), process.env]
      : [
          process.execPath,
          ['--enable-source-maps', programPath(service)],
          { ...process.env, ...hostEnv(service), FLOTILLA_HTTP_PORT: String(port), LOG_LEVEL: 'warn' },
        ];
  let proc: Spawned | undefined;
  return timeToReady(url, `${service} (host; ${logFile})`, {
    start: async () => {
      proc = spawnTracked(cmd, cmdArgs, { cwd: service === 'nats' ? dir : root, logFile, env });
    },
    alive: async () => proc?.child.exitCode === null,
    stop: async () => {
      if (proc) await stopProcess(proc, 20_000);
    },
  });
}

const subjects = [...FLOTILLA_SERVICES, 'nats'] as const;
const samples = new Map<string, number[]>();
const loads: number[] = [];
try {
  for (let run = 0; run < RUNS; run++) {
    for (const service of subjects) {
      const order: Mode[] = run % 2 === 0 ? ['container', 'host'] : ['host', 'container'];
      for (const mode of order) {
        const ms = await startOnce(service, mode);
        loads.push(loadavg()[0] as number);
        samples.set(`${service}/${mode}`, [...(samples.get(`${service}/${mode}`) ?? []), ms]);
        console.log(`${service} ${mode} run ${run + 1}: ready in ${Math.round(ms)} ms`);
      }
    }
  }
} finally {
  await Promise.all([nats.dispose(), git.stop(), cluster.stop()]);
  rmSync(dir, { recursive: true, force: true });
}

const size = async (image: string) =>
  Number((await podman(['image', 'inspect', '--format', '{{.Size}}', image])).trim()) / 2 ** 20;
const rows: string[] = [];
for (const service of subjects) {
  const image = service === 'nats' ? COMPOSE_INFRA_IMAGES.FLOTILLA_NATS_IMAGE : images[service];
  const c = median(samples.get(`${service}/container`) ?? []);
  const h = median(samples.get(`${service}/host`) ?? []);
  rows.push(
    `| ${service} | ${(await size(image)).toFixed(0)} | ${(c / 1000).toFixed(2)} | ${(h / 1000).toFixed(2)} | ${(c / h).toFixed(2)} |`,
  );
}
const section = `${BEGIN}
## Images: size and \`podman run\` → ready (bench/runtime/images.ts)

\`node bench/runtime/images.ts --runs ${RUNS}\` — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores, load average ${Math.min(...loads).toFixed(0)}–${Math.max(...loads).toFixed(0)} during the run, node ${process.version}, podman (runc); medians of ${RUNS} starts, modes alternating.

Per service: the image scripts/images.sh built (\`podman image inspect --format '{{.Size}}'\`, MiB);
**container**: \`podman run -d --read-only --network host <image>\` → first 200 from \`/readyz\` (NATS:
\`/healthz?js-enabled-only=true\`), against the same real NATS, git and test apiserver as the image test
(the applier on the in-cluster path); **host**: the same bundle (or nats-server binary) run by plain
\`node\` on the host with the same settings (the applier by kubeconfig). *ratio* = container ÷ host.

| image | size (MiB) | container → ready (s) | host → ready (s) | ratio |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
${END}`;
const current = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
const next = current.includes(BEGIN)
  ? current.slice(0, current.indexOf(BEGIN)) + section + current.slice(current.indexOf(END) + END.length)
  : `${current.trimEnd()}\n\n${section}\n`;
writeFileSync(RESULTS, next);
console.log(section);
