/**
 * What the seed-compatible routes share: their options, the FastAPI-style error format, the route
 * constructor, and the domain-to-JSON pieces several seeds answer with. Every route calls a domain
 * flow and maps the domain's values to its seed's JSON; none re-implements a flow.
 */
import type { AuthError, AuthErrorReason } from "../../../domain/errors.js";
import type { Flows } from "../../../domain/flows.js";
import type { OldApi } from "../../../domain/model.js";
import type { ErrorFormat } from "../../http/errors.js";
import type { Exchange, HttpRoute } from "../../http/router.js";

export interface CompatOptions {
  readonly flows: Flows;
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
 * (`[{type, loc, msg}]`), with the seed's own messages where it had them. `reason` is ours, the
 * same catalog as on every other transport.
 */
export function fastApiErrors(messages: Partial<Record<AuthErrorReason, string>> = {}): ErrorFormat {
  return {
    status: fastApiStatus,
    plainChallenge: true,
    body(error, status) {
      const message = messages[error.reason] ?? error.message;
      const field = error.metadata.field;
      const detail =
        status === 422
          ? [{ type: error.message.endsWith("required") ? "missing" : "value_error", loc: ["body", field ?? "body"], msg: message }]
          : message;
      return { detail, reason: error.reason };
    },
  };
}

/**
 * A route of a seed API. Its calls carry the API (`RequestContext.api`): the flows issue and
 * accept that API's legacy tokens where the operator configured a profile for it, and mail links
 * to its own confirmation route.
 */
export function compatRoute(
  api: OldApi,
  method: string,
  path: string | ((path: string) => Record<string, string> | undefined),
  name: string,
  handle: (exchange: Exchange) => Promise<void>,
  errors: ErrorFormat,
): HttpRoute {
  const match = typeof path === "string" ? (candidate: string) => (candidate === path ? {} : undefined) : path;
  return {
    method,
    name,
    errors,
    match,
    handle: (exchange) => handle({ ...exchange, ctx: { ...exchange.ctx, api } }),
    ...(typeof path === "string" ? { path } : {}),
  };
}

/** A required string field of a JSON body or form, as the domain would call it missing. */
export function text(source: Record<string, unknown> | URLSearchParams, name: string): string {
  const value = source instanceof URLSearchParams ? source.get(name) : source[name];
  return typeof value === "string" ? value : "";
}
