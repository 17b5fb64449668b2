import { createServer, type Server, Socket } from 'node:net';

export interface TcpProxy {
  /** Where clients connect instead of the target. */
  readonly port: number;
  readonly url: string;
  /**
   * Cut the link without closing it, as a network partition does: bytes in both directions are
   * held (TCP would keep retransmitting them) and new connections get no answer from upstream
   * until `heal()`. Neither side sees a reset; each notices only by its own timeouts.
   */
  partition(): void;
  heal(): void;
  readonly partitioned: boolean;
  /** Connections currently proxied. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream: Socket | undefined;
  toUpstream: Buffer[];
  toClient: Buffer[];
}

/**
 * A small TCP proxy for partition faults between a client and a server (a service and NATS), in
 * the spirit of Toxiproxy's "timeout" toxic, without its Go build. Binds port 0 on 127.0.0.1.
 */
export async function startTcpProxy(
  target: { host?: string; port: number },
  scheme = 'nats',
): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const links = new Set<Link>();
  let cut = false;

  const connectUpstream = (link: Link) => {
    const up = new Socket();
    up.setNoDelay(true);
    link.upstream = up;
    up.connect(target.port, host);
    up.on('data', (d: Buffer) => {
      if (cut) link.toClient.push(d);
      else link.client.write(d);
    });
    up.on('error', () => link.client.destroy());
    up.on('close', () => link.client.destroy());
    for (const d of link.toUpstream.splice(0)) up.write(d);
  };

  // Nagle off on both legs, as the ends themselves have it (Go's net and NATS.js set TCP_NODELAY):
  // otherwise each relayed small write waits for the peer's delayed ACK (up to 40 ms), a latency
  // the link being modelled does not have, and raft's heartbeats and catch-up crawl through it.
  const server: Server = createServer({ noDelay: true }, (client) => {
    const link: Link = { client, upstream: undefined, toUpstream: [], toClient: [] };
    links.add(link);
    client.on('data', (d: Buffer) => {
      if (cut || !link.upstream) link.toUpstream.push(d);
      else link.upstream.write(d);
    });
    const drop = () => {
      links.delete(link);
      link.upstream?.destroy();
    };
    client.on('error', drop);
    client.on('close', drop);
    if (!cut) connectUpstream(link);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    get partitioned() {
      return cut;
    },
    get connections() {
      return links.size;
    },
    partition() {
      cut = true;
    },
    heal() {
      cut = false;
      for (const link of links) {
        if (!link.upstream) connectUpstream(link);
        else for (const d of link.toUpstream.splice(0)) link.upstream.write(d);
        for (const d of link.toClient.splice(0)) link.client.write(d);
      }
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
