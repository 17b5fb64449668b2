import { execFile } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
import { Config as PlannerConfig, parseRecipients } from '@flotilla/planner';
import { natsResources as plannerResources } from '@flotilla/planner/nats-resources';
import { Config as RegistryWatcherConfig } from '@flotilla/registry-watcher';
import { natsResources as registryResources } from '@flotilla/registry-watcher/nats-resources';
import { loadConfig } from '@flotilla/runtime';
import {
  createTestCa,
  type NatsServer,
  natsGreeting,
  programArgs,
  rawNats,
  startNats,
  type TestCa,
} from '@flotilla/test-support';
import { isSealed, openBundle, sealBundle, sealingPrivateKey } from '@flotilla/trust';
import { nkeyAuthenticator } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { TObject } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { nkeyEnvVar } from '../src/nats-auth.ts';

// "The install works under its own rules": render deploy/kustomize, fill the example overlays'
// CHANGE-ME Secrets and ConfigMaps with real material (nkeys from `flotilla nats nkeys`, a test
// CA's certificate for NATS, sealing keys from `flotilla seal-key`) under the very keys the
// manifests name, start nats-server with the shipped client `tls {}` block and authorization
// (every identity an nkey read from the environment, as the StatefulSet gives it), run the
// bootstrap exactly as the nats-bootstrap Job does, then connect every Deployment's service with
// the config, mounted files and NATS identity its manifest gives it and do its NATS work: bind
// its consumers, open its buckets, publish one of its events. A Deployment missing its inbox
// prefix, its seed or its CA, or one that tries to provision, fails here.

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const CLUSTERS = ['dev', 'test', 'uat', 'prod'];

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
const generated = (objs: Obj[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && (o.metadata.name === name || o.metadata.name.startsWith(`${name}-`))) as
    | Obj
    | undefined;
/** A Secret's or ConfigMap's entries as text. */
const entries = (o: Obj): Record<string, string> =>
  o.kind === 'Secret'
    ? Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, b64(v as string)]))
    : { ...o.data };

/**
 * Replaces the example's placeholders with real values: only keys the manifest already has, and
 * only values that are still CHANGE-ME (so the structure under test is the shipped one).
 */
function fill(objs: Obj[], kind: 'Secret' | 'ConfigMap', name: string, values: Record<string, string>) {
  const o = generated(objs, kind, name);
  expect(o, `${kind} ${name}`).toBeDefined();
  const data = (o as Obj).data as Record<string, string>;
  expect(Object.keys(values).sort(), `${name}'s keys`).toEqual(
    Object.keys(data)
      .filter((k) => entries(o as Obj)[k]?.includes('CHANGE-ME'))
      .sort(),
  );
  for (const [k, v] of Object.entries(values))
    data[k] = kind === 'Secret' ? Buffer.from(v).toString('base64') : v;
}

/** A container's env as the kubelet would resolve it from the rendered Secrets and ConfigMaps. */
function resolveEnv(container: Obj, objs: Obj[], podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of container.env as Obj[]) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (ref) {
      const source = generated(objs, e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name);
      if (!source && ref.optional) continue;
      expect(source, `${ref.name} for ${e.name}`).toBeDefined();
      const value = entries(source as Obj)[ref.key];
      // An optional key the Secret does not hold leaves the variable unset, as the kubelet does.
      if (value === undefined && ref.optional) continue;
      expect(value, `${ref.name}/${ref.key}`).toBeDefined();
      env[e.name] = value as string;
    } else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
  }
  return env;
}

/**
 * Writes each Secret volume the container mounts into a directory of its own (only the listed
 * `items` when the volume names some, as the kubelet does) and rewrites every env value under a
 * mountPath to the written file. A missing file is a missing mount.
 */
function mount(
  pod: Obj,
  container: Obj,
  objs: Obj[],
  env: Record<string, string>,
  dir: string,
): Record<string, string> {
  const paths: Array<[string, string]> = [];
  for (const m of (container.volumeMounts ?? []) as Obj[]) {
    // Not a pod volume: a volumeClaimTemplate (the StatefulSet's data), nothing to write.
    const volume = (pod.volumes as Obj[]).find((v) => v.name === m.name) as Obj | undefined;
    if (!volume?.secret) continue;
    const secret = generated(objs, 'Secret', volume.secret.secretName);
    if (!secret && volume.secret.optional) continue;
    expect(secret, `Secret ${volume.secret.secretName}`).toBeDefined();
    const data = entries(secret as Obj);
    const at = mkdtempSync(join(dir, `${m.name}-`));
    const items =
      (volume.secret.items as Obj[] | undefined) ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const { key, path } of items) {
      expect(data[key], `${volume.secret.secretName}/${key}`).toBeDefined();
      writeFileSync(join(at, path), data[key] as string, { mode: 0o600 });
    }
    paths.push([m.mountPath as string, at]);
  }
  const out = { ...env };
  for (const [k, v] of Object.entries(out))
    for (const [mountPath, at] of paths)
      if (v.startsWith(`${mountPath}/`)) {
        out[k] = join(at, v.slice(mountPath.length + 1));
        expect(existsSync(out[k] as string), `${k} → ${v}`).toBe(true);
      }
  return out;
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
let work: string;
let ca: TestCa;
const sealingKeys = new Map<string, string>();
const buses: Bus[] = [];

