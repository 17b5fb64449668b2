import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startTestClusters, type TestCluster } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { nkeyEnvVar, renderNatsAuthorization } from '../src/nats-auth.ts';
import { SERVICE_CONFIGS, schemaDefault, validEnvNames } from './schema-env.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const kustomize = join(root, 'deploy/kustomize');

// biome-ignore lint/suspicious/noExplicitAny: rendered Kubernetes objects, checked field by field.
type Obj = Record<string, any>;

async function render(dir: string): Promise<Obj[]> {
  const { stdout } = await run('kubectl', ['kustomize', join(kustomize, dir)], { maxBuffer: 32 << 20 });
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj)
    .filter(Boolean);
}

const kinds = (objs: Obj[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();
const find = (objs: Obj[], kind: string, name: string, namespace?: string) =>
  objs.find(
    (o) =>
      o.kind === kind &&
      o.metadata.name === name &&
      (namespace === undefined || o.metadata.namespace === namespace),
  ) as Obj;

const rendered: Record<string, Obj[]> = {};

/** The namespaces the cluster-dev overlay lets the applier write into (bindings and tenants). */
const APPLIER_WRITES_INTO = ['shop', 'shop-jobs', 'payments'];

/** Every install a user runs `kubectl apply -k` on. */
const OVERLAYS = ['overlays/hub', 'overlays/cluster-dev'];

beforeAll(async () => {
  for (const dir of ['base', 'applier', ...OVERLAYS]) rendered[dir] = await render(dir);
});

describe('deploy/kustomize renders', () => {
  it('base: NATS (3 replicas, JetStream, sync always, auth) and the four hub services', () => {
    const objs = rendered.base as Obj[];
    expect(kinds(objs)).toEqual(
      expect.arrayContaining([
        'StatefulSet/nats',
        'Service/nats',
        'Service/nats-headless',
        'Deployment/planner',
        'Deployment/git-watcher',
        'Deployment/registry-watcher',
        'Deployment/audit-writer',
        'Deployment/console',
        'Namespace/flotilla',
      ]),
    );
    expect(find(objs, 'StatefulSet', 'nats').spec.replicas).toBe(3);
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config')) as Obj;
    expect(cm.data['nats.conf']).toMatch(/jetstream \{[^}]*sync_interval: always/s);
    expect(cm.data['nats.conf']).toContain('include ./auth.conf');
    // Every identity signs in by nkey, its public key from the server's environment; no passwords.
    expect(cm.data['auth.conf']).toBe(
      renderNatsAuthorization({ clusters: ['dev', 'test', 'uat', 'prod'], nkeysFromEnv: true }),
    );
    expect(cm.data['auth.conf']).not.toMatch(/password/);
  });

  it("NATS: client TLS with the Secret's certificate, routes over verified mutual TLS, nkeys from a ConfigMap", () => {
    const objs = rendered.base as Obj[];
    const conf = (
      objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('nats-config')) as Obj
    ).data['nats.conf'] as string;
    const clientTls = /^tls \{\n([\s\S]*?)^\}$/m.exec(conf)?.[1] ?? '';
    for (const f of [
      'cert_file: /etc/nats/tls/tls.crt',
      'key_file: /etc/nats/tls/tls.key',
      'ca_file: /etc/nats/tls/ca.crt',
    ])
      expect(clientTls).toContain(f);
    const cluster = /^cluster \{\n([\s\S]*?)^\}$/m.exec(conf)?.[1] ?? '';
    const routeTls = /tls \{([^}]*)\}/.exec(cluster)?.[1] ?? '';
    expect(routeTls).toContain('cert_file: /etc/nats/tls/tls.crt');
    expect(routeTls).toContain('ca_file: /etc/nats/tls/ca.crt');
    expect(routeTls).toMatch(/verify: true/);
    // Route authentication: the peer's certificate must name one of the listed routes.
    expect(routeTls).toMatch(/verify_cert_and_check_known_urls: true/);
    const sts = find(objs, 'StatefulSet', 'nats');
    const pod = sts.spec.template.spec;
    const tlsMount = (pod.containers[0].volumeMounts as Obj[]).find(
      (m) => m.mountPath === '/etc/nats/tls',
    ) as Obj;
    expect((pod.volumes as Obj[]).find((v) => v.name === tlsMount.name)?.secret?.secretName).toBe(
      'flotilla-nats-tls',
    );
    expect(pod.containers[0].envFrom).toEqual([{ configMapRef: { name: 'flotilla-nats-nkeys' } }]);
  });

  it('every NATS client signs in by nkey (only its own seed mounted) and verifies the server against the CA', () => {
    const clients = [
      ...(rendered['overlays/hub'] as Obj[]),
      ...(rendered['overlays/cluster-dev'] as Obj[]),
    ].filter((o) => (o.kind === 'Deployment' || o.kind === 'Job') && o.metadata.name !== 'nats');
    expect(kinds(clients)).toHaveLength(7);
    for (const w of clients) {
      const name = `${w.kind}/${w.metadata.name}`;
      const pod = w.spec.template.spec;
      const c = pod.containers[0] as Obj;
      const env = Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e]));
      expect(env.FLOTILLA_NATS_PASSWORD, name).toBeUndefined();
      const mounted = (path: string) => {
        const m = (c.volumeMounts as Obj[]).find((v) => path.startsWith(`${v.mountPath}/`)) as Obj;
        expect(m, `${name}: ${path} is mounted`).toBeDefined();
        const secret = (pod.volumes as Obj[]).find((v) => v.name === m.name)?.secret as Obj;
        return {
          secret: secret.secretName as string,
          items: secret.items as Obj[],
          file: path.slice(m.mountPath.length + 1),
        };
      };
      const seed = mounted(env.FLOTILLA_NATS_NKEY_SEED_FILE?.value);
      const ca = mounted(env.FLOTILLA_NATS_TLS_CA_FILE?.value);
      // Exactly one seed in the pod: its own.
      expect(
        seed.items.filter((i) => String(i.path).endsWith('.nk')).map((i) => i.path),
        name,
      ).toEqual([seed.file]);
      expect(
        ca.items.map((i) => i.key),
        name,
      ).toContain('ca.crt');
      if (w.metadata.name === 'flotilla-applier') {
        expect(seed.secret.startsWith('flotilla-applier-nats'), name).toBe(true);
      } else {
        expect(seed.secret.startsWith('flotilla-nats-seeds'), name).toBe(true);
        // The TLS Secret holds the server's key; a client pod projects only ca.crt from it.
        expect(ca.items, name).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
        const user = w.kind === 'Job' ? 'admin' : env.FLOTILLA_NATS_USER?.value;
        expect(seed.file, name).toBe(`${user}.nk`);
      }
    }
  });

  it('bundles are sealed: the planner has a recipient per cluster, the applier its sealing key', () => {
    const hub = rendered['overlays/hub'] as Obj[];
    const planner = find(hub, 'Deployment', 'planner').spec.template.spec.containers[0].env as Obj[];
    const ref = planner.find((e) => e.name === 'FLOTILLA_BUNDLES_RECIPIENTS')?.valueFrom?.configMapKeyRef;
    const cm = hub.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref?.name) as Obj;
    expect(cm, 'the recipients ConfigMap').toBeDefined();
    const clusters = (cm.data[ref.key] as string).split(',').map((e) => e.split('=')[0]);
    expect(clusters.sort()).toEqual(['dev', 'prod', 'test', 'uat']);
    const dev = rendered['overlays/cluster-dev'] as Obj[];
    const pod = find(dev, 'Deployment', 'flotilla-applier').spec.template.spec;
    const keyFile = (pod.containers[0].env as Obj[]).find((e) => e.name === 'FLOTILLA_SEALING_KEY_FILE')
      ?.value as string;
    const m = (pod.containers[0].volumeMounts as Obj[]).find((v) =>
      keyFile.startsWith(`${v.mountPath}/`),
    ) as Obj;
    const secret = (pod.volumes as Obj[]).find((v) => v.name === m.name)?.secret?.secretName as string;
    expect(secret.startsWith('flotilla-applier-sealing-key')).toBe(true);
    expect(
      Object.keys(dev.find((o) => o.kind === 'Secret' && o.metadata.name === secret)?.data ?? {}),
    ).toContain(keyFile.slice(m.mountPath.length + 1));
  });

  it('deploy/nats/nats-auth.conf is the same rendering (one source)', () => {
    expect(readFileSync(join(root, 'deploy/nats/nats-auth.conf'), 'utf8')).toBe(
      renderNatsAuthorization({ clusters: ['dev', 'test', 'uat', 'prod'] }),
    );
  });

  it('every Deployment: probes, non-root, resources, and only env vars its config schema knows', () => {
    const deployments = [...(rendered.base as Obj[]), ...(rendered.applier as Obj[])].filter(
      (o) => o.kind === 'Deployment',
    );
    expect(deployments).toHaveLength(6);
    for (const d of deployments) {
      const service = d.metadata.labels['app.kubernetes.io/name'] as string;
      const schema = SERVICE_CONFIGS[service];
      expect(schema, service).toBeDefined();
      const pod = d.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, service).toBe(true);
      const c = (pod.containers as Obj[])[0] as Obj;
      expect(c.readinessProbe.httpGet.path, service).toBe('/readyz');
      expect(c.livenessProbe.httpGet.path, service).toBe('/healthz');
      expect(c.securityContext.allowPrivilegeEscalation, service).toBe(false);
      expect(c.resources.requests.memory, service).toBeDefined();
      const valid = validEnvNames(schema as never);
      const env = (c.env as Obj[]).map((e) => e.name as string);
      expect(
        env.filter((n) => !valid.has(n)),
        service,
      ).toEqual([]);
      const port = Number((c.env as Obj[]).find((e) => e.name === 'FLOTILLA_HTTP_PORT')?.value);
      expect(c.ports[0].containerPort, service).toBe(port);
      expect(port, service).toBe(schemaDefault(schema as never, ['http', 'port']));
    }
  });

  it('applier: namespace, service account, 2 replicas, least-privilege RBAC, secrets for NATS and plan keys', () => {
    const objs = rendered.applier as Obj[];
    expect(find(objs, 'Namespace', 'flotilla-system')).toBeDefined();
    const dep = find(objs, 'Deployment', 'flotilla-applier');
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.template.spec.serviceAccountName).toBe('flotilla-applier');
    const refs = JSON.stringify(dep.spec.template.spec);
    expect(refs).toContain('flotilla-applier-nats');
    expect(refs).toContain('flotilla-trusted-plan-keys');
    const deploy = find(objs, 'ClusterRole', 'flotilla-applier-deploy');
    const resources = (deploy.rules as Obj[]).flatMap((r) => r.resources as string[]);
    for (const forbidden of [
      'roles',
      'rolebindings',
      'clusterroles',
      'clusterrolebindings',
      'customresourcedefinitions',
      'namespaces',
      '*',
    ])
      expect(resources).not.toContain(forbidden);
    for (const r of deploy.rules as Obj[]) expect(r.verbs).not.toContain('*');
    // bound per namespace only, never cluster-wide
    const bindings = objs.filter((o) => o.roleRef?.name === 'flotilla-applier-deploy');
    expect(bindings.map((b) => b.kind)).toEqual(['RoleBinding']);
    const read = find(objs, 'ClusterRole', 'flotilla-applier-read');
    expect((read.rules as Obj[]).flatMap((r) => r.verbs as string[]).sort()).toEqual([
      'get',
      'list',
      'watch',
    ]);
  });

  it('Flotilla namespaces and every namespace the applier writes into enforce, warn and audit Pod Security `restricted`', () => {
    const namespaces = [
      ...(rendered['overlays/hub'] as Obj[]),
      ...(rendered['overlays/cluster-dev'] as Obj[]),
    ].filter((o) => o.kind === 'Namespace');
    expect(namespaces.map((n) => n.metadata.name).sort()).toEqual(
      ['flotilla', 'flotilla-system', ...APPLIER_WRITES_INTO].sort(),
    );
    for (const ns of namespaces)
      for (const mode of ['enforce', 'warn', 'audit'])
        expect(ns.metadata.labels[`pod-security.kubernetes.io/${mode}`], `${ns.metadata.name} ${mode}`).toBe(
          'restricted',
        );
  });

  it('every pod template satisfies `restricted`: non-root, RuntimeDefault seccomp, no caps, read-only root', () => {
    const workloads = [...(rendered.base as Obj[]), ...(rendered.applier as Obj[])].filter(
      (o) => o.spec?.template?.spec,
    );
    expect(kinds(workloads)).toEqual(
      expect.arrayContaining(['Job/nats-bootstrap', 'StatefulSet/nats', 'Deployment/flotilla-applier']),
    );
    for (const w of workloads) {
      const name = `${w.kind}/${w.metadata.name}`;
      const pod = w.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot, name).toBe(true);
      expect(pod.securityContext.runAsUser, name).toBeGreaterThan(0);
      expect(pod.securityContext.seccompProfile, name).toEqual({ type: 'RuntimeDefault' });
      for (const host of ['hostNetwork', 'hostPID', 'hostIPC']) expect(pod[host], name).toBeUndefined();
      expect(
        (pod.volumes ?? []).filter((v: Obj) => v.hostPath),
        name,
      ).toEqual([]);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers] as Obj[]) {
        expect(c.securityContext, `${name} ${c.name}`).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('network policies: default-deny ingress per namespace, each pod reachable only on the ports it serves', () => {
    for (const [dir, namespace] of [
      ['base', 'flotilla'],
      ['applier', 'flotilla-system'],
    ] as const) {
      const objs = rendered[dir] as Obj[];
      const policies = objs.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === namespace);
      for (const p of policies) expect(p.metadata.namespace, p.metadata.name).toBe(namespace);
      const denyAll = policies.filter(
        (p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress && !p.spec.egress,
      );
      expect(denyAll, dir).toHaveLength(1);
      expect(denyAll[0]?.spec.policyTypes, dir).toContain('Ingress');
      for (const w of objs.filter((o) => o.spec?.template?.spec?.containers?.some((c: Obj) => c.ports))) {
        const app = w.spec.template.metadata.labels['app.kubernetes.io/name'] as string;
        const served = (w.spec.template.spec.containers as Obj[]).flatMap((c) =>
          (c.ports as Obj[]).map((p) => p.containerPort as number),
        );
        const allow = policies.filter(
          (p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === app,
        );
        expect(allow, app).toHaveLength(1);
        const opened = ((allow[0] as Obj).spec.ingress as Obj[]).flatMap((r) =>
          (r.ports as Obj[]).map((p) => p.port),
        );
        expect([...new Set(opened)].sort(), app).toEqual([...new Set(served)].sort());
      }
    }
    // NATS routes only between NATS pods.
    const nats = find(rendered.base as Obj[], 'NetworkPolicy', 'nats-ingress');
    const routes = (nats.spec.ingress as Obj[]).find((r) => r.ports.some((p: Obj) => p.port === 6222)) as Obj;
    expect(routes.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'nats' } } }]);
    // The applier's namespace also denies egress; the applier may reach DNS, NATS and the apiserver only.
    const applier = rendered.applier as Obj[];
    expect(find(applier, 'NetworkPolicy', 'default-deny').spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const egress = find(applier, 'NetworkPolicy', 'flotilla-applier').spec.egress as Obj[];
    expect(egress.flatMap((r) => (r.ports as Obj[]).map((p) => `${p.protocol}/${p.port}`)).sort()).toEqual(
      ['TCP/443', 'TCP/4222', 'TCP/53', 'TCP/6443', 'UDP/53'].sort(),
    );
    const dns = egress.find((r) => r.ports.some((p: Obj) => p.port === 53)) as Obj;
    expect(dns.to).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
    ]);
  });

  it('every namespace the applier writes into denies all traffic but DNS until its team opens more', () => {
    const dev = rendered['overlays/cluster-dev'] as Obj[];
    // Where the applier may write: its per-namespace deploy bindings and its tenants' namespaces.
    const bound = dev
      .filter((o) => o.kind === 'RoleBinding' && o.subjects.some((s: Obj) => s.name === 'flotilla-applier'))
      .map((o) => o.metadata.namespace as string)
      .filter((ns) => ns !== 'flotilla-system');
    expect([...new Set(bound)].sort()).toEqual([...APPLIER_WRITES_INTO].sort());
    for (const ns of APPLIER_WRITES_INTO) {
      const policies = dev.filter((o) => o.kind === 'NetworkPolicy' && o.metadata.namespace === ns);
      const deny = policies.find((p) => p.metadata.name === 'default-deny') as Obj;
      expect(deny?.spec, ns).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
      // Nothing else opens ingress; egress only to DNS in kube-system.
      for (const p of policies) expect(p.spec.ingress, `${ns} ${p.metadata.name}`).toBeUndefined();
      const egress = policies.flatMap((p) => (p.spec.egress ?? []) as Obj[]);
      expect(
        egress.flatMap((r) => (r.ports as Obj[]).map((p) => `${p.protocol}/${p.port}`)).sort(),
        ns,
      ).toEqual(['TCP/53', 'UDP/53']);
      for (const r of egress)
        expect(r.to, ns).toEqual([
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
        ]);
    }
  });

  it('applier RBAC: no wildcards anywhere; impersonate only on named tenant ServiceAccounts, per namespace', () => {
    const dev = rendered['overlays/cluster-dev'] as Obj[];
    const isApplier = (s: Obj) => s.kind === 'ServiceAccount' && s.name === 'flotilla-applier';
    const roleRefs = dev
      .filter(
        (o) => (o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') && o.subjects.some(isApplier),
      )
      .map((b) => ({
        kind: b.roleRef.kind as string,
        name: b.roleRef.name as string,
        ns: b.metadata.namespace,
      }));
    const roles = dev.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole');
    expect(roles.length).toBeGreaterThan(0);
    for (const role of roles)
      for (const r of role.rules as Obj[])
        for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'])
          expect(r[field] ?? [], `${role.metadata.name} ${field}`).not.toContainEqual(
            expect.stringMatching(/\*/),
          );
    const impersonating = roleRefs.flatMap((ref) => {
      const role = find(roles, ref.kind, ref.name, ref.kind === 'Role' ? ref.ns : undefined);
      return (role.rules as Obj[])
        .filter((r) => r.verbs.includes('impersonate'))
        .map((r) => ({ kind: role.kind, ns: role.metadata.namespace, ...r }));
    });
    expect(impersonating).toEqual([
      {
        kind: 'Role',
        ns: 'payments',
        apiGroups: [''],
        resources: ['serviceaccounts'],
        resourceNames: ['payments-deployer'],
        verbs: ['impersonate'],
      },
    ]);
    // Nothing in the tenant's namespace but the impersonation.
    expect(roleRefs.filter((r) => r.ns === 'payments')).toEqual([
      { kind: 'Role', name: 'flotilla-applier-impersonate', ns: 'payments' },
    ]);
  });

  it('overlays: hub generates its secrets; cluster-dev targets dev and namespaces shop and shop-jobs', () => {
    const hub = rendered['overlays/hub'] as Obj[];
    const generatedNames = (kind: string) =>
      hub.filter((o) => o.kind === kind).map((o) => o.metadata.name.replace(/-[a-z0-9]{10}$/, ''));
    expect(generatedNames('Secret')).toEqual(
      expect.arrayContaining([
        'flotilla-nats-seeds',
        'flotilla-nats-tls',
        'flotilla-api-tokens',
        'flotilla-planner-signing-key',
      ]),
    );
    expect(generatedNames('Secret')).not.toContain('flotilla-nats-passwords');
    // A public nkey for every identity of the authorization.
    const nkeys = hub.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('flotilla-nats-nkeys'),
    );
    const users = [
      ...readFileSync(join(root, 'deploy/nats/nats-auth.conf'), 'utf8').matchAll(/user: "([^"]+)"/g),
    ].map((m) => nkeyEnvVar(m[1] as string));
    expect(Object.keys(nkeys?.data ?? {}).sort()).toEqual(users.sort());
    const tls = hub.find((o) => o.kind === 'Secret' && o.metadata.name.startsWith('flotilla-nats-tls'));
    expect(Object.keys(tls?.data ?? {}).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    const dev = rendered['overlays/cluster-dev'] as Obj[];
    const env = find(dev, 'Deployment', 'flotilla-applier').spec.template.spec.containers[0].env as Obj[];
    expect(env.find((e) => e.name === 'FLOTILLA_CLUSTER')?.value).toBe('dev');
    expect(
      dev
        .filter(
          (o) =>
            o.kind === 'RoleBinding' &&
            o.roleRef.name === 'flotilla-applier-deploy' &&
            o.subjects.some((s: Obj) => s.name === 'flotilla-applier'),
        )
        .map((o) => o.metadata.namespace)
        .sort(),
    ).toEqual(['shop', 'shop-jobs']);
  });
});

