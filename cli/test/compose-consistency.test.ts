import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Program, programNodeArgs } from '@flotilla/test-support';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SERVICE_CONFIGS, schemaDefault, validEnvNames } from './schema-env.ts';

// docker-compose.yml and the Dockerfile are checked against the config schemas here, without
// containers: every service, variable and port they use must exist in that service's config
// schema. (scripts/images.sh --smoke builds and runs the images themselves with podman.)

const root = resolve(import.meta.dirname, '../..');

interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  environment?: Record<string, string>;
  ports?: string[];
  command?: string[];
  volumes?: string[];
}
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
// Services built from the Dockerfile, except the one-shot ones (the CLI and init in the planner image).
const flotilla = Object.entries(compose.services).filter(
  ([name, s]) => s.build && name !== 'nats-bootstrap' && name !== 'init',
);
/** Set by Kubernetes in every pod; the applier's in-cluster path reads them. */
const KUBE_ENV = new Set(['KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']);

describe('docker-compose.yml', () => {
  it('builds every Flotilla service from its target of the one Dockerfile', () => {
    expect(flotilla.map(([name]) => name).sort()).toEqual(Object.keys(SERVICE_CONFIGS).sort());
    for (const [name, s] of flotilla) expect(s.build?.target).toBe(name);
  });

  it("uses only environment variables the service's config schema defines", () => {
    for (const [name, s] of flotilla) {
      const valid = validEnvNames(SERVICE_CONFIGS[name] as never);
      const unknown = Object.keys(s.environment ?? {}).filter((k) => !valid.has(k) && !KUBE_ENV.has(k));
      expect(unknown, name).toEqual([]);
    }
  });

  it('publishes the port the service listens on, which is its config default', () => {
    for (const [name, s] of flotilla) {
      const schema = SERVICE_CONFIGS[name] as never;
      const listen = Number(s.environment?.FLOTILLA_HTTP_PORT);
      expect(listen, name).toBe(schemaDefault(schema, ['http', 'port']));
      const containerPorts = (s.ports ?? []).map((p) => Number(p.split(':').pop()));
      expect(containerPorts, name).toContain(listen);
    }
  });

  it('runs NATS with JetStream and sync_interval always', () => {
    const nats = compose.services.nats as ComposeService;
    const mount = nats.volumes?.find((v) => v.endsWith(':/etc/nats/nats.conf:ro')) ?? '';
    const conf = readFileSync(join(root, mount.split(':')[0] ?? ''), 'utf8');
    expect(conf).toMatch(/jetstream \{[^}]*sync_interval: always/s);
    for (const infra of ['git', 'registry']) expect(compose.services[infra], infra).toBeDefined();
    expect(compose.services.registry?.image).toMatch(/:-registry:2\}$/);
  });

  it('runs the NATS image by digest, the one the install pins (scripts/images.sh --pin)', () => {
    const image = /^\$\{FLOTILLA_NATS_IMAGE:-(.+)\}$/.exec(compose.services.nats?.image ?? '')?.[1] ?? '';
    expect(image).toMatch(/^ghcr\.io\/flotilla\/nats:[\d.]+@sha256:[0-9a-f]{64}$/);
    const pins = readFileSync(join(root, 'deploy/kustomize/images/kustomization.yaml'), 'utf8');
    expect(pins).toContain(`- name: ghcr.io/flotilla/nats\n    digest: ${image.split('@')[1]}\n`);
  });

  it("runs NATS with TLS only and the install's own nkey authorization; every service signs in with its own seed over TLS, bind only", () => {
    const nats = compose.services.nats as ComposeService;
    const conf = readFileSync(join(root, 'deploy/nats/compose-nats.conf'), 'utf8');
    expect(conf).toMatch(/^include \.\/auth\.conf$/m);
    expect(conf).toMatch(/^tls \{[^}]*cert_file: \/etc\/nats\/secrets\/tls\.crt/ms);
    // The very file the Kubernetes install ships (`flotilla nats-auth --nkeys env`): no passwords.
    expect(nats.volumes).toContain('./deploy/kustomize/base/nats/auth.conf:/etc/nats/auth.conf:ro');
    expect(readFileSync(join(root, 'deploy/kustomize/base/nats/auth.conf'), 'utf8')).not.toMatch(/password/);
    expect(JSON.stringify(compose)).not.toMatch(/NATS_PASSWORD/);
    const identity: Record<string, string> = {
      planner: 'planner',
      'git-watcher': 'git-watcher',
      'registry-watcher': 'registry-watcher',
      'audit-writer': 'audit-writer',
      'cluster-applier': 'applier-dev',
      console: 'subscriber',
    };
    const ownIdentity = (name: string, s: ComposeService, user: string) => {
      // Only its own identity's volume (init wrote its seed and the CA there), read-only.
      const mounts = (s.volumes ?? []).filter((v) => v.startsWith('id-'));
      expect(mounts, name).toEqual([`id-${user}:/etc/flotilla/identity:ro`]);
      expect(s.environment?.FLOTILLA_NATS_NKEY_SEED_FILE, name).toBe('/etc/flotilla/identity/seed.nk');
      expect(s.environment?.FLOTILLA_NATS_TLS_CA_FILE, name).toBe('/etc/flotilla/identity/ca.crt');
    };
    for (const [name, s] of flotilla) {
      const user = s.environment?.FLOTILLA_NATS_USER;
      expect(user, name).toBe(identity[name]);
      expect(s.environment?.FLOTILLA_NATS_PROVISION, name).toBe('false');
      ownIdentity(name, s, user as string);
    }
    const bootstrap = compose.services['nats-bootstrap'] as ComposeService;
    expect(bootstrap.command?.slice(0, 2)).toEqual(['nats', 'bootstrap']);
    expect(bootstrap.environment?.FLOTILLA_NATS_USER).toBe('admin');
    ownIdentity('nats-bootstrap', bootstrap, 'admin');
    // init hands out exactly these identities, for the clusters the authorization names.
    const init = readFileSync(join(root, 'deploy/compose/init.sh'), 'utf8');
    expect(init).toContain(
      'for id in planner git-watcher registry-watcher audit-writer subscriber admin; do',
    );
    const clusters = /--clusters (\S+)/.exec(
      readFileSync(join(root, 'deploy/kustomize/base/nats/auth.conf'), 'utf8'),
    )?.[1];
    expect(compose.services.init?.environment?.FLOTILLA_CLUSTERS).toBe(clusters);
    expect(bootstrap.command?.[3]).toBe(clusters);
  });

  it("seals the applier's cluster's bundles to its key, as the install does", () => {
    const planner = compose.services.planner as ComposeService;
    const applier = compose.services['cluster-applier'] as ComposeService;
    expect(planner.environment?.FLOTILLA_BUNDLES_RECIPIENTS).toBe(
      'dev=/etc/flotilla/identity/sealing/dev.pub',
    );
    expect(applier.environment?.FLOTILLA_SEALING_KEY_FILE).toBe('/etc/flotilla/identity/sealing-key.pem');
    expect(applier.environment?.FLOTILLA_REQUIRE_SIGNED_PLANS).toBe('true');
    expect(compose.services.init?.environment?.FLOTILLA_APPLIER_CLUSTERS).toBe('dev');
  });

  it("mounts the applier's ServiceAccount where Kubernetes does and uses the in-cluster path", () => {
    const applier = compose.services['cluster-applier'] as ComposeService;
    expect(applier.environment?.FLOTILLA_KUBE_IN_CLUSTER).toBe('true');
    expect(applier.environment?.FLOTILLA_KUBE_KUBECONFIG).toBeUndefined();
    expect(Object.keys(applier.environment ?? {})).toEqual(expect.arrayContaining([...KUBE_ENV]));
    expect(
      applier.volumes?.some((v) => v.endsWith(':/var/run/secrets/kubernetes.io/serviceaccount:ro')),
    ).toBe(true);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  it('is multi-stage on node:24-bookworm-slim (or a base given as build arg) and non-root', () => {
    expect(text).toContain('ARG BASE=node:24-bookworm-slim');
    expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/^USER (?!root|0\b)\S+/m);
  });
  for (const name of Object.keys(SERVICE_CONFIGS)) {
    it(`${name}: a target that runs its own main with the default port`, () => {
      const stage = text.split(/^FROM /m).find((s) => new RegExp(`AS ${name}\\n`).test(s));
      expect(stage, `no target ${name}`).toBeDefined();
      // Plain node on the service's bundle under tini (scripts/build.ts makes it from src/main.ts).
      // With the node flags tests and benches run it with (programNodeArgs): one runtime path.
      const node = programNodeArgs(name as Program)
        .map((a) => `"${a}"`)
        .join(', ');
      expect(stage).toContain(
        `ENTRYPOINT ["/usr/bin/tini", "--", "node", ${node}, "services/${name}/dist/main.js"]`,
      );
      expect(existsSync(join(root, 'services', name, 'src/main.ts'))).toBe(true);
      const port = Number(/FLOTILLA_HTTP_PORT=(\d+)/.exec(stage ?? '')?.[1]);
      expect(port).toBe(schemaDefault(SERVICE_CONFIGS[name] as never, ['http', 'port']));
      expect(stage).toContain(`EXPOSE ${port}`);
      const valid = validEnvNames(SERVICE_CONFIGS[name] as never);
      const vars = [...text.matchAll(/\b(FLOTILLA_[A-Z_]+)=/g)].map((m) => m[1] as string);
      expect(vars.filter((v) => !valid.has(v))).toEqual([]);
    });
  }
});
