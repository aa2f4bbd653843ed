/**
 * The HTTP/1.1 port: Connect (JSON and binary) and gRPC-Web through connect-node, plus /healthz
 * and /readyz. Request bodies are read here, with our limit, and JSON or binary Connect bodies are
 * decoded once up front, so a malformed or oversized body is INVALID_ARGUMENT with a reason like
 * every other error (connect-node alone would answer RESOURCE_EXHAUSTED, i.e. HTTP 429, for an
 * oversized body, and send decode errors without our ErrorInfo detail).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type DescMessage, fromBinary, fromJson, type JsonValue, type Message } from "@bufbuild/protobuf";
import {
  type ConnectError,
  createConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { createAsyncIterable, type UniversalHandler, type UniversalServerRequest } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { AuthError } from "../../domain/errors.js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { logCallEnd, requestIdFrom } from "../call-log.js";
import { toConnectError } from "../errors.js";
import { type AuthHandlers, handlerFor } from "../handlers.js";
import { readBody } from "./body.js";

export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, "ok" | "unavailable">>;
}

export interface HttpServerOptions {
  readonly maxRequestBytes: number;
  readonly logger: Logger;
  readonly readiness: () => Promise<Readiness>;
  /** The documents under /.well-known/, built per request (the JWKS changes with rotations). */
  readonly wellKnown: {
    readonly jwks: () => object;
    readonly openidConfiguration: () => object;
  };
}

const kRemoteAddress = createContextKey<string | undefined>(undefined, { description: "client IP" });
const kRequestId = createContextKey<string>("", { description: "request id" });

function header(headers: Headers, name: string): string | undefined {
  return headers.get(name) ?? undefined;
}

/** The Connect service implementation: every handler, with logging and the error mapping. */
function serviceImpl(handlers: AuthHandlers, logger: Logger): ServiceImpl<typeof AuthService> {
  const impl: Record<string, (request: Message, context: HandlerContext) => Promise<object>> = {};
  for (const method of AuthService.methods) {
    const handler = handlerFor(handlers, method);
    impl[method.localName] = async (request, context) => {
      const startedAt = performance.now();
      const requestId = context.values.get(kRequestId);
      const tenantHeader = header(context.requestHeader, "x-tenant");
      const facts = { transport: "connect", rpc: method.name, requestId, tenant: tenantHeader } as const;
      try {
        const response = await handler(request, {
          tenantHeader,
          authorization: header(context.requestHeader, "authorization"),
          ip: context.values.get(kRemoteAddress),
          userAgent: header(context.requestHeader, "user-agent"),
        });
        logCallEnd(logger, facts, startedAt);
        return response;
      } catch (error) {
        logCallEnd(logger, facts, startedAt, error);
        throw toConnectError(error);
      }
    };
  }
  return impl as unknown as ServiceImpl<typeof AuthService>;
}

/**
 * Decodes a Connect unary body once to report a malformed one with our error; returns what
 * connect-node should parse (the JSON value, or the bytes). Other protocols get the bytes.
 */
function prepareBody(schema: DescMessage, contentType: string, bytes: Buffer): JsonValue | Uint8Array {
  const mediaType = contentType.split(";", 1)[0]?.trim().toLowerCase();
  if (mediaType === "application/json") {
    let json: JsonValue;
    try {
      json = JSON.parse(bytes.length === 0 ? "{}" : bytes.toString("utf8")) as JsonValue;
    } catch {
      throw new AuthError("INVALID_REQUEST", { message: "The request body is not valid JSON." });
    }
    try {
      fromJson(schema, json, { ignoreUnknownFields: true });
    } catch (error) {
      throw new AuthError("INVALID_REQUEST", {
        message: `The request body does not match ${schema.typeName}: ${(error as Error).message}`,
      });
    }
    return json;
  }
  if (mediaType === "application/proto") {
    try {
      fromBinary(schema, bytes);
    } catch {
      throw new AuthError("INVALID_REQUEST", { message: `The request body is not a valid ${schema.typeName} message.` });
    }
  }
  return bytes;
}

/** A request body that fails as soon as it is read. */
function failing(error: ConnectError): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }) };
}

function sendJson(res: ServerResponse, status: number, body: unknown, cacheControl = "no-store"): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": cacheControl });
  res.end(text);
}

// Verifiers may cache the key set for five minutes: a new key signs only after `keys rotate`, and
// verifiers refetch when a token names a kid they do not have.
const WELL_KNOWN_CACHE = "public, max-age=300";

export function createHttpServer(handlers: AuthHandlers, options: HttpServerOptions): Server {
  const { logger, maxRequestBytes } = options;
  // No readMaxBytes here: connect-node would compare Content-Length with it before reading the
  // body and answer RESOURCE_EXHAUSTED; `readBody` enforces our limit with our error instead.
  const router = createConnectRouter({ jsonOptions: { ignoreUnknownFields: true } });
  router.service(AuthService, serviceImpl(handlers, logger));
  const routes = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) routes.set(handler.requestPath, handler);

  async function handleRpc(route: UniversalHandler, req: IncomingMessage, res: ServerResponse) {
    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers["x-request-id"] as string | undefined);
    const contextValues = createContextValues().set(kRemoteAddress, req.socket.remoteAddress).set(kRequestId, requestId);
    res.setHeader("x-request-id", requestId);
    let body: UniversalServerRequest["body"];
    try {
      const prepared = prepareBody(route.method.input, req.headers["content-type"] ?? "", await readBody(req, maxRequestBytes));
      body = prepared instanceof Uint8Array ? createAsyncIterable([prepared]) : prepared;
    } catch (error) {
      logCallEnd(
        logger,
        { transport: "connect", rpc: route.method.name, requestId, tenant: req.headers["x-tenant"] as string | undefined },
        startedAt,
        error,
      );
      if (error instanceof AuthError && error.reason === "REQUEST_TOO_LARGE") {
        // The rest of the body was not read: close the connection after answering.
        res.setHeader("connection", "close");
      }
      // connect-node reads the body through this iterable and answers with the error, encoded
      // for whichever protocol the client speaks.
      body = failing(toConnectError(error));
    }
    const request: UniversalServerRequest = { ...universalRequestFromNodeRequest(req, res, undefined, contextValues), body };
    await universalResponseToNodeResponse(await route(request), res);
  }

  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const work = (async () => {
      if (path === "/healthz") return sendJson(res, 200, { status: "ok" });
      if (path === "/.well-known/jwks.json") return sendJson(res, 200, options.wellKnown.jwks(), WELL_KNOWN_CACHE);
      if (path === "/.well-known/openid-configuration")
        return sendJson(res, 200, options.wellKnown.openidConfiguration(), WELL_KNOWN_CACHE);
      if (path === "/readyz") {
        const readiness = await options.readiness();
        return sendJson(res, readiness.ready ? 200 : 503, { status: readiness.ready ? "ok" : "unavailable", checks: readiness.checks });
      }
      const route = routes.get(path);
      if (route === undefined) return sendJson(res, 404, { code: "not_found", message: `No route for ${req.method} ${path}.` });
      return handleRpc(route, req, res);
    })();
    work.catch((error: unknown) => {
      logger.error({ err: error, path }, "unhandled error while serving an HTTP request");
      if (!res.headersSent) sendJson(res, 500, { code: "internal", message: "Internal error." });
      else res.destroy();
    });
  });
}