describe('images', () => {
  const pinned = /^ghcr\.io\/flotilla\/[a-z-]+@sha256:[0-9a-f]{64}$/;
  const images = (objs: Obj[]) =>
    objs.flatMap((o) => {
      const pod = o.spec?.template?.spec;
      return pod ? [...(pod.initContainers ?? []), ...pod.containers].map((c: Obj) => c.image as string) : [];
    });

  it('every overlay pulls each Flotilla image by digest, one digest per image across overlays', () => {
    const byName = new Map<string, Set<string>>();
    for (const overlay of OVERLAYS) {
      const flotilla = images(rendered[overlay] as Obj[]).filter((i) => i.startsWith('ghcr.io/flotilla/'));
      expect(flotilla.length, overlay).toBeGreaterThan(0);
      for (const image of flotilla) {
        expect(image, overlay).toMatch(pinned);
        const [name, digest] = image.split('@') as [string, string];
        byName.set(name, (byName.get(name) ?? new Set()).add(digest));
      }
    }
    for (const [name, digests] of byName) expect([...digests], name).toHaveLength(1);
    // The hub runs NATS, every hub service and the console; a cluster overlay runs the applier.
    expect([...byName.keys()].sort()).toEqual(
      [
        'audit-writer',
        'cluster-applier',
        'console',
        'git-watcher',
        'nats',
        'planner',
        'registry-watcher',
      ].map((s) => `ghcr.io/flotilla/${s}`),
    );
  });

  it('references no image by tag alone: NATS too is pinned by digest', () => {
    for (const overlay of OVERLAYS)
      for (const image of images(rendered[overlay] as Obj[]))
        expect(image, overlay).toMatch(/@sha256:[0-9a-f]{64}$/);
  });
});

