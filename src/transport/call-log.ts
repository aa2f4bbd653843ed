/** What every transport does around a call: a request id, one log line and the metrics when it ends. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ErrorCategory } from "../domain/errors.js";
import type { Metrics } from "../metrics.js";
import { codeOf, toAuthError } from "./errors.js";

const requestIdShape = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's `x-request-id` when it is sane, otherwise a new one. */
export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && requestIdShape.test(header) ? header : randomUUID();
}

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

export interface CallObserver {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

export interface CallFacts {
  readonly transport: "grpc" | "connect" | "rest";
  readonly rpc: string;
  readonly requestId: string;
  readonly tenant: string | undefined;
  /** Set once the call has identified its user (authenticated or logged in). */
  userId?: string;
}

/** The callback flows use to say who the caller turned out to be, recording it in `facts`. */
export function identifies(facts: CallFacts): (who: { userId: string; tenant: string }) => void {
  return (who) => {
    facts.userId = who.userId;
  };
}

/** Logs the end of a call and counts it: info (debug on hot paths) on success, by category on failure, with the cause. */
export function observeCallEnd(observer: CallObserver, facts: CallFacts, startedAt: number, error?: unknown): void {
  const latencyMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
  if (error === undefined) {
    observer.metrics.callFinished(facts.transport, facts.rpc, "OK", latencyMs / 1000);
    const level = hotPaths.has(facts.rpc) ? "debug" : "info";
    if (observer.logger.isLevelEnabled(level)) observer.logger[level]({ ...facts, code: "OK", latencyMs }, "call ok");
    return;
  }
  const authError = toAuthError(error);
  const code = Code[codeOf(authError)];
  observer.metrics.callFinished(facts.transport, facts.rpc, code, latencyMs / 1000);
  observer.logger[levelByCategory[authError.category]](
    { ...facts, code, reason: authError.reason, latencyMs, ...(authError.cause !== undefined ? { err: authError.cause } : {}) },
    "call failed",
  );
}
