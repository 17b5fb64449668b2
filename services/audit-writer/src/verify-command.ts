import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/errors';
import { type NoteVerifier, parseVerifierKey } from '@flotilla/trust';
import { verifyAuditDir } from './audit-repo.ts';
import type { VerifyResult } from './chain.ts';
import type { CheckpointEntry } from './checkpoint.ts';
import type { KeptCheckpoint, SignedVerifyResult } from './verify-log.ts';

/**
 * Reads a checkpoint an auditor kept: the signed note itself (the repo's `checkpoint` file,
 * `GET /checkpoint`), a JSON line of `checkpoints/`, or an export, which embeds the checkpoint it
 * was cut at.
 */
export function parseKeptCheckpoint(text: string, source: string): KeptCheckpoint {
  const t = text.trimStart();
  if (!t.startsWith('{')) return { source, entry: { note: text } };
  const doc = JSON.parse(t) as {
    note?: unknown;
    hashes?: unknown;
    metadata?: { auditLog?: { checkpoint?: unknown } };
  };
  if (typeof doc.note === 'string') {
    const entry: CheckpointEntry = { note: doc.note };
    if (typeof doc.hashes === 'string') entry.hashes = doc.hashes;
    return { source, entry };
  }
  const embedded = doc.metadata?.auditLog?.checkpoint;
  if (typeof embedded === 'string') return { source, entry: { note: embedded } };
  throw new FlotillaError(
    'checkpoint.not-found',
    `${source} holds no checkpoint (a signed note, or an export embedding one)`,
  );
}

/** A verifier key given as `name+hash+key` text, or a file holding that or a PEM public key. */
export async function loadVerifier(spec: string, name = 'flotilla-audit'): Promise<NoteVerifier> {
  const text = existsSync(spec) ? await readFile(spec, 'utf8') : spec;
  return parseVerifierKey(text, name);
}

export function renderVerifyResult(result: VerifyResult | SignedVerifyResult): string {
  const signed = 'checkpoints' in result;
  if (result.ok) {
    const head = result.head ? ` (head seq ${result.head.seq} ${result.head.hash})` : '';
    if (!signed) return `ok: ${result.records} records in ${result.files} files, chain intact${head}`;
    const latest = result.latest ? `, signed checkpoint ${result.latest.size} of ${result.latest.time}` : '';
    return `ok: ${result.records} records in ${result.files} files, chain intact${head}; ${result.checkpoints} checkpoints verified${latest}`;
  }
  const p = result.problem!;
  return `TAMPERED: ${p.kind} at ${p.file}:${p.line}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.message}`;
}

export interface VerifyCommandOptions {
  dir: string;
  /** Verifier keys; without any, only the unkeyed chain is checked (and said so). */
  keys: string[];
  keyName?: string;
  /** Files with checkpoints kept outside the repo (each must be consistent with the log). */
  kept: string[];
  /** Checkpoints read from elsewhere (the checkpoint stream). */
  extra?: KeptCheckpoint[];
  origin?: string;
}

export async function verifyCommand(opts: VerifyCommandOptions): Promise<VerifyResult | SignedVerifyResult> {
  const verifiers = await Promise.all(opts.keys.map((k) => loadVerifier(k, opts.keyName)));
  const kept = await Promise.all(
    opts.kept.map(async (file) => parseKeptCheckpoint(await readFile(file, 'utf8'), `kept:${file}`)),
  );
  return verifyAuditDir(opts.dir, {
    ...(verifiers.length > 0 ? { verifiers } : {}),
    kept: [...kept, ...(opts.extra ?? [])],
    ...(opts.origin ? { origin: opts.origin } : {}),
  });
}