/** The env a pod's first container gets, with its mounted Secrets written to disk. */
function podEnv(objs: Obj[], workload: Obj, podName: string): Record<string, string> {
  const pod = workload.spec.template.spec as Obj;
  const container = (pod.containers as Obj[])[0] as Obj;
  return mount(pod, container, objs, resolveEnv(container, objs, podName), work);
}

beforeAll(async () => {
  [hub, clusterDev] = await Promise.all([render('overlays/hub'), render('overlays/cluster-dev')]);
  work = mkdtempSync(join(tmpdir(), 'flotilla-install-'));
  // What an operator makes for the install: an nkey per identity, NATS's certificate, a sealing
  // key per cluster.
  const seeds = join(work, 'seeds');
  const nkeys = await run(
    process.execPath,
    programArgs('cli', 'nats', 'nkeys', '--clusters', CLUSTERS.join(','), '--out', seeds),
  );
  const publicKeys = JSON.parse(nkeys.stdout) as Record<string, string>;
  const seed = (id: string) => readFileSync(join(seeds, `${id}.nk`), 'utf8');
  ca = await createTestCa('flotilla-install');
  const server = await ca.issue('nats', 'peer');
  const recipients: string[] = [];
  for (const cluster of CLUSTERS) {
    const file = join(work, `sealing-${cluster}.pem`);
    const out = await run(process.execPath, programArgs('cli', 'seal-key', cluster, '--out', file));
    recipients.push(out.stdout.trim());
    sealingKeys.set(cluster, readFileSync(file, 'utf8'));
  }
  const caPem = readFileSync(ca.caFile, 'utf8');

  fill(
    hub,
    'ConfigMap',
    'flotilla-nats-nkeys',
    Object.fromEntries(Object.entries(publicKeys).map(([id, key]) => [nkeyEnvVar(id), key])),
  );
  const hubIds = ['planner', 'git-watcher', 'registry-watcher', 'audit-writer', 'subscriber', 'admin'];
  fill(hub, 'Secret', 'flotilla-nats-seeds', Object.fromEntries(hubIds.map((id) => [`${id}.nk`, seed(id)])));
  fill(hub, 'Secret', 'flotilla-nats-tls', {
    'tls.crt': readFileSync(server.certFile, 'utf8'),
    'tls.key': readFileSync(server.keyFile, 'utf8'),
    'ca.crt': caPem,
  });
  fill(hub, 'ConfigMap', 'flotilla-bundle-recipients', { recipients: recipients.join(',') });
  fill(clusterDev, 'Secret', 'flotilla-applier-nats', { 'seed.nk': seed('applier-dev'), 'ca.crt': caPem });
  fill(clusterDev, 'Secret', 'flotilla-applier-sealing-key', {
    'sealing-key.pem': sealingKeys.get('dev') as string,
  });

  // nats-server as the StatefulSet runs it: its client `tls {}` block with the flotilla-nats-tls
  // Secret mounted, and auth.conf with each $FLOTILLA_NATS_NKEY_<USER> from its environment
  // (envFrom the flotilla-nats-nkeys ConfigMap). The cluster block needs the other two pods.
  const sts = generated(hub, 'StatefulSet', 'nats') as Obj;
  const natsContainer = sts.spec.template.spec.containers[0] as Obj;
  const fromConfigMaps = Object.assign(
    {},
    ...(natsContainer.envFrom as Obj[]).map((f) =>
      entries(generated(hub, 'ConfigMap', f.configMapRef.name) as Obj),
    ),
  ) as Record<string, string>;
  const config = entries(generated(hub, 'ConfigMap', 'nats-config') as Obj);
  const tlsBlock = /^tls \{\n[\s\S]*?^\}$/m.exec(config['nats.conf'] as string)?.[0] as string;
  expect(tlsBlock, 'a client tls {} block in nats.conf').toBeDefined();
  const files = mount(
    sts.spec.template.spec,
    natsContainer,
    hub,
    Object.fromEntries(
      [...tlsBlock.matchAll(/(\w+_file): (\S+)/g)].map((m) => [m[1] as string, m[2] as string]),
    ),
    work,
  );
  const tlsConf = tlsBlock.replace(
    /(\w+_file): (\S+)/g,
    (_m, k: string) => `${k}: ${JSON.stringify(files[k])}`,
  );
  // The nkeys come from nats-server's environment, as the StatefulSet's envFrom gives them.
  const authConf = config['auth.conf'] as string;
  const wanted = [...authConf.matchAll(/nkey: \$(FLOTILLA_NATS_NKEY_[A-Z0-9_]+)/g)].map(
    (m) => m[1] as string,
  );
  expect(wanted.sort()).toEqual(Object.keys(fromConfigMaps).sort());
  expect(authConf).not.toMatch(/password/);
  nats = await startNats({ extraConfig: `${tlsConf}\n${authConf}`, env: fromConfigMaps });
}, 180_000);

