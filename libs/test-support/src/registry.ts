import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A real CNCF Distribution registry (Debian's `docker-registry`, 2.8.x) on a free loopback port
 * with filesystem storage in a temp dir. Tests push images through the OCI API with the helpers
 * below, so nothing here mocks the registry.
 */

const execFileAsync = promisify(execFile);

export interface StartRegistryOptions {
  /** Turn on htpasswd (Basic) auth with exactly this user. */
  htpasswd?: { user: string; password: string };
  /** Send Distribution notifications to this endpoint. */
  notifications?: {
    url: string;
    headers?: Record<string, string>;
    /** Actions the registry should not report; pulls are noise for a watcher (default ['pull']). */
    ignoredActions?: string[];
  };
  /** Path of the registry binary (default `/usr/bin/docker-registry`). */
  binary?: string;
}

export interface RegistryHandle {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** `host:port`, the form image references use. */
  host: string;
  /** The credentials the registry was started with, if any. */
  auth?: RegistryAuth;
  stop(): Promise<void>;
}

export interface RegistryAuth {
  username: string;
  password: string;
}

const DEFAULT_BINARY = '/usr/bin/docker-registry';

async function htpasswdLine(user: string, password: string): Promise<string> {
  // Distribution only accepts bcrypt entries; apache2-utils' htpasswd makes them (-B), cost 5 keeps tests fast.
  const { stdout } = await execFileAsync('htpasswd', ['-nbB', '-C', '5', user, password]);
  return `${stdout.trim()}\n`;
}

function yamlString(s: string): string {
  return JSON.stringify(s);
}

function renderConfig(opts: {
  dataDir: string;
  htpasswdPath?: string;
  notifications?: StartRegistryOptions['notifications'];
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    // info, for the one line that says which port it bound ("listening on 127.0.0.1:<port>").
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${yamlString(opts.dataDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    // Port 0: the kernel picks a free port as the registry binds, so no other process can race for it.
    '  addr: 127.0.0.1:0',
    `  secret: ${randomBytes(16).toString('hex')}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (opts.htpasswdPath) {
    lines.push(
      'auth:',
      '  htpasswd:',
      '    realm: flotilla-test',
      `    path: ${yamlString(opts.htpasswdPath)}`,
    );
  }
  const n = opts.notifications;
  if (n) {
    lines.push(
      'notifications:',
      '  endpoints:',
      '    - name: flotilla-test',
      `      url: ${yamlString(n.url)}`,
      // Short timeout/backoff: a test endpoint that is briefly down should not delay delivery by seconds.
      '      timeout: 2s',
      '      threshold: 5',
      '      backoff: 200ms',
    );
    const headers = Object.entries(n.headers ?? {});
    if (headers.length > 0) {
      lines.push('      headers:');
      for (const [k, v] of headers) lines.push(`        ${yamlString(k)}: [${yamlString(v)}]`);
    }
    const ignored = n.ignoredActions ?? ['pull'];
    if (ignored.length > 0) {
      lines.push('      ignore:', `        actions: [${ignored.map(yamlString).join(', ')}]`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Resolves with the port once the registry logs that it listens (it binds port 0, so we must ask). */
async function waitListening(child: ChildProcess, stderr: () => string, timeoutMs: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const done = (err?: Error, port?: number) => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(port!);
    };
    const onData = () => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr());
      if (m) done(undefined, Number(m[1]));
    };
    const onExit = (code: number | null) =>
      done(new Error(`docker-registry exited with ${code}: ${stderr()}`));
    const timer = setTimeout(
      () => done(new Error(`docker-registry did not listen within ${timeoutMs} ms: ${stderr()}`)),
      timeoutMs,
    );
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    onData();
  });
}

/** Start a registry; always `stop()` it in afterAll. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RegistryHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-registry-'));
  const dataDir = join(dir, 'data');
  let htpasswdPath: string | undefined;
  if (options.htpasswd) {
    htpasswdPath = join(dir, 'htpasswd');
    await writeFile(htpasswdPath, await htpasswdLine(options.htpasswd.user, options.htpasswd.password), {
      mode: 0o600,
    });
  }
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, renderConfig({ dataDir, htpasswdPath, notifications: options.notifications }));
  const child = spawn(options.binary ?? DEFAULT_BINARY, ['serve', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let port: number;
  try {
    port = await waitListening(child, () => stderr, 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    ...(options.htpasswd
      ? { auth: { username: options.htpasswd.user, password: options.htpasswd.password } }
      : {}),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Pushing images through the OCI Distribution API (test helpers).

type RegistryLike = Pick<RegistryHandle, 'url'> & { auth?: RegistryAuth };

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export interface PushImageOptions {
  repo: string;
  tag: string;
  /** Layer content; random when omitted, so every push yields a new digest. */
  content?: string;
  /** Credentials; defaults to the registry's own htpasswd user. */
  auth?: RegistryAuth;
  /** Also push an image index (linux/amd64 + linux/arm64) and tag the index instead. */
  index?: boolean;
  /** Config `created` timestamp (RFC 3339); default now. */
  created?: string;
}

export interface PushedImage {
  /** Digest the tag resolves to (the index digest when `index` was set). */
  digest: string;
  mediaType: string;
  /** Digest of the (first) image manifest. */
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  /** Raw bytes of the tagged manifest, for re-tagging. */
  manifestBytes: Buffer;
  platforms?: { os: string; architecture: string; digest: string }[];
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function authHeader(auth?: RegistryAuth): Record<string, string> {
  return auth
    ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` }
    : {};
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (res.ok) {
    await res.arrayBuffer();
    return;
  }
  const body = await res.text();
  throw new Error(`${what}: HTTP ${res.status} ${body.slice(0, 500)}`);
}

/** Upload a blob unless present: POST opens an upload session, one PUT with ?digest completes it. */
export async function pushBlob(
  registry: RegistryLike,
  repo: string,
  data: Buffer,
  auth = registry.auth,
): Promise<string> {
  const digest = sha256(data);
  const headers = authHeader(auth);
  const head = await fetch(`${registry.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers });
  await head.arrayBuffer();
  if (head.status === 200) return digest;
  const start = await fetch(`${registry.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) await expectOk(start, `start upload ${repo}`);
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (!location) throw new Error(`start upload ${repo}: no Location header`);
  const put = new URL(location, registry.url);
  put.searchParams.set('digest', digest);
  const res = await fetch(put, {
    method: 'PUT',
    headers: {
      ...headers,
      // No explicit content-length: fetch derives it from the body, and an explicit one is
      // refused when @kubernetes/client-node's undici has become the global dispatcher (Node 20).
      'content-type': 'application/octet-stream',
    },
    body: data,
  });
  await expectOk(res, `complete upload ${repo}@${digest}`);
  return digest;
}

/** PUT a manifest under a tag or digest reference; returns the registry's digest. */
export async function putManifest(
  registry: RegistryLike,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
  auth = registry.auth,
): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...authHeader(auth), 'content-type': mediaType },
    body: bytes,
  });
  await expectOk(res, `put manifest ${repo}:${reference}`);
  return res.headers.get('docker-content-digest') ?? sha256(bytes);
}

