import type { AuditEntry, History, StageEntry } from './history.ts';

/** The checker's findings for one nemesis run: figures, not a verdict alone. */
export interface Verdict {
  nemesis: string;
  faults: number;
  attempted: number;
  acknowledged: number;
  /** Acknowledged operations whose effect was never seen (nor carried by a later op's, when cumulative). */
  lost: string[];
  /** Extra stored copies of one operation (two stream entries, two commits). */
  duplicates: number;
  /** Leader actions that carried a fencing token lower than one already acted on. */
  staleLeaderActions: number;
  /** Distinct fencing tokens that acted: leader tenures seen (failovers + 1). */
  leaderTenures: number;
  deadLettered: number;
  /** Objects that did not end in the last desired state (see History.diverged). */
  diverged: string[];
  /** Required behaviour not seen (History.violations). */
  violations: string[];
  /** Stage entries whose change had not entered the stage before (in durable order); undefined: not checked. */
  skippedStages?: string[];
  /** Entries into a gated stage without an approval of their promotion recorded before them. */
  unapproved?: string[];
  /** Audit log findings; undefined when the run had no audit writer. */
  audit?: { missing: string[]; duplicated: string[]; chainBreaks: string[] };
  /** ms from invocation to the first observation, acknowledged ops that were seen. */
  convergence: { p50: number; p99: number; max: number; samples: number };
  ok: boolean;
}

/** Nearest-rank percentile of sorted values (0 for none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? 0;
}

/**
 * Decides a history. Pure: the same history always gives the same verdict, so the checker is
 * fixture-tested on its own (checker.test.ts).
 */
export function check(h: History): Verdict {
  const seen = new Map<string, { first: number; keys: Set<string> }>();
  for (const o of h.observations) {
    const s = seen.get(o.opId) ?? { first: o.at, keys: new Set<string>() };
    s.first = Math.min(s.first, o.at);
    s.keys.add(o.key);
    seen.set(o.opId, s);
  }
  const acked = h.ops.filter((o) => o.outcome === 'ok');
  const byInvocation = [...h.ops].sort((a, b) => a.invokedAt - b.invokedAt);
  const lost: string[] = [];
  const convergence: number[] = [];
  for (const op of acked) {
    const s = seen.get(op.id);
    if (s) {
      convergence.push(s.first - op.invokedAt);
      continue;
    }
    if (h.cumulative) {
      // Converged when a later op's effect (which carries this one's) was seen.
      const later = byInvocation.filter((o) => o.invokedAt > op.invokedAt).map((o) => seen.get(o.id));
      const carrier = later.find((s2) => s2 !== undefined);
      if (carrier) {
        convergence.push(carrier.first - op.invokedAt);
        continue;
      }
    }
    lost.push(op.id);
  }
  let duplicates = 0;
  for (const s of seen.values()) duplicates += s.keys.size - 1;

  let stale = 0;
  let highest = Number.NEGATIVE_INFINITY;
  for (const a of [...h.leaderActions].sort((x, y) => x.order - y.order)) {
    if (a.token < highest) stale++;
    highest = Math.max(highest, a.token);
  }
  const sorted = convergence.sort((a, b) => a - b);
  const deadLettered = h.deadLettered ?? 0;
  const promotions = h.stages
    ? checkPromotions(h.stages, h.stageEntries ?? [], h.approvals ?? [])
    : undefined;
  const audit = h.audit ? checkAudit(h.audit.records, h.audit.expected) : undefined;
  return {
    nemesis: h.nemesis,
    faults: h.faults,
    attempted: h.ops.length,
    acknowledged: acked.length,
    lost,
    duplicates,
    staleLeaderActions: stale,
    leaderTenures: new Set(h.leaderActions.map((a) => a.token)).size,
    deadLettered,
    diverged: [...(h.diverged ?? [])],
    violations: [...(h.violations ?? [])],
    ...(promotions ?? {}),
    ...(audit ? { audit } : {}),
    convergence: {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? 0,
      samples: sorted.length,
    },
    ok:
      lost.length === 0 &&
      duplicates === 0 &&
      stale === 0 &&
      deadLettered === 0 &&
      (h.diverged ?? []).length === 0 &&
      (h.violations ?? []).length === 0 &&
      (promotions?.skippedStages.length ?? 0) === 0 &&
      (promotions?.unapproved.length ?? 0) === 0 &&
      (audit ? audit.missing.length + audit.duplicated.length + audit.chainBreaks.length : 0) === 0,
  };
}

