/**
 * Prometheus metrics (prom-client), one registry per app, served at GET /metrics on a listener of
 * their own (METRICS_HOST:METRICS_PORT, loopback by default), never on the API ports: the login
 * outcomes below tell whether accounts exist, so only operators may read them. In a cluster the
 * primary serves every worker's metrics, aggregated, and the workers serve none:
 * - auth_requests_total{transport,rpc,code} and auth_request_duration_seconds{transport,rpc};
 * - auth_logins_total{outcome}: success, unknown_user, wrong_password, disabled, unverified,
 *   rate_limited;
 * - auth_refresh_reuse_total: rotated refresh tokens replayed after the grace window;
 * - auth_security_events_total{type}: every audit event;
 * - auth_store_errors_total{store}: PostgreSQL or Redis unreachable;
 * - auth_connections_refused_total{port}: connections closed because MAX_CONNECTIONS were open;
 * - auth_rate_limited_total{limit}: calls refused by an abuse limit (domain/abuse-limits.ts's
 *   LimitName: account_address, account, address, mail_client, mail_target, mail_owner,
 *   second_factor);
 * - prom-client's default process metrics under their conventional names, no prefix
 *   (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, `nodejs_heap_size_used_bytes` …),
 *   so that stock Node.js dashboards work. In a cluster the primary sums them over the workers
 *   (prom-client's AggregatorRegistry), except those a sum would falsify: the event-loop lag is
 *   averaged (its min and max kept), the version is the first worker's, the file-descriptor limit
 *   is the largest (each worker has the same limit), and the start time is the oldest worker's.
 */
import cluster from "node:cluster";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AggregatorRegistry, Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import type { SecurityEvent } from "./domain/model.js";
import { writePlainError } from "./transport/http/errors.js";

export type Store = "postgres" | "redis";

export interface Metrics {
  readonly registry: Registry;
  /** This process's exposition, for GET /metrics. */
  text(): Promise<string>;
  callFinished(transport: string, rpc: string, code: string, seconds: number): void;
  securityEvent(event: SecurityEvent): void;
  storeError(store: Store): void;
  connectionRefused(port: "grpc" | "http"): void;
  /** A call refused by an abuse limit. */
  rateLimited(limit: string): void;
}

/** The instruments of one registry: a table of names, help texts and labels. */
function instruments(registry: Registry) {
  const registers = [registry];
  const requests = new Counter({
    name: "auth_requests_total",
    help: "Calls answered, by transport, RPC (or route) and status code.",
    labelNames: ["transport", "rpc", "code"] as const,
    registers,
  });
  const latency = new Histogram({
    name: "auth_request_duration_seconds",
    help: "Time to answer a call, by transport and RPC (or route).",
    labelNames: ["transport", "rpc"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const logins = new Counter({
    name: "auth_logins_total",
    help: "Login attempts by outcome.",
    labelNames: ["outcome"] as const,
    registers,
  });
  const reuse = new Counter({
    name: "auth_refresh_reuse_total",
    help: "Rotated refresh tokens replayed after the grace window (each ended a session).",
    registers,
  });
  const events = new Counter({
    name: "auth_security_events_total",
    help: "Audit events by type.",
    labelNames: ["type"] as const,
    registers,
  });
  const storeErrors = new Counter({
    name: "auth_store_errors_total",
    help: "Operations that found PostgreSQL or Redis unreachable, and connection errors.",
    labelNames: ["store"] as const,
    registers,
  });
  const refused = new Counter({
    name: "auth_connections_refused_total",
    help: "Connections closed on arrival because MAX_CONNECTIONS were open, by port.",
    labelNames: ["port"] as const,
    registers,
  });
  const limited = new Counter({
    name: "auth_rate_limited_total",
    help: "Calls refused by an abuse limit, by limit (account_address, account, address, mail_client, mail_target, mail_owner).",
    labelNames: ["limit"] as const,
    registers,
  });
  return { requests, latency, logins, reuse, events, storeErrors, refused, limited };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  aggregateAsInCluster(registry);
  const { requests, latency, logins, reuse, events, storeErrors, refused, limited } = instruments(registry);
  const callChildren = new Map<string, { count: Counter.Internal; latency: Histogram.Internal<"transport" | "rpc"> }>();
  if (cluster.isWorker) {
    // prom-client answers the primary's collection requests only once an AggregatorRegistry was
    // made in the worker (its constructor adds the listener), and from the registries set here.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries(registry);
  }
  return {
    registry,
    text: () => registry.metrics(),
    callFinished(transport, rpc, code, seconds) {
      // prom-client hashes the labels on every call; the few combinations are looked up once.
      const key = `${transport} ${rpc} ${code}`;
      let children = callChildren.get(key);
      if (children === undefined) {
        children = { count: requests.labels({ transport, rpc, code }), latency: latency.labels({ transport, rpc }) };
        callChildren.set(key, children);
      }
      children.count.inc();
      children.latency.observe(seconds);
    },
    securityEvent(event) {
      events.inc({ type: event.type });
      if (event.type === "login_succeeded") logins.inc({ outcome: "success" });
      if (event.type === "login_failed") logins.inc({ outcome: String(event.detail?.cause ?? "unknown") });
      if (event.type === "refresh_reuse_detected") reuse.inc();
    },
    storeError(store) {
      storeErrors.inc({ store });
    },
    connectionRefused(port) {
      refused.inc({ port });
    },
    rateLimited(limit) {
      limited.inc({ limit });
    },
  };
}

/**
 * How the cluster's primary combines each worker's value of a default metric: prom-client sums by
 * default, omits the start time, and a sum of each worker's file-descriptor limit is no limit at
 * all. The aggregator travels with the worker's metrics to the primary.
 */
function aggregateAsInCluster(registry: Registry): void {
  const set = (name: string, aggregator: "max" | "min") => {
    const metric = registry.getSingleMetric(name) as { aggregator?: string } | undefined;
    if (metric !== undefined) metric.aggregator = aggregator;
  };
  set("process_max_fds", "max");
  set("process_start_time_seconds", "min");
}

/**
 * The operators' listener: `GET /metrics` (and HEAD) answers `text()`; any other path or method is
 * 404. The path is compared as sent, like on the API port.
 */
export function createMetricsServer(text: () => Promise<string>): Server {
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 }, (req, res) => {
    res.setHeader("x-content-type-options", "nosniff");
    res.setHeader("cache-control", "no-store");
    if (req.url !== "/metrics" || (req.method !== "GET" && req.method !== "HEAD")) {
      writePlainError(res, 404, "Not found: metrics are at GET /metrics.\n");
      return;
    }
    text().then(
      (body) => {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(body);
      },
      () => {
        writePlainError(res, 503, "Metrics are unavailable.\n");
      },
    );
  });
}

/** Binds the metrics listener; resolves with the bound port (useful with port 0). */
export function listenMetrics(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** In the cluster's primary: the metrics listener, answering the aggregated metrics of all workers. */
export function serveClusterMetrics(host: string, port: number): Promise<{ server: Server; port: number }> {
  const aggregator = new AggregatorRegistry();
  const server = createMetricsServer(() => aggregator.clusterMetrics());
  return listenMetrics(server, host, port).then((bound) => ({ server, port: bound }));
}
