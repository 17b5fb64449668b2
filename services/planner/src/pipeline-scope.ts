import { ROOT_PIPELINE_FILE } from '@flotilla/policy';

/**
 * Which pipeline a component works for, and how that shows in what it writes. A repo's root
 * `flotilla.yaml` is the pipeline as it was before `pipelines/` existed: its plans, ids, keys and
 * trailers are unchanged, so existing installs (and the applier's root inventory) carry on. Every
 * pipeline of `pipelines/` names itself in events, plan ids, promotion ids and trailers.
 */
export interface PipelineScope {
  name: string;
  file: string;
  root: boolean;
  /** Spread into event data: `{ pipeline }`, or nothing for the root pipeline. */
  field: { pipeline?: string };
  /** Prepended to plan, promotion and request ids: `<name>.`, or '' for the root pipeline. */
  idPrefix: string;
}

export function pipelineScope(name: string, file: string, rootFile = ROOT_PIPELINE_FILE): PipelineScope {
  const root = file === rootFile;
  return { name, file, root, field: root ? {} : { pipeline: name }, idPrefix: root ? '' : `${name}.` };
}
