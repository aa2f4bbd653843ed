/**
 * What the call envelope asks of tracing: a server span per call, continuing the caller's W3C
 * `traceparent`, active while the handler runs (so that the queries and Redis commands it causes
 * are its children), and ended with the call's outcome. The implementation is src/tracing/,
 * loaded only when tracing is configured; without it the envelope's cost is three `undefined` checks per call.
 */
import type { AuthError } from "../../domain/errors.js";
import type { CallInput } from "./envelope.js";

/** How a call ended, for its span. */
export interface CallOutcome {
  /** The error the call answered, if any. */
  readonly error: AuthError | undefined;
  /** The HTTP status written, on REST routes (`CallInput.http`). */
  readonly httpStatus: number | undefined;
}

/** The server span of one call. */
export interface CallSpan {
  /** The trace id (32 hex digits), for the call's log line. */
  readonly traceId: string;
  /** Runs the call's handler with this span active. */
  run<T>(work: () => Promise<T>): Promise<T>;
  end(outcome: CallOutcome): void;
}

export interface CallTracer {
  /** Starts the span of a call, a child of the caller's `traceparent` when it sent a valid one. */
  start(input: CallInput, facts: { readonly requestId: string; readonly tenant: string | undefined }): CallSpan;
}
