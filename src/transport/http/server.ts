/**
 * The HTTP/1.1 port: health, readiness and the well-known documents; Connect and gRPC-Web; the
 * OAuth token endpoint; the seed-compatible routes; the REST gateway for the `google.api.http`
 * rules; the OpenAPI document and the API page. Unknown paths are a JSON 404, a known path with
 * another method a 405.
 */

import { createServer, type Server } from "node:http";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Seed } from "../../config.js";
import type { Flows } from "../../domain/flows.js";
import type { Metrics } from "../../metrics.js";
import type { CallEnvelope } from "../call/envelope.js";
import { createConnectHandler } from "../connect/handler.js";
import { compatRoutes } from "../rest/compat/index.js";
import { createDocs } from "../rest/docs.js";
import { gatewayRoutes } from "../rest/gateway.js";
import { oauthTokenRoute } from "../rest/oauth-token.js";
import { openApiDocument } from "../rest/openapi/document.js";
import type { ServedService } from "../services.js";
import { writeProtocolError } from "./errors.js";
import { sendJson } from "./io.js";
import { createRouter } from "./router.js";

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, "ok" | "unavailable">>;
}

export interface HttpServerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
  /** Served at /metrics. */
  readonly metrics: Metrics;
  /** Unexpected failures outside any call are logged here. */
  readonly logger: Logger;
  readonly readiness: () => Promise<Readiness>;
  /** The documents under /.well-known/, built per request (the JWKS changes with rotations). */
  readonly wellKnown: {
    readonly jwks: () => object;
    readonly openidConfiguration: () => object;
  };
  /** The seed APIs whose routes are served. */
  readonly compat: readonly Seed[];
  /** The base URL the OpenAPI document names as its server. */
  readonly publicUrl: string;
  readonly version: string;
}

// Verifiers may cache the key set for five minutes: a new key signs only after `keys rotate`, and
// verifiers refetch when a token names a kid they do not have.
const WELL_KNOWN_CACHE = { "cache-control": "public, max-age=300" };

/** The HTTP port: `services` over Connect and the REST gateway, and the routes that call `flows` directly. */
export function createHttpServer(services: readonly ServedService[], flows: Flows, options: HttpServerOptions): Server {
  const { envelope, maxRequestBytes, logger, metrics } = options;
  const connect = createConnectHandler(services, { envelope, maxRequestBytes });
  const route = createRouter(
    [
      oauthTokenRoute(flows, maxRequestBytes),
      ...compatRoutes(options.compat, { flows, maxRequestBytes }),
      ...gatewayRoutes(services, { maxRequestBytes }),
    ],
    envelope,
  );
  const docs = createDocs();
  let openApi: object | undefined;

  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const work = (async () => {
      if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
      if (path === "/readyz") {
        const readiness = await options.readiness();
        return sendJson(res, readiness.ready ? 200 : 503, { status: readiness.ready ? "ok" : "unavailable", checks: readiness.checks });
      }
      if (path === "/.well-known/jwks.json") return sendJson(res, 200, options.wellKnown.jwks(), WELL_KNOWN_CACHE);
      if (path === "/.well-known/openid-configuration")
        return sendJson(res, 200, options.wellKnown.openidConfiguration(), WELL_KNOWN_CACHE);
      if (path === "/metrics") {
        const text = await metrics.text();
        res.writeHead(200, { "content-type": metrics.registry.contentType, "cache-control": "no-store" });
        return void res.end(text);
      }
      if (path === "/openapi.json") {
        openApi ??= openApiDocument(
          services.map((served) => served.service),
          { serverUrl: options.publicUrl, version: options.version },
        );
        return sendJson(res, 200, openApi, { "cache-control": "no-cache" });
      }
      if (path.startsWith("/docs") && docs.serve(path, res)) return;
      if (connect.has(path)) return connect.handle(path, req, res);
      const result = await route(req, res, url);
      if (result.kind === "wrong-method") {
        return writeProtocolError(res, 405, Code.Unimplemented, `Method ${req.method} is not allowed on ${path}.`, {
          allow: result.allow.join(", "),
        });
      }
      if (result.kind === "no-route") return writeProtocolError(res, 404, Code.NotFound, `No route for ${req.method} ${path}.`);
    })();
    work.catch((error: unknown) => {
      logger.error({ err: error, path }, "unhandled error while serving an HTTP request");
      writeProtocolError(res, 500, Code.Internal, "Internal error.");
    });
  });
}
