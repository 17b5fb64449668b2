import type { AuditRecord } from './chain.ts';

/**
 * Which stream sequences the audit log accounts for: recorded events, sequences already reported
 * missing (AuditGapDetected records) and messages dead-lettered by our own consumer (their
 * DeadLettered record carries the payload). Kept as a floor (everything at or below it is
 * accounted for) plus the accounted sequences above it, so memory stays small once the writer
 * has caught up. Pure: the scanner decides, with the stream's state, which holes are gaps.
 */
export class GapTracker {
  private above = new Set<number>();

  /** `floor`: every sequence at or below it is accounted for (0: none yet). */
  constructor(
    private floorSeq: number,
    private readonly consumer: string,
  ) {}

  get floor(): number {
    return this.floorSeq;
  }

  /** Accounted sequences above the floor, waiting for the holes below them to settle. */
  get pending(): number {
    return this.above.size;
  }

  account(seq: number): void {
    if (seq <= this.floorSeq) return;
    this.above.add(seq);
    this.compact();
  }

  accountRange(from: number, to: number): void {
    if (to <= this.floorSeq) return;
    if (from <= this.floorSeq + 1) {
      this.floorSeq = to;
      for (const s of this.above) if (s <= to) this.above.delete(s);
      this.compact();
      return;
    }
    for (let s = Math.max(from, this.floorSeq + 1); s <= to; s++) this.above.add(s);
    this.compact();
  }

  /** What a record says about the stream: its own sequence, a reported gap, a dead letter. */
  apply(records: readonly AuditRecord[]): void {
    for (const r of records) {
      if (r.streamSeq !== undefined) this.account(r.streamSeq);
      // biome-ignore lint/suspicious/noExplicitAny: payloads were validated against the catalog when recorded.
      const d = r.data as Record<string, any> | null;
      if (r.event === 'AuditGapDetected' && d) this.accountRange(d.fromSeq, d.toSeq);
      if (r.event === 'DeadLettered' && d && d.consumer === this.consumer) this.account(d.streamSequence);
    }
  }

  private compact(): void {
    while (this.above.delete(this.floorSeq + 1)) this.floorSeq++;
  }

  /** Holes in (floor, upTo]: contiguous ranges of sequences not accounted for. */
  holes(upTo: number, max = 1000): Array<{ from: number; to: number }> {
    const out: Array<{ from: number; to: number }> = [];
    const marks = [...this.above].filter((s) => s <= upTo).sort((a, b) => a - b);
    let next = this.floorSeq + 1;
    for (const m of [...marks, upTo + 1]) {
      if (m > next) out.push({ from: next, to: Math.min(m - 1, upTo) });
      if (out.length >= max) break;
      next = m + 1;
    }
    return out;
  }
}

/**
 * Where a writer resumes tracking: 0 for a log that recorded stream sequences from its start;
 * for a log begun before they were recorded, just below the lowest one it has (older holes
 * cannot be told apart from the legacy prefix), or undefined when it has none yet.
 */
export function initialFloor(records: readonly AuditRecord[]): number | undefined {
  if (records.length === 0) return 0;
  let min: number | undefined;
  for (const r of records)
    if (r.streamSeq !== undefined && (min === undefined || r.streamSeq < min)) min = r.streamSeq;
  if (records[0]!.streamSeq !== undefined) return 0;
  return min === undefined ? undefined : min - 1;
}
