/**
 * The service's lifecycle once wired: `start` binds both ports and keeps the gRPC health service in
 * step with readiness; `stop` tells health checkers first, stops accepting, lets in-flight calls
 * and queued mail finish within SHUTDOWN_TIMEOUT, then closes what `close` closes.
 */
import type { Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ServingStatus } from "grpc-health-check";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { listenMetrics } from "../metrics.js";
import type { GrpcPort } from "../transport/grpc/server.js";
import type { Readiness } from "../transport/http/server.js";
import { withTimeout } from "./stores.js";

export interface LifecycleParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly grpcPort: GrpcPort;
  readonly httpServer: HttpServer;
  /** The operators' listener for GET /metrics; undefined when another process serves them (a cluster's primary). */
  readonly metricsServer: HttpServer | undefined;
  readonly health: { set(status: ServingStatus): void };
  readonly readiness: () => Promise<Readiness>;
  /** Waits for background work (mail) started so far, at most `timeoutMs`. */
  readonly drainBackground: (timeoutMs: number) => Promise<void>;
  /** Closes the stores and the adapters, once no call can use them any more. */
  readonly close: () => Promise<void>;
}

export interface Lifecycle {
  start(): Promise<{ grpcPort: number; httpPort: number; metricsPort: number | undefined }>;
  stop(): Promise<void>;
}

export function createLifecycle(parts: LifecycleParts): Lifecycle {
  const { config, grpcPort: grpc, httpServer, metricsServer, health } = parts;
  const grpcServer = grpc.server;
  let started = false;
  let stopping = false;
  let healthTimer: NodeJS.Timeout | undefined;
  // grpc.health.v1 follows readiness: NOT_SERVING while PostgreSQL or Redis is unreachable.
  const checkHealth = async () => {
    const { ready } = await parts.readiness();
    if (!stopping) health.set(ready ? "SERVING" : "NOT_SERVING");
  };

  return {
    async start() {
      const grpcPort = await grpc.listen(config.host, config.grpcPort);
      await listenHttp(httpServer, config.host, config.httpPort);
      const metricsPort =
        metricsServer === undefined ? undefined : await listenMetrics(metricsServer, config.metrics.host, config.metrics.port);
      started = true;
      await checkHealth();
      healthTimer = setInterval(() => void checkHealth().catch(() => {}), config.healthCheckIntervalMs);
      healthTimer.unref();
      return { grpcPort, httpPort: (httpServer.address() as AddressInfo).port, metricsPort };
    },
    async stop() {
      // One deadline for everything that waits: in-flight calls, then queued mail.
      const deadline = Date.now() + config.shutdownTimeoutMs;
      // Tell health checkers first, so load balancers stop sending new calls.
      stopping = true;
      clearInterval(healthTimer);
      health.set("NOT_SERVING");
      if (started) await closeServers(parts);
      else grpcServer.forceShutdown();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      // Mail queued by the last calls goes out before the stores close.
      await parts.drainBackground(Math.max(0, deadline - Date.now()));
      await parts.close();
    },
  };
}

function listenHttp(server: HttpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** Stops accepting on both ports and waits for in-flight calls; past the timeout, cuts the connections. */
async function closeServers({ config, logger, grpcPort: { server: grpcServer }, httpServer }: LifecycleParts): Promise<void> {
  const bound = config.shutdownTimeoutMs;
  const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
  // close() drops the connections idle at that moment; keep-alive connections that finish a
  // call afterwards would linger until their timeout (5 s), so keep dropping idle ones.
  const sweeper = setInterval(() => httpServer.closeIdleConnections(), 50);
  void httpClosed.finally(() => clearInterval(sweeper));
  const grpcClosed = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
  try {
    await withTimeout(Promise.all([httpClosed, grpcClosed]), bound);
  } catch {
    logger.warn({ timeoutMs: bound }, "in-flight calls did not finish in time; closing connections");
    grpcServer.forceShutdown();
    httpServer.closeAllConnections();
  } finally {
    clearInterval(sweeper);
  }
}
