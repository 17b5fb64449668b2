import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { resolveExecutable } from './sandbox.ts';

/**
 * The program that builds a kustomization in the sandbox:
 * - `flotilla-kustomize` (deploy/flotilla-kustomize): kustomize's Go library with the sandbox's
 *   restrictions compiled in (root-only loads, builtin plugins only, no Helm, no network, reads
 *   confined to the repo, no writes). About a tenth of kubectl's CPU per render: kubectl spends
 *   ~0.15 s starting its command tree before it reads a file.
 * - `kubectl` (`kubectl kustomize` with the same restrictions as flags): the fallback where the
 *   Go program was not built.
 */
export type KustomizeRenderer =
  | { kind: 'flotilla-kustomize'; path: string }
  | { kind: 'kubectl'; path: string };

export const FLOTILLA_KUSTOMIZE = 'flotilla-kustomize';

/** Where scripts/setup.sh (deploy/flotilla-kustomize/build.sh) puts the binary on a dev machine. */
export function cachedKustomizePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.FLOTILLA_CACHE ?? join(homedir(), '.cache', 'flotilla'), 'bin', FLOTILLA_KUSTOMIZE);
}

const resolved = new Map<string, Promise<KustomizeRenderer>>();

/**
 * Which renderer `setting` names, found once per setting:
 * - `auto` (default): `flotilla-kustomize` on PATH (the planner image), else the one setup built
 *   into the cache, else `kubectl` (the `kubectl` option).
 * - `kubectl`: always kubectl.
 * - anything else: the path (or PATH name) of a flotilla-kustomize binary; a missing one is a
 *   configuration error, not a silent fallback.
 */
export function resolveKustomizeRenderer(setting = 'auto', kubectl = 'kubectl'): Promise<KustomizeRenderer> {
  const key = `${setting}\0${kubectl}`;
  let found = resolved.get(key);
  if (!found) {
    found = pick(setting, kubectl);
    resolved.set(key, found);
    // A failed lookup (a binary not yet built) is tried again next time.
    found.catch(() => resolved.delete(key));
  }
  return found;
}

/** Like resolveExecutable, but an absolute path must exist and be executable too. */
async function executable(command: string): Promise<string> {
  const path = await resolveExecutable(command);
  if (isAbsolute(command)) await access(path, constants.X_OK);
  return path;
}

async function pick(setting: string, kubectl: string): Promise<KustomizeRenderer> {
  if (setting === 'kubectl') return { kind: 'kubectl', path: await resolveExecutable(kubectl) };
  if (setting !== 'auto') {
    const path = await executable(setting).catch(() => {
      throw new Error(`kustomize renderer "${setting}" not found (set it to auto or kubectl to use kubectl)`);
    });
    return { kind: 'flotilla-kustomize', path };
  }
  for (const candidate of [FLOTILLA_KUSTOMIZE, cachedKustomizePath()]) {
    const path = await executable(candidate).catch(() => null);
    if (path) return { kind: 'flotilla-kustomize', path };
  }
  return { kind: 'kubectl', path: await resolveExecutable(kubectl) };
}

/** The renderer's command line for building `dir` of the repo checked out at `root`. */
export function kustomizeArgs(renderer: KustomizeRenderer, root: string, dir: string): string[] {
  if (renderer.kind === 'flotilla-kustomize') return [root, dir];
  return [
    'kustomize',
    dir,
    // The defaults today, spelled out so a future default cannot widen what a commit can do.
    '--load-restrictor=LoadRestrictionsRootOnly',
    '--enable-helm=false',
    '--enable-alpha-plugins=false',
    '--network=false',
  ];
}
