/**
 * Entry point: read the configuration, then either run the service (build the app, listen, shut
 * down on SIGTERM/SIGINT) or, with WORKERS > 1, be the primary of a node:cluster that runs one
 * service per worker on the same two ports, restarts a worker that dies, and passes signals on.
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import { buildApp } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { serveClusterMetrics } from "./metrics.js";

async function runService(config: Config, logger: Logger): Promise<void> {
  const app = await buildApp(config, { logger });
  const ports = await app.start();
  logger.info({ grpcPort: ports.grpcPort, httpPort: ports.httpPort, host: config.host }, "auth service listening");

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    app.stop().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, "error while shutting down");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

/**
 * The primary of the cluster: forks the workers, restarts one that dies, and passes signals on.
 * Each worker runs bcrypt on BCRYPT_THREADS threads of its own (cores / workers by default).
 */
function runPrimary(config: Config, logger: Logger): void {
  const fork = () => cluster.fork();
  let stopping = false;
  const recentDeaths: number[] = [];

  serveClusterMetrics();
  for (let i = 0; i < config.workers; i++) fork();
  logger.info({ workers: config.workers, bcryptThreadsPerWorker: config.bcryptThreads }, "cluster started");

  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return;
    logger.error({ workerPid: worker.process.pid, code, signal }, "worker died; starting another");
    const now = Date.now();
    recentDeaths.push(now);
    while (recentDeaths.length > 0 && (recentDeaths[0] ?? now) < now - 60_000) recentDeaths.shift();
    if (recentDeaths.length > 5) {
      logger.fatal("workers keep dying (more than 5 in a minute); stopping");
      process.exit(1);
    }
    setTimeout(fork, 1000).unref();
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down the cluster");
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
    let failed = false;
    let remaining = workers.length;
    if (remaining === 0) process.exit(0);
    for (const worker of workers) {
      worker.once("exit", (code) => {
        if (code !== 0) failed = true;
        remaining -= 1;
        if (remaining === 0) {
          logger.info("stopped");
          process.exit(failed ? 1 : 0);
        }
      });
      worker.process.kill("SIGTERM");
    }
    // Each worker bounds its own shutdown; this only guards against one that hangs.
    setTimeout(() => {
      logger.error("workers did not stop in time; killing them");
      for (const worker of workers) worker.process.kill("SIGKILL");
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));

  if (cluster.isPrimary && (config.embedded.database || config.embedded.redis)) {
    logger.warn(
      {
        database: config.embedded.database ? `embedded PGlite in ${config.dataDir}/pglite` : "PostgreSQL",
        redis: config.embedded.redis ? "in-process stand-in (sessions are lost on restart)" : "Redis",
      },
      "EMBEDDED MODE: for development only. Set DATABASE_URL, REDIS_URL and KEY_ENCRYPTION_KEY for production.",
    );
  }
  if (cluster.isPrimary && config.workers > 1) {
    runPrimary(config, logger);
    return;
  }
  await runService(config, logger);
}

main().catch((error: unknown) => {
  process.stderr.write(`auth service failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
