// vitest globalSetup: tests run the programs as production does (plain node on the bundles from
// scripts/build.ts), so build them first; an edit to any source is then never tested stale.
import { buildAll, stale } from '../scripts/build.ts';

export default async function setup(): Promise<void> {
  const old = stale();
  if (old.length > 0) await buildAll(old, true);
}
