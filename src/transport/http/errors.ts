/**
 * The one writer of HTTP error responses on the HTTP port. Each family of routes keeps its
 * documented body (an `ErrorFormat`: google.rpc.Status JSON for the gateway, RFC 6749 for the
 * OAuth endpoint, each seed API's own), and this module applies the rules they all share:
 * - the HTTP status of a code is the Connect protocol's (DESIGN §5), from connect's own
 *   `codeToHttpStatus`, the table connect-node answers Connect calls with;
 * - a body over the limit is 413 (where the family does not say otherwise) and closes the
 *   connection, since the rest of that body was never read;
 * - a 401 says how to authenticate (RFC 6750 §3), and says `error="invalid_token"` only when the
 *   token presented is the problem, never for a wrong password (the seed APIs, whose servers
 *   always said a bare `Bearer`, keep saying that);
 * - an error that says how long to wait (a limit) carries `Retry-After` in seconds (RFC 9110
 *   §10.2.3), rounded up, on every family;
 * - nothing is cached (`Cache-Control: no-store`, from `sendJson`).
 * Connect's early failures (a body it could not read) are encoded by connect-node for whichever
 * protocol the client speaks; its adapter takes their headers from `errorHeaders`.
 */
import type { ServerResponse } from "node:http";
import { create, createRegistry, toJson } from "@bufbuild/protobuf";
import type { Code } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import type { AuthError, AuthErrorReason } from "../../domain/errors.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { codeOf, packedDetailsOf } from "../errors.js";
import { sendHtml, sendJson } from "./io.js";

/** The HTTP status of an error by the shared rules: 413 for a body over the limit, otherwise its code's. */
export function httpStatusOf(error: AuthError): number {
  return error.reason === "REQUEST_TOO_LARGE" ? 413 : codeToHttpStatus(codeOf(error));
}

/** Reasons that mean the presented token is bad (RFC 6750 §3.1 `invalid_token`), as opposed to a missing one or a wrong password. */
const tokenProblems: ReadonlySet<AuthErrorReason> = new Set(["TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_REUSED", "SESSION_REVOKED"]);

/**
 * The headers the shared rules add to an error answered with `status`. `plainChallenge` leaves the
 * RFC 6750 error code out of a 401's challenge, as the seed APIs' own servers did.
 */
export function errorHeaders(error: AuthError, status: number, plainChallenge = false): Record<string, string> {
  const headers: Record<string, string> = {};
  // The rest of the body was not read: the connection cannot carry another request.
  if (error.reason === "REQUEST_TOO_LARGE") headers.connection = "close";
  if (error.retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
  if (status === 401) {
    headers["www-authenticate"] = !plainChallenge && tokenProblems.has(error.reason) ? 'Bearer error="invalid_token"' : "Bearer";
  }
  return headers;
}

/** How one family of routes answers an error: its body, and its status where it departs from the table. */
export interface ErrorFormat {
  status?(error: AuthError): number;
  body(error: AuthError, status: number): unknown;
  /** Headers the family's documents add to every answer (RFC 6749's `Pragma: no-cache`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** A 401 challenges with a bare `Bearer`, without RFC 6750's `error="invalid_token"` (the seed APIs). */
  readonly plainChallenge?: boolean;
  /** Families that answer people, not programs (the verification page), write an HTML page instead of `body`. */
  html?(error: AuthError, status: number): string;
  /** The JSON Schema of `body`'s answers, for the OpenAPI document (beside the writer, so that they change together). */
  readonly openApiSchema?: Readonly<Record<string, unknown>>;
}

/** The status `writeHttpError` answers `error` with in `format`. */
export function httpErrorStatus(error: AuthError, format: ErrorFormat): number {
  return format.status?.(error) ?? httpStatusOf(error);
}

/** Writes `error` in `format`'s shape under the shared rules; a response already under way is cut instead. */
export function writeHttpError(res: ServerResponse, error: AuthError, format: ErrorFormat): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = httpErrorStatus(error, format);
  const headers = { ...format.headers, ...errorHeaders(error, status, format.plainChallenge) };
  if (format.html !== undefined) sendHtml(res, status, format.html(error, status), headers);
  else sendJson(res, status, format.body(error, status), headers);
}

const registry = createRegistry(ErrorInfoSchema, RetryInfoSchema);

/** A google.rpc.Status in proto3 JSON (`{code, message, details}`), with the ErrorInfo (and RetryInfo) of `error` when there is one. */
export function statusJson(code: Code, message: string, error?: AuthError): unknown {
  const details = error === undefined ? [] : packedDetailsOf(error);
  return toJson(StatusSchema, create(StatusSchema, { code, message, details }), { registry });
}

/** The JSON Schema of `statusJson`'s body, for the OpenAPI document. */
export const statusOpenApiSchema = {
  type: "object",
  description: "An error, as google.rpc.Status in proto3 JSON.",
  properties: {
    code: { type: "integer", description: "The gRPC status code (3 INVALID_ARGUMENT, 16 UNAUTHENTICATED, …)." },
    message: { type: "string" },
    details: {
      type: "array",
      items: {
        oneOf: [
          {
            type: "object",
            properties: {
              "@type": { type: "string", const: "type.googleapis.com/google.rpc.ErrorInfo" },
              reason: { type: "string", description: "One of the closed list of reasons in docs/api.md." },
              domain: { type: "string", const: "auth.v1" },
              metadata: { type: "object", additionalProperties: { type: "string" } },
            },
          },
          {
            type: "object",
            description: "How long to wait before retrying (a limit); also the Retry-After header.",
            properties: {
              "@type": { type: "string", const: "type.googleapis.com/google.rpc.RetryInfo" },
              retryDelay: { type: "string", description: 'A duration such as "2.500s".' },
            },
          },
        ],
      },
    },
  },
};

/** The gateway's format, and the default: google.rpc.Status JSON under the table's status. */
export const statusFormat: ErrorFormat = {
  body: (error) => statusJson(codeOf(error), error.message, error),
};

/**
 * Writes an error of the HTTP port itself, which no flow raised and no reason names (no route, a
 * method the route does not take, a failure outside any route), as google.rpc.Status JSON.
 */
export function writeProtocolError(
  res: ServerResponse,
  status: number,
  code: Code,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, statusJson(code, message), headers);
}

/** A refusal without a body: a CORS preflight from an origin that is not allowed (the browser reads only the status). */
export function writeBareRefusal(res: ServerResponse, status: number): void {
  res.writeHead(status, { "content-length": "0", "cache-control": "no-store" });
  res.end();
}

/** A plain-text error, for the operators' metrics listener (no API client reads it). */
export function writePlainError(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(message);
}
