// Writes (or with --check, verifies) libs/events/schemas/*.json from the TypeBox catalog.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchemas } from '../src/json-schema.ts';

const dir = join(import.meta.dirname, '..', 'schemas');
const check = process.argv.includes('--check');
const wanted = jsonSchemas();
const stale: string[] = [];
for (const [file, schema] of Object.entries(wanted)) {
  const text = `${JSON.stringify(schema, null, 2)}\n`;
  const path = join(dir, file);
  let current = '';
  try {
    current = readFileSync(path, 'utf8');
  } catch {}
  if (current !== text) {
    stale.push(file);
    if (!check) writeFileSync(path, text);
  }
}
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && !(f in wanted))) {
  stale.push(file);
  if (!check) rmSync(join(dir, file));
}
if (check && stale.length > 0) {
  console.error(
    `JSON Schemas are out of date (${stale.join(', ')}); run: npm run schemas -w @flotilla/events`,
  );
  process.exit(1);
}
console.log(
  check ? `schemas up to date (${Object.keys(wanted).length})` : `wrote ${stale.length} schema file(s)`,
);
