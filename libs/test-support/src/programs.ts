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
 * Arguments for `process.execPath` that run a program exactly as production does (plain node on
 * the bundle, as the images' entrypoint), so tests exercise the shipped runtime path.
 */
export function programArgs(program: Program, ...args: string[]): string[] {
  return ['--enable-source-maps', programPath(program), ...args];
}
