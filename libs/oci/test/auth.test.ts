import { randomBytes } from 'node:crypto';
import { pushImage, type RegistryHandle, startRegistry } from '@flotilla/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { OciError, RegistryClient } from '../src/index.ts';
import { forward, startServer, type TestServer } from './http-helpers.ts';

const rand = () => randomBytes(4).toString('hex');
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

let registry: RegistryHandle;
let repo: string;
let digest: string;

beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { user: 'ci', password: `pw-${rand()}` } });
  repo = `auth/${rand()}`;
  digest = (await pushImage(registry, { repo, tag: 'v1' })).digest;
});

afterAll(async () => {
  await registry?.stop();
});

describe('htpasswd (Basic) registry', () => {
  it('works with the right credentials and learns to send them up front', async () => {
    const client = new RegistryClient({ registry: registry.host, credentials: registry.auth! });
    expect(await client.ping()).toMatchObject({ status: 200, authScheme: 'basic' });
    expect((await client.listTags(repo)).tags).toEqual(['v1']);
    expect((await client.headManifest(repo, 'v1')).digest).toBe(digest);
    // one 401 to learn the scheme, then every request authenticated first time
    expect(client.stats.requests).toBe(4);
  });

  it('fails with a clear typed error on a wrong password, without retry storms', async () => {
    const password = `wrong-${rand()}`;
    const client = new RegistryClient({ registry: registry.host, credentials: { username: 'ci', password } });
    const err = await client.listTags(repo).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect(err).toMatchObject({
      code: 'oci.unauthorized',
      disposition: 'stall',
      status: 401,
      // What the registry itself said stays beside our code.
      details: { registryCode: 'UNAUTHORIZED' },
    });
    expect((err as OciError).message).toContain(registry.host);
    expect((err as OciError).message).not.toContain(password);
    expect(JSON.stringify(err)).not.toContain(password);
    expect(client.stats.requests).toBe(2);
  });

  it('fails anonymously with oci.unauthorized', async () => {
    const client = new RegistryClient({ registry: registry.host });
    await expect(client.headManifest(repo, 'v1')).rejects.toMatchObject({
      code: 'oci.unauthorized',
      status: 401,
    });
    expect(client.stats.requests).toBe(1);
  });
});

describe('bearer token flow', () => {
  const user = 'alice';
  const password = `s3cret-${rand()}`;
  let tokens: TestServer;
  let front: TestServer;
  const issued = new Map<string, string | undefined>();
  let field: 'token' | 'access_token' = 'access_token';

  beforeAll(async () => {
    tokens = await startServer((req, res) => {
      const u = new URL(req.url, 'http://x');
      if (
        req.headers.authorization !== basic(user, password) ||
        u.searchParams.get('service') !== 'flotilla-test'
      ) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      const token = `tok-${rand()}`;
      issued.set(token, u.searchParams.get('scope') ?? undefined);
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ [field]: token, expires_in: 60 }));
    });
    // A registry front end that only accepts tokens from the token server, with the right scope.
    front = await startServer(async (req, res) => {
      const m = /^\/v2\/(.+?)\/(tags|manifests|blobs)\//.exec(req.url);
      const scope = m ? `repository:${m[1]}:pull` : undefined;
      const auth = req.headers.authorization ?? '';
      const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
      if (!issued.has(token) || (scope && issued.get(token) !== scope)) {
        const challenge = `Bearer realm="${tokens.url}/token",service="flotilla-test"${scope ? `,scope="${scope}"` : ''}`;
        res
          .writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      await forward(registry.url, req, res, {
        authorization: basic(registry.auth!.username, registry.auth!.password),
      });
    });
  });

  afterAll(async () => {
    await front?.close();
    await tokens?.close();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers the challenge, caches the token per scope and fetches new scopes up front', async () => {
    const other = `auth/${rand()}`;
    await pushImage(registry, { repo: other, tag: 'x' });
    const client = new RegistryClient({ registry: front.host, credentials: { username: user, password } });
    const before = front.seen.length;

    expect((await client.listTags(repo)).tags).toEqual(['v1']);
    expect((await client.headManifest(repo, 'v1')).digest).toBe(digest);
    expect((await client.getManifest(repo, 'v1')).digest).toBe(digest);
    expect((await client.listTags(other)).tags).toEqual(['x']);

    const seen = front.seen.slice(before);
    // Only the very first request met a 401; the second scope's token was fetched before asking.
    expect(seen.filter((r) => !r.headers.authorization)).toHaveLength(1);
    expect(seen).toHaveLength(5);
    expect(client.stats.byKind.token).toBe(2);
    expect(client.stats.requests).toBe(7);

    // Parallel calls on a new scope share one token request.
    const third = `auth/${rand()}`;
    const pushed = await pushImage(registry, { repo: third, tag: 'y' });
    const heads = await Promise.all(Array.from({ length: 5 }, () => client.headManifest(third, 'y')));
    expect(heads.map((h) => h.digest)).toEqual(Array(5).fill(pushed.digest));
    expect(client.stats.byKind.token).toBe(3);
  });

  it('accepts `token` as well as `access_token`, and renews an expired token', async () => {
    field = 'token';
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const client = new RegistryClient({ registry: front.host, credentials: { username: user, password } });
      expect((await client.headManifest(repo, 'v1')).digest).toBe(digest);
      expect(client.stats.byKind.token).toBe(1);
      vi.setSystemTime(Date.now() + 30_000);
      await client.listTags(repo);
      expect(client.stats.byKind.token).toBe(1);
      vi.setSystemTime(Date.now() + 61_000);
      await client.listTags(repo);
      expect(client.stats.byKind.token).toBe(2);
    } finally {
      field = 'access_token';
    }
  });

  it('reports wrong credentials at the token server as oci.unauthorized', async () => {
    const client = new RegistryClient({
      registry: front.host,
      credentials: { username: user, password: 'nope' },
    });
    const err = await client.listTags(repo).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect(err).toMatchObject({ code: 'oci.unauthorized', disposition: 'stall' });
    expect(client.stats.byKind.token).toBe(1);
  });
});
