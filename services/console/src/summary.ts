/** One line a person can read for an event: what happened, where, to what. Pure. */
export function summarize(name: string, data: unknown): string {
  const d = (data ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const short = (v: unknown) => {
    const t = s(v);
    return t.startsWith('sha256:') ? `${t.slice(0, 19)}` : t.slice(0, 12);
  };
  const imgs = (v: unknown) =>
    Array.isArray(v)
      ? v
          .map(
            (i: { name?: string; repository?: string; tag?: string }) =>
              `${i.name ?? i.repository ?? ''}:${i.tag ?? '?'}`,
          )
          .join(', ')
      : '';
  switch (name) {
    case 'ImageTagDetected':
      return `new image ${s(d.image)}:${s(d.tag)} (${short(d.digest)})`;
    case 'ImageUpdateCommitted':
      return `${s(d.stage)} updated to ${s(d.image)}:${s(d.tag)} in ${short(d.commit)}`;
    case 'GitCommitDetected':
      return `commit ${short(d.sha)} on ${s(d.repo)}/${s(d.branch)}`;
    case 'ImageScanFailed':
      return `registry scan of ${s(d.image)} failed: ${s(d.code)} ${s(d.message).split('\n')[0]}`;
    case 'PlanCreated':
      return `plan ${s(d.planId)} for ${s(d.cluster)} at ${short(d.revision)}`;
    case 'RenderFailed':
      return `render failed${d.cluster ? ` for ${s(d.cluster)}` : ''}: ${s(d.code)} ${s(d.file)}${d.line ? `:${s(d.line)}` : ''}`;
    case 'ApplyStarted':
      return `${s(d.cluster)}: applying ${s(d.planId)} (${s(d.objects)} objects)`;
    case 'ApplySucceeded': {
      const c = (d.counts ?? {}) as Record<string, number>;
      const warned = Array.isArray(d.warnings) ? d.warnings.length : 0;
      return `${s(d.cluster)}: applied ${s(d.planId)} (${c.applied ?? 0} changed, ${c.unchanged ?? 0} unchanged, ${c.pruned ?? 0} pruned${warned > 0 ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''})`;
    }
    case 'ApplyFailed':
      return `${s(d.cluster)}: apply failed ${s(d.code)}: ${s(d.message).split('\n')[0]}`;
    case 'HealthChanged':
      return `${s(d.cluster)}: ${s(d.previous) || '?'} → ${s(d.status)}`;
    case 'DriftDetected':
      return `${s(d.cluster)}: drift in ${s(d.object)} (${Array.isArray(d.diffs) ? d.diffs.length : 0} fields)`;
    case 'DriftCorrected':
      return `${s(d.cluster)}: drift corrected in ${s(d.object)}`;
    case 'PromotionProposed':
      return `promotion ${s(d.fromStage)} → ${s(d.toStage)} proposed: ${imgs(d.images)}`;
    case 'PromotionAwaitingApproval':
      return `promotion into ${s(d.toStage)} awaits approval (${(d.approvers as string[] | undefined)?.join(', ') ?? ''})`;
    case 'PromotionApproved':
      return `${s(d.approver)} approved promotion into ${s(d.toStage)}`;
    case 'PromotionRejected':
      return d.kind === 'unauthorised'
        ? `refused: ${s(d.reason)}`
        : `${s(d.by)} rejected promotion into ${s(d.toStage)}: ${s(d.reason)}`;
    case 'PromotionCommitted':
      return `promoted ${s(d.fromStage)} → ${s(d.toStage)} in ${short(d.commit)}: ${imgs(d.images)}`;
    case 'RollbackCommitted':
      return `${s(d.stage)} rolled back to ${short(d.toRevision)} by ${s(d.by)}`;
    case 'StageLockChanged':
      return `${s(d.stage)} ${d.locked ? 'locked' : 'unlocked'} by ${s(d.by)}`;
    case 'OperationRefused':
      return `refused ${s(d.operation)}${d.stage ? ` on ${s(d.stage)}` : ''} for ${s(d.by)}: ${s(d.code)}`;
    default:
      return name;
  }
}
