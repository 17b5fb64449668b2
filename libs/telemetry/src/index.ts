export {
  activeTraceContext,
  type SpanOptions,
  startTracing,
  type TraceCarrier,
  type Tracing,
  type TracingOptions,
  tracingEnabled,
  tracingExporterFromEnv,
  withSpan,
} from './tracing.ts';
