/**
 * The one mapping from domain errors to wire errors. A category maps to one code (gRPC and Connect
 * share the numbers); the reason travels as a `google.rpc.ErrorInfo` detail on every transport,
 * and a limit's wait as a `google.rpc.RetryInfo` detail (HTTP adds `Retry-After`, http/errors.ts).
 * Internal causes stay in the logs.
 */
import { create, type DescMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AuthError, type ErrorCategory } from "../domain/errors.js";
import { type ErrorInfo, ErrorInfoSchema, type RetryInfo, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/** The `domain` of every ErrorInfo we send. */
export const ERROR_DOMAIN = "auth.v1";

export const codeByCategory = {
  invalid_input: Code.InvalidArgument,
  conflict: Code.AlreadyExists,
  not_found: Code.NotFound,
  unauthenticated: Code.Unauthenticated,
  forbidden: Code.PermissionDenied,
  precondition: Code.FailedPrecondition,
  rate_limited: Code.ResourceExhausted,
  unimplemented: Code.Unimplemented,
  unavailable: Code.Unavailable,
  internal: Code.Internal,
} as const satisfies Record<ErrorCategory, Code>;

/** Anything thrown by a handler, as an AuthError; what is not one becomes INTERNAL with the cause kept. */
export function toAuthError(error: unknown): AuthError {
  return error instanceof AuthError ? error : new AuthError("INTERNAL", { cause: error });
}

export function codeOf(error: AuthError): Code {
  return codeByCategory[error.category];
}

export function errorInfoOf(error: AuthError): ErrorInfo {
  return create(ErrorInfoSchema, { reason: error.reason, domain: ERROR_DOMAIN, metadata: { ...error.metadata } });
}

/** The RetryInfo of an error that says how long to wait (a limit), or undefined. */
export function retryInfoOf(error: AuthError): RetryInfo | undefined {
  if (error.retryAfterMs === undefined) return undefined;
  const ms = Math.max(0, Math.round(error.retryAfterMs));
  return create(RetryInfoSchema, {
    retryDelay: create(DurationSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 }),
  });
}

/** The details every transport sends with an error: the ErrorInfo, then the RetryInfo when there is one. */
export function errorDetailsOf(error: AuthError): { desc: DescMessage; value: MessageShape<DescMessage> }[] {
  const retry = retryInfoOf(error);
  return [
    { desc: ErrorInfoSchema, value: errorInfoOf(error) },
    ...(retry === undefined ? [] : [{ desc: RetryInfoSchema as DescMessage, value: retry as MessageShape<DescMessage> }]),
  ];
}

/** The details of `error`, packed as google.protobuf.Any. */
export function packedDetailsOf(error: AuthError): Any[] {
  const retry = retryInfoOf(error);
  return [anyPack(ErrorInfoSchema, errorInfoOf(error)), ...(retry === undefined ? [] : [anyPack(RetryInfoSchema, retry)])];
}

export function toConnectError(error: unknown): ConnectError {
  if (error instanceof ConnectError) return error;
  const authError = toAuthError(error);
  return new ConnectError(authError.message, codeOf(authError), undefined, errorDetailsOf(authError), authError.cause ?? authError);
}

/** The `grpc-status-details-bin` trailer: a serialized google.rpc.Status carrying the ErrorInfo (and RetryInfo). */
export function statusDetailsBin(error: AuthError): Uint8Array {
  return toBinary(StatusSchema, create(StatusSchema, { code: codeOf(error), message: error.message, details: packedDetailsOf(error) }));
}
