import { connect } from 'node:net';

/**
 * A slowloris client: sends `head` (request line and headers, and the start of a body shorter
 * than its Content-Length), then with `dripMs` one more byte now and then, never completing the
 * request. Resolves with all the server answered once it closes the connection, and how long that took.
 */
export function trickleRequest(
  url: string,
  head: string,
  opts: { dripMs?: number } = {},
): Promise<{ answer: string; tookMs: number }> {
  const { hostname, port } = new URL(url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const drip = opts.dripMs ? setInterval(() => socket.write(' '), opts.dripMs) : undefined;
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    socket.on('error', (err) => {
      clearInterval(drip);
      reject(err);
    });
    socket.on('close', () => {
      clearInterval(drip);
      resolve({ answer, tookMs: Date.now() - started });
    });
    socket.write(head);
  });
}
