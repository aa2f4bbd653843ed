/** What every transport does around a call: a request id, and one log line when it ends. */
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ErrorCategory } from "../domain/errors.js";
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

export interface CallFacts {
  readonly transport: "grpc" | "connect" | "rest";
  readonly rpc: string;
  readonly requestId: string;
  readonly tenant: string | undefined;
}

/** Logs the end of a call: debug when it succeeded, by category when it failed (with the cause). */
export function logCallEnd(logger: Logger, facts: CallFacts, startedAt: number, error?: unknown): void {
  const latencyMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
  if (error === undefined) {
    if (logger.isLevelEnabled("debug")) logger.debug({ ...facts, code: "OK", latencyMs }, "call ok");
    return;
  }
  const authError = toAuthError(error);
  const level = levelByCategory[authError.category];
  logger[level](
    {
      ...facts,
      code: Code[codeOf(authError)],
      reason: authError.reason,
      latencyMs,
      ...(authError.cause !== undefined ? { err: authError.cause } : {}),
    },
    "call failed",
  );
}
