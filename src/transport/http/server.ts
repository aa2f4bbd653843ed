/**
 * The HTTP port (HTTP/1.1; HTTPS when TLS is configured): health, readiness and the well-known
 * documents; Connect and gRPC-Web; the OAuth token endpoint; the seed-compatible routes; the REST
 * gateway for the `google.api.http` rules; the verification page; the OpenAPI document and the API
 * page. What holds for every route is applied here, once: the request's path must be exactly a
 * route (paths.ts), slow requests are cut and connections capped, every answer says `nosniff`,
 * and CORS lets in the configured origins only. Unknown paths are a JSON 404, a known path with
 * another method a 405. Metrics are not here: they have their own listener (src/metrics.ts).
 */

import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { Code } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { ConnectionLimits, Seed } from "../../config.js";
import type { Flows } from "../../domain/flows.js";
import type { CallEnvelope } from "../call/envelope.js";
import { createConnectHandler } from "../connect/handler.js";
import { capConnections, type TlsMaterial } from "../listeners.js";
import { compatRoutes } from "../rest/compat/index.js";
import { DISCOVERY_PATHS, JWKS_PATH } from "../rest/discovery.js";
import { createDocs } from "../rest/docs.js";
import { gatewayRoutes } from "../rest/gateway.js";
import { oauthTokenRoute } from "../rest/oauth-token.js";
import { openApiDocument } from "../rest/openapi/document.js";
import { verifyEmailPageRoutes } from "../rest/verify-email-page.js";
import type { ServedService } from "../services.js";
import { CONNECT_METHODS, createCors } from "./cors.js";
import { writeProtocolError } from "./errors.js";
import { sendJson } from "./io.js";
import { canonicalPath } from "./paths.js";
import { createRouter, type HttpRoute } from "./router.js";

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, "ok" | "unavailable">>;
}

export interface HttpServerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
  /** Unexpected failures outside any call are logged here. */
  readonly logger: Logger;
  readonly readiness: () => Promise<Readiness>;
  /** The documents under /.well-known/: the JWKS built per request (it changes with rotations), the server's metadata once. */
  readonly wellKnown: {
    readonly jwks: () => object;
    /** RFC 8414's and OpenID's discovery document (rest/discovery.ts), served at both paths. */
    readonly metadata: object;
  };
  /** The seed APIs whose routes are served. */
  readonly compat: readonly Seed[];
  /** PUBLIC_URL: the API page's Content-Security-Policy lets "Try it out" call it too. */
  readonly publicUrl: string;
  readonly version: string;
  readonly limits: ConnectionLimits;
  /** HTTPS with this key pair (renewed in place); cleartext HTTP/1.1 when undefined. */
  readonly tls: TlsMaterial | undefined;
  /** Exact origins whose browser apps may call the API (CORS). */
  readonly allowedOrigins: readonly string[];
  /** Called for each connection closed because MAX_CONNECTIONS were open. */
  readonly onConnectionRefused: () => void;
}

// Verifiers may cache the key set (and the metadata naming it) for five minutes: a new key signs only after `keys rotate`, and
// verifiers refetch when a token names a kid they do not have.
const WELL_KNOWN_CACHE = { "cache-control": "public, max-age=300" };

/** Paths served by this module itself, all GET (and HEAD). */
const FIXED_PATHS = new Set(["/healthz", "/readyz", JWKS_PATH, ...DISCOVERY_PATHS, "/openapi.json"]);
/** The methods of the fixed documents (FIXED_PATHS and the API page): any other is a 405. */
const FIXED_METHODS = ["GET", "HEAD"] as const;
const isDiscoveryPath = (path: string) => (DISCOVERY_PATHS as readonly string[]).includes(path);

/** A 405 for a known path asked with another method, naming the methods it takes. */
function wrongMethod(req: IncomingMessage, res: ServerResponse, path: string, allow: readonly string[]): void {
  writeProtocolError(res, 405, Code.Unimplemented, `Method ${req.method} is not allowed on ${path}.`, { allow: allow.join(", ") });
}

/**
 * The slow-client bounds of a Node HTTP server. Node checks the headers and request timeouts only
 * every `connectionsCheckingInterval` (30 s by default), so a 10 s headers timeout used to leave a
 * stalled connection open for up to 40 s; the interval is now a tenth of the shorter timeout. A
 * connection idle between requests is closed after the keep-alive timeout, and a request whose
 * headers are still arriving on a kept-alive connection stays under that same timeout until its
 * headers are complete.
 */
function serverOptions(limits: ConnectionLimits): ServerOptions {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
  };
}

