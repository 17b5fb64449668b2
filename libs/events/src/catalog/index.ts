import type { EventDefinition } from '../define-event.ts';
import {
  ApplyFailed,
  ApplyStarted,
  ApplySucceeded,
  DriftCorrected,
  DriftDetected,
  HealthChanged,
} from './apply.ts';
import { ChangeApprovalRefused, ChangeApproved, ChangeAwaitingApproval } from './change.ts';
import {
  GitCommitDetected,
  GitCommitRejected,
  GitHistoryRewritten,
  GitPushRejected,
  GitSourceFailed,
} from './git.ts';
import { ImageScanFailed, ImageTagDetected, ImageTagMoved, ImageUpdateCommitted } from './image.ts';
import { PlanCreated, RenderFailed } from './plan.ts';
import {
  OperationRefused,
  PromotionApproved,
  PromotionAwaitingApproval,
  PromotionCommitted,
  PromotionProposed,
  PromotionRejected,
  RollbackCommitted,
  StageLockChanged,
} from './promotion.ts';
import { ApiRequestRefused, AuditGapDetected, DeadLettered, WebhookRejected } from './system.ts';

export * from './apply.ts';
export * from './change.ts';
export * from './git.ts';
export * from './image.ts';
export * from './plan.ts';
export * from './promotion.ts';
export * from './system.ts';

/** Every event Flotilla emits. The JSON Schema export and the audit log both walk this list. */
export const catalog = [
  GitCommitDetected,
  GitHistoryRewritten,
  GitCommitRejected,
  GitSourceFailed,
  ImageTagDetected,
  ImageTagMoved,
  ImageScanFailed,
  ImageUpdateCommitted,
  PlanCreated,
  RenderFailed,
  ApplyStarted,
  ApplySucceeded,
  ApplyFailed,
  HealthChanged,
  DriftDetected,
  DriftCorrected,
  PromotionProposed,
  PromotionAwaitingApproval,
  PromotionApproved,
  PromotionRejected,
  PromotionCommitted,
  RollbackCommitted,
  StageLockChanged,
  WebhookRejected,
  DeadLettered,
  AuditGapDetected,
  // New events go last: the audit-writer's golden fixture walks this list in order.
  OperationRefused,
  GitPushRejected,
  ChangeAwaitingApproval,
  ChangeApproved,
  ChangeApprovalRefused,
  ApiRequestRefused,
] as const satisfies readonly EventDefinition[];

export type CatalogEvent = (typeof catalog)[number];

const byType = new Map<string, EventDefinition>(catalog.map((d) => [d.type, d]));

export function definitionForType(type: string): EventDefinition | undefined {
  return byType.get(type);
}
