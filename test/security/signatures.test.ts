import { ImageUpdateCommitted, PlanCreated, RenderFailed } from '@flotilla/events';
import type { PlannerHandle } from '@flotilla/planner';
import { GitWorkdir, generateSshSigningKey, type SshSigningKey } from '@flotilla/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, digestOf, type Harness } from '../../services/planner/test/harness.ts';

// `signatures: require` enforced by the planner itself, not only by the git-watcher: an
// unsigned commit reaches the planner without any GitCommitDetected (a restart renders the
// head it fetched; its own push rebases onto whatever is on the remote). Neither may render it.

type D = Record<string, unknown>;
let h: Harness;
let key: SshSigningKey;
let work: GitWorkdir;
let planner: PlannerHandle;
let signedBase: string;

beforeAll(async () => {
  h = await createHarness();
  key = await generateSshSigningKey('release@example.test');
  work = await GitWorkdir.clone(h.git.fileUrl(h.repoName));
  await work.useSigningKey(key);
  // The fixture's first commit is unsigned; the planner starts from a signed head.
  await work.writeFile('README.md', 'signed from here on\n');
  signedBase = await work.commit('signed base');
  await work.push();
  planner = await h.start({
    git: { ...h.config().git, signature: { policy: 'require', allowedSignersFile: key.allowedSignersFile } },
  });
  for (const c of ['dev', 'test', 'uat', 'prod'])
    await h.events.wait(PlanCreated, (d: D) => d.cluster === c && d.revision === signedBase);
});

afterAll(async () => {
  await work?.remove();
  await h?.stop();
});

describe('signatures: require in the planner', () => {
  it('an unsigned commit under the planner’s own push is not rendered; its own commit is trusted', async () => {
    await work.writeFile(
      'clusters/dev/kustomization.yaml',
      `${await h.fileAtHead('clusters/dev/kustomization.yaml')}commonLabels:\n  unsigned: "true"\n`,
    );
    const unsigned = await work.commit('sneaked in, unsigned', { sign: false });
    await work.push(); // no GitCommitDetected: the git-watcher would have refused it
    await h.tag('1.4.7', digestOf('web-1.4.7'));
    const own = await h.events.wait<D>(ImageUpdateCommitted, (d) => d.tag === '1.4.7');
    const failed = await h.events.wait<D>(RenderFailed, (d) => d.revision === own.data.commit);
    expect(failed.data).toMatchObject({ code: 'git.signature-unsigned', file: '' });
    expect(failed.data.message).toContain(unsigned);
    expect(failed.data.message).not.toContain(`commit ${own.data.commit} fails`);
    expect(
      h.events.of(PlanCreated, (d: D) => d.revision === own.data.commit || d.revision === unsigned),
    ).toEqual([]);
  });

  it('after a restart, the head it fetches is not rendered either', async () => {
    await planner.stop();
    await work.pull();
    await work.writeFile('README.md', 'a signed commit on top does not launder the unsigned one\n');
    const head = await work.commit('signed, on top');
    await work.push();
    planner = await h.start({
      git: {
        ...h.config().git,
        signature: { policy: 'require', allowedSignersFile: key.allowedSignersFile },
      },
    });
    const failed = await h.events.wait<D>(RenderFailed, (d) => d.revision === head);
    expect(failed.data).toMatchObject({ code: 'git.signature-unsigned' });
    const status = await h.api(planner, 'GET', '/api/v1/stages', 'bob-token-0123456789abcdef');
    expect(status.body.revision).toBe(signedBase);
    expect(h.events.of(PlanCreated, (d: D) => d.revision !== signedBase)).toEqual([]);
  });
});
