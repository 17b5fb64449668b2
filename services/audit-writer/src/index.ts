export {
  AuditRepo,
  batchMessage,
  listDayFiles,
  readAuditFiles,
  readRepoCheckpoints,
  verifyAuditDir,
} from './audit-repo.ts';
export { Batcher, type BatcherOptions } from './batcher.ts';
export {
  type AuditFile,
  type AuditRecord,
  buildRecord,
  type ChainAnchor,
  canonicalJson,
  dayFile,
  GENESIS_HASH,
  hashRecord,
  type ProblemKind,
  recordLine,
  type VerifyProblem,
  type VerifyResult,
  verifyChain,
} from './chain.ts';
export {
  type Checkpoint,
  type CheckpointEntry,
  checkpointSize,
  parseCheckpoint,
  signCheckpoint,
  verifyCheckpoint,
} from './checkpoint.ts';
export { checkpointSubject, readStreamCheckpoints } from './checkpoint-publisher.ts';
export { Config } from './config.ts';
export { formatNote } from './config-notes.ts';
export {
  buildEvidence,
  type ChangeClass,
  type EvidenceChange,
  type EvidencePackage,
  type EvidenceVerification,
  FIELD_CLASSES,
  verifyEvidence,
} from './evidence.ts';
export {
  type EvidenceCommandOptions,
  evidenceCommand,
  renderEvidenceSummary,
  verifyEvidenceFile,
} from './evidence-command.ts';
export {
  buildExport,
  type ExportMetadata,
  type ProductionChange,
  toCsv,
  verifyExportHash,
} from './export.ts';
export { AuditIndex, approverIsNotAuthor } from './projection.ts';
export { type AuditWriter, type AuditWriterHooks, startAuditWriter } from './service.ts';
export { type Summary, summarize } from './summary.ts';
export {
  loadVerifier,
  parseKeptCheckpoint,
  renderVerifyResult,
  type VerifyCommandOptions,
  verifyCommand,
} from './verify-command.ts';
export { type KeptCheckpoint, type SignedVerifyResult, verifyLog } from './verify-log.ts';
