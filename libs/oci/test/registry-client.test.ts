import { createHash, randomBytes } from 'node:crypto';
import { pushImage, pushManyTags, type RegistryHandle, startRegistry, waitFor } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isDistributionEventsContentType,
  OciError,
  parseDistributionNotification,
  RegistryClient,
  type RegistryPushEvent,
} from '../src/index.ts';
import { forward, startServer, type TestServer } from './http-helpers.ts';

const rand = () => randomBytes(4).toString('hex');

let registry: RegistryHandle;
let hook: TestServer;
const notifications: { contentType: string | undefined; events: RegistryPushEvent[] }[] = [];

beforeAll(async () => {
  hook = await startServer((req, res) => {
    const contentType = req.headers['content-type'];
    if (req.headers.authorization !== 'Bearer hook-secret') {
      res.writeHead(401).end();
      return;
    }
    notifications.push({ contentType, events: parseDistributionNotification(req.body) });
    res.writeHead(200).end();
  });
  registry = await startRegistry({
    notifications: {
      url: `${hook.url}/hooks/distribution`,
      headers: { Authorization: 'Bearer hook-secret' },
    },
  });
});

afterAll(async () => {
  await registry?.stop();
  await hook?.close();
});

describe('RegistryClient against docker-registry', () => {
  it('pings the registry', async () => {
    const client = new RegistryClient({ registry: registry.host });
    const res = await client.ping();
    expect(res).toMatchObject({ status: 200, apiVersion: 'registry/2.0' });
    expect(client.stats.byKind.ping).toBe(1);
  });

  it('lists tags and resolves the pushed digest; a repeat HEAD is a 304', async () => {
    const repo = `it/${rand()}`;
    const pushed = await pushImage(registry, { repo, tag: 'v1' });
    const client = new RegistryClient({ registry: registry.host });

    const list = await client.listTags(repo);
    expect(list).toMatchObject({ name: repo, tags: ['v1'], truncated: false, pages: 1 });

    const head = await client.headManifest(repo, 'v1');
    expect(head).toEqual({
      digest: pushed.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: pushed.manifestBytes.length,
      notModified: false,
    });

    const again = await client.headManifest(repo, 'v1');
    expect(again).toMatchObject({ digest: pushed.digest, notModified: true });
    expect(client.stats.notModified).toBe(1);

    const manifest = await client.getManifest(repo, 'v1');
    expect(manifest).toMatchObject({ digest: pushed.digest, kind: 'image' });
    expect(manifest.config?.digest).toBe(pushed.configDigest);
    expect(manifest.layers?.map((l) => l.digest)).toEqual([pushed.layerDigest]);

    // The same manifest by digest is immutable: answered from memory.
    const byDigest = await client.getManifest(repo, pushed.digest);
    expect(byDigest.digest).toBe(pushed.digest);
    expect(client.stats.requests).toBe(4);
    expect(client.stats.byKind).toMatchObject({ tags: 1, manifestHead: 2, manifestGet: 1 });
  });

  it('sees a new digest when the same tag is pushed with new content', async () => {
    const repo = `it/${rand()}`;
    const first = await pushImage(registry, { repo, tag: 'stable', content: 'one' });
    const client = new RegistryClient({ registry: registry.host });
    expect((await client.headManifest(repo, 'stable')).digest).toBe(first.digest);

    const second = await pushImage(registry, { repo, tag: 'stable', content: 'two' });
    expect(second.digest).not.toBe(first.digest);
    const head = await client.headManifest(repo, 'stable');
    expect(head).toMatchObject({ digest: second.digest, notModified: false });
    const manifest = await client.getManifest(repo, 'stable');
    expect(manifest.digest).toBe(second.digest);
  });

  it('reads an image index with platforms and, on request, the creation time', async () => {
    const repo = `it/${rand()}`;
    const created = '2026-01-02T03:04:05.000Z';
    const pushed = await pushImage(registry, { repo, tag: 'multi', index: true, created });
    const client = new RegistryClient({ registry: registry.host });
    const head = await client.headManifest(repo, 'multi');
    expect(head).toMatchObject({
      digest: pushed.digest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
    });
    const index = await client.getManifest(repo, 'multi');
    expect(index.kind).toBe('index');
    expect(index.platforms).toEqual(pushed.platforms);
    const before = client.stats.requests;
    expect((await client.getConfigCreated(repo, index))?.toISOString()).toBe(created);
    // platform manifest + config blob; the second call costs nothing
    expect(client.stats.requests - before).toBe(2);
    expect((await client.getConfigCreated(repo, index))?.toISOString()).toBe(created);
    expect(client.stats.requests - before).toBe(2);
  });

  it('raises typed errors for unknown repositories and tags', async () => {
    const client = new RegistryClient({ registry: registry.host });
    const repo = `it/${rand()}`;
    const err = await client.listTags(repo).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OciError);
    expect(err).toMatchObject({
      code: 'oci.name-unknown',
      disposition: 'wait',
      status: 404,
      details: { registryCode: 'NAME_UNKNOWN' },
    });

    await pushImage(registry, { repo, tag: 'v1' });
    const missing = await client.getManifest(repo, 'nope').catch((e: unknown) => e);
    expect(missing).toMatchObject({
      code: 'oci.manifest-unknown',
      disposition: 'wait',
      details: { registryCode: 'MANIFEST_UNKNOWN' },
    });
    const missingHead = await client.headManifest(repo, 'nope').catch((e: unknown) => e);
    // A HEAD answer has no body: the code comes from the status, and no registry code is made up.
    expect(missingHead).toMatchObject({ code: 'oci.manifest-unknown', status: 404 });
    expect((missingHead as OciError).details.registryCode).toBeUndefined();
  });

  describe('a repository with more than 1,000 tags', () => {
    const repo = `it/${rand()}`;
    let tags: string[] = [];
    beforeAll(async () => {
      ({ tags } = await pushManyTags(registry, { repo, tags: 1100 }));
    });

    it('is read completely with a bounded number of requests', async () => {
      const client = new RegistryClient({ registry: registry.host });
      const list = await client.listTags(repo, { pageSize: 100 });
      expect(list.truncated).toBe(false);
      expect(list.tags).toHaveLength(1100);
      expect(new Set(list.tags)).toEqual(new Set(tags));
      // Distribution 2.8 ignores n and answers everything at once; a paginating registry needs 11 pages.
      expect(list.pages).toBeLessThanOrEqual(12);
      expect(client.stats.byKind.tags).toBe(list.pages);

      const capped = await client.listTags(repo, { maxTags: 250 });
      expect(capped).toMatchObject({ truncated: true });
      expect(capped.tags).toHaveLength(250);
    });

    it('follows Link pagination through a paginating front end, bounded by maxPages', async () => {
      // Distribution 2.8 does not paginate; this front end slices its full answer into n-sized pages
      // with path-only Link headers, the way newer registries do.
      const pager = await startServer(async (req, res) => {
        const u = new URL(req.url, 'http://x');
        if (!u.pathname.endsWith('/tags/list')) return forward(registry.url, req, res);
        const all = (await (await fetch(`${registry.url}${u.pathname}`)).json()) as {
          name: string;
          tags: string[];
        };
        const n = Number(u.searchParams.get('n') ?? 100);
        const last = u.searchParams.get('last');
        const sorted = [...all.tags].sort();
        const start = last ? sorted.findIndex((t) => t > last) : 0;
        const page = start < 0 ? [] : sorted.slice(start, start + n);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (start >= 0 && start + n < sorted.length) {
          headers.link = `<${u.pathname}?n=${n}&last=${page[page.length - 1]}>; rel="next"`;
        }
        res.writeHead(200, headers).end(JSON.stringify({ name: all.name, tags: page }));
      });
      try {
        const client = new RegistryClient({ registry: pager.host });
        const list = await client.listTags(repo, { pageSize: 200 });
        expect(list.tags).toEqual([...tags].sort());
        expect(list.pages).toBe(6);
        expect(client.stats.byKind.tags).toBe(6);
        expect(pager.seen.filter((r) => r.url.includes('last=')).length).toBe(5);

        const bounded = await client.listTags(repo, { pageSize: 200, maxPages: 2 });
        expect(bounded).toMatchObject({ truncated: true, pages: 2 });
        expect(bounded.tags).toHaveLength(400);
      } finally {
        await pager.close();
      }
    });
  });

  it('sends If-None-Match on tag lists where the registry gives ETags; a 304 means unchanged', async () => {
    const repo = `it/${rand()}`;
    await pushImage(registry, { repo, tag: 'a' });
    // Distribution 2.8 sends no ETag on tag lists (others do): this front end adds one from the body.
    const front = await startServer(async (req, res) => {
      if (!req.url.includes('/tags/list')) return forward(registry.url, req, res);
      const r = await fetch(`${registry.url}${req.url}`);
      const body = await r.text();
      const etag = `"${createHash('sha256').update(body).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { etag }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', etag }).end(body);
    });
    try {
      const client = new RegistryClient({ registry: front.host });
      expect(await client.listTags(repo)).toMatchObject({ tags: ['a'], notModified: false });
      expect(await client.listTags(repo)).toMatchObject({ tags: ['a'], notModified: true });
      await pushImage(registry, { repo, tag: 'b' });
      const changed = await client.listTags(repo);
      expect(changed.notModified).toBe(false);
      expect([...changed.tags].sort()).toEqual(['a', 'b']);
      expect(client.stats).toMatchObject({ requests: 3, notModified: 1 });
      expect(front.seen.map((r) => r.headers['if-none-match'] !== undefined)).toEqual([false, true, true]);
    } finally {
      await front.close();
    }
  });

  it('waits out 429 + Retry-After and succeeds with a bounded number of requests', async () => {
    const repo = `it/${rand()}`;
    const pushed = await pushImage(registry, { repo, tag: 'v1' });
    let limited = 0;
    const proxy = await startServer(async (req, res) => {
      if (req.url.includes('/manifests/') && limited < 2) {
        limited++;
        res
          .writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return;
      }
      await forward(registry.url, req, res);
    });
    try {
      const client = new RegistryClient({ registry: proxy.host });
      const started = Date.now();
      const head = await client.headManifest(repo, 'v1');
      expect(head.digest).toBe(pushed.digest);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      expect(client.stats).toMatchObject({ requests: 3, rateLimited: 2, retries: 2 });
      expect(proxy.seen).toHaveLength(3);
    } finally {
      await proxy.close();
    }
  });

  it('gives up after N attempts with a typed oci.too-many-requests error, no request storm', async () => {
    const proxy = await startServer((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'limit' }] }));
    });
    try {
      const client = new RegistryClient({ registry: proxy.host, backoff: { attempts: 3, baseMs: 20 } });
      const err = await client.listTags('any/repo').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OciError);
      expect(err).toMatchObject({
        code: 'oci.too-many-requests',
        disposition: 'wait',
        status: 429,
        details: { registryCode: 'TOOMANYREQUESTS', registryMessage: 'limit' },
      });
      expect((err as OciError).details.attempts).toBe(3);
      expect(proxy.seen).toHaveLength(3);

      // A Retry-After longer than we will block for surfaces at once, with the wait in the details.
      const far = await startServer((_req, res) => {
        res.writeHead(429, { 'retry-after': '3600' }).end();
      });
      try {
        const c2 = new RegistryClient({ registry: far.host });
        const e2 = await c2.ping().catch((e: unknown) => e);
        expect(e2).toMatchObject({ code: 'oci.too-many-requests', disposition: 'wait' });
        expect((e2 as OciError).details.retryAfterMs).toBe(3_600_000);
        expect(far.seen).toHaveLength(1);
      } finally {
        await far.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('never forwards Authorization on a redirect to another host', async () => {
    const repo = `it/${rand()}`;
    const pushed = await pushImage(registry, { repo, tag: 'v1' });
    // "Blob storage" on another origin (localhost vs 127.0.0.1), as registries do with pre-signed URLs.
    const storage = await startServer((req, res) => forward(registry.url, req, res));
    const front = await startServer(async (req, res) => {
      if (req.url.includes('/blobs/')) {
        res.writeHead(307, { location: `http://localhost:${new URL(storage.url).port}${req.url}` }).end();
        return;
      }
      await forward(registry.url, req, res);
    });
    try {
      const client = new RegistryClient({ registry: front.host, credentials: { token: 'registry-token' } });
      const manifest = await client.getManifest(repo, 'v1');
      const created = await client.getConfigCreated(repo, manifest);
      expect(created).toBeInstanceOf(Date);
      expect(manifest.digest).toBe(pushed.digest);
      expect(front.seen.every((r) => r.headers.authorization === 'Bearer registry-token')).toBe(true);
      expect(storage.seen).toHaveLength(1);
      expect(storage.seen[0]?.headers.authorization).toBeUndefined();
    } finally {
      await front.close();
      await storage.close();
    }
  });

  it('reads no more of a hostile registry than each answer may hold', async () => {
    const repo = `it/${rand()}`;
    await pushImage(registry, { repo, tag: 'v1' });
    const MiB = 1024 * 1024;
    let streamed = 0;
    // In front of the real registry: a 5 MiB manifest (declared, then streamed without a length),
    // a 401 whose body never ends, a tag list that is not JSON, and an endless error body.
    const front = await startServer(async (req, res) => {
      if (req.url.endsWith('/manifests/declared')) {
        res.writeHead(200, {
          'content-type': 'application/vnd.oci.image.manifest.v1+json',
          'content-length': String(5 * MiB),
        });
        res.end(Buffer.alloc(5 * MiB, 32));
        return;
      }
      if (req.url.endsWith('/manifests/streamed') || req.url.endsWith('/manifests/failing')) {
        const status = req.url.endsWith('failing') ? 500 : 200;
        res.writeHead(status, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
        // Written until the client stops reading (the socket closes), or 64 MiB at most.
        const chunk = Buffer.alloc(256 * 1024, 32);
        const pump = () => {
          while (streamed < 64 * MiB && !res.destroyed) {
            streamed += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (req.url.includes(`/v2/${repo}/tags/list`)) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"name": "x", "tags": [');
        return;
      }
      await forward(registry.url, req, res);
    });
    try {
      const client = new RegistryClient({ registry: front.host });
      const refusal = async (p: Promise<unknown>) => {
        try {
          await p;
        } catch (err) {
          return err instanceof OciError
            ? { code: err.code, message: err.message }
            : { code: String(err), message: '' };
        }
        return { code: 'accepted', message: '' };
      };
      expect(await refusal(client.getManifest(repo, 'declared'))).toMatchObject({
        code: 'oci.too-large',
        message: expect.stringContaining(`${5 * MiB} bytes, over the ${4 * MiB}-byte limit`),
      });
      expect((await refusal(client.getManifest(repo, 'streamed'))).code).toBe('oci.too-large');
      // Stopped reading a little past the limit, not at the 64 MiB the server would send.
      expect(streamed).toBeLessThan(32 * MiB);
      streamed = 0;
      // An error body is cut, not refused: the error says what the status says.
      expect(await refusal(client.getManifest(repo, 'failing'))).toMatchObject({
        code: 'oci.unavailable',
      });
      expect(streamed).toBeLessThan(32 * MiB);
      expect(await refusal(client.listTags(repo))).toMatchObject({
        code: 'oci.protocol',
        message: expect.stringContaining('tag list is not JSON'),
      });
      // The real manifest still reads through the same front.
      expect((await client.getManifest(repo, 'v1')).digest).toMatch(/^sha256:/);
    } finally {
      await front.close();
    }
  });

  it('never follows a tag list page to another host, so credentials and requests stay with the registry', async () => {
    const repo = `it/${rand()}`;
    await pushImage(registry, { repo, tag: 'v1' });
    const elsewhere = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"name":"x","tags":["stolen"]}');
    });
    const front = await startServer(async (req, res) => {
      if (req.url.startsWith(`/v2/${repo}/tags/list`)) {
        res.writeHead(200, {
          'content-type': 'application/json',
          link: `<${elsewhere.url}/v2/${repo}/tags/list?last=v1>; rel="next"`,
        });
        res.end(JSON.stringify({ name: repo, tags: ['v1'] }));
        return;
      }
      await forward(registry.url, req, res);
    });
    try {
      const client = new RegistryClient({
        registry: front.host,
        credentials: { username: 'ci', password: 'registry-password' },
      });
      const err = await client.listTags(repo).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OciError);
      expect(err).toMatchObject({ code: 'oci.protocol' });
      expect((err as Error).message).toContain(`links to another host (${elsewhere.host})`);
      expect(elsewhere.seen).toHaveLength(0);
    } finally {
      await front.close();
      await elsewhere.close();
    }
  });

  it('receives registry notifications for a push and parses them', async () => {
    const repo = `it/${rand()}`;
    const pushed = await pushImage(registry, { repo, tag: 'notified' });
    const mine: RegistryPushEvent[] = await waitFor('the registry notification for the push', () => {
      const got = notifications.flatMap((n) => n.events).filter((e) => e.repository === repo);
      return got.length > 0 ? got : undefined;
    });
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      repository: repo,
      tag: 'notified',
      digest: pushed.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      registry: registry.host,
    });
    expect(mine[0]?.id).toEqual(expect.any(String));
    expect(notifications.every((n) => isDistributionEventsContentType(n.contentType))).toBe(true);
    // The hook rejected nothing: every delivery carried the configured static header.
    expect(hook.seen.every((r) => r.headers.authorization === 'Bearer hook-secret')).toBe(true);
  });
});
