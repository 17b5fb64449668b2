import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '../../..');

/** The programs Flotilla ships, each one ES module built by `npm run build` (scripts/build.ts). */
const PROGRAMS = {
  planner: 'services/planner/dist/main.js',
  'git-watcher': 'services/git-watcher/dist/main.js',
  'registry-watcher': 'services/registry-watcher/dist/main.js',
  'audit-writer': 'services/audit-writer/dist/main.js',
  'cluster-applier': 'services/cluster-applier/dist/main.js',
  console: 'services/console/dist/main.js',
  'audit-verify': 'services/audit-writer/dist/verify-cli.js',
  cli: 'cli/dist/main.js',
  'webhook-notifier': 'examples/webhook-notifier/dist/main.js',
} as const;

export type Program = keyof typeof PROGRAMS;

/** Absolute path of a program's built module; throws with the fix when it was never built. */
export function programPath(program: Program): string {
  const path = join(repoRoot, PROGRAMS[program]);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\``);
  return path;
}

/**
 * Node's own flags for a program, before its module: exactly what the image's ENTRYPOINT runs
 * (the Dockerfile test checks each stage against this), so tests, benches and images agree.
 * The applier is sized for memory rather than speed (#17, bench/results/applier-peak.md): under
 * its allocation rate (thousands of request bodies, responses and LIST pages per plan) V8 grew
 * the young generation to 64 MiB per semi-space, 128 MiB of RSS for objects that die young;
 * `--max-semi-space-size=2` caps it, and `--optimize-for-size` lets the old generation grow
 * less between full GCs. It spends its time waiting on the apiserver, not computing. Both are
 * command-line only (Node refuses `--optimize-for-size` in NODE_OPTIONS).
 */
const NODE_FLAGS: Partial<Record<Program, readonly string[]>> = {
  'cluster-applier': ['--max-semi-space-size=2', '--optimize-for-size'],
};

export function programNodeArgs(program: Program): string[] {
  return ['--enable-source-maps', ...(NODE_FLAGS[program] ?? [])];
}

/**
 * Arguments for `process.execPath` that run a program exactly as production does (plain node on
 * the bundle, as the images' entrypoint), so tests exercise the shipped runtime path.
 */
export function programArgs(program: Program, ...args: string[]): string[] {
  return [...programNodeArgs(program), programPath(program), ...args];
}
