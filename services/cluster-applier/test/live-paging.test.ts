import { randomBytes } from 'node:crypto';
import { CORE_RESOURCES, KubeClient, mapLimit } from '@flotilla/kube';
import { refKey } from '@flotilla/manifests';
import { startTestClusters, type TestCluster } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INVENTORY_LABEL } from '../src/desired.ts';
import { LiveState, METADATA_PAGE } from '../src/live-state.ts';

// Paged live reads (#17): the applier reads live objects one LIST page at a time and keeps only
// what it needs of each, so every object must arrive exactly once, across pages and namespaces.

let cluster: TestCluster;
let client: KubeClient;
const rand = () => randomBytes(3).toString('hex');

beforeAll(async () => {
  const [c] = await startTestClusters([`paging-${rand()}`], { kwok: false });
  if (!c) throw new Error('no cluster');
  cluster = c;
  client = await KubeClient.connect({ kubeconfigPath: cluster.kubeconfigPath, inCluster: false });
});
afterAll(async () => {
  await client?.close();
  await cluster?.stop();
});

async function configMaps(namespace: string, count: number, labels: Record<string, string>) {
  await client.apply(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    CORE_RESOURCES.namespace,
  );
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    8,
    (i) =>
      client.apply(
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${i}`, namespace, labels },
          data: { i: `${i}` },
        },
        CORE_RESOURCES.configMap,
      ),
  );
}

describe('paged live reads', () => {
  it('listEach hands over every object once, a page at a time, with apiVersion and kind restored', async () => {
    const namespace = `pages-${rand()}`;
    await configMaps(namespace, 10, { paged: 'yes' });
    const pages: string[][] = [];
    await client.listEach(
      CORE_RESOURCES.configMap,
      { namespace, labelSelector: 'paged=yes', pageSize: 3 },
      (items) => {
        for (const item of items) {
          expect(item.apiVersion).toBe('v1');
          expect(item.kind).toBe('ConfigMap');
        }
        pages.push(items.map((o) => o.metadata.name));
      },
    );
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    expect(pages.flat().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `cm-${i}`).sort());
    // list() is the same pages gathered.
    const all = await client.list(CORE_RESOURCES.configMap, {
      namespace,
      labelSelector: 'paged=yes',
      pageSize: 4,
    });
    expect(all.map((o) => o.metadata.name).sort()).toEqual(pages.flat().sort());
  });

  it("LiveState.forEach sees each of our objects once across namespaces, and nothing of another inventory's", async () => {
    const inventory = `inv-${rand()}`;
    const [a, b] = [`live-a-${rand()}`, `live-b-${rand()}`];
    // More than one page of metadata in one namespace, so the paging is really exercised.
    const many = METADATA_PAGE + 20;
    await configMaps(a, many, { [INVENTORY_LABEL]: inventory });
    await configMaps(b, 5, { [INVENTORY_LABEL]: inventory });
    const other = `other-${rand()}`;
    await client.apply(
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'foreign', namespace: b, labels: { [INVENTORY_LABEL]: other } },
      },
      CORE_RESOURCES.configMap,
    );
    const live = new LiveState(client, inventory, 4);
    const wanted = [
      { info: CORE_RESOURCES.configMap, ref: { namespace: a } },
      { info: CORE_RESOURCES.configMap, ref: { namespace: b } },
    ];
    const seen = new Map<string, number>();
    await live.forEach(wanted, { metadataOnly: true }, (key) => seen.set(key, (seen.get(key) ?? 0) + 1));
    expect(seen.size).toBe(many + 5);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(seen.has(refKey({ group: '', kind: 'ConfigMap', namespace: a, name: `cm-${many - 1}` }))).toBe(
      true,
    );
    expect(seen.has(refKey({ group: '', kind: 'ConfigMap', namespace: b, name: 'foreign' }))).toBe(false);
  });
});
