export { Applier, type DriftReport } from './applier.ts';
export { ApplyError, type ObjectProblem } from './apply-error.ts';
export { Config } from './config.ts';
export { INVENTORY_LABEL, PIPELINE_LABEL, PRUNE_ANNOTATION } from './desired.ts';
export { ownedElsewhere } from './ownership.ts';
export { PipelineAppliers } from './pipeline-appliers.ts';
export { checkReplay, verifyPlan } from './plan-checks.ts';
export { type ApplierHandle, type StartOptions, startApplier } from './service.ts';
