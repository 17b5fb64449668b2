import {
  type Attributes,
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
// Types only: the SDK, its exporters and the context manager are imported when tracing starts,
// so a service with tracing off (the default) does not load them. (The bundles keep package
// imports external and at the top, so only import() defers them.) The RSS this saves at start
// is small: side by side, 5 starts each, the applier's RSS at exit was the same within ±1 MiB.
import type { SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import { OtlpJsonSpanExporter, otlpProtocolFromEnv, otlpTracesUrlFromEnv } from './otlp-json-exporter.ts';

/** The W3C trace context of an event or commit: what crosses a process boundary. */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

export interface TracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. */
  service: string;
  instance?: string;
  env?: NodeJS.ProcessEnv;
  /** Tests hand in an in-memory exporter (exported spans are then flushed one by one). */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** Exports what is buffered and stops; part of a service's graceful shutdown. */
  shutdown(): Promise<void>;
}

/**
 * Off unless the standard variables ask for it: an OTLP endpoint, or OTEL_TRACES_EXPORTER of
 * `otlp` or `console`. OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none win over both. (The
 * OpenTelemetry default is on with OTLP to localhost; a delivery system that starts sending
 * spans to a port nobody listens on is worse than one that waits to be asked.)
 */
export function tracingExporterFromEnv(env: NodeJS.ProcessEnv): 'otlp' | 'console' | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (named.includes('none')) return null;
  if (named.includes('otlp')) return 'otlp';
  if (named.includes('console')) return 'console';
  if (named.length > 0) return null;
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : null;
}

const propagator = new W3CTraceContextPropagator();
const carrierGetter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => (key === 'traceparent' ? c.traceparent : key === 'tracestate' ? c.tracestate : undefined),
};

/**
 * One module-level switch: with tracing off every helper below is a plain call (no context
 * object, no span, no allocation beyond the closure), so the instrumented paths cost nothing.
 */
let enabled = false;
let provider: TracerProvider | undefined;
const TRACER = 'flotilla';

/**
 * Starts tracing for this process when the environment asks for it (see tracingExporterFromEnv)
 * or an exporter is given; answers null (and changes nothing) otherwise.
 */
export async function startTracing(opts: TracingOptions): Promise<Tracing | null> {
  const env = opts.env ?? process.env;
  const kind = opts.exporter ? 'given' : tracingExporterFromEnv(env);
  if (!kind) return null;
  if (provider) throw new Error('tracing already started in this process');
  const [{ AsyncLocalStorageContextManager }, { detectResources, envDetector, resourceFromAttributes }, sdk] =
    await Promise.all([
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/sdk-trace'),
    ]);
  const { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor } = sdk;
  const exporter: SpanExporter =
    opts.exporter ??
    (kind === 'console'
      ? new ConsoleSpanExporter()
      : otlpProtocolFromEnv(env) === 'http/json'
        ? await OtlpJsonSpanExporter.create(otlpTracesUrlFromEnv(env))
        : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter());
  const resource = resourceFromAttributes({
    'service.name': opts.service,
    'service.namespace': 'flotilla',
    ...(opts.instance ? { 'service.instance.id': opts.instance } : {}),
  }).merge(detectResources({ detectors: [envDetector] }));
  provider = new sdk.TracerProvider({
    resource,
    spanProcessors: [
      opts.exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter }),
    ],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  const p = provider;
  return {
    async shutdown() {
      enabled = false;
      await p.shutdown();
      trace.disable();
      context.disable();
      provider = undefined;
    },
  };
}

export function tracingEnabled(): boolean {
  return enabled;
}

export interface SpanOptions {
  attributes?: Attributes;
  /** Continue this trace (an event's or a commit's) instead of the active one. */
  parent?: TraceCarrier | undefined;
  kind?: 'internal' | 'consumer' | 'producer' | 'client';
}

const KINDS = {
  internal: SpanKind.INTERNAL,
  consumer: SpanKind.CONSUMER,
  producer: SpanKind.PRODUCER,
  client: SpanKind.CLIENT,
} as const;

/**
 * Runs `fn` inside a span named `name` (a child of `parent` when given, else of the active span).
 * A thrown error marks the span failed and is rethrown unchanged.
 */
export function withSpan<T>(name: string, opts: SpanOptions, fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  const parentCtx: Context = opts.parent?.traceparent
    ? propagator.extract(ROOT_CONTEXT, opts.parent, carrierGetter)
    : context.active();
  return trace
    .getTracer(TRACER)
    .startActiveSpan(
      name,
      { kind: KINDS[opts.kind ?? 'internal'], ...(opts.attributes ? { attributes: opts.attributes } : {}) },
      parentCtx,
      async (span) => {
        try {
          return await fn(span);
        } catch (err) {
          span.recordException(err instanceof Error ? err : String(err));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: err instanceof Error ? err.message : String(err),
          });
          throw err;
        } finally {
          span.end();
        }
      },
    );
}

/**
 * The trace context of the active span, to put into an event or commit; undefined when tracing is
 * off or nothing is active (callers then carry the cause's context on, see @flotilla/events).
 */
export function activeTraceContext(): TraceCarrier | undefined {
  if (!enabled) return undefined;
  const span = trace.getActiveSpan();
  if (!span?.spanContext() || !trace.isSpanContextValid(span.spanContext())) return undefined;
  const carrier: Record<string, string> = {};
  propagator.inject(context.active(), carrier, {
    set: (c, k, v) => {
      c[k] = v;
    },
  });
  return carrier.traceparent
    ? { traceparent: carrier.traceparent, ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}) }
    : undefined;
}
