// Writes (or with --check, verifies) libs/events/schemas/*.json from the TypeBox catalog.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
    if (!check) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    }
  }
}
const present = readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => f.split('\\').join('/'));
for (const file of present.filter((f) => f.endsWith('.json') && !(f in wanted))) {
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
  check ? `schemas up to date (${Object.keys(wanted).length} files)` : `wrote ${stale.length} file(s)`,
);
