// Writes (or with --check, verifies) libs/api/openapi.json from the route definitions.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openApiDocument } from '../src/openapi.ts';

const path = join(import.meta.dirname, '..', 'openapi.json');
const text = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
let current = '';
try {
  current = readFileSync(path, 'utf8');
} catch {}
if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error('libs/api/openapi.json is out of date; run: npm run openapi -w @flotilla/api');
    process.exit(1);
  }
  console.log('openapi.json up to date');
} else {
  writeFileSync(path, text);
  console.log(current === text ? 'openapi.json unchanged' : 'wrote openapi.json');
}
