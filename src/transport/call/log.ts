/** The end of every call: one log line and the metrics, at a level chosen by the outcome. */
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { AuthError, ErrorCategory } from "../../domain/errors.js";
import type { Metrics } from "../../metrics.js";
import { codeOf } from "../errors.js";

const levelByCategory = {
  invalid_input: "info",
  conflict: "info",
  not_found: "info",
  unauthenticated: "info",
  forbidden: "info",
  precondition: "info",
  rate_limited: "warn",
  unimplemented: "info",
  unavailable: "warn",
  internal: "error",
} as const satisfies Record<ErrorCategory, "info" | "warn" | "error">;

/** RPCs answered so often that a line per success would drown the log: debug level only. */
const hotPaths = new Set(["ValidateToken"]);

/** Where calls are reported. */
export interface CallObserver {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export type Transport = "grpc" | "connect" | "rest";

/** The fields of a call's log line (never a body, a header value that could hold a secret, or a token). */
export interface CallFacts {
  readonly transport: Transport;
  /** The RPC (`Login`) or the route (`oauth.token`, `compat.vigia.login`). */
  readonly rpc: string;
  readonly requestId: string;
  readonly tenant: string | undefined;
  /** Set once the call has identified its user (authenticated or logged in). */
  userId?: string;
  /** The call's trace id, when tracing is on: the log line and the trace find each other. */
  traceId?: string;
}

/** Logs the end of a call and counts it: info (debug on hot paths) on success, by category on failure, with the cause. */
export function observeCallEnd(observer: CallObserver, facts: CallFacts, startedAt: number, error?: AuthError): void {
  const latencyMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
  if (error === undefined) {
    observer.metrics.callFinished(facts.transport, facts.rpc, "OK", latencyMs / 1000);
    const level = hotPaths.has(facts.rpc) ? "debug" : "info";
    if (observer.logger.isLevelEnabled(level)) observer.logger[level]({ ...facts, code: "OK", latencyMs }, "call ok");
    return;
  }
  const code = Code[codeOf(error)];
  observer.metrics.callFinished(facts.transport, facts.rpc, code, latencyMs / 1000);
  observer.logger[levelByCategory[error.category]](
    { ...facts, code, reason: error.reason, latencyMs, ...(error.cause !== undefined ? { err: error.cause } : {}) },
    "call failed",
  );
}
