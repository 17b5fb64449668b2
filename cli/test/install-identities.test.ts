import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Config as AuditWriterConfig } from '@flotilla/audit-writer';
import { natsResources as auditResources } from '@flotilla/audit-writer/nats-resources';
import { Bus, type NatsResources, natsOptions } from '@flotilla/bus';
import { Config as ApplierConfig } from '@flotilla/cluster-applier';
import { natsResources as applierResources } from '@flotilla/cluster-applier/nats-resources';
import { Config as ConsoleConfig, EventHub, startLiveFeed } from '@flotilla/console';
import {
  type EventDefinition,
  GitCommitDetected,
  HealthChanged,
  ImageTagDetected,
  PlanCreated,
  type Producer,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { Config as GitWatcherConfig } from '@flotilla/git-watcher';
import { natsResources as gitWatcherResources } from '@flotilla/git-watcher/nats-resources';
import { Config as PlannerConfig } from '@flotilla/planner';
import { natsResources as plannerResources } from '@flotilla/planner/nats-resources';
import { Config as RegistryWatcherConfig } from '@flotilla/registry-watcher';
import { natsResources as registryResources } from '@flotilla/registry-watcher/nats-resources';
import { loadConfig } from '@flotilla/runtime';
import { type NatsServer, programArgs, startNats } from '@flotilla/test-support';
import type { TObject } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// "The install works under its own rules": render deploy/kustomize, start nats-server with the
// authorization the hub ships (passwords from the Secrets the overlays generate), run the
// bootstrap exactly as the nats-bootstrap Job does, then connect every Deployment's service
// with the config and NATS identity its manifest gives it and do its NATS work: bind its
// consumers, open its buckets, publish one of its events. A Deployment missing its inbox prefix,
// or one that tries to provision, fails here with the server's permissions violation.

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects, read field by field.
type Obj = Record<string, any>;

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(root, 'deploy/kustomize', dir)], {
    maxBuffer: 32 << 20,
  });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);
}

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

