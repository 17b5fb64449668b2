import { createHash } from 'node:crypto';
import { FlotillaError } from '@flotilla/errors';
import { type NoteSigner, type NoteVerifier, parseNote, signNote, verifyNote } from '@flotilla/trust';
import { canonicalJson } from './chain.ts';

/**
 * A checkpoint is what the writer vouches for after each commit, signed with its own Ed25519
 * key in the signed-note format (C2SP tlog-checkpoint, as Go's sumdb and Sigstore Rekor do):
 *
 *     <origin>
 *     <size: records in the log>
 *     <base64 of the head record's sha256>
 *     time <RFC 3339>
 *     batch <first seq of the commit> <base64 sha256 over the raw hashes of records first..size>
 *
 *     — <key name> <base64 signature>
 *
 * The head hash commits to every earlier record (the chain), so an insider who rewrites the log
 * and re-hashes it cannot produce a checkpoint that matches without the writer's private key.
 * The `batch` line signs the list of record hashes of that commit, which lets a verifier name
 * the exact first record that differs, not only that the head moved.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  /** `sha256:<hex>` of record `size` (the chain head). */
  headHash: string;
  time: string;
  batch?: { first: number; digest: string };
}

/**
 * What is kept per commit: the signed note plus the hashes of the batch's records (base64 of
 * their concatenated raw bytes), covered by the note's `batch` digest.
 */
export interface CheckpointEntry {
  note: string;
  hashes?: string;
}

const HEX = /^sha256:([0-9a-f]{64})$/;

function rawHash(hash: string): Buffer {
  const m = HEX.exec(hash);
  if (!m) throw new FlotillaError('checkpoint.bad-hash', `"${hash}" is not a sha256:<hex> hash`);
  return Buffer.from(m[1]!, 'hex');
}

/** base64(sha256(raw(h1) || raw(h2) || …)). */
export function batchDigest(hashes: readonly string[]): string {
  const h = createHash('sha256');
  for (const x of hashes) h.update(rawHash(x));
  return h.digest('base64');
}

export function packHashes(hashes: readonly string[]): string {
  return Buffer.concat(hashes.map(rawHash)).toString('base64');
}

export function unpackHashes(packed: string): string[] {
  const raw = Buffer.from(packed, 'base64');
  if (raw.length % 32 !== 0)
    throw new FlotillaError('checkpoint.malformed', 'hash list is not a multiple of 32 bytes');
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 32) out.push(`sha256:${raw.subarray(i, i + 32).toString('hex')}`);
  return out;
}

export function checkpointBody(c: Checkpoint): string {
  if (!c.origin || /\s/.test(c.origin))
    throw new FlotillaError('checkpoint.bad-origin', `origin "${c.origin}" must be non-empty without spaces`);
  const lines = [c.origin, String(c.size), rawHash(c.headHash).toString('base64'), `time ${c.time}`];
  if (c.batch) lines.push(`batch ${c.batch.first} ${c.batch.digest}`);
  return `${lines.join('\n')}\n`;
}

export function parseCheckpoint(body: string): Checkpoint {
  const lines = body.replace(/\n$/, '').split('\n');
  const [origin, sizeText, hashB64, ...ext] = lines;
  const size = Number(sizeText);
  const raw = Buffer.from(hashB64 ?? '', 'base64');
  if (!origin || !/^\d+$/.test(sizeText ?? '') || !Number.isSafeInteger(size) || raw.length !== 32)
    throw new FlotillaError('checkpoint.malformed', 'not a checkpoint: origin, size and head hash expected');
  const c: Checkpoint = { origin, size, headHash: `sha256:${raw.toString('hex')}`, time: '' };
  for (const line of ext) {
    const [key, ...rest] = line.split(' ');
    if (key === 'time') c.time = rest.join(' ');
    else if (key === 'batch') {
      const first = Number(rest[0]);
      if (!Number.isSafeInteger(first) || first < 1 || first > size || !rest[1])
        throw new FlotillaError('checkpoint.malformed', `bad batch line "${line}"`);
      c.batch = { first, digest: rest[1] };
    }
  }
  return c;
}

/** Signs the checkpoint of a commit: the note plus the packed hashes of the batch. */
export function signCheckpoint(
  at: { origin: string; time: Date; hashes: readonly string[]; firstSeq: number },
  signer: NoteSigner,
): { checkpoint: Checkpoint; entry: CheckpointEntry } {
  const size = at.firstSeq + at.hashes.length - 1;
  // The raw hashes once, for both the digest and the packed list (each parse costs per record).
  const raw = Buffer.concat(at.hashes.map(rawHash));
  const checkpoint: Checkpoint = {
    origin: at.origin,
    size,
    headHash: at.hashes[at.hashes.length - 1]!,
    time: at.time.toISOString(),
    batch: { first: at.firstSeq, digest: createHash('sha256').update(raw).digest('base64') },
  };
  return {
    checkpoint,
    entry: { note: signNote(checkpointBody(checkpoint), signer), hashes: raw.toString('base64') },
  };
}

/** Size of a checkpoint, read without checking its signature (for bookkeeping, not trust). */
export function checkpointSize(entry: CheckpointEntry): number {
  return parseCheckpoint(parseNote(entry.note).body).size;
}

/** One line of `checkpoints/YYYY/MM/DD.jsonl`. */
export function checkpointLine(entry: CheckpointEntry): string {
  return `${canonicalJson(entry)}\n`;
}

export interface VerifiedCheckpoint {
  checkpoint: Checkpoint;
  /** seq → hash for every record the checkpoint signs individually (its batch), plus its head. */
  hashes: Map<number, string>;
}

/**
 * Checks a kept checkpoint: signature by a trusted key, origin, and (when present) that the
 * hash list is the one the note signed. Throws a FlotillaError naming what is wrong.
 */
export function verifyCheckpoint(
  entry: CheckpointEntry,
  verifiers: readonly NoteVerifier[],
  origin?: string,
): VerifiedCheckpoint {
  const { body } = verifyNote(entry.note, verifiers);
  const checkpoint = parseCheckpoint(body);
  if (origin && checkpoint.origin !== origin)
    throw new FlotillaError(
      'checkpoint.wrong-origin',
      `checkpoint is for log "${checkpoint.origin}", not "${origin}"`,
    );
  const hashes = new Map<number, string>([[checkpoint.size, checkpoint.headHash]]);
  if (entry.hashes !== undefined && checkpoint.batch) {
    const list = unpackHashes(entry.hashes);
    if (
      list.length !== checkpoint.size - checkpoint.batch.first + 1 ||
      batchDigest(list) !== checkpoint.batch.digest ||
      list[list.length - 1] !== checkpoint.headHash
    )
      throw new FlotillaError(
        'checkpoint.hashes-mismatch',
        `the record hashes kept with checkpoint ${checkpoint.size} are not the ones it signed`,
      );
    const first = checkpoint.batch.first;
    for (const [i, h] of list.entries()) hashes.set(first + i, h);
  }
  return { checkpoint, hashes };
}
