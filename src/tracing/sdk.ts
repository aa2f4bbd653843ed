/**
 * Starts OpenTelemetry tracing from the `tracing` section of the configuration (the standard
 * OTEL_* variables, config/tracing.ts): a tracer provider of this app's own (nothing registered
 * globally, so that several apps in one process, as in the tests, keep their traces apart), an
 * AsyncLocalStorage context so that queries and Redis commands find their call's span, the
 * sampler, a batch span processor, and the OTLP exporter of the configured protocol. Loaded only
 * by a dynamic import in app.ts when tracing is on. In a cluster each worker runs its own and
 * exports its own spans (`process.pid` in the resource tells them apart).
 */
import { hostname } from "node:os";
import type { ContextManager } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import type { Logger } from "pino";
import type { TracingConfig } from "../config.js";
import { codeOf } from "../transport/errors.js";
import { createCallTracer } from "./call-spans.js";
import { queryObserver, tracedPasswords, traceRedisCommands } from "./store-spans.js";
import type { DatabaseTarget, Tracing } from "./tracing.js";

export interface TracingContext {
  readonly serviceVersion: string;
  readonly logger: Logger;
  readonly database: DatabaseTarget;
  /** REDIS_KEY_PREFIX: kept in the key shapes of Redis spans. */
  readonly redisKeyPrefix: string;
}

export async function startTracing(config: TracingConfig, about: TracingContext): Promise<Tracing> {
  const contextManager: ContextManager = new AsyncLocalStorageContextManager().enable();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      ...config.resourceAttributes,
      "service.name": config.serviceName,
      "service.version": about.serviceVersion,
      "service.instance.id": `${hostname()}:${process.pid}`,
      "process.pid": process.pid,
      "process.runtime.name": "nodejs",
      "process.runtime.version": process.versions.node,
    }),
    sampler: samplerOf(config),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: reportingFailures(await exporterOf(config), about.logger),
        scheduledDelayMillis: config.batch.scheduleDelayMs,
        maxQueueSize: config.batch.maxQueueSize,
        maxExportBatchSize: config.batch.maxExportBatchSize,
        exportTimeoutMillis: config.batch.exportTimeoutMs,
      }),
    ],
  });
  const tracer = provider.getTracer("authward", about.serviceVersion);
  const spans = { tracer, contextManager };
  const stopRedis = traceRedisCommands(spans, about.redisKeyPrefix);
  about.logger.info(
    { protocol: config.protocol, endpoint: redactedUrl(config.endpoint), sampler: config.sampler, serviceName: config.serviceName },
    "OpenTelemetry tracing on",
  );
  return {
    callTracer: createCallTracer({ tracer, contextManager, acceptTraceparent: config.acceptTraceparent, codeOf }),
    observeQuery: queryObserver(spans, about.database),
    tracePasswords: (hasher) => tracedPasswords(spans, hasher),
    async shutdown() {
      stopRedis();
      try {
        await provider.shutdown();
      } catch (error) {
        // A collector that is down must not fail the service's shutdown: its last spans are lost.
        about.logger.warn({ err: error }, "OpenTelemetry: the last spans could not be exported");
      } finally {
        contextManager.disable();
      }
    },
  };
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return ratio();
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: ratio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The OTLP exporter of the configured protocol; only that one is loaded. */
async function exporterOf(config: TracingConfig): Promise<SpanExporter> {
  const common = { url: config.endpoint, timeoutMillis: config.exportTimeoutMs };
  switch (config.protocol) {
    case "grpc": {
      const [{ OTLPTraceExporter }, { Metadata }] = await Promise.all([
        import("@opentelemetry/exporter-trace-otlp-grpc"),
        import("@grpc/grpc-js"),
      ]);
      const metadata = new Metadata();
      for (const [key, value] of Object.entries(config.headers)) metadata.set(key, value);
      return new OTLPTraceExporter({ ...common, metadata });
    }
    case "http/json": {
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
      return new OTLPTraceExporter({ ...common, headers: { ...config.headers } });
    }
    default: {
      const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
      return new OTLPTraceExporter({ ...common, headers: { ...config.headers } });
    }
  }
}

/** An exporter that logs its failures (at most one line a minute; never the headers, which may hold a key). */
function reportingFailures(inner: SpanExporter, logger: Logger): SpanExporter {
  let lastReport = 0;
  return {
    export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
      inner.export(spans, (result) => {
        if (result.code !== ExportResultCode.SUCCESS && Date.now() - lastReport > 60_000) {
          lastReport = Date.now();
          logger.warn({ err: result.error, spans: spans.length }, "OpenTelemetry: spans could not be exported");
        }
        done(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

/** The endpoint for the start-up line, without credentials a URL might carry. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    return parsed.toString();
  } catch {
    return "(invalid)";
  }
}
