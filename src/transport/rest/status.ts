/**
 * Errors of the REST gateway: a `google.rpc.Status` in proto3 JSON (`{code, message, details}`,
 * the ErrorInfo detail with its `@type`), under the HTTP status of the one code mapping (Connect's
 * table), except 413 for a body over the limit.
 */

import type { ServerResponse } from "node:http";
import { create, createRegistry, toJson } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { Code } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import type { AuthError } from "../../domain/errors.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { codeOf, errorInfoOf } from "../errors.js";
import { sendJson } from "../http/io.js";

const registry = createRegistry(ErrorInfoSchema);

export function httpStatusOf(error: AuthError): number {
  return error.reason === "REQUEST_TOO_LARGE" ? 413 : codeToHttpStatus(codeOf(error));
}

export function statusJson(code: Code, message: string, error?: AuthError): unknown {
  const details = error === undefined ? [] : [anyPack(ErrorInfoSchema, errorInfoOf(error))];
  return toJson(StatusSchema, create(StatusSchema, { code, message, details }), { registry });
}

/** Writes an AuthError as a google.rpc.Status JSON body. */
export function sendStatus(res: ServerResponse, error: AuthError): void {
  const status = httpStatusOf(error);
  const headers: Record<string, string> = {};
  // RFC 6750 §3: a 401 says how to authenticate.
  if (status === 401) headers["www-authenticate"] = error.reason === "TOKEN_MISSING" ? "Bearer" : 'Bearer error="invalid_token"';
  if (error.reason === "REQUEST_TOO_LARGE") headers.connection = "close";
  sendJson(res, status, statusJson(codeOf(error), error.message, error), headers);
}
