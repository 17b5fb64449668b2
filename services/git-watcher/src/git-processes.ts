import { AsyncLocalStorage } from 'node:async_hooks';
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

/**
 * Counts git processes per unit of work. @flotilla/git runs git through simple-git and has no spawn
 * hook, so `child_process.spawn` is wrapped once per process; each spawn of `git` is attributed to
 * the counter of the async context it starts in (a repo check, a bench cycle). The wrapper only
 * counts: arguments and behaviour pass through unchanged.
 */
export interface GitProcessCounter {
  count: number;
}

const storage = new AsyncLocalStorage<GitProcessCounter[]>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const original = childProcess.spawn;
  const wrapped = function (this: unknown, command: string, ...rest: unknown[]) {
    if (command === 'git' || command.endsWith('/git')) {
      for (const c of storage.getStore() ?? []) c.count++;
    }
    return (original as (...a: unknown[]) => unknown).call(this, command, ...rest);
  } as typeof childProcess.spawn;
  childProcess.spawn = wrapped;
  // ESM importers (simple-git's .mjs build) see the builtin's live bindings only after this.
  syncBuiltinESMExports();
}

/** Runs `fn` with every git process it spawns counted in `counter` (and in any enclosing counters). */
export function countGitProcesses<T>(counter: GitProcessCounter, fn: () => Promise<T>): Promise<T> {
  install();
  const outer = storage.getStore() ?? [];
  return storage.run([...outer, counter], fn);
}
