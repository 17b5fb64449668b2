import type { KubeObject } from '@flotilla/manifests';

/**
 * The MTTP shape (Flux's published benchmark): `apps` × (Deployment with replicas 0,
 * ServiceAccount, Service, Ingress) spread over `namespaces` namespaces `<prefix>-<i>`. Shared by
 * bench/applier/mttp.ts (speed) and bench/runtime/applier-peak.ts (memory).
 */
export function mttpObjects(prefix: string, apps: number, namespaces: number): KubeObject[] {
  const out: KubeObject[] = [];
  for (let i = 0; i < apps; i++) {
    const namespace = `${prefix}-${i % namespaces}`;
    const name = `app-${i}`;
    const labels = { app: name };
    out.push(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels },
        spec: {
          replicas: 0,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: name,
              containers: [
                { name: 'app', image: `registry.local/${name}:1.0.0`, ports: [{ containerPort: 8080 }] },
              ],
            },
          },
        },
      },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace, labels } },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace, labels },
        // Headless: the test cluster's service CIDR is a /24, too small for 1000 ClusterIPs per side and run.
        spec: { clusterIP: 'None', selector: labels, ports: [{ port: 80, targetPort: 8080 }] },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name, namespace, labels },
        spec: {
          rules: [
            {
              host: `${name}.example.com`,
              http: {
                paths: [
                  { path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } },
                ],
              },
            },
          ],
        },
      },
    );
  }
  return out;
}

/** Kind → collection path of the four MTTP kinds (built-ins: no discovery needed for raw requests). */
const COLLECTIONS: Record<string, string> = {
  Deployment: '/apis/apps/v1/namespaces/NS/deployments',
  ServiceAccount: '/api/v1/namespaces/NS/serviceaccounts',
  Service: '/api/v1/namespaces/NS/services',
  Ingress: '/apis/networking.k8s.io/v1/namespaces/NS/ingresses',
};

/** The server-side apply path of one MTTP object, for raw requests (query not included). */
export function mttpObjectPath(o: KubeObject): string {
  return `${(COLLECTIONS[o.kind] as string).replace('NS', o.metadata.namespace as string)}/${o.metadata.name}`;
}
