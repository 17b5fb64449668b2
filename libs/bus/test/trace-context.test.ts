import { randomUUID } from 'node:crypto';
import {
  type FlotillaEvent,
  ImageTagDetected,
  ImageUpdateCommitted,
  parseTraceparent,
  subjectFilter,
  traceIdOf,
} from '@flotilla/events';
import { samples } from '@flotilla/events/samples';
import { startTracing, type Tracing } from '@flotilla/telemetry';
import { type NatsServer, startNats, waitFor } from '@flotilla/test-support';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus, type Subscription } from '../src/index.ts';

let nats: NatsServer;
let watcher: Bus;
let planner: Bus;

beforeAll(async () => {
  nats = await startNats();
  watcher = await Bus.connect({
    servers: nats.url,
    service: 'registry-watcher',
    instance: 't',
    ensureStream: true,
  });
  planner = await Bus.connect({ servers: nats.url, service: 'planner', instance: 't' });
});

afterAll(async () => {
  await planner?.close();
  await watcher?.close();
  await nats?.dispose();
});

/**
 * Starts a planner-like handler: for each ImageTagDetected it publishes ImageUpdateCommitted with
 * the tag event as cause. Answers what it received and what it published.
 */
async function relay(tag: string) {
  const received: FlotillaEvent[] = [];
  const published: FlotillaEvent[] = [];
  const sub: Subscription = await planner.consume({
    durable: `relay-${randomUUID().slice(0, 8)}`,
    filters: [subjectFilter(ImageTagDetected)],
    handler: async (e) => {
      if ((e.data as { tag: string }).tag !== tag) return;
      received.push(e);
      const out = await planner.publish(
        ImageUpdateCommitted,
        { ...samples.ImageUpdateCommitted, tag },
        { cause: e, id: `iuc-${e.id}` },
      );
      published.push(out.event);
    },
  });
  return { received, published, sub };
}

describe('trace context without a tracer (the default)', () => {
  it('an event caused by another continues its trace with a new span id; correlation is kept', async () => {
    const tag = `t-${randomUUID().slice(0, 8)}`;
    const r = await relay(tag);
    const { event: first } = await watcher.publish(ImageTagDetected, { ...samples.ImageTagDetected, tag });
    await waitFor('the relayed event', async () => r.published[0], { timeoutMs: 20_000 });
    await r.sub.stop();
    const out = r.published[0] as FlotillaEvent;
    expect(parseTraceparent(first.traceparent)).not.toBeNull();
    expect(traceIdOf(out.traceparent)).toBe(traceIdOf(first.traceparent));
    expect(parseTraceparent(out.traceparent)?.spanId).not.toBe(parseTraceparent(first.traceparent)?.spanId);
    expect(out.correlationid).toBe(first.correlationid);
    expect(out.causationid).toBe(first.id);
  });

  it('tracestate travels with the trace unchanged', async () => {
    const tag = `t-${randomUUID().slice(0, 8)}`;
    const r = await relay(tag);
    await watcher.publish(
      ImageTagDetected,
      { ...samples.ImageTagDetected, tag },
      {
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'acme=t61rcWkgMzE',
      },
    );
    await waitFor('the relayed event', async () => r.published[0], { timeoutMs: 20_000 });
    await r.sub.stop();
    expect(r.published[0]).toMatchObject({ tracestate: 'acme=t61rcWkgMzE' });
    expect(traceIdOf(r.published[0]?.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});

describe('trace context with OpenTelemetry on', () => {
  let tracing: Tracing | null;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    tracing = await startTracing({ service: 'bus-test', exporter });
  });
  afterAll(async () => {
    await tracing?.shutdown();
  });

  it('the handler runs in a consumer span of the event trace; what it publishes names that span', async () => {
    const tag = `t-${randomUUID().slice(0, 8)}`;
    const r = await relay(tag);
    const { event: first } = await watcher.publish(ImageTagDetected, { ...samples.ImageTagDetected, tag });
    await waitFor('the relayed event', async () => r.published[0], { timeoutMs: 20_000 });
    await r.sub.stop();
    const handlerSpan = exporter
      .getFinishedSpans()
      .find(
        (s) =>
          s.name === `handle ${ImageTagDetected.type}` && s.attributes['messaging.message.id'] === first.id,
      );
    expect(handlerSpan).toBeDefined();
    const ctx = handlerSpan?.spanContext();
    // The span continues the event's trace, its parent is the event's span id…
    expect(ctx?.traceId).toBe(traceIdOf(first.traceparent));
    expect(handlerSpan?.parentSpanContext?.spanId).toBe(parseTraceparent(first.traceparent)?.spanId);
    // …and the event published inside it names the handler span as its parent.
    expect(parseTraceparent(r.published[0]?.traceparent)).toMatchObject({
      traceId: ctx?.traceId,
      spanId: ctx?.spanId,
    });
  });

  it('object-store put and get are spans of the active trace', async () => {
    const blobs = await planner.blobs(`trace-${randomUUID().slice(0, 8)}`);
    const bytes = new TextEncoder().encode(`bundle ${randomUUID()}`);
    const digest = await blobs.put(bytes);
    expect(Buffer.from(await blobs.get(digest)).equals(Buffer.from(bytes))).toBe(true);
    const names = exporter
      .getFinishedSpans()
      .filter((s) => s.attributes['flotilla.blob.digest'] === digest)
      .map((s) => s.name);
    expect(names).toEqual(['object-store put', 'object-store get']);
  });
});
