import { execFile } from 'node:child_process';
import { type KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { type BlobStore, Bus, sha256Digest } from '@flotilla/bus';
import { decodeEvent, PlanCreated } from '@flotilla/events';
import { bundleContentDigest, createBundle, encodeBundle, type KubeObject } from '@flotilla/manifests';
import { createLogger } from '@flotilla/runtime';
import {
  EventCollector,
  type NatsServer,
  rawNats,
  startNats,
  startTestClusters,
  type TestCluster,
} from '@flotilla/test-support';
import {
  generateSigningKey,
  type PlanData,
  type SigningKey,
  sealBundle,
  signPlan,
  type TrustedKey,
} from '@flotilla/trust';
import type { Config } from '../src/config.ts';
import { type ApplierHandle, startApplier } from '../src/service.ts';

/** A live object as kubectl returns it. Tests read deep, kind-specific paths (spec.template…), so
 * the JSON stays loosely typed here instead of a cast at every read. */
// biome-ignore lint/suspicious/noExplicitAny: kubectl's JSON, read by path in assertions.
export type LiveObject = Record<string, any>;

const execFileP = promisify(execFile);
export const BUCKET = 'flotilla-bundles';
export const rand = () => randomBytes(3).toString('hex');
export const revisionOf = (n: number) => n.toString(16).padStart(40, 'a');

export interface Harness {
  nats: NatsServer;
  cluster: TestCluster;
  planner: Bus;
  blobs: BlobStore;
  signing: SigningKey;
  trusted: TrustedKey;
  /** SPKI PEM of the trusted key, for appliers started as processes. */
  publicPem: string;
  events: EventCollector;
  config(cluster: string, overrides?: Partial<Config>): Config;
  start(
    cluster: string,
    overrides?: Partial<Config>,
    kubeconfig?: string,
    /** Every log line the applier writes (at debug), to check what it says. */
    logLines?: string[],
  ): Promise<ApplierHandle>;
  /** Renders, stores and publishes a signed plan, as the planner does. */
  publishPlan(cluster: string, objects: KubeObject[], opts: PlanOptions): Promise<PlanData>;
  /** Renders, stores and signs a plan without publishing it (benchmarks time the publish on). */
  stagePlan(cluster: string, objects: KubeObject[], opts: PlanOptions): Promise<PlanData>;
  /** Publishes a staged plan. */
  publishStaged(plan: PlanData): Promise<void>;
  kubectl(...args: string[]): Promise<string>;
  /** Live object via kubectl, or undefined when NotFound. */
  get(kind: string, name: string, namespace?: string): Promise<LiveObject | undefined>;
  stop(): Promise<void>;
}

export interface PlanOptions {
  sequence: number;
  signWith?: SigningKey | null;
  mutate?: (p: PlanData) => PlanData;
  /** Tampering: other bytes stored under the digest of the real bundle. */
  storeInstead?: Uint8Array;
  /** Seal the bundle to this cluster key (as the planner does with `bundles.recipients`). */
  sealTo?: KeyObject;
  /** Changes the sealed bytes before they are stored and signed (a corrupt seal, signed). */
  alterSealed?: (sealed: Uint8Array) => Uint8Array;
  /** A pipeline's plan (signed with it), optionally applied as its tenant. */
  pipeline?: string;
  tenant?: { namespace: string; serviceAccount: string };
  /** The signed content digest: the bundle's by default; null leaves it out (older planners). */
  contentDigest?: string | null;
}

export async function createHarness(opts: { kwok?: boolean } = {}): Promise<Harness> {
  const [nats, [cluster]] = await Promise.all([
    startNats(),
    startTestClusters([`applier-${rand()}`], { kwok: opts.kwok ?? false }),
  ]);
  if (!cluster) throw new Error('no cluster');
  const planner = await Bus.connect({
    servers: nats.url,
    service: 'planner',
    instance: 'test',
    ensureStream: true,
  });
  const blobs = await planner.blobs(BUCKET);
  const key = generateSigningKey('planner-test');
  const events = new EventCollector();
  const sub = rawNats(planner).nc.subscribe('flotilla.v1.>');
  void (async () => {
    for await (const m of sub) {
      try {
        events.push(decodeEvent(m.data, { subject: m.subject }));
      } catch {}
    }
  })();
  const handles: ApplierHandle[] = [];
  const config = (name: string, overrides: Partial<Config> = {}): Config => ({
    instance: `applier-${rand()}`,
    cluster: name,
    nats: { servers: [nats.url] },
    http: { port: 0, host: '127.0.0.1', requestTimeoutMs: 30_000 },
    kube: { kubeconfig: cluster.kubeconfigPath, inCluster: false, parallelism: 8, timeoutMs: 30_000 },
    fieldManager: 'flotilla',
    prune: true,
    drift: { policy: 'correct', intervalMs: 0 },
    health: { timeoutMs: 20_000, pollMs: 300 },
    immutablePolicy: 'fail',
    conflictPolicy: 'force',
    trustedKeys: '',
    requireSignedPlans: true,
    bundles: { bucket: BUCKET },
    sealing: {},
    inventoryNamespace: 'flotilla-system',
    lease: { durationSeconds: 15 },
    consumer: { ackWaitMs: 30_000 },
    pipelineConcurrency: 4,
    ...overrides,
  });
  const kubectl = async (...args: string[]) =>
    (await execFileP('kubectl', ['--kubeconfig', cluster.kubeconfigPath, ...args], { maxBuffer: 64 << 20 }))
      .stdout;
  const stagePlan: Harness['stagePlan'] = async (name, objects, o) => {
    const revision = revisionOf(o.sequence);
    const bundle = createBundle({
      cluster: name,
      revision,
      source: { repo: 'config', path: `clusters/${name}` },
      objects,
    });
    const plain = encodeBundle(bundle);
    const sealed = o.sealTo ? sealBundle(plain, o.sealTo, name) : plain;
    const bytes = o.alterSealed ? o.alterSealed(sealed) : sealed;
    const digest = o.storeInstead ? sha256Digest(bytes) : await blobs.put(bytes);
    if (o.storeInstead) await blobs.store.putBlob({ name: digest }, o.storeInstead);
    const unsigned = {
      ...(o.pipeline ? { pipeline: o.pipeline } : {}),
      ...(o.tenant ? { tenant: o.tenant } : {}),
      planId: `${o.pipeline ? `${o.pipeline}.` : ''}${name}-${o.sequence}-${digest.slice(7, 15)}`,
      cluster: name,
      stage: 'dev',
      repo: 'config',
      revision,
      path: `clusters/${name}`,
      sequence: o.sequence,
      bundle: {
        digest,
        size: bytes.byteLength,
        objects: objects.length,
        bucket: BUCKET,
        // As the planner signs it; `contentDigest: null` leaves it out (a planner from before it).
        ...(o.contentDigest === null
          ? {}
          : { contentDigest: o.contentDigest ?? bundleContentDigest(bundle) }),
      },
      createdAt: new Date().toISOString(),
    };
    let plan: PlanData = o.signWith === null ? unsigned : signPlan(unsigned, o.signWith ?? key.signing);
    if (o.mutate) plan = o.mutate(plan);
    return plan;
  };
  const publishStaged: Harness['publishStaged'] = async (plan) => {
    await planner.publish(PlanCreated, plan, { id: `${plan.planId}-${rand()}` });
  };
  return {
    nats,
    cluster,
    planner,
    blobs,
    signing: key.signing,
    trusted: key.trusted,
    publicPem: key.publicPem,
    events,
    config,
    async start(name, overrides = {}, kubeconfig, logLines) {
      const c = config(name, overrides);
      if (kubeconfig) c.kube.kubeconfig = kubeconfig;
      const logger = logLines
        ? createLogger({
            service: 'cluster-applier',
            level: 'debug',
            destination: { write: (line: string) => void logLines.push(line) },
          })
        : createLogger({ service: 'cluster-applier', level: process.env.TEST_LOG ? 'debug' : 'silent' });
      const h = await startApplier(c, logger, {
        trustedKeys: [key.trusted],
      });
      handles.push(h);
      return h;
    },
    async publishPlan(name, objects, o) {
      const plan = await stagePlan(name, objects, o);
      await publishStaged(plan);
      return plan;
    },
    publishStaged,
    stagePlan,
    kubectl,
    async get(kind, name, namespace) {
      try {
        return JSON.parse(
          await kubectl('get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'json'),
        );
      } catch (err) {
        if (String((err as { stderr?: string }).stderr).includes('NotFound')) return undefined;
        throw err;
      }
    },
    async stop() {
      await Promise.allSettled(handles.map((h) => h.stop()));
      await planner.close().catch(() => {});
      await Promise.allSettled([nats.dispose(), cluster.stop()]);
    },
  };
}

export const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
export const cm = (
  namespace: string,
  name: string,
  data: Record<string, string> = { a: '1' },
  annotations?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, ...(annotations ? { annotations } : {}) },
  data,
});
export const deployment = (
  namespace: string,
  name: string,
  extra: { replicas?: number; image?: string; probe?: boolean } = {},
): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace },
  spec: {
    ...(extra.replicas === undefined ? {} : { replicas: extra.replicas }),
    progressDeadlineSeconds: 600,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: extra.image ?? 'registry.local/app:1.0' }] },
    },
  },
});
