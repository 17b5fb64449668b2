// The rollout story shared by the demo (scripts/demo.ts) and the end-to-end test: push an image,
// watch it flow dev → test → uat, stop for approval at prod, approve, watch prod converge.
// Truth about clusters comes from the clusters themselves, not from the planner's view.

import { type FlotillaStack, pushImage, type TestCluster, waitFor } from '@flotilla/test-support';
import { AppsV1Api } from '@kubernetes/client-node';

export interface StageView {
  name: string;
  locked: unknown;
  revision: string | null;
  images: Array<{ name?: string; repository: string; tag?: string; digest: string }>;
  clusters: Array<{ name: string; health: { status: string } | null; applied: { revision: string } | null }>;
  promotions: Array<{ id: string; status: string; toStage: string; images: Array<{ digest: string }> }>;
}

export async function plannerApi<T>(
  stack: FlotillaStack,
  path: string,
  init: { method?: string; token?: string; body?: unknown } = {},
) {
  const res = await fetch(`${stack.plannerUrl}/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? stack.tokens.approver}`,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as T };
}

export async function stages(stack: FlotillaStack): Promise<StageView[]> {
  const { status, body } = await plannerApi<{ stages: StageView[] }>(stack, '/stages');
  if (status !== 200) throw new Error(`planner /stages answered ${status}: ${JSON.stringify(body)}`);
  return body.stages;
}

/** The image of Deployment shop/web in a cluster, and whether it is Available. */
export async function webDeployment(
  cluster: TestCluster,
): Promise<{ image?: string; available: boolean } | undefined> {
  const api = cluster.kubeConfig.makeApiClient(AppsV1Api);
  try {
    const d = await api.readNamespacedDeployment({ name: 'web', namespace: 'shop' });
    const image = d.spec?.template.spec?.containers.find((c) => c.name === 'web')?.image;
    const available =
      d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True') === true &&
      (d.status?.updatedReplicas ?? 0) === (d.spec?.replicas ?? 1) &&
      (d.status?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
    return { ...(image ? { image } : {}), available };
  } catch {
    return undefined;
  }
}

export async function waitForDigest(
  stack: FlotillaStack,
  clusterName: string,
  digest: string,
  timeoutMs = 240_000,
): Promise<string> {
  const cluster = stack.clusters.find((c) => c.name === clusterName);
  if (!cluster) throw new Error(`no cluster ${clusterName}`);
  return await waitFor(
    `${clusterName} to run ${digest.slice(0, 19)}… and be Available`,
    async () => {
      const d = await webDeployment(cluster);
      return d?.image?.endsWith(`@${digest}`) && d.available ? d.image : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

export async function waitForAwaitingApproval(
  stack: FlotillaStack,
  stage: string,
  digest: string,
  timeoutMs = 240_000,
) {
  return await waitFor(
    `a promotion into ${stage} awaiting approval`,
    async () => {
      const s = (await stages(stack)).find((x) => x.name === stage);
      return s?.promotions.find((p) => p.status === 'awaiting' && p.images.some((i) => i.digest === digest));
    },
    { timeoutMs, intervalMs: 500 },
  );
}

export async function pushRelease(stack: FlotillaStack, tag: string): Promise<string> {
  const pushed = await pushImage(stack.registry, {
    repo: 'shop/web',
    tag,
    content: `web ${tag} ${Date.now()}`,
  });
  return pushed.digest;
}

/**
 * Approves as a client would: a 5xx means the planner is failing over (leader lease moving after a
 * crash or a NATS restart), so try again for a while; 2xx and 4xx are answers.
 */
export async function approve(stack: FlotillaStack, promotionId: string, token: string) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await plannerApi<Record<string, unknown>>(
      stack,
      `/promotions/${encodeURIComponent(promotionId)}/approve`,
      {
        method: 'POST',
        token,
        body: { comment: 'release checklist done' },
      },
    ).catch(() => ({ status: 599, body: {} as Record<string, unknown> }));
    if (res.status < 500 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
