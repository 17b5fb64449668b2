import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a test server saw, for asserting request budgets and headers. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface TestServer {
  url: string;
  host: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A tiny HTTP server on a free loopback port. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const entry = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      body: await readBody(req),
    };
    seen.push(entry);
    try {
      await handler(entry, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** Forward a request to a real upstream (the registry) and copy the answer back. */
export async function forward(
  upstream: string,
  req: SeenRequest,
  res: ServerResponse,
  headers: Record<string, string> = {},
): Promise<void> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!HOP.has(k) && typeof v === 'string') out[k] = v;
  }
  Object.assign(out, headers);
  const r = await fetch(`${upstream}${req.url}`, {
    method: req.method,
    headers: out,
    redirect: 'manual',
    ...(req.body.length > 0 ? { body: req.body } : {}),
  });
  const body = Buffer.from(await r.arrayBuffer());
  const resHeaders: Record<string, string> = {};
  r.headers.forEach((v, k) => {
    if (k !== 'transfer-encoding' && k !== 'connection' && k !== 'content-encoding') resHeaders[k] = v;
  });
  res.writeHead(r.status, resHeaders);
  res.end(req.method === 'HEAD' ? undefined : body);
}
