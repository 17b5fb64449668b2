import { execFileSync } from 'node:child_process';
import {
  cloneConfigRepo,
  createServiceAccountKubeconfig,
  type FlotillaStack,
  type GitWorkdir,
  natsGreeting,
  startFlotillaStack,
  type TestCluster,
  waitFor,
} from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plannerApi } from './story.ts';

// Two teams, two pipelines, one shared cluster, the whole product (NATS, git daemon, planner,
// git-watcher, registry-watcher, audit-writer, the cluster's applier, a real kube-apiserver).
// Each pipeline names its team's tenant; the applier writes as that tenant's ServiceAccount,
// which may touch ConfigMaps in its own namespace only. The platform team (this test, as
// cluster admin) creates the namespaces, ServiceAccounts and Roles before the teams commit.
// NATS runs with mutual TLS (a test CA): every service verifies the server and presents a client
// certificate, so the whole story below also proves the stack works with TLS on.

const TEAMS = ['shop', 'payments'] as const;

const pipeline = (team: string) => `apiVersion: flotilla.io/v1
kind: Pipeline
metadata:
  name: ${team}
spec:
  owner: team-${team}
  tenant: { namespace: ${team}, serviceAccount: ${team}-deployer }
  stages:
    - name: dev
      clusters: [{ name: dev, path: ${team}/dev }]
`;

const configMap = (namespace: string, name: string, value: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ${name}, namespace: ${namespace} }\ndata: { value: "${value}" }\n`;

interface Live {
  metadata: { resourceVersion: string; labels?: Record<string, string> };
  data?: Record<string, string>;
}

let stack: FlotillaStack;
let cluster: TestCluster;
let work: GitWorkdir;

beforeAll(async () => {
  stack = await startFlotillaStack({
    clusters: ['dev'],
    kwok: false,
    tls: true,
    configFiles: { 'README.md': '# config of two teams\n' },
  });
  cluster = stack.clusters[0] as TestCluster;
  for (const team of TEAMS)
    await createServiceAccountKubeconfig(cluster, {
      namespace: team,
      name: `${team}-deployer`,
      roles: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['*'] }],
    });
  work = await cloneConfigRepo(stack);
}, 600_000);

afterAll(async () => {
  await work?.remove();
  await stack?.stop();
}, 120_000);

/** A ConfigMap as the cluster has it (admin view), or null. */
function live(namespace: string, name: string): Live | null {
  try {
    const out = execFileSync(
      'kubectl',
      ['--kubeconfig', cluster.kubeconfigPath, 'get', 'configmap', name, '-n', namespace, '-o', 'json'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return JSON.parse(out) as Live;
  } catch {
    return null;
  }
}

const waitLive = (namespace: string, name: string, value: string) =>
  waitFor(
    `ConfigMap ${namespace}/${name} = ${value}`,
    async () => (live(namespace, name)?.data?.value === value ? true : undefined),
    { timeoutMs: 180_000, intervalMs: 500 },
  );

async function commit(message: string): Promise<string> {
  const sha = await work.commit(message);
  await work.push();
  return sha;
}

describe('two teams share one cluster, each within its own namespaces', () => {
  it('NATS requires TLS and a client certificate; every service connected that way', async () => {
    const info = await natsGreeting(stack.nats.url);
    expect(info.tls_required).toBe(true);
    expect(info.tls_verify).toBe(true);
    // Ready services: each one holds a verified mutual-TLS connection (there is no other way in).
    expect(stack.natsTls?.certFile).toBeTruthy();
    for (const s of stack.services.values()) expect(s.running).toBe(true);
  });

  it("each team's pipeline delivers into its namespace, as its tenant, into its own inventory", async () => {
    for (const team of TEAMS) {
      await work.writeFile(`pipelines/${team}.yaml`, pipeline(team));
      await work.writeFile(`${team}/dev/settings.yaml`, configMap(team, 'settings', `${team}-1`));
    }
    await commit('two teams: shop and payments');
    for (const team of TEAMS) await waitLive(team, 'settings', `${team}-1`);
    for (const team of TEAMS)
      expect(live(team, 'settings')?.metadata.labels?.['flotilla.io/pipeline']).toBe(team);
    const list = await plannerApi<{ pipelines: Array<{ name: string; tenant: unknown }> }>(
      stack,
      '/pipelines',
    );
    expect(list.body.pipelines).toEqual([
      expect.objectContaining({
        name: 'payments',
        tenant: { namespace: 'payments', serviceAccount: 'payments-deployer' },
      }),
      expect.objectContaining({
        name: 'shop',
        tenant: { namespace: 'shop', serviceAccount: 'shop-deployer' },
      }),
    ]);
  }, 300_000);

  it("shop reaching into payments' namespace is refused per object (403), nothing written", async () => {
    const before = live('payments', 'settings');
    await work.writeFile('shop/dev/settings.yaml', configMap('shop', 'settings', 'shop-2'));
    await work.writeFile('shop/dev/intrude.yaml', configMap('payments', 'shop-was-here', 'x'));
    const sha = await commit('shop: also write into payments');
    type Stages = {
      stages: Array<{
        clusters: Array<{ lastError: { code: string; message: string; revision?: string } | null }>;
      }>;
    };
    const error = await waitFor(
      'the applier to refuse shop’s plan',
      async () => {
        const s = await plannerApi<Stages>(stack, '/pipelines/shop/stages');
        const e = s.body.stages?.[0]?.clusters[0]?.lastError;
        return e && e.revision === sha ? e : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    expect(error.code).toBe('apply.forbidden');
    expect(error.message).toContain('shop-was-here');
    // Nothing of the plan was written: not the intrusion, not shop's own change in the same plan.
    expect(live('payments', 'shop-was-here')).toBeNull();
    expect(live('shop', 'settings')?.data?.value).toBe('shop-1');
    expect(live('payments', 'settings')?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  }, 300_000);

  it("once shop stays in its namespace it delivers again; payments' objects were never touched", async () => {
    const before = live('payments', 'settings');
    await work.removeFile('shop/dev/intrude.yaml');
    await commit('shop: only its own namespace');
    await waitLive('shop', 'settings', 'shop-2');
    expect(live('payments', 'shop-was-here')).toBeNull();
    expect(live('payments', 'settings')?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
    expect(live('payments', 'settings')?.metadata.labels?.['flotilla.io/pipeline']).toBe('payments');
  }, 300_000);
});