/** The HTTP port: `services` over Connect and the REST gateway, and the routes that call `flows` directly. */
export function createHttpServer(services: readonly ServedService[], flows: Flows, options: HttpServerOptions): Server {
  const { envelope, maxRequestBytes, logger } = options;
  const connect = createConnectHandler(services, { envelope, maxRequestBytes });
  const routes = [
    oauthTokenRoute(flows, maxRequestBytes),
    ...compatRoutes(options.compat, { flows, maxRequestBytes }),
    // Before the gateway: its form POST shares the gateway's VerifyEmail path (told apart by content type).
    ...verifyEmailPageRoutes(flows, maxRequestBytes),
    ...gatewayRoutes(services, { maxRequestBytes }),
  ];
  const route = createRouter(routes, envelope);
  const docs = createDocs(options.publicUrl);
  const cors = createCors(options.allowedOrigins);
  const documents = fixedDocuments(services, routes, options);

  /** The methods a browser may use at `path` (none: not a route). */
  const methodsAt = (path: string): readonly string[] => {
    if (connect.has(path)) return CONNECT_METHODS;
    if (FIXED_PATHS.has(path) || docs.has(path)) return ["GET"];
    return route.methodsAt(path);
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse, path: string, url: URL) => {
    if (FIXED_PATHS.has(path) || docs.has(path)) {
      if (req.method !== "GET" && req.method !== "HEAD") return wrongMethod(req, res, path, FIXED_METHODS);
      if (await documents(path, res)) return;
      if (docs.serve(path, res)) return;
    }
    if (connect.has(path)) return connect.handle(path, req, res);
    const result = await route(req, res, path, url);
    if (result.kind === "wrong-method") return wrongMethod(req, res, path, result.allow);
    if (result.kind === "no-route") return writeProtocolError(res, 404, Code.NotFound, `No route for ${req.method} ${path}.`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    // Whatever the answer, a browser must not guess its type.
    res.setHeader("x-content-type-options", "nosniff");
    const corsOutcome = cors.apply(req, res);
    const path = canonicalPath(req.url ?? "");
    if (path === undefined) {
      return writeProtocolError(res, 404, Code.NotFound, "No route for this path: it is not in canonical form.");
    }
    if (cors.isPreflight(req)) {
      const methods = methodsAt(path);
      if (methods.length === 0) return writeProtocolError(res, 404, Code.NotFound, `No route for ${path}.`);
      return cors.answerPreflight(req, res, corsOutcome, methods);
    }
    // Only the query is read from here; routes match `path` as it was sent.
    const target = req.url ?? "";
    const url = new URL(`http://localhost${path}${target.includes("?") ? target.slice(target.indexOf("?")) : ""}`);
    dispatch(req, res, path, url).catch((error: unknown) => {
      logger.error({ err: error, path }, "unhandled error while serving an HTTP request");
      writeProtocolError(res, 500, Code.Internal, "Internal error.");
    });
  };
  return nodeServer(handle, options);
}

/** Answers the port's fixed documents (health, readiness, well-known, OpenAPI); false for any other path. */
function fixedDocuments(services: readonly ServedService[], routes: readonly HttpRoute[], options: HttpServerOptions) {
  let openApi: object | undefined;
  return async (path: string, res: ServerResponse): Promise<boolean> => {
    if (path === "/healthz") sendJson(res, 200, { status: "ok" });
    else if (path === "/readyz") {
      const readiness = await options.readiness();
      sendJson(res, readiness.ready ? 200 : 503, { status: readiness.ready ? "ok" : "unavailable", checks: readiness.checks });
    } else if (path === JWKS_PATH) sendJson(res, 200, options.wellKnown.jwks(), WELL_KNOWN_CACHE);
    else if (isDiscoveryPath(path)) sendJson(res, 200, options.wellKnown.metadata, WELL_KNOWN_CACHE);
    else if (path === "/openapi.json") {
      openApi ??= openApiDocument(
        services.map((served) => served.service),
        { version: options.version, routes },
      );
      sendJson(res, 200, openApi, { "cache-control": "no-cache" });
    } else return false;
    return true;
  };
}

/** The Node server for `handle`: cleartext or TLS (certificates reloaded as they change), with the port's limits. */
function nodeServer(handle: (req: IncomingMessage, res: ServerResponse) => void, options: HttpServerOptions): Server {
  const limits = serverOptions(options.limits);
  const tls = options.tls;
  let server: Server;
  if (tls === undefined) server = createServer(limits, handle);
  else {
    // A TLS handshake is part of a request's headers: it gets the same bound (Node's default is 120 s).
    const https = createHttpsServer({ ...limits, ...tls.current(), handshakeTimeout: options.limits.headersTimeoutMs }, handle);
    tls.onChange((pair) => https.setSecureContext({ ...pair }));
    server = https;
  }
  capConnections(server, options.limits.maxConnections, options.onConnectionRefused);
  return server;
}
