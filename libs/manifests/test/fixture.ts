import { readFileSync } from 'node:fs';

/** Reads a fixture file beside the unit tests (src/fixtures/<name>). */
export function fixture(name: string): string {
  return readFileSync(new URL(`../src/fixtures/${name}`, import.meta.url), 'utf8');
}
