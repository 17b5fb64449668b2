import { createServer } from 'node:net';

/**
 * Ports this process handed out. The kernel may answer the same free port twice in a row (the
 * first caller has not bound it yet: the demo once gave two appliers the same port, and the
 * second died of EADDRINUSE), so a port is never handed out twice by one process.
 */
const handedOut = new Set<number>();

/** Asks the kernel for a free loopback port. Racy across processes by nature, but fine for tests on one machine. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() =>
          typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port')),
        );
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}
