import { catalog, createEvent, type EventDefinition, type FlotillaEvent } from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { generateNoteSigner, parseVerifierKey, verifierKeyString } from '@flotilla/trust';
import { describe, expect, it } from 'vitest';
import { type AuditRecord, hashRecord } from './chain.ts';
import { type CheckpointEntry, signCheckpoint } from './checkpoint.ts';
import { buildEvidence, type EvidencePackage, verifyEvidence } from './evidence.ts';
import { chainRecords, promotionEvents } from './sample-events.ts';

const writer = generateNoteSigner('flotilla-audit').signer;
const verifier = parseVerifierKey(verifierKeyString('flotilla-audit', writer.publicKey));
const stranger = generateNoteSigner('flotilla-audit').signer;
const S = 'a'.repeat(40);
const P = 'b'.repeat(40);
const E = 'e'.repeat(40);
const byName = Object.fromEntries(catalog.map((d) => [d.name, d as EventDefinition]));

/** Alice edits prod directly during an incident and approves it herself as an emergency. */
function emergencyEvents(start: number): FlotillaEvent[] {
  let n = 0;
  const ev = (name: string, data: unknown, actor: string, source = 'flotilla://planner/test') =>
    createEvent(byName[name]!, data as never, {
      source,
      actor,
      id: `em-${++n}`,
      time: new Date(start + n * 1000),
      correlationid: 'em',
    }) as FlotillaEvent;
  const digest = `sha256:${'d'.repeat(64)}`;
  const held = { changeId: 'prod-eu-change-1', stage: 'prod', cluster: 'prod-eu', revision: E };
  return [
    ev(
      'GitCommitDetected',
      {
        ...samples.GitCommitDetected,
        sha: E,
        author: { name: 'Alice', email: 'alice@example.com' },
        committer: { name: 'Alice', email: 'alice@example.com' },
        message: 'prod: raise memory limit (INC-42)',
        paths: ['clusters/prod-eu/web.yaml'],
      },
      'git:alice@example.com',
      'flotilla://git-watcher/test',
    ),
    ev(
      'ChangeAwaitingApproval',
      {
        ...held,
        fromRevision: P,
        bundleDigest: digest,
        diff: { added: [], removed: [], changed: ['apps/Deployment shop/web'] },
        commits: [
          {
            commit: E,
            author: { name: 'Alice', email: 'alice@example.com' },
            committer: { name: 'Alice', email: 'alice@example.com' },
          },
        ],
        approvers: ['alice'],
      },
      'service:planner',
    ),
    ev(
      'ChangeApproved',
      {
        ...held,
        bundleDigest: digest,
        approver: 'user:alice',
        kind: 'emergency',
        reason: 'INC-42: OOM in prod',
        authors: ['alice@example.com'],
      },
      'user:alice',
    ),
    ev(
      'PlanCreated',
      {
        ...samples.PlanCreated,
        planId: 'prod-eu-em',
        cluster: 'prod-eu',
        stage: 'prod',
        revision: E,
        path: 'clusters/prod-eu',
        bundle: { ...samples.PlanCreated.bundle, digest },
      },
      'user:alice',
    ),
    ev(
      'ApplyStarted',
      { cluster: 'prod-eu', planId: 'prod-eu-em', revision: E, bundleDigest: digest, objects: 3 },
      'service:cluster-applier',
      'flotilla://cluster-applier/test',
    ),
    ev(
      'ApplySucceeded',
      {
        ...samples.ApplySucceeded,
        cluster: 'prod-eu',
        planId: 'prod-eu-em',
        revision: E,
        bundleDigest: digest,
        startedAt: new Date(start + 5000).toISOString(),
      },
      'service:cluster-applier',
      'flotilla://cluster-applier/test',
    ),
  ];
}

/** Records of a standard promotion then an emergency change, committed in batches of 4, each signed. */
function signedLog(signer = writer): { records: AuditRecord[]; checkpoints: CheckpointEntry[] } {
  const events = [
    ...promotionEvents({ tag: 't1', sourceSha: S, commitSha: P }),
    ...emergencyEvents(Date.parse('2026-11-26T13:00:00.000Z')),
  ];
  const records = chainRecords(events, Date.parse('2026-11-26T14:00:00Z'));
  const checkpoints: CheckpointEntry[] = [];
  for (let first = 1; first <= records.length; first += 4) {
    const batch = records.slice(first - 1, first + 3);
    checkpoints.push(
      signCheckpoint(
        { origin: 'audit.example/log', time: new Date(), hashes: batch.map((r) => r.hash), firstSeq: first },
        signer,
      ).entry,
    );
  }
  return { records, checkpoints };
}

