import { type Bus, type ConsumerInfo, EVENT_STREAM, type StreamInfo } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { AuditGapDetected } from '@flotilla/events';
import type { Static } from '@sinclair/typebox';
import { GapTracker } from './gaps.ts';

type Gap = Static<typeof AuditGapDetected.data>;

export interface BacklogState {
  /** Messages delivered but not acked, plus those not delivered yet. */
  messages: number;
  /** Share of the stream's byte or message limit in use (the higher), 0 when unlimited. */
  usageRatio: number;
  /** Age of the oldest event not recorded yet, as a share of the stream's max age (0 when none). */
  ageRatio: number;
}

export interface GapScannerOptions {
  bus: Bus;
  durable: string;
  /** Tracker built from the log; undefined for a log begun before stream sequences were recorded. */
  tracker: GapTracker | undefined;
  /** Is this event id in the log? (acked duplicates are not gaps). */
  recorded: (id: string) => boolean;
  /** Stream sequences waiting in a batch right now (delivered, not yet committed). */
  inFlight: () => Iterable<number>;
  onGap?: (gap: Gap) => void;
  onBacklog?: (b: BacklogState) => void;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Finds stream sequences the log will never get. A sequence is settled once the consumer's ack
 * floor passed it or the stream no longer holds it; a settled sequence the log does not account
 * for is a gap, reported as one AuditGapDetected per range (ids derived from the range, so a
 * retry after a crash reports it once). A message still in the stream and acked is checked by
 * its event id: an acked duplicate of a recorded event is not a gap. Runs on a timer; also
 * measures the backlog against the stream's limits, for alerts before events get discarded.
 */
export class GapScanner {
  private tracker: GapTracker | undefined;
  /** Holes whose message is still there, seen once: reported only if still open next time. */
  private suspects = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private canRead = true;

  constructor(private readonly opts: GapScannerOptions) {
    this.tracker = opts.tracker;
  }

  get current(): GapTracker | undefined {
    return this.tracker;
  }

  start(intervalMs: number): void {
    const tick = () => {
      this.running = this.scan()
        .then(
          () => undefined,
          (err) => this.opts.log.warn({ err: messageOf(err) }, 'audit gap scan failed; retrying'),
        )
        .finally(() => {
          this.running = undefined;
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(intervalMs, 1000));
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** A duplicate the handler acked without a record: accounted for (it is in the log under its id). */
  duplicate(seq: number): void {
    this.tracker?.account(seq);
  }

  private async messageId(seq: number): Promise<string | null | undefined> {
    if (!this.canRead) return undefined;
    try {
      const m = await this.opts.bus.storedMessage({ seq });
      if (!m) return null;
      try {
        const id = (JSON.parse(new TextDecoder().decode(m.data)) as { id?: unknown }).id;
        return typeof id === 'string' ? id : undefined;
      } catch {
        return undefined;
      }
    } catch (err) {
      // Without read access to the stream (a tight NATS account), holes are judged from the
      // stream's state and the handler's duplicates alone.
      if (/permission|authoriz/i.test(messageOf(err))) {
        this.canRead = false;
        return undefined;
      }
      throw err;
    }
  }

  /** One pass; returns the gaps it reported. */
  async scan(): Promise<Gap[]> {
    const stream = await this.opts.bus.streamInfo();
    const consumer = await this.opts.bus.consumerInfo(this.opts.durable);
    // Nothing to compare before the consumer exists (the writer binds it on activation).
    if (!stream || !consumer) return [];
    const first = stream.state.first_seq;
    const ackFloor = consumer.ack_floor.stream_seq;
    await this.measure(stream, consumer, ackFloor);
    this.tracker ??= new GapTracker(ackFloor, this.opts.durable);
    const tracker = this.tracker;
    const settled = Math.max(ackFloor, first - 1);
    const found: Gap[] = [];
    const add = (from: number, to: number, reason: Gap['reason']) => {
      const last = found[found.length - 1];
      if (last && last.reason === reason && last.toSeq === from - 1) {
        last.toSeq = to;
        last.count = to - last.fromSeq + 1;
      } else
        found.push({
          stream: EVENT_STREAM,
          fromSeq: from,
          toSeq: to,
          count: to - from + 1,
          reason,
          consumer: this.opts.durable,
          message: '',
        });
    };
    const stillSuspect = new Set<number>();
    const flying = new Set(this.opts.inFlight());
    let budget = 10_000;
    for (const hole of tracker.holes(settled)) {
      // Gone from the stream before we recorded it: limits (age, bytes, count) or a purge.
      if (hole.from < first) {
        const to = Math.min(hole.to, first - 1);
        let from = hole.from;
        for (const q of [...flying].filter((x) => x >= from && x <= to).sort((a, b) => a - b)) {
          if (q > from) add(from, q - 1, 'discarded');
          from = q + 1;
        }
        if (from <= to) add(from, to, 'discarded');
      }
      for (let q = Math.max(hole.from, first); q <= hole.to && budget-- > 0; q++) {
        if (flying.has(q)) continue;
        const id = await this.messageId(q);
        if (id === null) add(q, q, 'deleted');
        else if (id !== undefined && this.opts.recorded(id)) tracker.account(q);
        else if (this.suspects.has(q)) add(q, q, 'not-recorded');
        else stillSuspect.add(q);
      }
    }
    this.suspects = stillSuspect;
    for (const gap of found) {
      gap.message =
        gap.reason === 'discarded'
          ? `stream sequences ${gap.fromSeq}..${gap.toSeq} were discarded by the stream (limits or purge) before the audit writer recorded them`
          : gap.reason === 'deleted'
            ? `stream sequences ${gap.fromSeq}..${gap.toSeq} were deleted from the stream before the audit writer recorded them`
            : `stream sequences ${gap.fromSeq}..${gap.toSeq} were acknowledged but never recorded`;
      await this.opts.bus.publish(AuditGapDetected, gap, {
        id: `gap-${this.opts.durable}-${gap.fromSeq}-${gap.toSeq}`,
        actor: 'service:audit-writer',
      });
      tracker.accountRange(gap.fromSeq, gap.toSeq);
      this.opts.onGap?.(gap);
      this.opts.log.warn({ ...gap }, 'audit gap: events the log will never hold');
    }
    return found;
  }

  private async measure(stream: StreamInfo, consumer: ConsumerInfo, ackFloor: number): Promise<void> {
    if (!this.opts.onBacklog) return;
    const { config, state } = stream;
    const ratio = (used: number, max: number) => (max > 0 ? used / max : 0);
    const usageRatio = Math.max(ratio(state.bytes, config.max_bytes), ratio(state.messages, config.max_msgs));
    let ageRatio = 0;
    const backlog = consumer.num_pending + consumer.num_ack_pending;
    if (backlog > 0 && config.max_age > 0) {
      const oldest = await this.opts.bus
        .storedMessage({ seq: Math.max(ackFloor + 1, state.first_seq) })
        .catch(() => undefined);
      if (oldest) ageRatio = (Date.now() - oldest.time.getTime()) / (config.max_age / 1e6);
    }
    this.opts.onBacklog({ messages: backlog, usageRatio, ageRatio: Math.max(0, ageRatio) });
  }
}
