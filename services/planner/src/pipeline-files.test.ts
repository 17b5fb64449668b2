import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_PIPELINE_BYTES, pipelineSetOf, readPipelineFiles } from './pipeline-files.ts';

const pipeline = (name: string, path: string) =>
  `apiVersion: flotilla.io/v1\nkind: Pipeline\nmetadata: { name: ${name} }\nspec:\n  stages:\n    - name: dev\n      clusters: [{ name: dev, path: ${path} }]\n`;

let root = '';
afterEach(() => rm(root, { recursive: true, force: true }));

describe('readPipelineFiles', () => {
  it('reads the root file, then pipelines/ by name; refuses symlinks and oversized files unread', async () => {
    root = await mkdtemp(join(tmpdir(), 'pipeline-files-'));
    await mkdir(join(root, 'pipelines'));
    await writeFile(join(root, 'flotilla.yaml'), pipeline('root', 'clusters/root'));
    await writeFile(join(root, 'pipelines/b.yaml'), pipeline('b', 'clusters/b'));
    await writeFile(join(root, 'pipelines/a.yml'), pipeline('a', 'clusters/a'));
    await writeFile(join(root, 'pipelines/notes.txt'), 'not a pipeline');
    await writeFile(join(root, 'pipelines/big.yaml'), 'x'.repeat(MAX_PIPELINE_BYTES + 1));
    await symlink('/etc/passwd', join(root, 'pipelines/link.yaml'));

    const read = await readPipelineFiles(root);
    expect(read.files.map((f) => f.file)).toEqual(['flotilla.yaml', 'pipelines/a.yml', 'pipelines/b.yaml']);
    expect(read.unread.map((u) => [u.file, u.issues[0]?.code])).toEqual([
      ['pipelines/big.yaml', 'pipeline-limit'],
      ['pipelines/link.yaml', 'not-a-file'],
    ]);
    const set = pipelineSetOf(read);
    expect(set.pipelines.map((p) => p.pipeline.metadata.name)).toEqual(['a', 'b', 'root']);
    expect(set.refused.map((r) => r.file)).toEqual(['pipelines/big.yaml', 'pipelines/link.yaml']);
  });
});