const clone = (p: EvidencePackage): EvidencePackage => JSON.parse(JSON.stringify(p));

describe('change evidence', () => {
  const { records, checkpoints } = signedLog();
  const pkg = buildEvidence(records, checkpoints, {
    stages: ['prod'],
    now: new Date('2026-11-27T00:00:00Z'),
  });

  it('lists every prod change with its chain of custody and classifies it standard / emergency / rollback', () => {
    expect(pkg.changes.map((c) => [c.configCommit, c.classification])).toEqual([
      [P, 'standard'],
      [E, 'emergency'],
    ]);
    expect(pkg.metadata).toMatchObject({
      recordCount: 2,
      counts: { standard: 1, emergency: 1, rollback: 0 },
    });
    const [standard, emergency] = pkg.changes;
    expect(standard).toMatchObject({
      changeType: 'promotion',
      changeAuthor: 'Bob <bob@example.com>',
      approvers: ['user:alice'],
      approverIsNotAuthor: true,
      approvedBeforeDeploy: true,
      approved: true,
      applyResult: 'succeeded',
      health: 'Current',
      imageDigests: [samples.PromotionCommitted.images[0]?.digest],
      planSignature: samples.PlanCreated.signature,
    });
    expect(emergency).toMatchObject({
      changeType: 'direct',
      commitAuthor: 'Alice <alice@example.com>',
      approvers: ['user:alice'],
      approverIsNotAuthor: false,
      approvedBeforeDeploy: true,
      changeApproval: { approver: 'user:alice', kind: 'emergency', reason: 'INC-42: OOM in prod' },
      applyResult: 'succeeded',
    });
    expect(pkg.metadata.fieldClasses).toMatchObject({
      approvers: 'identity',
      commitMessage: 'free-text',
      planDigest: 'proof',
      classification: 'change',
    });
    // Every cited record is embedded and proven by a checkpoint.
    expect(pkg.records.map((r) => r.seq)).toEqual(
      [...new Set(pkg.changes.flatMap((c) => c.evidenceSeqs))].sort((a, b) => a - b),
    );
    expect(verifyEvidence(pkg, [verifier])).toMatchObject({ ok: true, changes: 2, problems: [] });
  });

  it('one change by commit prefix, promotion id or change id', () => {
    const only = (selector: string) =>
      buildEvidence(records, checkpoints, { stages: ['prod'], selector }).changes.map((c) => c.configCommit);
    expect(only(E.slice(0, 10))).toEqual([E]);
    expect(only(S.slice(0, 12))).toEqual([P]);
    expect(only('p-t1')).toEqual([P]);
    expect(only('prod-eu-change-1')).toEqual([E]);
    expect(only('f'.repeat(12))).toEqual([]);
  });

  it('an edited approver, a swapped record, a foreign key or a dropped record each fail offline verification', () => {
    const edited = clone(pkg);
    const approved = edited.records.find((r) => r.event === 'ChangeApproved') as AuditRecord;
    (approved.data as Record<string, unknown>).approver = 'user:carol';
    expect(verifyEvidence(edited, [verifier]).problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/modified after export/),
        expect.stringMatching(/record \d+ \(ChangeApproved\): its content does not match its hash/),
      ]),
    );
    // Re-hashed by the forger: the record is self-consistent but not the one the writer signed.
    approved.hash = hashRecord(approved);
    expect(verifyEvidence(edited, [verifier]).problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /record \d+ \(ChangeApproved\): differs from the record the signed checkpoint lists/,
        ),
      ]),
    );
    const forged = signedLog(stranger);
    const foreign = buildEvidence(forged.records, forged.checkpoints, { stages: ['prod'] });
    expect(verifyEvidence(foreign, [verifier]).ok).toBe(false);
    expect(verifyEvidence(foreign, [verifier]).problems.join('\n')).toMatch(/checkpoint 1:/);
    const dropped = clone(pkg);
    dropped.records = dropped.records.slice(1);
    expect(verifyEvidence(dropped, [verifier]).problems.join('\n')).toMatch(
      /cites record \d+, which is not in the package/,
    );
  });
});
