/**
 * Entry point: read the configuration (the environment over `.env`), then either run the service
 * (build the app, listen, shut down on SIGTERM/SIGINT, exit 1 on an error nobody caught) or, with
 * WORKERS > 1, be the primary of a node:cluster that runs one service per worker on the same two
 * ports, keeps them up (src/supervisor.ts), and passes signals on. Every way start-up can fail (a
 * bad variable, a port in use, PostgreSQL unreachable) ends in one JSON `fatal` line on stdout, like
 * every other log line, naming the variable or port and never a value.
 */
import cluster from "node:cluster";
import type { Logger } from "pino";
import type { App } from "./app.js";
import { type Config, ConfigError, loadConfig, readEnvironment } from "./config.js";
import { createLogger } from "./logger.js";
import { serveClusterMetrics } from "./metrics.js";
import { describeStartupFailure, StartupError } from "./startup-failure.js";
import { type ForkWorker, type Supervisor, superviseWorkers } from "./supervisor.js";

/** The message a worker sends its primary once both ports are listening. */
const WORKER_READY = "auth:worker-ready";

/** Builds the app and binds its ports; a failure says which of the two it was (StartupError). */
async function startListening(config: Config, logger: Logger): Promise<App> {
  let app: App;
  try {
    // Loaded here, not at the top: the primary of a cluster never builds the app, and the app's
    // modules (gRPC, Connect, Kysely, ioredis, mail …) took ~25 MB of its heap for nothing.
    const { buildApp } = await import("./app.js");
    // In a cluster, the primary serves the metrics of every worker.
    app = await buildApp(config, { logger, serveMetrics: !cluster.isWorker });
  } catch (error) {
    throw new StartupError("build", error);
  }
  let ports: Awaited<ReturnType<App["start"]>>;
  try {
    ports = await app.start();
  } catch (error) {
    throw new StartupError("listen", error);
  }
  logger.info(
    {
      grpcPort: ports.grpcPort,
      httpPort: ports.httpPort,
      host: config.host,
      metricsPort: ports.metricsPort,
      metricsHost: config.metrics.host,
    },
    "auth service listening",
  );
  return app;
}

/** Runs the service in this process: a worker of the cluster, or the only process. */
async function runService(config: Config, logger: Logger): Promise<void> {
  let app: App | undefined;
  let listening = false;
  let stopping = false;

  const stop = (exitCode: number) => {
    const running = app;
    if (running === undefined || !listening) {
      // Nothing is served yet: there are no calls to finish, and PostgreSQL rolls back a migration
      // cut short.
      process.exit(exitCode);
    }
    stopping = true;
    // Bounds the whole stop, in case closing a store hangs.
    setTimeout(() => {
      logger.error("did not stop in time; exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs + 2000).unref();
    running.stop().then(
      () => {
        logger.info("stopped");
        process.exit(exitCode);
      },
      (error: unknown) => {
        logger.error({ err: error }, "error while shutting down");
        process.exit(1);
      },
    );
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    logger.info({ signal }, listening ? "shutting down" : "stopping before listening");
    stop(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  // After an error nobody caught, this process's state is unknown: finish the calls in flight
  // (within SHUTDOWN_TIMEOUT) and exit 1, so that the primary or the outer supervisor starts a
  // fresh one, rather than limp on.
  const crash = (error: unknown, origin: string) => {
    logger.fatal(
      { err: error, origin },
      `${origin === "unhandledRejection" ? "unhandled promise rejection" : "uncaught exception"}; exiting`,
    );
    if (stopping) process.exit(1);
    stop(1);
  };
  process.on("uncaughtException", (error, origin) => crash(error, origin));
  process.on("unhandledRejection", (reason) => crash(reason, "unhandledRejection"));

  app = await startListening(config, logger);
  listening = true;
  process.send?.({ type: WORKER_READY });
}

/**
 * The primary of the cluster: forks the workers and keeps them up (src/supervisor.ts), passes
 * signals on, and exits non-zero when the workers cannot be kept up. Each worker runs bcrypt on
 * BCRYPT_THREADS threads of its own (cores / workers by default).
 */
function runPrimary(config: Config, logger: Logger): void {
  let supervisor: Supervisor | undefined;
  let crashed = false;
  // The primary's own errors: stop the workers gracefully and exit 1, so that the outer
  // supervisor starts the whole cluster again. A second one while stopping exits at once (the
  // workers then exit when their channel to the primary closes).
  const crash = (error: unknown, origin: string) => {
    logger.fatal({ err: error, origin }, "error in the cluster's primary; stopping the workers");
    if (crashed || supervisor === undefined) process.exit(1);
    crashed = true;
    supervisor.stop(1);
  };
  process.on("uncaughtException", (error, origin) => crash(error, origin));
  process.on("unhandledRejection", (reason) => crash(reason, "unhandledRejection"));

  const fork: ForkWorker = (events) => {
    const worker = cluster.fork();
    worker.on("message", (message: { type?: unknown } | null) => {
      if (message?.type === WORKER_READY) events.ready();
    });
    worker.on("exit", (code: number | null, signal: NodeJS.Signals | null) => events.exit(code, signal));
    // A failed signal or message to a worker that is going away: its exit is what counts.
    worker.on("error", (error: Error) => logger.warn({ err: error, workerPid: worker.process.pid }, "worker channel error"));
    return {
      pid: worker.process.pid,
      kill: (signal) => {
        if (worker.process.exitCode === null && worker.process.signalCode === null) worker.process.kill(signal);
      },
    };
  };

  serveClusterMetrics(config.metrics.host, config.metrics.port).then(
    ({ port }) => logger.info({ metricsPort: port, metricsHost: config.metrics.host }, "cluster metrics listening"),
    (error: unknown) => crash(error, "metrics listener"),
  );
  supervisor = superviseWorkers(
    { workers: config.workers, startTimeoutMs: config.workerStartTimeoutMs, shutdownTimeoutMs: config.shutdownTimeoutMs },
    fork,
    logger,
    (exitCode) => {
      logger.info({ exitCode }, "stopped");
      process.exit(exitCode);
    },
  );
  logger.info({ workers: config.workers, bcryptThreadsPerWorker: config.bcryptThreads }, "cluster started");

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "shutting down the cluster");
    supervisor?.stop(0);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** Logs a failed start as one JSON line (the configured level is unknown then: fatal always shows). */
function logStartupFailure(logger: Logger, error: unknown, config: Config): void {
  if (error instanceof StartupError) {
    const { msg, fields } = describeStartupFailure(error, config);
    logger.fatal({ reason: msg, ...fields, phase: error.phase, err: error.cause }, "auth service failed to start");
  } else {
    logger.fatal({ err: error }, "auth service failed to start");
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(readEnvironment(process.env));
  } catch (error) {
    if (error instanceof ConfigError) {
      // Each problem starts with the variables it is about; none holds a secret's value.
      const variables = [
        ...new Set(
          error.problems.flatMap((p) => p.match(/^[A-Z][A-Z0-9_]*(?: (?:and|or) [A-Z][A-Z0-9_]*)*/)?.[0].split(/ (?:and|or) /) ?? []),
        ),
      ];
      createLogger("info").fatal({ reason: "invalid configuration", variables, problems: error.problems }, "auth service failed to start");
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel, undefined, { bufferBytes: config.logBufferBytes });

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
  try {
    await runService(config, logger);
  } catch (error) {
    logStartupFailure(logger, error, config);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  createLogger("info").fatal({ err: error }, "auth service failed to start");
  process.exit(1);
});
