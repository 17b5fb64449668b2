export { Applier, type DriftReport } from './applier.ts';
export { ApplyError, type ObjectProblem } from './apply-error.ts';
export { Config } from './config.ts';
export { INVENTORY_LABEL, PRUNE_ANNOTATION } from './desired.ts';
export { checkReplay, verifyPlan } from './plan-checks.ts';
export { type ApplierHandle, type StartOptions, startApplier } from './service.ts';
