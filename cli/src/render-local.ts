import { existsSync, statSync } from 'node:fs';
import { type KubeObject, sortObjects } from '@flotilla/manifests';
import { pipelineSetOf, readPipelineFiles } from '@flotilla/planner';
import { formatPipelineIssue, PIPELINES_DIR, ROOT_PIPELINE_FILE } from '@flotilla/policy';
import { type RenderProblem, renderCluster } from '@flotilla/render';
import { stringify } from 'yaml';
import { CliError, EXIT, usageError } from './exit-codes.ts';

export interface LocalRenderOptions {
  /** A checkout of the config repo. */
  dir: string;
  cluster: string;
  /** Only this pipeline's cluster of that name. */
  pipeline?: string;
  /** As the planner's `kustomize` setting: `auto`, `kubectl`, or a flotilla-kustomize path. */
  kustomize: string;
  kubectl: string;
}

export interface LocalRender {
  /** Pipeline name and cluster path of each render, in pipeline order. */
  rendered: Array<{ pipeline: string; path: string; objects: KubeObject[] }>;
}

/** `file:line:column code: message`, the form editors and CI annotations pick up. */
export function formatRenderProblem(p: RenderProblem): string {
  const at = [p.file, p.line, p.line !== undefined ? p.column : undefined].filter((x) => x !== undefined);
  return `${at.join(':')} ${p.code}: ${p.message}`;
}

/**
 * Renders one cluster of a local config repo checkout as the planner would: the same pipeline
 * loader (root file and `pipelines/*.yaml`, conflicts refused), the same `renderCluster` (walk,
 * sandbox, budgets), the objects sorted as a bundle holds them. A cluster name the repo does not
 * declare is a usage error (exit 2); a refused pipeline or render is a refusal (exit 1), with
 * file and line.
 */
export async function renderLocal(o: LocalRenderOptions): Promise<LocalRender> {
  if (!existsSync(o.dir) || !statSync(o.dir).isDirectory())
    throw usageError(`${o.dir} is not a directory (give a checkout of the config repo)`);
  const read = await readPipelineFiles(o.dir);
  if (read.files.length === 0 && read.unread.length === 0)
    throw usageError(`neither ${ROOT_PIPELINE_FILE} nor ${PIPELINES_DIR}/*.yaml exists in ${o.dir}`);
  const set = pipelineSetOf(read);
  const inScope = set.pipelines.filter((p) => !o.pipeline || p.pipeline.metadata.name === o.pipeline);
  if (o.pipeline && inScope.length === 0) {
    const refused = set.refused.find((r) => r.name === o.pipeline);
    if (refused) throw refusedPipeline(refused.issues.map(formatPipelineIssue));
    throw usageError(
      `no pipeline ${o.pipeline}; pipelines: ${set.pipelines.map((p) => p.pipeline.metadata.name).join(', ') || '(none in force)'}`,
    );
  }
  const targets = inScope.flatMap((p) =>
    p.pipeline.spec.stages.flatMap((s) =>
      s.clusters
        .filter((c) => c.name === o.cluster)
        .map((c) => ({ pipeline: p.pipeline.metadata.name, path: c.path })),
    ),
  );
  if (targets.length === 0) {
    // A cluster of a pipeline the planner refuses is not rendered by it either: say why.
    if (set.refused.length > 0)
      throw refusedPipeline(
        set.refused.flatMap((r) => r.issues.map(formatPipelineIssue)),
        o.cluster,
      );
    const known = [
      ...new Set(
        inScope.flatMap((p) => p.pipeline.spec.stages.flatMap((s) => s.clusters.map((c) => c.name))),
      ),
    ];
    throw usageError(
      `no cluster ${o.cluster} in ${o.pipeline ? `pipeline ${o.pipeline}` : o.dir}; clusters: ${known.join(', ')}`,
    );
  }
  const rendered: LocalRender['rendered'] = [];
  for (const t of targets) {
    const r = await renderCluster(o.dir, t.path, { kustomize: o.kustomize, kubectl: o.kubectl });
    if (!r.ok)
      throw new CliError(
        `refused: cluster ${o.cluster} (pipeline ${t.pipeline}, ${t.path}):\n${formatRenderProblem(r.problem)}`,
        EXIT.failure,
        r.problem,
      );
    rendered.push({ ...t, objects: sortObjects(r.objects) });
  }
  return { rendered };
}

function refusedPipeline(issues: string[], cluster?: string): CliError {
  const what = cluster
    ? `cluster ${cluster} is in no pipeline in force; refused pipelines:`
    : 'pipeline refused:';
  return new CliError(`${what}\n${issues.join('\n')}`, EXIT.failure);
}

const REDACTED = '(redacted: flotilla render --show-secrets prints it)';

/**
 * A Secret's `data` and `stringData` values replaced, keys kept (so a review still sees what a
 * Secret holds); other objects as they are. Counts what it hid, for the note on stderr.
 */
export function redactSecrets(objects: readonly KubeObject[]): { objects: KubeObject[]; hidden: number } {
  let hidden = 0;
  const out = objects.map((o) => {
    if (o.kind !== 'Secret') return o;
    const copy: Record<string, unknown> = { ...o };
    for (const field of ['data', 'stringData']) {
      const v = copy[field];
      if (v === null || typeof v !== 'object' || Array.isArray(v)) continue;
      copy[field] = Object.fromEntries(Object.keys(v).map((k) => [k, REDACTED]));
      hidden += Object.keys(v).length;
    }
    return copy as KubeObject;
  });
  return { objects: out, hidden };
}

/** Objects as a YAML stream, one document each, as `kustomize build` prints them. */
export function toYamlStream(objects: readonly KubeObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 }).trimEnd()).join('\n---\n');
}