async function pushSingle(
  registry: RegistryLike,
  opts: PushImageOptions,
  architecture: string,
  auth: RegistryAuth | undefined,
) {
  const layer = Buffer.from(opts.content ?? `layer ${randomBytes(16).toString('hex')}`);
  const layerDigest = await pushBlob(registry, opts.repo, layer, auth);
  const config = Buffer.from(
    JSON.stringify({
      created: opts.created ?? new Date().toISOString(),
      architecture,
      os: 'linux',
      config: { Labels: { 'flotilla.test/nonce': randomBytes(8).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
    }),
  );
  const configDigest = await pushBlob(registry, opts.repo, config, auth);
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
    }),
  );
  return { layerDigest, configDigest, manifestBytes };
}

/** Push a small image (config + one layer + OCI manifest, optionally an index) and tag it. */
export async function pushImage(registry: RegistryLike, opts: PushImageOptions): Promise<PushedImage> {
  const auth = opts.auth ?? registry.auth;
  if (!opts.index) {
    const single = await pushSingle(registry, opts, 'amd64', auth);
    const digest = await putManifest(registry, opts.repo, opts.tag, single.manifestBytes, OCI_MANIFEST, auth);
    return { digest, mediaType: OCI_MANIFEST, manifestDigest: digest, ...single };
  }
  const platforms: { os: string; architecture: string; digest: string }[] = [];
  const descriptors: unknown[] = [];
  let first: Awaited<ReturnType<typeof pushSingle>> | undefined;
  for (const architecture of ['amd64', 'arm64']) {
    const single = await pushSingle(registry, opts, architecture, auth);
    first ??= single;
    const digest = sha256(single.manifestBytes);
    await putManifest(registry, opts.repo, digest, single.manifestBytes, OCI_MANIFEST, auth);
    platforms.push({ os: 'linux', architecture, digest });
    descriptors.push({
      mediaType: OCI_MANIFEST,
      digest,
      size: single.manifestBytes.length,
      platform: { os: 'linux', architecture },
    });
  }
  const indexBytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }),
  );
  const digest = await putManifest(registry, opts.repo, opts.tag, indexBytes, OCI_INDEX, auth);
  const f = first!;
  return {
    digest,
    mediaType: OCI_INDEX,
    manifestDigest: platforms[0]!.digest,
    configDigest: f.configDigest,
    layerDigest: f.layerDigest,
    manifestBytes: indexBytes,
    platforms,
  };
}

export interface PushManyTagsOptions {
  repo: string;
  /** Explicit tags, or a count of generated tags `<prefix><zero-padded index>`. */
  tags: string[] | number;
  prefix?: string;
  /** Parallel manifest PUTs (default 8): enough to be quick, few enough for a 2-core box. */
  concurrency?: number;
  auth?: RegistryAuth;
}

/** One image pushed once, its manifest PUT under many tags: fast fixtures for pagination tests. */
export async function pushManyTags(
  registry: RegistryLike,
  opts: PushManyTagsOptions,
): Promise<{ digest: string; tags: string[] }> {
  const prefix = opts.prefix ?? 't';
  const tags =
    typeof opts.tags === 'number'
      ? Array.from({ length: opts.tags }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`)
      : [...opts.tags];
  if (tags.length === 0) throw new Error('pushManyTags: no tags');
  const auth = opts.auth ?? registry.auth;
  const first = await pushImage(registry, { repo: opts.repo, tag: tags[0]!, auth });
  let next = 1;
  const worker = async () => {
    while (next < tags.length) {
      const tag = tags[next++]!;
      await putManifest(registry, opts.repo, tag, first.manifestBytes, OCI_MANIFEST, auth);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 8) }, worker));
  return { digest: first.digest, tags };
}
