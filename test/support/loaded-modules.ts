/**
 * Run as `node --import tsx test/support/loaded-modules.ts '<env as JSON>'`: builds and starts the
 * service with that configuration, answers one ValidateToken over gRPC and one over REST, stops,
 * and prints (as JSON) every module loaded from the OpenTelemetry SDK or from src/tracing/, as
 * Node's own module hooks saw them resolved. @opentelemetry/api alone does not count: prom-client
 * loads it (for exemplars) whatever the configuration.
 */
import { registerHooks } from "node:module";

const loaded = new Set<string>();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    if ((/\/@opentelemetry\//.test(result.url) && !/\/@opentelemetry\/api\//.test(result.url)) || result.url.includes("/src/tracing/")) {
      loaded.add(result.url.replace(/^.*\/node_modules\//, "").replace(/^.*\/src\//, "src/"));
    }
    return result;
  },
});

const { loadConfig } = await import("../../src/config.js");
const { buildApp } = await import("../../src/app.js");
const { createLogger } = await import("../../src/logger.js");
const { createClient } = await import("@connectrpc/connect");
const { createGrpcTransport } = await import("@connectrpc/connect-node");
const { AuthService } = await import("../../src/gen/auth/v1/auth_pb.js");

const app = await buildApp(loadConfig(JSON.parse(process.argv[2] ?? "{}")), { logger: createLogger("silent") });
const { grpcPort, httpPort } = await app.start();
const client = createClient(AuthService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}` }));
const overGrpc = await client.validateToken({ token: "x" });
const overRest = await fetch(`http://127.0.0.1:${httpPort}/v1/auth/validate-token`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: '{"token":"x"}',
});
await app.stop();
process.stdout.write(`${JSON.stringify({ answered: !overGrpc.active && overRest.status === 200, loaded: [...loaded] })}\n`);
