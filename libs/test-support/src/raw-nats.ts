import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** The bus's key for its raw handles (libs/bus bus.ts RAW_NATS), registered so no import is needed. */
const RAW_NATS = Symbol.for('flotilla.test-support.raw-nats');

export interface RawNats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/**
 * Tests only: the raw NATS connection behind a `Bus`, for what the bus's contract rightly forbids
 * and a test must do anyway: publish a forged or undecodable message, subscribe to every subject
 * to watch traffic, purge or shrink a stream to make a gap. Services use the bus's typed methods.
 */
export function rawNats(bus: object): RawNats {
  const raw = (bus as { [RAW_NATS]?: () => RawNats })[RAW_NATS];
  if (typeof raw !== 'function') throw new Error('rawNats: not a Bus');
  return raw.call(bus);
}
