// The test git server's listener, run as a process of its own (`node git-daemon-relay.ts <root>`):
// a TCP listener with Nagle's algorithm off that hands each connection to `git daemon --inetd`
// over pipes, so every repository is still served by git itself.
//
// Why not `git daemon --listen`: git daemon never sets TCP_NODELAY, so when upload-pack writes a
// response in several small packets the second waits for the client's ACK, which Linux delays by
// 40 ms (delayed ACK). Every fetch, ls-remote and push then paid ~40 ms that a forge does not
// charge (HTTPS servers and libcurl set TCP_NODELAY): a fetch of one commit took 54 ms against
// 14 ms over file://, 20–30 ms through this relay. Over pipes nothing is delayed.
//
// Runs under Node without a loader (type stripping): node: imports only.
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';

const [root, port = '0'] = process.argv.slice(2);
if (!root || !/^\d+$/.test(port)) {
  console.error('usage: git-daemon-relay.ts <base path> [port]');
  process.exit(2);
}

const serve = (socket: Socket) => {
  const daemon = spawn(
    'git',
    ['daemon', '--inetd', '--verbose', '--export-all', '--enable=receive-pack', `--base-path=${root}`, root],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  socket.pipe(daemon.stdin);
  daemon.stdout.pipe(socket);
  // A client gone mid-request (a test killing a service) must not take the relay down.
  daemon.stdin.on('error', () => {});
  socket.on('error', () => daemon.kill('SIGKILL'));
  socket.on('close', () => {
    if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
  });
};

// allowHalfOpen: a client that shuts its side after sending still gets the whole answer.
const server = createServer({ noDelay: true, allowHalfOpen: true }, serve);
// A given port is listened on again after a stop (Node sets SO_REUSEADDR): the remote coming back.
server.listen(Number(port), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  // The test side waits for this line (git daemon's own word for it) and reads the port from it.
  console.log(`Ready to rumble on port ${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
