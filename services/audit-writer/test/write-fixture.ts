// Regenerates src/fixtures/chain (the golden audit log every later version must still verify).
// Run only when the record format changes on purpose: npx tsx services/audit-writer/test/write-fixture.ts
// (it writes every catalog event; the golden test replays as many as the fixture holds).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { buildRecord, dayFile, GENESIS_HASH, recordLine } from '../src/chain.ts';
import { sampleEvents } from '../src/sample-events.ts';

const root = join(import.meta.dirname, '..', 'src', 'fixtures', 'chain');
let prevHash = GENESIS_HASH;
const files = new Map<string, string>();
sampleEvents().forEach((event, i) => {
  // Two day files, so the chain crosses a file boundary.
  const recordedAt = new Date(Date.parse('2026-11-26T23:59:50.000Z') + i * 1000);
  const r = buildRecord(event, { seq: i + 1, prevHash, recordedAt });
  prevHash = r.hash;
  const file = dayFile(recordedAt);
  files.set(file, (files.get(file) ?? '') + recordLine(r));
});
for (const [file, text] of files) {
  mkdirSync(dirname(join(root, file)), { recursive: true });
  writeFileSync(join(root, file), text);
}
console.log(`wrote ${[...files.keys()].join(', ')} (head ${prevHash})`);