afterAll(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await nats?.dispose();
  if (ca) rmSync(ca.dir, { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the shipped install, run under its own authorization', () => {
  it('the nats-bootstrap Job provisions everything with the admin identity (and again, idempotently)', async () => {
    const job = hub.find((o) => o.kind === 'Job' && o.metadata.name === 'nats-bootstrap') as Obj;
    const c = job.spec.template.spec.containers[0] as Obj;
    expect(c.args.slice(0, 2)).toEqual(['nats', 'bootstrap']);
    const env = { ...podEnv(hub, job, 'nats-bootstrap-x'), FLOTILLA_NATS_URL: nats.url };
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
      const env = podEnv(objs, dep, `${s.deployment}-0`);
      expect(env.FLOTILLA_NATS_PROVISION, 'the install binds only').toBe('false');
      expect(env.FLOTILLA_NATS_PASSWORD, 'no password: an nkey').toBeUndefined();
      expect(env.FLOTILLA_NATS_NKEY_SEED_FILE, 'its seed, mounted').toBeDefined();
      expect(env.FLOTILLA_NATS_TLS_CA_FILE, 'the CA, mounted').toBeDefined();
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
    const env = podEnv(hub, dep, 'console-0');
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
    const feed = startLiveFeed(bus, liveHub, { debug: () => undefined } as never);
    await rawNats(bus).nc.flush();
    // The git-watcher (its own manifest identity) publishes; the console's core subscription on
    // flotilla.v1.> receives it.
    const gw = hub.find((o) => o.kind === 'Deployment' && o.metadata.name === 'git-watcher') as Obj;
    const gwEnv = podEnv(hub, gw, 'git-watcher-0');
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

  it('NATS demands TLS: a plaintext client, or one that does not trust the install CA, is refused', async () => {
    const info = await natsGreeting(nats.url);
    expect(info.tls_required).toBe(true);
    const planner = generated(hub, 'Deployment', 'planner') as Obj;
    const env = podEnv(hub, planner, 'planner-0');
    const seed = readFileSync(env.FLOTILLA_NATS_NKEY_SEED_FILE as string, 'utf8').trim();
    const refused = await connect({
      servers: nats.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
      reconnect: false,
      timeout: 5000,
    }).then(
      async (nc) => {
        await nc.close();
        return 'connected';
      },
      (err: Error) => err.message,
    );
    // The client upgrades as the server asks, then cannot verify the certificate with system roots.
    expect(refused).not.toBe('connected');
    expect(refused).toMatch(/certificate|self.signed|issuer/i);
  }, 60_000);

  it("bundles are sealed: the planner's recipients cover every cluster, and only that cluster's key opens one", async () => {
    const planner = generated(hub, 'Deployment', 'planner') as Obj;
    const config = loadConfig(PlannerConfig, {
      env: { ...podEnv(hub, planner, 'planner-0'), FLOTILLA_CONFIG: '' },
    }) as Obj;
    const recipients = parseRecipients(config.bundles.recipients as string);
    expect([...recipients.keys()].sort()).toEqual([...CLUSTERS].sort());
    const applier = generated(clusterDev, 'Deployment', 'flotilla-applier') as Obj;
    const applierConfig = loadConfig(ApplierConfig, {
      env: podEnv(clusterDev, applier, 'flotilla-applier-0'),
    }) as Obj;
    expect(applierConfig.cluster).toBe('dev');
    const key = sealingPrivateKey(readFileSync(applierConfig.sealing.keyFile as string, 'utf8'));
    const bundle = new TextEncoder().encode('{"objects":[]}');
    const sealed = sealBundle(bundle, recipients.get('dev') as KeyObject, 'dev');
    expect(isSealed(sealed)).toBe(true);
    expect(new TextDecoder().decode(openBundle(sealed, key, 'dev'))).toBe('{"objects":[]}');
    // prod's bundle does not open with dev's key.
    expect(() =>
      openBundle(sealBundle(bundle, recipients.get('prod') as KeyObject, 'prod'), key, 'prod'),
    ).toThrow(/seal/);
  });
});
