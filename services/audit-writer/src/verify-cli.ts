#!/usr/bin/env -S npx tsx
// Recomputes the hash chain of an audit repo clone and names the first record that was edited,
// removed or reordered. Usage: tsx src/verify-cli.ts <audit-repo-dir> [--json]
// Exit 0: intact; 1: tampered; 2: usage or I/O error.
import { existsSync } from 'node:fs';
import { verifyAuditDir } from './audit-repo.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const dir = args.find((a) => !a.startsWith('--'));
if (!dir || !existsSync(dir)) {
  process.stderr.write('usage: verify-cli <audit-repo-dir> [--json]\n');
  process.exit(2);
}
try {
  const result = await verifyAuditDir(dir);
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (result.ok) {
    process.stdout.write(
      `ok: ${result.records} records in ${result.files} files, chain intact` +
        (result.head ? ` (head seq ${result.head.seq} ${result.head.hash})` : '') +
        '\n',
    );
  } else {
    const p = result.problem!;
    process.stdout.write(
      `TAMPERED: ${p.kind} at ${p.file}:${p.line}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.message}\n`,
    );
  }
  process.exit(result.ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`verify failed: ${(err as Error).message}\n`);
  process.exit(2);
}
