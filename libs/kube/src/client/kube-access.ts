import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { FlotillaError } from '@flotilla/errors';
import { parse as parseYaml } from 'yaml';

/** Where the applier's identity and the apiserver's trust come from. */
export interface KubeAccessOptions {
  /** A kubeconfig file. Default: `$KUBECONFIG`, else in-cluster when running in a pod, else ~/.kube/config. */
  kubeconfigPath?: string;
  /** Force the in-cluster ServiceAccount (token + CA mounted by the kubelet). */
  inCluster?: boolean;
  context?: string;
}

/** Everything needed to talk HTTPS to one apiserver as one identity. */
export interface KubeAccess {
  /** `https://host:port` (no trailing slash); may carry a path prefix. */
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
  /** Auth headers for the next request (bearer tokens are re-read, so rotation works). */
  headers(): Promise<Record<string, string>>;
  /** For error messages: the user as far as the config tells (SA name, kubeconfig user). */
  identity: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected ServiceAccount tokens rotate; re-read the file at most this often. */
const TOKEN_REREAD_MS = 60_000;

function fileTokenHeaders(path: string): () => Promise<Record<string, string>> {
  let token = '';
  let readAt = 0;
  return async () => {
    if (Date.now() - readAt > TOKEN_REREAD_MS) {
      token = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return { authorization: `Bearer ${token}` };
  };
}

/** `system:serviceaccount:<ns>:<name>` from a ServiceAccount JWT (payload only, not verified). */
function jwtSubject(token: string): string | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const sub = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

export function inClusterAccess(dir = SA_DIR, env: NodeJS.ProcessEnv = process.env): KubeAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host)
    throw new FlotillaError(
      'kube.config',
      'in-cluster config requested but KUBERNETES_SERVICE_HOST is not set (not running in a pod?)',
    );
  const tokenPath = join(dir, 'token');
  const sub = jwtSubject(readFileSync(tokenPath, 'utf8').trim());
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, 'ca.crt')),
    headers: fileTokenHeaders(tokenPath),
    identity: sub ?? 'in-cluster ServiceAccount',
  };
}

type Named<T> = { name: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  clusters?: Named<{ cluster: Record<string, unknown> }>[];
  users?: Named<{ user: Record<string, unknown> }>[];
  contexts?: Named<{ context: { cluster: string; user: string } }>[];
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Reads a kubeconfig. Certificates, tokens, token files and basic auth are handled here, without
 * loading @kubernetes/client-node (its import alone costs ~90 MB RSS and seconds of start-up, the
 * generated API models). Exec plugins and auth providers are delegated to client-node's
 * KubeConfig (`applyToHTTPSOptions`), loaded only when a kubeconfig needs them.
 */
export async function kubeconfigAccess(path: string, context?: string): Promise<KubeAccess> {
  let doc: KubeconfigFile;
  try {
    doc = (parseYaml(readFileSync(path, 'utf8'), { maxAliasCount: 50 }) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw new FlotillaError('kube.config', `kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  const ctxName = context ?? doc['current-context'];
  const ctx = doc.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new FlotillaError('kube.config', `kubeconfig ${path}: context "${ctxName}" not found`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  const user = doc.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (!cluster || !str(cluster.server))
    throw new FlotillaError('kube.config', `kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const base = dirname(path);
  const file = (p: unknown) =>
    str(p) ? readFileSync(isAbsolute(p as string) ? (p as string) : join(base, p as string)) : undefined;
  const data = (d: unknown, p: unknown) => (str(d) ? Buffer.from(d as string, 'base64') : file(p));

  if (user.exec || user['auth-provider']) return await clientNodeAccess(path, ctxName);

  const access: KubeAccess = {
    server: (cluster.server as string).replace(/\/+$/, ''),
    headers: async () => ({}),
    identity: ctx.user,
  };
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  if (ca) access.ca = ca;
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  if (cert) access.cert = cert;
  if (key) access.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) access.insecureSkipTlsVerify = true;
  if (str(cluster['tls-server-name'])) access.tlsServerName = cluster['tls-server-name'] as string;
  const token = str(user.token);
  if (token) {
    access.headers = async () => ({ authorization: `Bearer ${token}` });
    access.identity = jwtSubject(token) ?? ctx.user;
  } else if (str(user.tokenFile)) {
    const p = user.tokenFile as string;
    access.headers = fileTokenHeaders(isAbsolute(p) ? p : join(base, p));
  } else if (str(user.username) && str(user.password)) {
    const basic = Buffer.from(`${user.username}:${user.password}`).toString('base64');
    access.headers = async () => ({ authorization: `Basic ${basic}` });
  }
  return access;
}

/** The fallback for exec/auth-provider users: client-node computes headers (cached 30 s). */
async function clientNodeAccess(path: string, context: string | undefined): Promise<KubeAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  if (context) kc.setCurrentContext(context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new FlotillaError('kube.config', `kubeconfig ${path}: no current cluster`);
  const first: { ca?: unknown; cert?: unknown; key?: unknown; headers?: Record<string, unknown> } = {};
  await kc.applyToHTTPSOptions(first);
  let cached: { at: number; headers: Record<string, string> } | undefined;
  const buf = (v: unknown) => (v === undefined ? undefined : Buffer.isBuffer(v) ? v : Buffer.from(String(v)));
  const access: KubeAccess = {
    server: cluster.server.replace(/\/+$/, ''),
    identity: kc.getCurrentUser()?.name ?? 'kubeconfig user',
    async headers() {
      if (!cached || Date.now() - cached.at > 30_000) {
        const opts: { headers?: Record<string, unknown> } = {};
        await kc.applyToHTTPSOptions(opts);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = String(v);
        cached = { at: Date.now(), headers };
      }
      return cached.headers;
    },
  };
  const ca = buf(first.ca);
  const cert = buf(first.cert);
  const key = buf(first.key);
  if (ca) access.ca = ca;
  if (cert) access.cert = cert;
  if (key) access.key = key;
  if (cluster.skipTLSVerify) access.insecureSkipTlsVerify = true;
  return access;
}

/** One entry point for both: in-cluster ServiceAccount or a kubeconfig, by options then environment. */
export async function loadKubeAccess(opts: KubeAccessOptions = {}, env = process.env): Promise<KubeAccess> {
  if (opts.inCluster) return inClusterAccess(SA_DIR, env);
  const path = opts.kubeconfigPath || env.KUBECONFIG?.split(':')[0];
  if (path) return await kubeconfigAccess(path, opts.context);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterAccess(SA_DIR, env);
  return await kubeconfigAccess(join(homedir(), '.kube', 'config'), opts.context);
}
