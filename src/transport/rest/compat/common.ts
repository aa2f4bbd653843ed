/**
 * What the seed-compatible routes share: their callers' error formats, and the wrapper that runs a
 * route and answers a failure in its seed's format. Every route maps onto the AuthService handlers
 * (or, for the two legacy refreshes, onto the domain flow that serves them); none re-implements a
 * flow.
 */
import type { ServerResponse } from "node:http";
import type { AuthError, AuthErrorReason } from "../../../domain/errors.js";
import type { AuthDeps } from "../../../domain/ports.js";
import { toAuthError } from "../../errors.js";
import type { AuthHandlers } from "../../handlers.js";
import { sendJson } from "../../http/io.js";
import type { Exchange, HttpRoute } from "../../http/router.js";

export interface CompatOptions {
  readonly handlers: AuthHandlers;
  readonly deps: AuthDeps;
  readonly maxRequestBytes: number;
}

/** HTTP status of an error in the FastAPI-style seeds (validation errors are 422 there). */
export function fastApiStatus(error: AuthError): number {
  switch (error.category) {
    case "invalid_input":
      return error.reason === "REQUEST_TOO_LARGE" ? 413 : 422;
    case "unauthenticated":
      return 401;
    case "forbidden":
      return 403;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "precondition":
      return 400;
    case "rate_limited":
      return 429;
    case "unavailable":
      return 503;
    default:
      return 500;
  }
}

/**
 * A FastAPI error body: `{"detail": "..."}`, or for a validation error the list FastAPI sends
 * (`[{type, loc, msg}]`). `reason` is ours, the same catalog as on every other transport.
 */
export function sendFastApiError(res: ServerResponse, error: AuthError, messages: Partial<Record<AuthErrorReason, string>> = {}): void {
  const status = fastApiStatus(error);
  const message = messages[error.reason] ?? error.message;
  const field = error.metadata.field;
  const detail =
    status === 422
      ? [{ type: error.message.endsWith("required") ? "missing" : "value_error", loc: ["body", field ?? "body"], msg: message }]
      : message;
  const headers: Record<string, string> = status === 401 ? { "www-authenticate": "Bearer" } : {};
  sendJson(res, status, { detail, reason: error.reason }, headers);
}

/** A route that answers its failures with `onError`. */
export function compatRoute(
  method: string,
  path: string | ((path: string) => Record<string, string> | undefined),
  name: string,
  run: (exchange: Exchange) => Promise<void>,
  onError: (res: ServerResponse, error: AuthError) => void,
): HttpRoute {
  return {
    method,
    name,
    match: typeof path === "string" ? (candidate) => (candidate === path ? {} : undefined) : path,
    async handle(exchange) {
      try {
        await run(exchange);
        return undefined;
      } catch (error) {
        const authError = toAuthError(error);
        onError(exchange.res, authError);
        return authError;
      }
    },
  };
}

/** A required string field of a JSON body or form, as the domain would call it missing. */
export function text(source: Record<string, unknown> | URLSearchParams, name: string): string {
  const value = source instanceof URLSearchParams ? source.get(name) : source[name];
  return typeof value === "string" ? value : "";
}
