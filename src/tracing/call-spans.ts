/**
 * The server span of each call, per OpenTelemetry's semantic conventions: RPCs (gRPC, Connect,
 * gRPC-Web) are named `auth.v1.AuthService/Login` with `rpc.system`, `rpc.service`, `rpc.method`
 * and the status (`rpc.grpc.status_code`, `rpc.connect_rpc.error_code`); REST routes (the
 * gateway, the OAuth endpoint, the seed routes, the pages) are named `POST /v1/auth/login` with
 * `http.request.method`, `http.route` and `http.response.status_code`. Every span also carries
 * `authward.call` (the RPC or route name of the log line), the request id, the tenant the caller
 * named when it is a tenant slug, and on failure `error.type` = our reason (`INVALID_CREDENTIALS`).
 * Never a header value that could hold a secret, a body, an address, an email or a user id.
 */

import { Code } from "@connectrpc/connect";
import {
  type Attributes,
  type Context,
  type ContextManager,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { tenantSlugOf } from "../domain/validation.js";
import type { CallInput } from "../transport/call/envelope.js";
import type { CallOutcome, CallSpan, CallTracer } from "../transport/call/tracing.js";

/** gRPC's server-side faults, which mark a span as an error (the caller's mistakes do not). */
const SERVER_FAULTS = new Set<Code>([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

/** `invalid_argument`, as Connect spells a code. */
const connectCodeName = (code: Code) => Code[code].replace(/[A-Z]/g, (c, i: number) => (i === 0 ? c.toLowerCase() : `_${c.toLowerCase()}`));

const headerGetter = {
  get: (input: CallInput, key: string) => input.header(key),
  keys: () => ["traceparent", "tracestate"],
};

export interface CallTracerOptions {
  readonly tracer: Tracer;
  readonly contextManager: ContextManager;
  /** Continue the caller's `traceparent` (OTEL_PROPAGATORS=tracecontext), or start every trace here. */
  readonly acceptTraceparent: boolean;
  /** The AuthError's gRPC code. */
  readonly codeOf: (error: NonNullable<CallOutcome["error"]>) => Code;
}

export function createCallTracer(options: CallTracerOptions): CallTracer {
  const { tracer, contextManager, codeOf } = options;
  const propagator = new W3CTraceContextPropagator();
  return {
    start(input, facts) {
      const parent: Context =
        options.acceptTraceparent && input.header("traceparent") !== undefined
          ? propagator.extract(ROOT_CONTEXT, input, headerGetter)
          : ROOT_CONTEXT;
      const attributes: Attributes = { "authward.call": input.name, "authward.request_id": facts.requestId };
      // The tenant as the call resolves it (`Acme` is acme); anything else a caller sends is not recorded.
      const tenant = facts.tenant === undefined ? undefined : tenantSlugOf(facts.tenant);
      if (tenant !== undefined) attributes["authward.tenant"] = tenant;
      const service = input.method?.parent.typeName;
      if (service !== undefined && input.method !== undefined) {
        attributes["rpc.service"] = service;
        attributes["rpc.method"] = input.method.name;
      }
      let name: string;
      if (input.http !== undefined) {
        const { method, route } = input.http;
        attributes["http.request.method"] = method;
        if (route !== undefined) attributes["http.route"] = route;
        name = route === undefined ? method : `${method} ${route}`;
      } else {
        attributes["rpc.system"] = input.transport === "grpc" ? "grpc" : "connect_rpc";
        name = service === undefined ? input.name : `${service}/${input.method?.name}`;
      }
      const startTime = input.startedAt === undefined ? undefined : performance.timeOrigin + input.startedAt;
      const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, ...(startTime === undefined ? {} : { startTime }) }, parent);
      const active = trace.setSpan(parent, span);
      let ended = false;
      const callSpan: CallSpan = {
        traceId: span.spanContext().traceId,
        // A span the sampler dropped has no children worth making: the handler runs as it would untraced.
        run: span.isRecording() ? (work) => contextManager.with(active, work) : (work) => work(),
        end({ error, httpStatus }) {
          if (ended) return;
          ended = true;
          // gRPC's OK is 0, which Connect's Code leaves out.
          const code: number = error === undefined ? 0 : codeOf(error);
          if (input.http !== undefined) {
            if (httpStatus !== undefined) span.setAttribute("http.response.status_code", httpStatus);
            if (httpStatus !== undefined && httpStatus >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          } else {
            if (input.transport === "grpc") span.setAttribute("rpc.grpc.status_code", code);
            else if (error !== undefined) span.setAttribute("rpc.connect_rpc.error_code", connectCodeName(code as Code));
            if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
          }
          if (error !== undefined) span.setAttribute("error.type", error.reason);
          span.end();
        },
      };
      return callSpan;
    },
  };
}
