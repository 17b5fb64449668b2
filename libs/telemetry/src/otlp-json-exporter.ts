import { ExportResultCode } from '@opentelemetry/core';
import type { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

type ExportResult = { code: ExportResultCode; error?: Error };

/** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL (default http/protobuf). */
export function otlpProtocolFromEnv(env: NodeJS.ProcessEnv): string {
  return (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL ||
    'http/protobuf'
  ).trim();
}

/** The traces URL as the OTLP exporter specification derives it from the two endpoint variables. */
export function otlpTracesUrlFromEnv(env: NodeJS.ProcessEnv): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * OTLP over HTTP with JSON bodies (protocol `http/json`), the one standard OTLP protocol whose
 * payload a receiver can read without protobuf definitions: what the latency benchmark collects
 * spans with. The protobuf exporter stays the default.
 */
export class OtlpJsonSpanExporter implements SpanExporter {
  private readonly pending = new Set<Promise<void>>();

  /** Loads the serializer here, not at import: only a process that traces pays for it. */
  static async create(url: string, timeoutMs = 10_000): Promise<OtlpJsonSpanExporter> {
    const { JsonTraceSerializer } = await import('@opentelemetry/otlp-transformer');
    return new OtlpJsonSpanExporter(url, JsonTraceSerializer, timeoutMs);
  }

  private constructor(
    private readonly url: string,
    private readonly serializer: typeof JsonTraceSerializer,
    private readonly timeoutMs: number,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const body = this.serializer.serializeRequest(spans);
    if (!body) {
      done({ code: ExportResultCode.FAILED, error: new Error('spans could not be serialised') });
      return;
    }
    const p = fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new TextDecoder().decode(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    })
      .then((res) =>
        done(
          res.ok
            ? { code: ExportResultCode.SUCCESS }
            : { code: ExportResultCode.FAILED, error: new Error(`OTLP receiver answered ${res.status}`) },
        ),
      )
      .catch((err: Error) => done({ code: ExportResultCode.FAILED, error: err }))
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  async shutdown(): Promise<void> {
    await this.forceFlush();
  }
}
