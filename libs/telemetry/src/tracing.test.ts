import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { otlpProtocolFromEnv, otlpTracesUrlFromEnv } from './otlp-json-exporter.ts';
import { startTracing, tracingEnabled, tracingExporterFromEnv, withSpan } from './tracing.ts';

describe('tracingExporterFromEnv: off unless asked', () => {
  it.each([
    [{}, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, 'otlp'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, 'otlp'],
    [{ OTEL_TRACES_EXPORTER: 'console' }, 'console'],
    [{ OTEL_TRACES_EXPORTER: 'otlp,console' }, 'otlp'],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, null],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, null],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, null],
  ])('%j → %s', (env, want) => {
    expect(tracingExporterFromEnv(env as NodeJS.ProcessEnv)).toBe(want);
  });

  it('derives the traces URL and protocol as the OTLP specification says', () => {
    expect(otlpTracesUrlFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toBe(
      'http://c:4318/v1/traces',
    );
    expect(otlpTracesUrlFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' })).toBe('http://t/x');
    expect(otlpProtocolFromEnv({})).toBe('http/protobuf');
    expect(otlpProtocolFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })).toBe('http/json');
  });

  it('without the variables nothing starts and a span is a plain call', async () => {
    expect(await startTracing({ service: 't', env: {} })).toBeNull();
    expect(tracingEnabled()).toBe(false);
    expect(await withSpan('x', {}, async (span) => span)).toBeUndefined();
  });
});

describe('OTLP http/json export', () => {
  it('posts finished spans, with parent links and errors, to the receiver', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const tracing = await startTracing({
      service: 'json-test',
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    });
    expect(tracing).not.toBeNull();
    await withSpan(
      'outer',
      { parent: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
      () =>
        withSpan('inner', {}, async () => {
          throw new Error('boom');
        }).catch(() => undefined),
    );
    await tracing?.shutdown();
    server.close();
    const spans = bodies.flatMap(
      (b) =>
        (
          JSON.parse(b) as {
            resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
          }
        ).resourceSpans[0]?.scopeSpans[0]?.spans ?? [],
    );
    const byName = new Map(spans.map((s) => [s.name as string, s]));
    expect(byName.get('outer')?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(byName.get('outer')?.parentSpanId).toBe('00f067aa0ba902b7');
    expect(byName.get('inner')?.parentSpanId).toBe(byName.get('outer')?.spanId);
    expect(byName.get('inner')?.status).toMatchObject({ code: 2 });
    expect(bodies[0]).toContain('json-test');
  });
});
