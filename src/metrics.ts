/**
 * Prometheus metrics (prom-client), one registry per app, served at GET /metrics:
 * - auth_requests_total{transport,rpc,code} and auth_request_duration_seconds{transport,rpc};
 * - auth_logins_total{outcome}: success, unknown_user, wrong_password, disabled, unverified,
 *   rate_limited;
 * - auth_refresh_reuse_total: rotated refresh tokens replayed after the grace window;
 * - auth_security_events_total{type}: every audit event;
 * - auth_store_errors_total{store}: PostgreSQL or Redis unreachable;
 * - the Node.js process metrics (event loop lag, heap, GC) with the prefix auth_.
 */
import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import { AggregatorRegistry, Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import type { SecurityEvent } from "./domain/model.js";

export type Store = "postgres" | "redis";

export interface Metrics {
  readonly registry: Registry;
  /** The exposition for GET /metrics: in a cluster worker, the whole cluster's, from the primary. */
  text(): Promise<string>;
  callFinished(transport: string, rpc: string, code: string, seconds: number): void;
  securityEvent(event: SecurityEvent): void;
  storeError(store: Store): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "auth_" });
  const requests = new Counter({
    name: "auth_requests_total",
    help: "Calls answered, by transport, RPC (or route) and status code.",
    labelNames: ["transport", "rpc", "code"] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: "auth_request_duration_seconds",
    help: "Time to answer a call, by transport and RPC (or route).",
    labelNames: ["transport", "rpc"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const logins = new Counter({
    name: "auth_logins_total",
    help: "Login attempts by outcome.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const reuse = new Counter({
    name: "auth_refresh_reuse_total",
    help: "Rotated refresh tokens replayed after the grace window (each ended a session).",
    registers: [registry],
  });
  const events = new Counter({
    name: "auth_security_events_total",
    help: "Audit events by type.",
    labelNames: ["type"] as const,
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: "auth_store_errors_total",
    help: "Operations that found PostgreSQL or Redis unreachable, and connection errors.",
    labelNames: ["store"] as const,
    registers: [registry],
  });
  const callChildren = new Map<string, { count: Counter.Internal; latency: Histogram.Internal<"transport" | "rpc"> }>();
  if (cluster.isWorker) {
    // prom-client answers the primary's collection requests only once an AggregatorRegistry was
    // made in the worker (its constructor adds the listener), and from the registries set here.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries(registry);
  }
  return {
    registry,
    text: () => (cluster.isWorker ? clusterText() : registry.metrics()),
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
  };
}

const REQUEST = "auth:metrics-request";
const RESPONSE = "auth:metrics-response";

interface MetricsMessage {
  readonly type: string;
  readonly id: string;
  readonly text?: string;
  readonly error?: string;
}

/** In the cluster's primary: answers workers' requests for the aggregated metrics of all workers. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: MetricsMessage) => {
    if (message?.type !== REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id: message.id, text }),
      (error: unknown) => worker.send({ type: RESPONSE, id: message.id, error: String(error) }),
    );
  });
}

/** In a worker: asks the primary for the whole cluster's metrics (each worker only sees its own calls). */
function clusterText(): Promise<string> {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      process.off("message", onMessage);
      reject(new Error("the cluster's primary did not answer for the metrics"));
    }, 7000);
    const onMessage = (message: MetricsMessage) => {
      if (message?.type !== RESPONSE || message.id !== id) return;
      clearTimeout(timer);
      process.off("message", onMessage);
      if (message.text !== undefined) resolve(message.text);
      else reject(new Error(message.error ?? "no metrics"));
    };
    process.on("message", onMessage);
    process.send?.({ type: REQUEST, id });
  });
}
