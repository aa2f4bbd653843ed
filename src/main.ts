/** Entry point: read the configuration, build the app, listen, and shut down on SIGTERM/SIGINT. */
import { buildApp } from "./app.js";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

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

  if (config.embedded.database || config.embedded.redis) {
    logger.warn(
      {
        database: config.embedded.database ? `embedded PGlite in ${config.dataDir}/pglite` : "PostgreSQL",
        redis: config.embedded.redis ? "in-process stand-in (sessions are lost on restart)" : "Redis",
      },
      "EMBEDDED MODE: for development only. Set DATABASE_URL, REDIS_URL and JWT_PRIVATE_KEY(_FILE) for production.",
    );
  }

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

main().catch((error: unknown) => {
  process.stderr.write(`auth service failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
