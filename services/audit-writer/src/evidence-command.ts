import { readFile } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/errors';
import { readAuditFiles, readRepoCheckpoints } from './audit-repo.ts';
import { type AuditRecord, fileLines, type VerifyResult } from './chain.ts';
import {
  buildEvidence,
  type EvidencePackage,
  type EvidenceVerification,
  verifyEvidence,
} from './evidence.ts';
import { loadVerifier, verifyCommand } from './verify-command.ts';
import type { SignedVerifyResult } from './verify-log.ts';

export interface EvidenceCommandOptions {
  /** A clone of the audit repo: trusted only after it verifies against the keys. */
  dir: string;
  keys: string[];
  stages: string[];
  since?: string;
  until?: string;
  selector?: string;
}

/**
 * `flotilla audit evidence`: verifies the clone against the writer's signed checkpoints first
 * (an evidence package cut from a tampered log would prove nothing), then cuts the package.
 */
export async function evidenceCommand(
  opts: EvidenceCommandOptions,
): Promise<{ verify: VerifyResult | SignedVerifyResult; evidence?: EvidencePackage }> {
  if (opts.keys.length === 0)
    throw new FlotillaError('evidence.key-required', "the audit-writer's verifier key is required (--key)");
  const verify = await verifyCommand({ dir: opts.dir, keys: opts.keys, kept: [] });
  if (!verify.ok) return { verify };
  const records = (await readAuditFiles(opts.dir)).flatMap((f) =>
    fileLines(f.text).map((l) => JSON.parse(l) as AuditRecord),
  );
  const checkpoints = (await readRepoCheckpoints(opts.dir)).map((k) => k.entry);
  const evidence = buildEvidence(records, checkpoints, {
    stages: opts.stages,
    ...(opts.since ? { since: opts.since } : {}),
    ...(opts.until ? { until: opts.until } : {}),
    ...(opts.selector ? { selector: opts.selector } : {}),
  });
  return { verify, evidence };
}

/** `flotilla audit verify-evidence`: a package checked with the writer's public key alone. */
export async function verifyEvidenceFile(file: string, keys: string[]): Promise<EvidenceVerification> {
  if (keys.length === 0)
    throw new FlotillaError('evidence.key-required', "the audit-writer's verifier key is required (--key)");
  let pkg: EvidencePackage;
  try {
    pkg = JSON.parse(await readFile(file, 'utf8')) as EvidencePackage;
  } catch (e) {
    throw new FlotillaError(
      'evidence.unreadable',
      `${file} is not an evidence package: ${(e as Error).message}`,
    );
  }
  if (pkg?.metadata?.kind !== 'flotilla.change-evidence.v1' || !Array.isArray(pkg.records))
    throw new FlotillaError(
      'evidence.unreadable',
      `${file} is not an evidence package (flotilla.change-evidence.v1)`,
    );
  const verifiers = await Promise.all(keys.map((k) => loadVerifier(k)));
  return verifyEvidence(pkg, verifiers);
}

/** Two lines for people; emergency changes named one by one, so none goes unreviewed. */
export function renderEvidenceSummary(pkg: EvidencePackage): string {
  const { counts } = pkg.metadata;
  const lines = [
    `${pkg.metadata.recordCount} production changes: ${counts.standard} standard, ${counts.emergency} emergency, ${counts.rollback} rollback; ${pkg.records.length} audit records proven by ${pkg.checkpoints.length} signed checkpoints (sha256 ${pkg.metadata.sha256})`,
  ];
  for (const c of pkg.changes) {
    if (c.classification === 'emergency')
      lines.push(
        `EMERGENCY change ${c.configCommit.slice(0, 12)} to ${c.cluster}: approved by ${c.changeApproval?.approver} (${c.changeApproval?.reason ?? 'no reason'}); review required`,
      );
    else if (!c.approved && c.classification === 'standard')
      lines.push(`UNAPPROVED change ${c.configCommit.slice(0, 12)} to ${c.cluster} (${c.changeType})`);
  }
  return lines.join('\n');
}
