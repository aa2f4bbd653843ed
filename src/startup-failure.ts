/**
 * How a failed start is told in its log line: which phase failed (building the app: stores and
 * keys; or binding the ports), and the port or variable to look at, never a value.
 */
import type { Config } from "./config.js";

/** A failure while building the app (stores, keys) or binding its ports. */
export class StartupError extends Error {
  constructor(
    readonly phase: "build" | "listen",
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "StartupError";
  }
}

/** Network failures while opening PostgreSQL at start-up (pg and Node socket codes). */
const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"]);

/**
 * What a start-up failure is about, for its log line: the port or the variable to look at. Never a
 * value: DATABASE_URL holds a password. grpc-js reports a port in use only in its message, and binds
 * first, so a bind failure without a port of its own is the gRPC port's.
 */
export function describeStartupFailure(error: StartupError, config: Config): { msg: string; fields: Record<string, unknown> } {
  const cause = error.cause as { code?: unknown; port?: unknown; errno?: unknown; severity?: unknown } | undefined;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  const text = error.message;
  if (error.phase === "listen") {
    const problem = ["EADDRINUSE", "EACCES", "EADDRNOTAVAIL"].find((c) => c === code || text.includes(c));
    if (problem !== undefined) {
      const http = typeof cause?.port === "number";
      const port = http ? (cause?.port as number) : config.grpcPort;
      const variable = http ? "HTTP_PORT" : "GRPC_PORT";
      const what =
        problem === "EADDRINUSE" ? "is in use" : problem === "EACCES" ? "may not be bound by this user" : "is not an address of this host";
      return { msg: `${variable} ${port} ${what}`, fields: { variable, port, host: config.host, code: problem } };
    }
    return { msg: "could not listen", fields: { grpcPort: config.grpcPort, httpPort: config.httpPort, host: config.host } };
  }
  if (!config.embedded.database && (UNREACHABLE.has(code ?? "") || typeof cause?.severity === "string")) {
    return { msg: "PostgreSQL is unreachable or refused the connection (DATABASE_URL)", fields: { variable: "DATABASE_URL", code } };
  }
  return { msg: "could not start", fields: {} };
}