describe('on a real apiserver', () => {
  let cluster: TestCluster;
  let saKubeconfig: string;
  const kubectl = (args: string[], kubeconfig = cluster.kubeconfigPath, stdin?: Obj) => {
    const child = run('kubectl', ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 16 << 20 });
    if (stdin) child.child.stdin?.end(JSON.stringify(stdin));
    return child;
  };

  beforeAll(async () => {
    [cluster] = (await startTestClusters(['rbac'], { kwok: false })) as [TestCluster];
    for (const ns of ['shop', 'shop-jobs', 'payments', 'other']) await kubectl(['create', 'namespace', ns]);
    // The overlay minus its Deployment (no nodes here): namespace, SA, RBAC, secrets.
    const objs = (rendered['overlays/cluster-dev'] as Obj[]).filter((o) => o.kind !== 'Deployment');
    const file = join(cluster.dataDir, 'applier-rbac.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }));
    await kubectl(['apply', '--server-side', '--field-manager=flotilla-install', '-f', file]);
    const { stdout: token } = await kubectl(['create', 'token', 'flotilla-applier', '-n', 'flotilla-system']);
    const ca = cluster.kubeConfig.getCurrentCluster()?.caData ?? '';
    saKubeconfig = join(cluster.dataDir, 'kubeconfig-flotilla-applier');
    writeFileSync(
      saKubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'rbac', cluster: { server: cluster.server, 'certificate-authority-data': ca } }],
        users: [{ name: 'applier', user: { token: token.trim() } }],
        contexts: [{ name: 'applier', context: { cluster: 'rbac', user: 'applier' } }],
        'current-context': 'applier',
      }),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const configMap = (ns: string) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'probe', namespace: ns },
      data: { a: 'b' },
    });

  async function applyAsApplier(ns: string): Promise<string> {
    const file = join(cluster.dataDir, `cm-${ns}.json`);
    writeFileSync(file, configMap(ns));
    try {
      const { stdout } = await kubectl(
        ['apply', '--server-side', '--field-manager=flotilla', '-f', file],
        saKubeconfig,
      );
      return stdout;
    } catch (err) {
      return `ERROR ${(err as { stderr?: string }).stderr ?? String(err)}`;
    }
  }

  // Install order (README): namespaces first (a server-side dry run of an object in a namespace
  // that does not exist yet is refused), then the overlay. The apiserver runs every admission
  // and validation step of a real apply, schema and immutable fields included, without storing.
  it.each(OVERLAYS)(
    'kubectl apply --server-side --dry-run=server -k %s is accepted by the apiserver',
    async (overlay) => {
      const objs = rendered[overlay] as Obj[];
      for (const ns of objs.filter((o) => o.kind === 'Namespace'))
        await kubectl(
          ['apply', '--server-side', '--field-manager=flotilla-install', '-f', '-'],
          undefined,
          ns,
        );
      const { stdout, stderr } = await kubectl([
        'apply',
        '--server-side',
        '--field-manager=flotilla-install',
        '--dry-run=server',
        '-k',
        join(kustomize, overlay),
      ]);
      // The namespaces warn at `restricted`: a pod template that would be refused shows up here.
      expect(stderr).not.toMatch(/PodSecurity/);
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(objs.length);
      for (const line of lines) expect(line).toMatch(/ serverside-applied \(server dry run\)$/);
      for (const d of objs.filter((o) => o.kind === 'Deployment'))
        expect(stdout).toContain(`deployment.apps/${d.metadata.name} serverside-applied`);
    },
  );

  it('Pod Security admission is live: a root pod is refused in the Flotilla namespaces and those the applier writes into', async () => {
    for (const namespace of ['flotilla', 'flotilla-system', ...APPLIER_WRITES_INTO]) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'root', namespace },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      };
      const err = await kubectl(
        ['apply', '--server-side', '--dry-run=server', '-f', '-'],
        undefined,
        pod,
      ).then(
        () => 'accepted',
        (e: { stderr?: string }) => e.stderr ?? '',
      );
      expect(err, namespace).toMatch(/violates PodSecurity "restricted:latest"/);
    }
  });

  it('the applier ServiceAccount can server-side apply into allowed namespaces', async () => {
    expect(await applyAsApplier('shop')).toContain('configmap/probe serverside-applied');
    expect(await applyAsApplier('shop-jobs')).toContain('configmap/probe serverside-applied');
  });

  it('and is forbidden everywhere else', async () => {
    for (const ns of ['other', 'kube-system', 'default'])
      expect(await applyAsApplier(ns)).toMatch(/ERROR.*forbidden/is);
  });

  it('can-i: bookkeeping yes, escalation no', async () => {
    const can = async (...args: string[]) => {
      try {
        return (await kubectl(['auth', 'can-i', ...args], saKubeconfig)).stdout.trim();
      } catch (err) {
        return ((err as { stdout?: string }).stdout ?? '').trim();
      }
    };
    expect(await can('patch', 'deployments.apps', '-n', 'shop')).toBe('yes');
    expect(await can('delete', 'deployments.apps', '-n', 'shop')).toBe('yes');
    expect(await can('patch', 'deployments.apps', '-n', 'other')).toBe('no');
    expect(await can('update', 'leases.coordination.k8s.io', '-n', 'flotilla-system')).toBe('yes');
    expect(await can('create', 'configmaps', '-n', 'flotilla-system')).toBe('yes');
    expect(await can('get', 'namespaces')).toBe('yes');
    expect(await can('create', 'namespaces')).toBe('no');
    expect(await can('create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'shop')).toBe('no');
    expect(await can('create', 'clusterroles.rbac.authorization.k8s.io')).toBe('no');
    expect(await can('get', 'secrets', '-n', 'kube-system')).toBe('no');
  });

  it('tenant: the applier may only impersonate its ServiceAccount, whose RBAC then decides', async () => {
    const can = async (...args: string[]) => {
      try {
        return (await kubectl(['auth', 'can-i', ...args], saKubeconfig)).stdout.trim();
      } catch (err) {
        return ((err as { stdout?: string }).stdout ?? '').trim();
      }
    };
    const tenant = 'system:serviceaccount:payments:payments-deployer';
    expect(await can('impersonate', 'serviceaccounts/payments-deployer', '-n', 'payments')).toBe('yes');
    expect(await can('impersonate', 'serviceaccounts/default', '-n', 'payments')).toBe('no');
    expect(await can('impersonate', 'serviceaccounts/flotilla-applier', '-n', 'flotilla-system')).toBe('no');
    expect(await can('impersonate', 'users/admin')).toBe('no');
    expect(await can('impersonate', 'groups/system:masters')).toBe('no');
    // Its own identity has no rights in the tenant's namespace; the tenant's has, there only.
    expect(await can('patch', 'deployments.apps', '-n', 'payments')).toBe('no');
    expect(await can('patch', 'deployments.apps', '-n', 'payments', `--as=${tenant}`)).toBe('yes');
    expect(await can('patch', 'deployments.apps', '-n', 'shop', `--as=${tenant}`)).toBe('no');
    expect(
      await can('create', 'rolebindings.rbac.authorization.k8s.io', '-n', 'payments', `--as=${tenant}`),
    ).toBe('no');
  });
});