/** A container's env as the kubelet would resolve it from the rendered Secrets. */
function resolveEnv(container: Obj, objs: Obj[], podName: string): Record<string, string> {
  const secret = (name: string) =>
    objs.find(
      (o) => o.kind === 'Secret' && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`)),
    );
  const env: Record<string, string> = {};
  for (const e of container.env as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const s = secret(ref.name);
      if (!s && ref.optional) continue;
      expect(s, `Secret ${ref.name} for ${e.name}`).toBeDefined();
      const data = s?.data?.[ref.key];
      expect(data, `${ref.name}/${ref.key}`).toBeDefined();
      env[e.name] = b64(data);
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
  }
  return env;
}

interface Installed {
  deployment: string;
  service: Producer;
  schema: TObject;
  resources: (config: never) => NatsResources;
  event: { def: EventDefinition; data: (config: Obj) => unknown };
}

const SERVICES: Installed[] = [
  {
    deployment: 'planner',
    service: 'planner',
    schema: PlannerConfig,
    resources: plannerResources as never,
    event: { def: PlanCreated, data: () => ({ ...samples.PlanCreated, cluster: 'dev' }) },
  },
  {
    deployment: 'git-watcher',
    service: 'git-watcher',
    schema: GitWatcherConfig,
    resources: gitWatcherResources as never,
    event: { def: GitCommitDetected, data: () => samples.GitCommitDetected },
  },
  {
    deployment: 'registry-watcher',
    service: 'registry-watcher',
    schema: RegistryWatcherConfig,
    resources: registryResources as never,
    event: { def: ImageTagDetected, data: () => samples.ImageTagDetected },
  },
  {
    deployment: 'audit-writer',
    service: 'audit-writer',
    schema: AuditWriterConfig,
    resources: auditResources as never,
    event: { def: GitCommitDetected, data: () => samples.GitCommitDetected },
  },
  {
    deployment: 'flotilla-applier',
    service: 'cluster-applier',
    schema: ApplierConfig,
    resources: applierResources as never,
    event: { def: HealthChanged, data: (c) => ({ ...samples.HealthChanged, cluster: c.cluster }) },
  },
];

let nats: NatsServer;
let hub: Obj[];
let clusterDev: Obj[];
const buses: Bus[] = [];

beforeAll(async () => {
  [hub, clusterDev] = await Promise.all([render('overlays/hub'), render('overlays/cluster-dev')]);
  const authConf = hub.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config'))?.data[
    'auth.conf'
  ] as string;
  const passwords = hub.find(
    (o) => o.kind === 'Secret' && o.metadata.name.startsWith('flotilla-nats-passwords'),
  ) as Obj;
  // The StatefulSet hands nats-server this Secret as its environment; do the same substitution.
  const conf = authConf.replace(/password: \$(FLOTILLA_NATS_PASSWORD_[A-Z0-9_]+)/g, (_m, v: string) => {
    const value = passwords.data[v];
    expect(value, `${v} in flotilla-nats-passwords`).toBeDefined();
    return `password: ${JSON.stringify(b64(value))}`;
  });
  nats = await startNats({ extraConfig: conf });
}, 120_000);

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await nats?.dispose();
});

describe('the shipped install, run under its own authorization', () => {
  it('the nats-bootstrap Job provisions everything with the admin identity (and again, idempotently)', async () => {
    const job = hub.find((o) => o.kind === 'Job' && o.metadata.name === 'nats-bootstrap') as Obj;
    const c = job.spec.template.spec.containers[0] as Obj;
    expect(c.args.slice(0, 2)).toEqual(['nats', 'bootstrap']);
    const env = { ...resolveEnv(c, hub, 'nats-bootstrap-x'), FLOTILLA_NATS_URL: nats.url };
    // One replica here (a single test server) instead of the three the Job asks for.
    const args = (c.args as string[]).map((a, i, all) => (all[i - 1] === '--replicas' ? '1' : a));
    const first = await run(process.execPath, programArgs('cli', ...args), {
      env: { ...process.env, ...env },
    });
    expect(first.stdout).toMatch(/created\s+consumer\s+applier-dev/);
    expect(first.stdout).toMatch(/created\s+stream\s+FLOTILLA_EVENTS/);
    const second = await run(process.execPath, programArgs('cli', ...args), {
      env: { ...process.env, ...env },
    });
    expect(second.stdout).not.toMatch(/created|updated/);
  }, 120_000);

  for (const s of SERVICES) {
    it(`${s.deployment}: starts with its manifest's config and identity, binds, and publishes its events`, async () => {
      const objs = s.service === 'cluster-applier' ? clusterDev : hub;
      const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === s.deployment) as Obj;
      const container = dep.spec.template.spec.containers[0] as Obj;
      const env = resolveEnv(container, objs, `${s.deployment}-0`);
      expect(env.FLOTILLA_NATS_PROVISION, 'the install binds only').toBe('false');
      // The in-cluster NATS address becomes the test server; everything else is as shipped.
      env.FLOTILLA_NATS_SERVERS = nats.url;
      delete env.FLOTILLA_CONFIG; // file paths of mounted ConfigMaps do not exist here
      const config = loadConfig(s.schema, { env }) as Obj;
      const bus = await Bus.connect({
        ...natsOptions(config.nats),
        service: s.service,
        instance: env.FLOTILLA_INSTANCE,
      });
      buses.push(bus);
      const resources = s.resources(config as never);
      expect(resources.identity).toBe(config.nats.user);
      for (const b of resources.kv) await bus.kv(b.bucket);
      for (const b of resources.objectStores) await bus.blobs(b.bucket);
      for (const c of resources.consumers) {
        const sub = await bus.consume({ ...c, handler: async () => {} });
        expect(sub.bound).toBe(true);
        await sub.stop();
      }
      if (s.service !== 'audit-writer') {
        const { seq } = await bus.publish(s.event.def as never, s.event.data(config) as never);
        expect(seq).toBeGreaterThan(0);
      }
    }, 60_000);
  }

  it("console: starts with its manifest's read-only identity and sees events live", async () => {
    const dep = hub.find((o) => o.kind === 'Deployment' && o.metadata.name === 'console') as Obj;
    const env = resolveEnv(dep.spec.template.spec.containers[0] as Obj, hub, 'console-0');
    env.FLOTILLA_NATS_SERVERS = nats.url;
    const config = loadConfig(ConsoleConfig, { env }) as Obj;
    expect(config.nats.user).toBe('subscriber');
    const bus = await Bus.connect({
      ...natsOptions(config.nats),
      service: 'console' as Producer,
      instance: env.FLOTILLA_INSTANCE,
    });
    buses.push(bus);
    const liveHub = new EventHub();
    const seen = new Promise<string>((resolve) => liveHub.subscribe((e) => resolve(e.name)));
    const feed = startLiveFeed(bus.nc, liveHub, { debug: () => undefined } as never);
    await bus.nc.flush();
    // The git-watcher (its own manifest identity) publishes; the console's core subscription on
    // flotilla.v1.> receives it.
    const gw = hub.find((o) => o.kind === 'Deployment' && o.metadata.name === 'git-watcher') as Obj;
    const gwEnv = resolveEnv(gw.spec.template.spec.containers[0] as Obj, hub, 'git-watcher-0');
    gwEnv.FLOTILLA_NATS_SERVERS = nats.url;
    delete gwEnv.FLOTILLA_CONFIG;
    const publisher = await Bus.connect({
      ...natsOptions((loadConfig(GitWatcherConfig, { env: gwEnv }) as Obj).nats),
      service: 'git-watcher',
      instance: 'git-watcher-0',
    });
    buses.push(publisher);
    await publisher.publish(GitCommitDetected, samples.GitCommitDetected);
    expect(await seen).toBe('GitCommitDetected');
    await feed.stop();
  }, 60_000);
});
