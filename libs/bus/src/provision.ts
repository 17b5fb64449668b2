import { FlotillaError } from '@flotilla/errors';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { isConsumerNotFound, isStreamNotFound } from './nats-errors.ts';
import {
  type ConsumerSpec,
  consumerConfig,
  consumerDrift,
  type NatsResources,
  type StreamSpec,
} from './resources.ts';
import { EVENT_STREAM, eventStreamConfig, type StreamOptions } from './stream.ts';

export interface ProvisionOptions {
  stream?: StreamOptions;
  /** Replicas of KV buckets and object stores (the event stream takes `stream.replicas`). */
  replicas?: number;
}

export interface ProvisionStep {
  kind: 'stream' | 'kv' | 'object-store' | 'consumer';
  name: string;
  outcome: 'created' | 'updated' | 'unchanged';
  detail?: string;
}

/** The stream or consumer is not there yet (nats.js's typed codes, not its message text). */
const notFound = (err: unknown) => isStreamNotFound(err) || isConsumerNotFound(err);

/**
 * Creates the event stream, every KV bucket, object store and durable consumer that the given
 * declarations name, and brings existing ones to the declared config. Idempotent: run it again
 * and every step reports `unchanged`. Needs an identity allowed to administer JetStream (the
 * `admin` user); services never do this under the shipped authorization.
 */
export async function provisionNats(
  jsm: JetStreamManager,
  declarations: readonly NatsResources[],
  opts: ProvisionOptions = {},
): Promise<ProvisionStep[]> {
  const steps: ProvisionStep[] = [await provisionStream(jsm, opts.stream)];
  const replicas = opts.replicas ?? 1;
  const kv = new Set<string>();
  const obj = new Set<string>();
  const consumers = new Map<string, { spec: ConsumerSpec; identity: string }>();
  const streams = new Map<string, StreamSpec['config']>();
  for (const d of declarations) {
    for (const s of d.streams ?? []) streams.set(s.config.name, s.config);
    for (const b of d.kv) kv.add(b.bucket);
    for (const b of d.objectStores) obj.add(b.bucket);
    for (const c of d.managesOwnConsumers ? [] : d.consumers) {
      const other = consumers.get(c.durable);
      if (other && other.identity !== d.identity)
        throw new FlotillaError(
          'bus.consumer-conflict',
          `durable consumer "${c.durable}" is declared by both ${other.identity} and ${d.identity}`,
        );
      consumers.set(c.durable, { spec: c, identity: d.identity });
    }
  }
  for (const [name, config] of [...streams].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const exists = await streamExists(jsm, name);
    if (!exists) await jsm.streams.add({ ...config, num_replicas: replicas });
    steps.push({ kind: 'stream', name, outcome: exists ? 'unchanged' : 'created' });
  }
  const js = jsm.jetstream();
  for (const bucket of [...kv].sort()) {
    const exists = await streamExists(jsm, `KV_${bucket}`);
    if (!exists) await new Kvm(js).create(bucket, { history: 1, replicas });
    steps.push({ kind: 'kv', name: bucket, outcome: exists ? 'unchanged' : 'created' });
  }
  for (const bucket of [...obj].sort()) {
    const exists = await streamExists(jsm, `OBJ_${bucket}`);
    if (!exists) await new Objm(js).create(bucket, { replicas });
    steps.push({ kind: 'object-store', name: bucket, outcome: exists ? 'unchanged' : 'created' });
  }
  for (const [durable, { spec }] of [...consumers].sort(([a], [b]) => (a < b ? -1 : 1))) {
    steps.push(await provisionConsumer(jsm, spec, durable));
  }
  return steps;
}

async function streamExists(jsm: JetStreamManager, name: string): Promise<boolean> {
  try {
    await jsm.streams.info(name);
    return true;
  } catch (err) {
    if (notFound(err)) return false;
    throw err;
  }
}

async function provisionStream(jsm: JetStreamManager, opts: StreamOptions = {}): Promise<ProvisionStep> {
  const config = eventStreamConfig(opts);
  try {
    const info = await jsm.streams.info(EVENT_STREAM);
    const { name: _n, ...want } = config;
    const changed = (Object.keys(want) as Array<keyof typeof want>).filter(
      (k) => JSON.stringify(info.config[k]) !== JSON.stringify(want[k]),
    );
    if (changed.length === 0) return { kind: 'stream', name: EVENT_STREAM, outcome: 'unchanged' };
    await jsm.streams.update(EVENT_STREAM, want);
    return { kind: 'stream', name: EVENT_STREAM, outcome: 'updated', detail: changed.join(', ') };
  } catch (err) {
    if (!notFound(err)) throw err;
    await jsm.streams.add(config);
    return { kind: 'stream', name: EVENT_STREAM, outcome: 'created' };
  }
}

async function provisionConsumer(
  jsm: JetStreamManager,
  spec: ConsumerSpec,
  durable: string,
): Promise<ProvisionStep> {
  const config = consumerConfig(spec);
  try {
    const info = await jsm.consumers.info(EVENT_STREAM, durable);
    const drift = consumerDrift(info.config, spec);
    if (drift.length === 0) return { kind: 'consumer', name: durable, outcome: 'unchanged' };
    const { durable_name: _d, ack_policy: _a, deliver_policy: _p, ...update } = config;
    await jsm.consumers.update(EVENT_STREAM, durable, update);
    return {
      kind: 'consumer',
      name: durable,
      outcome: 'updated',
      detail: drift.map((d) => d.field).join(', '),
    };
  } catch (err) {
    if (!notFound(err)) throw err;
    await jsm.consumers.add(EVENT_STREAM, config);
    return { kind: 'consumer', name: durable, outcome: 'created' };
  }
}
