/**
 * What the composition root gets from tracing once it is on: the envelope's call spans, the
 * database's query observer, bcrypt's spans, and a shutdown that exports what is left. Types only:
 * app.ts imports this file's types statically and src/tracing/sdk.ts with a dynamic `import()`
 * when OTEL_* configure tracing, so that with tracing off no OpenTelemetry code is loaded.
 */
import type { PasswordHasher } from "../domain/ports.js";
import type { QueryObserver } from "../infra/postgres/unavailable.js";
import type { CallTracer } from "../transport/call/tracing.js";

export interface Tracing {
  /** Server spans for every call, on every transport (passed to the call envelope). */
  readonly callTracer: CallTracer;
  /** Client spans for PostgreSQL queries: the operation, the table and the statement text, never its parameters. */
  readonly observeQuery: QueryObserver;
  /** Spans around bcrypt's work (one name for verify and the dummy verify: a span must not tell an unknown account). */
  tracePasswords<T extends PasswordHasher>(hasher: T): T;
  /** Stops tracing Redis commands and exports the spans still queued. */
  shutdown(): Promise<void>;
}

/** Where the database is, for the attributes of query spans (no credentials). */
export interface DatabaseTarget {
  /** `postgresql` (PGlite too: the same SQL). */
  readonly namespace: string | undefined;
  readonly address: string | undefined;
  readonly port: number | undefined;
}
