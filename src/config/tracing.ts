/**
 * The tracing section: OpenTelemetry's standard `OTEL_*` variables, read here like every other
 * variable (so `.env` and `NAME_FILE` work for them too) and handed whole to src/tracing/. Tracing
 * is off, and no OpenTelemetry code is loaded, unless an OTLP endpoint is set (or
 * OTEL_TRACES_EXPORTER=otlp asks for the default one); OTEL_SDK_DISABLED=true and
 * OTEL_TRACES_EXPORTER=none turn it off whatever else is set.
 */
import type { ConfigReader } from "./reader.js";

export const OTLP_PROTOCOLS = ["http/protobuf", "http/json", "grpc"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export const TRACE_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type TraceSampler = (typeof TRACE_SAMPLERS)[number];

export interface TracingConfig {
  /** OTEL_SERVICE_NAME (default `authward`). */
  readonly serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES: `key=value,…` added to every span's resource. */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  readonly protocol: OtlpProtocol;
  /** Where spans go: the traces URL for HTTP (`…/v1/traces`), the collector's address for gRPC. */
  readonly endpoint: string;
  /** OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: sent with every export (a vendor's API key, say: may be given as _FILE). */
  readonly headers: Readonly<Record<string, string>>;
  readonly exportTimeoutMs: number;
  readonly sampler: TraceSampler;
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of the *traceidratio samplers, 0 to 1. */
  readonly samplerRatio: number;
  /** OTEL_PROPAGATORS: whether the caller's W3C `traceparent`/`tracestate` are continued ("tracecontext", the default) or ignored ("none"). */
  readonly acceptTraceparent: boolean;
  /** The batch span processor: OTEL_BSP_SCHEDULE_DELAY, _MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE, _EXPORT_TIMEOUT. */
  readonly batch: {
    readonly scheduleDelayMs: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly exportTimeoutMs: number;
  };
}

/** OpenTelemetry's default OTLP endpoints, by protocol. */
const DEFAULT_ENDPOINT: Record<OtlpProtocol, string> = {
  "http/protobuf": "http://localhost:4318",
  "http/json": "http://localhost:4318",
  grpc: "http://localhost:4317",
};

/** The tracing section; undefined when tracing is off. */
export function readTracing(r: ConfigReader): TracingConfig | undefined {
  const disabled = r.bool("OTEL_SDK_DISABLED", false);
  const exporter = r.raw("OTEL_TRACES_EXPORTER")?.toLowerCase();
  if (exporter !== undefined && exporter !== "otlp" && exporter !== "none") {
    r.problem(`OTEL_TRACES_EXPORTER=${exporter}: expected otlp or none (spans are exported over OTLP only)`);
  }
  const signalEndpoint = r.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ["http:", "https:"]);
  const baseEndpoint = r.url("OTEL_EXPORTER_OTLP_ENDPOINT", ["http:", "https:"]);
  const protocol = readProtocol(r);
  const headers = readKeyValues(
    r,
    r.raw("OTEL_EXPORTER_OTLP_TRACES_HEADERS") === undefined ? "OTEL_EXPORTER_OTLP_HEADERS" : "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    true,
  );
  const timeoutName =
    r.raw("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") === undefined ? "OTEL_EXPORTER_OTLP_TIMEOUT" : "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT";
  const exportTimeoutMs = r.int(timeoutName, 10_000, 1, 600_000);
  const sampler = r.str("OTEL_TRACES_SAMPLER", "parentbased_always_on").toLowerCase() as TraceSampler;
  if (!TRACE_SAMPLERS.includes(sampler)) r.problem(`OTEL_TRACES_SAMPLER=${sampler}: expected one of ${TRACE_SAMPLERS.join(", ")}`);
  const samplerRatio = readRatio(r);
  const acceptTraceparent = readPropagators(r);
  const batch = {
    scheduleDelayMs: r.int("OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 600_000),
    maxQueueSize: r.int("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000),
    maxExportBatchSize: r.int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1_000_000),
    exportTimeoutMs: r.int("OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1, 600_000),
  };
  if (batch.maxExportBatchSize > batch.maxQueueSize) r.problem("OTEL_BSP_MAX_EXPORT_BATCH_SIZE: must not exceed OTEL_BSP_MAX_QUEUE_SIZE");
  const serviceName = r.str("OTEL_SERVICE_NAME", "authward");
  const resourceAttributes = readKeyValues(r, "OTEL_RESOURCE_ATTRIBUTES", false);

  if (disabled || exporter === "none") return undefined;
  if (signalEndpoint === undefined && baseEndpoint === undefined && exporter !== "otlp") return undefined;
  return {
    serviceName,
    resourceAttributes,
    protocol,
    endpoint: tracesEndpoint(protocol, signalEndpoint, baseEndpoint),
    headers,
    exportTimeoutMs,
    sampler,
    samplerRatio,
    acceptTraceparent,
    batch,
  };
}

/**
 * The traces URL, as the OTLP exporter specification builds it: the signal's own endpoint as
 * given; the shared one with `/v1/traces` appended for HTTP; the collector's address for gRPC.
 */
function tracesEndpoint(protocol: OtlpProtocol, signal: string | undefined, base: string | undefined): string {
  if (signal !== undefined) return signal;
  const root = base ?? DEFAULT_ENDPOINT[protocol];
  return protocol === "grpc" ? root : `${root.replace(/\/+$/, "")}/v1/traces`;
}

function readProtocol(r: ConfigReader): OtlpProtocol {
  const name =
    r.raw("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") === undefined ? "OTEL_EXPORTER_OTLP_PROTOCOL" : "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
  const protocol = r.str(name, "http/protobuf").toLowerCase() as OtlpProtocol;
  if (OTLP_PROTOCOLS.includes(protocol)) return protocol;
  r.problem(`${name}=${protocol}: expected one of ${OTLP_PROTOCOLS.join(", ")}`);
  return "http/protobuf";
}

function readRatio(r: ConfigReader): number {
  const text = r.raw("OTEL_TRACES_SAMPLER_ARG");
  if (text === undefined) return 1;
  const ratio = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || !(ratio >= 0 && ratio <= 1)) {
    r.problem(`OTEL_TRACES_SAMPLER_ARG=${text}: expected a ratio from 0 to 1`);
    return 1;
  }
  return ratio;
}

/** OTEL_PROPAGATORS: W3C trace context (the default) or none; the service calls nothing downstream, so baggage has no use. */
function readPropagators(r: ConfigReader): boolean {
  const names = (r.raw("OTEL_PROPAGATORS") ?? "tracecontext")
    .toLowerCase()
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
  for (const name of names) {
    if (!["tracecontext", "baggage", "none"].includes(name)) {
      r.problem(`OTEL_PROPAGATORS: ${JSON.stringify(name)} is not supported (tracecontext, baggage or none)`);
    }
  }
  return names.includes("tracecontext");
}

/**
 * A W3C-baggage-style list, `key=value,key2=value2`, values percent-decoded (as OpenTelemetry
 * reads OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS). With `secret`, a problem names
 * the entry's position, never its text.
 */
function readKeyValues(r: ConfigReader, name: string, secret: boolean): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  const text = r.raw(name);
  if (text === undefined) return result;
  for (const [index, entry] of text.split(",").entries()) {
    if (entry.trim() === "") continue;
    const at = entry.indexOf("=");
    const key = at < 1 ? "" : entry.slice(0, at).trim();
    let value: string | undefined;
    try {
      value = at < 1 ? undefined : decodeURIComponent(entry.slice(at + 1).trim());
    } catch {
      value = undefined;
    }
    if (key === "" || value === undefined || !/^[\x21-\x7e]+$/.test(key)) {
      r.problem(`${name}: entry ${index + 1} ${secret ? "" : `(${JSON.stringify(entry)}) `}is not key=value (values percent-encoded)`);
      continue;
    }
    result[key] = value;
  }
  return result;
}
