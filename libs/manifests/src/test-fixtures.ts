import { readFileSync } from 'node:fs';

/** Reads a fixture file next to the tests (src/fixtures/<name>). Test-only helper. */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}
