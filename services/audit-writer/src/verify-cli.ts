#!/usr/bin/env node
// Verifies an audit repo clone and names the first record that was edited, removed, reordered
// or (with the writer's public key) rewritten and re-hashed. Built by `npm run build`:
// Usage: node dist/verify-cli.js <audit-repo-dir> [--key <vkey|file>]... [--checkpoint <file>]...
//        [--origin <origin>] [--nats <url> (read the checkpoint stream too)] [--json]
// Exit 0: intact; 1: tampered; 2: usage or I/O error.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readStreamCheckpoints } from './checkpoint-publisher.ts';
import { renderVerifyResult, verifyCommand } from './verify-command.ts';
import type { KeptCheckpoint } from './verify-log.ts';

const usage =
  'usage: verify-cli <audit-repo-dir> [--key <verifier key or file>]... [--checkpoint <file>]... [--origin <origin>] [--nats <url>] [--json]\n';
let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      key: { type: 'string', multiple: true, default: [] },
      checkpoint: { type: 'string', multiple: true, default: [] },
      origin: { type: 'string' },
      nats: { type: 'string' },
    },
  });
}
try {
  parsed = parse();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const dir = positionals[0];
if (!dir || !existsSync(dir) || (values.nats && !values.origin)) {
  process.stderr.write(values.nats && !values.origin ? `--nats needs --origin\n${usage}` : usage);
  process.exit(2);
}
try {
  const extra: KeptCheckpoint[] = [];
  if (values.nats && values.origin) {
    const nc = await connect({ servers: values.nats, timeout: 5000 });
    try {
      for (const { seq, entry } of await readStreamCheckpoints(jetstream(nc), values.origin))
        extra.push({ source: `stream:${seq}`, entry });
    } finally {
      await nc.close();
    }
  }
  const result = await verifyCommand({
    dir,
    keys: values.key,
    kept: values.checkpoint,
    extra,
    ...(values.origin ? { origin: values.origin } : {}),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else {
    process.stdout.write(`${renderVerifyResult(result)}\n`);
    if (values.key.length === 0)
      process.stderr.write(
        'warning: no --key given: only the unkeyed hash chain was checked; an insider who re-hashes it goes unnoticed\n',
      );
  }
  process.exit(result.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`verify failed: ${(err as Error).message}\n`);
  process.exit(2);
}
