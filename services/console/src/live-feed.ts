import type { Bus } from '@flotilla/bus';
import { messageOf } from '@flotilla/errors';
import { catalog, decodeEvent, SUBJECT_PREFIX } from '@flotilla/events';
import type { Logger } from '@flotilla/runtime';
import { redactEventData } from './redact.ts';
import { summarize } from './summary.ts';

/** An event as the page receives it over SSE: redacted, with a readable line. */
export interface LiveEvent {
  id: string;
  name: string;
  type: string;
  time: string;
  actor: string;
  cluster: string | null;
  stage: string | null;
  summary: string;
  data: unknown;
  /** When the console received it (ms since epoch): the benchmark measures from here too. */
  receivedAt: number;
}

const NAMES = new Map(catalog.map((d) => [d.type, d.name]));

/** Fan-out to every open event stream; a slow or gone listener never holds up the others. */
export class EventHub {
  private readonly listeners = new Set<(e: LiveEvent) => void>();
  connected = false;

  subscribe(fn: (e: LiveEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get size(): number {
    return this.listeners.size;
  }

  publish(e: LiveEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

export function toLiveEvent(raw: Uint8Array, subject: string, receivedAt = Date.now()): LiveEvent {
  const e = decodeEvent(raw, { subject });
  const name = NAMES.get(e.type) ?? e.type;
  const d = (e.data ?? {}) as Record<string, unknown>;
  return {
    id: e.id,
    name,
    type: e.type,
    time: e.time,
    actor: e.actor,
    cluster: typeof d.cluster === 'string' ? d.cluster : null,
    stage: typeof d.stage === 'string' ? d.stage : typeof d.toStage === 'string' ? d.toStage : null,
    summary: summarize(name, d),
    data: redactEventData(name, d),
    receivedAt,
  };
}

/**
 * The console is a plain subscriber of the events: a core NATS subscription on the event
 * subjects, no JetStream consumer to manage (every instance sees every event, nothing to ack,
 * nothing left behind when it stops). Events missed while disconnected are not replayed here:
 * the page refetches state when its stream reconnects.
 */
export function startLiveFeed(
  bus: Pick<Bus, 'tail'>,
  hub: EventHub,
  logger: Logger,
): { stop(): Promise<void> } {
  hub.connected = true;
  const tail = bus.tail(
    `${SUBJECT_PREFIX}.>`,
    (msg) => {
      try {
        hub.publish(toLiveEvent(msg.data, msg.subject));
      } catch (err) {
        // Invalid events are dead-lettered by their consumers; the page just does not show them.
        logger.debug({ subject: msg.subject, err: messageOf(err) }, 'ignored an invalid event');
      }
    },
    (up) => {
      hub.connected = up;
    },
  );
  return {
    async stop() {
      tail.stop();
      hub.connected = false;
    },
  };
}
