import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  isPipelineFile,
  PIPELINES_DIR,
  type PipelineFile,
  type PipelineSet,
  parsePipelineSet,
  type RefusedPipeline,
  ROOT_PIPELINE_FILE,
} from '@flotilla/policy';

/** A pipeline file larger than this is refused unread (a pipeline is a few KiB). */
export const MAX_PIPELINE_BYTES = 256 * 1024;

/** The pipeline files of a tree, and those refused unread. */
export interface PipelineFilesRead {
  /** Root file first, then `pipelines/` by name. */
  files: PipelineFile[];
  unread: RefusedPipeline[];
}

/**
 * The pipeline files of an extracted tree (the root file and `pipelines/*.yaml`), read from
 * disk (one git process per file would cost seconds for hundreds of pipelines). Only regular
 * files: a symlink is never followed out of the repo, and an oversized file is refused, not
 * read. Shared by the planner and `flotilla render`, so both see the same pipelines.
 */
export async function readPipelineFiles(
  tree: string,
  pipelineFile = ROOT_PIPELINE_FILE,
): Promise<PipelineFilesRead> {
  const files: PipelineFile[] = [];
  const unread: Array<{ file: string; code: 'pipeline-limit' | 'not-a-file'; message: string }> = [];
  const found: string[] = [pipelineFile];
  const dir = await lstat(join(tree, PIPELINES_DIR)).catch(() => null);
  if (dir?.isDirectory())
    for (const name of (await readdir(join(tree, PIPELINES_DIR))).sort()) {
      const file = `${PIPELINES_DIR}/${name}`;
      if (isPipelineFile(file, pipelineFile)) found.push(file);
    }
  const read = async (file: string) => {
    const st = await lstat(join(tree, file)).catch(() => null);
    if (!st) return;
    if (!st.isFile())
      unread.push({ file, code: 'not-a-file', message: 'is a symlink or not a regular file; not read' });
    else if (st.size > MAX_PIPELINE_BYTES)
      unread.push({
        file,
        code: 'pipeline-limit',
        message: `larger than ${MAX_PIPELINE_BYTES} bytes; not read`,
      });
    else files.push({ file, text: await readFile(join(tree, file), 'utf8') });
  };
  // Read side by side; kept in the order found (root file first, then by name).
  const order = new Map(found.map((f, i) => [f, i]));
  await Promise.all(found.map(read));
  const byOrder = (a: { file: string }, b: { file: string }) =>
    (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0);
  files.sort(byOrder);
  unread.sort(byOrder);
  return {
    files,
    unread: unread.map((u) => ({
      file: u.file,
      issues: [{ file: u.file, line: 1, column: 1, path: '', pointer: '', code: u.code, message: u.message }],
    })),
  };
}

/** The pipeline set of a tree, with the files refused unread among the refused pipelines. */
export function pipelineSetOf(read: PipelineFilesRead, parsed?: PipelineSet): PipelineSet {
  const set = parsed ?? parsePipelineSet(read.files);
  return { pipelines: set.pipelines, refused: [...set.refused, ...read.unread] };
}
