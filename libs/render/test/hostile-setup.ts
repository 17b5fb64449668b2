import { once } from 'node:events';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';

// Set-up shared by the renderer tests that attack a config repo: a fresh copy of the fixture per
// test (each attack edits its own), and a local server standing for "the network".

const FIXTURE = join(import.meta.dirname, 'fixtures/shop-config');

/**
 * Returns `copy()`, a fresh copy of the shop-config fixture, and `copy.scratch(prefix)`, an empty
 * directory (somewhere "outside the repo" for an attack to reach for); both removed after each test.
 */
export function fixtureCopies(
  prefix: string,
): (() => Promise<string>) & { scratch(prefix: string): Promise<string> } {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });
  const scratch = async (name: string) => {
    const dir = await mkdtemp(join(tmpdir(), `${name}-`));
    dirs.push(dir);
    return dir;
  };
  const copy = async () => {
    const dir = await scratch(prefix);
    await cp(FIXTURE, dir, { recursive: true });
    return dir;
  };
  return Object.assign(copy, { scratch });
}

/**
 * A local HTTP server serving a ConfigMap to anyone who asks. A render must never fetch from it:
 * `requests` counts every request it got, so a test asserts it stayed at 0.
 */
export function baitServer(): { readonly url: string; readonly requests: number } {
  let server: Server;
  let requests = 0;
  let url = '';
  beforeAll(async () => {
    server = createServer((_req, res) => {
      requests++;
      res.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fetched\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
  });
  return {
    get url() {
      return url;
    },
    get requests() {
      return requests;
    },
  };
}