/**
 * No promotion skipped a stage: a change enters stage k only after it entered stage k−1 (in
 * durable order). No gated stage without its approval: an entry into a stage that needs one must
 * come after a recorded approval of the same promotion.
 */
export function checkPromotions(
  stages: Record<string, { name: string; approval: boolean }[]>,
  entries: readonly StageEntry[],
  approvals: readonly { order: number; promotionId: string }[],
): { skippedStages: string[]; unapproved: string[] } {
  const skippedStages: string[] = [];
  const unapproved: string[] = [];
  const what = (e: StageEntry) => `${e.pipeline}/${e.stage} ← ${e.change} (#${e.order})`;
  for (const e of entries) {
    const order = stages[e.pipeline] ?? [];
    const k = order.findIndex((s) => s.name === e.stage);
    if (k < 0) {
      skippedStages.push(`${what(e)}: no such stage`);
      continue;
    }
    if (k > 0) {
      const before = order[k - 1]?.name;
      const entered = entries.some(
        (p) => p.pipeline === e.pipeline && p.change === e.change && p.stage === before && p.order < e.order,
      );
      if (!entered) skippedStages.push(`${what(e)}: never entered ${before}`);
    }
    if (order[k]?.approval) {
      const approved = approvals.some((a) => a.promotionId === e.promotionId && a.order < e.order);
      if (!e.promotionId || !approved)
        unapproved.push(`${what(e)}: no approval of ${e.promotionId ?? '(none)'}`);
    }
  }
  return { skippedStages, unapproved };
}

/**
 * Every expected event in the audit log exactly once, and the chain whole: sequences contiguous
 * from the first record, each record's prevHash the hash of the one before. (Whether each hash
 * matches its record is the audit-writer's own verifier's job: `verifyAuditDir`.)
 */
export function checkAudit(
  records: readonly AuditEntry[],
  expected: readonly string[],
): { missing: string[]; duplicated: string[]; chainBreaks: string[] } {
  const count = new Map<string, number>();
  for (const r of records) count.set(r.id, (count.get(r.id) ?? 0) + 1);
  const missing = expected.filter((id) => !count.has(id));
  const duplicated = [...new Set(expected)].filter((id) => (count.get(id) ?? 0) > 1);
  const chainBreaks: string[] = [];
  records.forEach((r, i) => {
    const prev = records[i - 1];
    if (!prev) return;
    if (r.seq !== prev.seq + 1) chainBreaks.push(`seq ${prev.seq} → ${r.seq}`);
    if (r.prevHash !== prev.hash)
      chainBreaks.push(`seq ${r.seq}: prevHash is not the hash of seq ${prev.seq}`);
  });
  return { missing, duplicated, chainBreaks };
}

/** The table the suite prints and docs/reliability.md quotes. */
export function formatTable(verdicts: readonly Verdict[]): string {
  const s = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
  const rows = [
    [
      'nemesis',
      'faults',
      'ops attempted',
      'ops acked',
      'events lost',
      'duplicates',
      'leader tenures',
      'stale leader actions',
      'stage skips / unapproved',
      'audit missing / dup / chain breaks',
      'convergence p50',
      'convergence p99',
    ],
    ...verdicts.map((v) => [
      v.nemesis,
      String(v.faults),
      String(v.attempted),
      String(v.acknowledged),
      String(v.lost.length + v.deadLettered),
      String(v.duplicates),
      v.leaderTenures > 0 ? String(v.leaderTenures) : '–',
      String(v.staleLeaderActions),
      v.skippedStages ? `${v.skippedStages.length} / ${v.unapproved?.length ?? 0}` : '–',
      v.audit
        ? `${v.audit.missing.length} / ${v.audit.duplicated.length} / ${v.audit.chainBreaks.length}`
        : '–',
      s(v.convergence.p50),
      s(v.convergence.p99),
    ]),
  ];
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  return [line(rows[0] ?? []), line(rows[0]?.map(() => '---') ?? []), ...rows.slice(1).map(line)].join('\n');
}
