import type { AuditRecord, History, Verify } from '@flotilla/api';
import { renderTable, short } from './table.ts';

/** The audit-writer's `/history` answer: the contract in @flotilla/api, which the audit-writer registers. */
export type AuditRecordWire = AuditRecord;
export type HistoryWire = History;

function details(r: AuditRecordWire): string {
  const parts: string[] = [];
  if (r.fromStage && r.stage) parts.push(`${r.fromStage}→${r.stage}`);
  if (r.revision) parts.push(`rev ${short(r.revision, 12)}`);
  if (r.commit) parts.push(`commit ${short(r.commit, 12)}`);
  if (r.planId) parts.push(`plan ${r.planId}`);
  else if (r.promotionId) parts.push(`promotion ${r.promotionId}`);
  if (r.images?.length) parts.push(r.images.join(' '));
  else if (r.digest) parts.push(short(r.digest, 12));
  if (r.approvers?.length) parts.push(`approved by ${r.approvers.join(', ')}`);
  if (r.result) parts.push(r.result);
  if (r.code) parts.push(r.code);
  if (r.reason) parts.push(r.reason.split('\n')[0] ?? '');
  return parts.join('  ');
}

export function renderHistory(h: HistoryWire): string {
  if (h.records.length === 0) return 'no matching audit records';
  return renderTable(h.records, [
    { header: 'SEQ', value: (r) => String(r.seq) },
    { header: 'TIME', value: (r) => r.time.replace(/\.\d+Z$/, 'Z') },
    { header: 'EVENT', value: (r) => r.event },
    { header: 'ACTOR', value: (r) => r.actor, max: 32 },
    { header: 'WHERE', value: (r) => r.cluster ?? r.stage ?? '-' },
    { header: 'DETAILS', value: details, max: 100 },
  ]);
}

/** `/verify` (@flotilla/api). */
export type VerifyWire = Verify;

export function renderVerify(v: VerifyWire): string {
  if (v.ok)
    return `audit chain intact: ${v.records} records in ${v.files} files${v.head ? `, head #${v.head.seq} ${short(v.head.hash, 16)}` : ''}`;
  const p = v.problem;
  const where = p ? `${p.file}:${p.line}` : 'unknown position';
  const lines = [`audit chain BROKEN at ${where}${p ? ` (${p.kind})` : ''}`];
  if (p) lines.push(`  ${p.message}`);
  if (v.head) lines.push(`  intact up to #${v.head.seq} ${short(v.head.hash, 16)}`);
  return lines.join('\n');
}

/** Accepts RFC 3339, a date, or a relative `7d` / `12h` / `30m` (meaning: that long ago). */
export function parseTime(value: string | undefined, now = Date.now()): string | undefined {
  if (value === undefined || value === '') return undefined;
  const rel = /^(\d+)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (rel) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86_400e3, w: 604_800e3 }[rel[2] as 's'];
    return new Date(now - Number(rel[1]) * unit).toISOString();
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  return new Date(ms).toISOString();
}
