import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitServer, startGitServer } from '@flotilla/test-support';
import { afterAll, beforeAll } from 'vitest';

/**
 * A git server and a scratch directory for the audit repos of one test file: started before its
 * tests, stopped and removed after them. Read the fields inside tests (they are set in beforeAll).
 */
export function repoFixture(name: string): { readonly git: GitServer; readonly scratch: string } {
  const fx = {} as { git: GitServer; scratch: string };
  beforeAll(async () => {
    fx.scratch = await mkdtemp(join(tmpdir(), `flotilla-audit-${name}-`));
    fx.git = await startGitServer();
  });
  afterAll(async () => {
    await fx.git?.stop();
    if (fx.scratch) await rm(fx.scratch, { recursive: true, force: true });
  });
  return fx;
}
