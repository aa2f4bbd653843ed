/**
 * The edge of both ports in the configuration: connection limits (timeouts, counts, HTTP/2
 * settings), TLS, and the origins CORS allows.
 */
import type { ConfigReader } from "./reader.js";

/**
 * Bounds on what a client can hold open, on both ports. A request whose headers, or whose whole
 * body or message, has not arrived in time is cut, so slow or stalled clients cannot pile up
 * connections; `checkIntervalMs` is how often the HTTP port looks (Node's default, 30 s, let a
 * 10 s headers timeout run to 40 s).
 */
export interface ConnectionLimits {
  /** HEADERS_TIMEOUT: a request's headers (on the gRPC port, a new connection's first call) must arrive within this. */
  readonly headersTimeoutMs: number;
  /** REQUEST_TIMEOUT: a whole request, headers and body (or gRPC message), must arrive within this. */
  readonly requestTimeoutMs: number;
  /** How often the HTTP port checks the two timeouts above: a tenth of the shorter, at most 1 s. */
  readonly checkIntervalMs: number;
  /** HTTP_KEEPALIVE_TIMEOUT: an idle keep-alive connection on the HTTP port is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** MAX_CONNECTIONS: open connections per port and process; more are closed as they arrive. */
  readonly maxConnections: number;
  /** GRPC_MAX_CONCURRENT_STREAMS: calls one gRPC connection may have in flight (HTTP/2 SETTINGS). */
  readonly grpcMaxConcurrentStreams: number;
  /** GRPC_MAX_CONNECTION_IDLE: a gRPC connection with no call in flight is closed (GOAWAY) after this. */
  readonly grpcMaxConnectionIdleMs: number;
  /** GRPC_MAX_CONNECTION_AGE: a gRPC connection is asked to go away (GOAWAY) after this; 0: never. */
  readonly grpcMaxConnectionAgeMs: number;
  /** GRPC_KEEPALIVE_TIME: the gRPC port pings a connection this often and closes it when the ping is not answered within 20 s. */
  readonly grpcKeepaliveTimeMs: number;
}

/** The certificate chain and private key (PEM files) both ports serve, reread every `reloadIntervalMs`. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** TLS_RELOAD_INTERVAL: how often the files are checked for a renewed certificate; 0: never. */
  readonly reloadIntervalMs: number;
}

export function readLimits(r: ConfigReader): ConnectionLimits {
  const headersTimeoutMs = r.duration("HEADERS_TIMEOUT", "10s", 1000);
  const requestTimeoutMs = r.duration("REQUEST_TIMEOUT", "30s", 1000);
  // Node refuses a headers timeout longer than the request timeout.
  if (headersTimeoutMs > requestTimeoutMs) r.problem("HEADERS_TIMEOUT: must not exceed REQUEST_TIMEOUT");
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    checkIntervalMs: Math.max(100, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, requestTimeoutMs) / 10))),
    keepAliveTimeoutMs: r.duration("HTTP_KEEPALIVE_TIMEOUT", "5s", 1000),
    maxConnections: r.int("MAX_CONNECTIONS", 10_000, 1, 1_000_000),
    // gRPC's own guidance: at least 100. grpc-js's default is 2^32 - 1, i.e. no bound at all.
    grpcMaxConcurrentStreams: r.int("GRPC_MAX_CONCURRENT_STREAMS", 100, 1, 10_000),
    grpcMaxConnectionIdleMs: r.duration("GRPC_MAX_CONNECTION_IDLE", "5m", 1000),
    grpcMaxConnectionAgeMs: r.duration("GRPC_MAX_CONNECTION_AGE", "30m", 0),
    grpcKeepaliveTimeMs: r.duration("GRPC_KEEPALIVE_TIME", "1m", 1000),
  };
}

export function readTls(r: ConfigReader): TlsConfig | undefined {
  const certFile = r.raw("TLS_CERT_FILE");
  const keyFile = r.raw("TLS_KEY_FILE");
  const reloadIntervalMs = r.duration("TLS_RELOAD_INTERVAL", "1h", 0);
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    r.problem("TLS_CERT_FILE and TLS_KEY_FILE: set both (the certificate chain and its private key, PEM), or neither");
    return undefined;
  }
  return { certFile, keyFile, reloadIntervalMs };
}

/**
 * CORS_ALLOWED_ORIGINS: a comma-separated list of exact origins (`https://app.example.com`). An
 * origin is a scheme, a host and a port, nothing else; `*` is refused, because the service must
 * never let every site's scripts call it with a user's token.
 */
export function readAllowedOrigins(r: ConfigReader): string[] {
  const text = r.raw("CORS_ALLOWED_ORIGINS");
  if (text === undefined) return [];
  const origins: string[] = [];
  for (const entry of text.split(",").map((o) => o.trim())) {
    if (entry === "") continue;
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if ((url.protocol === "http:" || url.protocol === "https:") && url.origin === entry.replace(/\/$/, "").toLowerCase()) {
        origin = url.origin;
      }
    } catch {
      // reported below
    }
    if (origin === undefined) {
      r.problem(`CORS_ALLOWED_ORIGINS: ${JSON.stringify(entry)} is not an origin (scheme://host[:port], no path; * is not allowed)`);
    } else if (!origins.includes(origin)) origins.push(origin);
  }
  return origins;
}
