import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sortObjects } from '@flotilla/manifests';
import { formatPipelineIssue, parsePipeline } from '@flotilla/policy';
import { type RenderProblem, type RenderResult, renderCluster } from '@flotilla/render';
import { stringify } from 'yaml';
import { CliError, EXIT, usageError } from './exit-codes.ts';

export interface RenderCommandOptions {
  cluster?: string;
  path?: string;
  pipelineFile: string;
  output: 'yaml' | 'json';
  kubectl?: string;
}

/** `file:line:column: code: message`, the form editors and CI annotations understand. */
export function formatProblem(p: RenderProblem): string {
  const where = [p.file, p.line, p.line !== undefined ? p.column : undefined]
    .filter((x) => x !== undefined)
    .join(':');
  return `${where}: ${p.code}: ${p.message}`;
}

/** The cluster's directory, from the pipeline file of the checkout. */
async function clusterPath(repoDir: string, cluster: string, pipelineFile: string): Promise<string> {
  const text = await readFile(join(repoDir, pipelineFile), 'utf8').catch(() => null);
  if (text === null) throw usageError(`${pipelineFile} not found in ${repoDir}; pass --path <dir> instead`);
  const parsed = parsePipeline(text, pipelineFile);
  if (!parsed.ok) throw new CliError(parsed.errors.map(formatPipelineIssue).join('\n'), EXIT.failure);
  const clusters = parsed.pipeline.spec.stages.flatMap((s) => s.clusters);
  const found = clusters.find((c) => c.name === cluster);
  if (!found)
    throw usageError(
      `no cluster ${cluster} in ${pipelineFile}; clusters: ${clusters.map((c) => c.name).join(', ')}`,
    );
  return found.path;
}

/**
 * `flotilla render`: the planner's own renderer (same walk, same budgets, same sandboxed
 * kubectl) run on a local checkout, so CI shows what a commit will deploy, or why it is refused,
 * before it merges. Objects come back sorted as they would go into a bundle.
 */
export async function runRender(
  repoDir: string,
  opts: RenderCommandOptions,
): Promise<{ result: RenderResult; text: string; path: string }> {
  if (!opts.cluster === !opts.path) throw usageError('give exactly one of --cluster <name> or --path <dir>');
  const path = opts.path ?? (await clusterPath(repoDir, opts.cluster as string, opts.pipelineFile));
  const result = await renderCluster(repoDir, path, opts.kubectl ? { kubectl: opts.kubectl } : {});
  if (!result.ok) return { result, text: formatProblem(result.problem), path };
  const objects = sortObjects(result.objects);
  const text =
    opts.output === 'json'
      ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 2)
      : objects.map((o) => stringify(o, { lineWidth: 0 }).trimEnd()).join('\n---\n');
  return { result, text, path };
}
