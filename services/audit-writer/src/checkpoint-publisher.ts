import { RetryLoop } from '@flotilla/async';
import { type Bus, CHECKPOINT_STREAM, CHECKPOINT_SUBJECT_PREFIX } from '@flotilla/bus';
import { encodeToken } from '@flotilla/events';
import type { JetStreamClient } from '@nats-io/jetstream';
import { canonicalJson } from './chain.ts';
import { type CheckpointEntry, checkpointSize } from './checkpoint.ts';

export function checkpointSubject(origin: string): string {
  return `${CHECKPOINT_SUBJECT_PREFIX}.${encodeToken(origin)}`;
}

/** Reads every checkpoint of a log back from the checkpoint stream (what an auditor fetches). */
export async function readStreamCheckpoints(
  js: JetStreamClient,
  origin: string,
): Promise<Array<{ seq: number; entry: CheckpointEntry }>> {
  const out: Array<{ seq: number; entry: CheckpointEntry }> = [];
  // An ordered consumer: ephemeral, read-only, nothing to clean up afterwards.
  const consumer = await js.consumers.get(CHECKPOINT_STREAM, {
    filter_subjects: [checkpointSubject(origin)],
  });
  if ((await consumer.info()).num_pending === 0) return out;
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push({ seq: m.seq, entry: JSON.parse(new TextDecoder().decode(m.data)) as CheckpointEntry });
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

export interface CheckpointPublisherOptions {
  bus: Pick<Bus, 'appendCheckpoint' | 'storedMessage'>;
  origin: string;
  retryMinMs: number;
  retryMaxMs: number;
  onPublished?: (size: number) => void;
  onFailed?: (err: unknown, attempt: number) => void;
}

/**
 * Publishes each signed checkpoint to the checkpoint stream, in order, retrying with backoff
 * while NATS is away. The message id is origin + size, so a retry or a new leader republishing
 * after a crash stores each checkpoint once. At start it catches up with what the stream lacks.
 */
export class CheckpointPublisher {
  private queue: CheckpointEntry[] = [];
  private attempt = 0;
  private lastPublished = 0;
  private readonly loop: RetryLoop;

  constructor(private readonly opts: CheckpointPublisherOptions) {
    this.loop = new RetryLoop({
      hasWork: () => this.queue.length > 0,
      step: () => this.publishOne(),
      backoff: { baseMs: opts.retryMinMs, maxMs: opts.retryMaxMs },
    });
  }

  /** Size of the newest checkpoint the stream holds for this log (0: none). */
  async publishedSize(): Promise<number> {
    const m = await this.opts.bus.storedMessage(
      { last_by_subj: checkpointSubject(this.opts.origin) },
      CHECKPOINT_STREAM,
    );
    if (!m) return 0;
    return checkpointSize(JSON.parse(new TextDecoder().decode(m.data)) as CheckpointEntry);
  }

  /** Starts the loop; `missing` are the repo's checkpoints, oldest first, some maybe already published. */
  start(published: number, missing: CheckpointEntry[]): void {
    this.lastPublished = published;
    this.queue.push(...missing.filter((e) => checkpointSize(e) > published));
    this.loop.start();
  }

  enqueue(entry: CheckpointEntry): void {
    this.queue.push(entry);
    this.loop.kick();
  }

  /** Checkpoints signed but not yet in the stream. */
  get pending(): number {
    return this.queue.length;
  }

  get published(): number {
    return this.lastPublished;
  }

  private async publishOne(): Promise<boolean> {
    const entry = this.queue[0];
    if (!entry) return true;
    const size = checkpointSize(entry);
    try {
      // Deduplicated by its place in the log: a retry after a lost ack is stored once.
      await this.opts.bus.appendCheckpoint(
        checkpointSubject(this.opts.origin),
        canonicalJson(entry),
        `${this.opts.origin}#${size}`,
      );
      this.queue.shift();
      this.attempt = 0;
      this.lastPublished = size;
      this.opts.onPublished?.(size);
      return true;
    } catch (err) {
      this.attempt++;
      this.opts.onFailed?.(err, this.attempt);
      return false;
    }
  }

  /** Stops the loop after one last attempt to publish what waits. */
  async stop(): Promise<void> {
    await this.loop.stop();
    while (this.queue.length > 0 && (await this.publishOne()));
  }
}
