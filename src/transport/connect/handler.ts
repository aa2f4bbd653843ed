/**
 * Connect (JSON and binary) and gRPC-Web through connect-node, on the HTTP port. Request bodies are
 * read here, with our limit, and JSON or binary Connect bodies are decoded once up front, so a
 * malformed or oversized body is INVALID_ARGUMENT with a reason like every other error
 * (connect-node alone would answer RESOURCE_EXHAUSTED, i.e. HTTP 429, for an oversized body, and
 * send decode errors without our ErrorInfo detail).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
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
import { AuthError } from "../../domain/errors.js";
import { parseJson } from "../../domain/keys.js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { type CallFacts, type CallObserver, identifies, observeCallEnd, requestIdFrom } from "../call-log.js";
import { toConnectError } from "../errors.js";
import { type AuthHandlers, handlerFor } from "../handlers.js";
import { readBody } from "../http/io.js";

export interface ConnectHandlerOptions {
  readonly maxRequestBytes: number;
  readonly observer: CallObserver;
}

const kRemoteAddress = createContextKey<string | undefined>(undefined, { description: "client IP" });
const kRequestId = createContextKey<string>("", { description: "request id" });

function header(headers: Headers, name: string): string | undefined {
  return headers.get(name) ?? undefined;
}

/** The Connect service implementation: every handler, with logging and the error mapping. */
function serviceImpl(handlers: AuthHandlers, observer: CallObserver): ServiceImpl<typeof AuthService> {
  const impl: Record<string, (request: Message, context: HandlerContext) => Promise<object>> = {};
  for (const method of AuthService.methods) {
    const handler = handlerFor(handlers, method);
    impl[method.localName] = async (request, context) => {
      const startedAt = performance.now();
      const requestId = context.values.get(kRequestId);
      const tenantHeader = header(context.requestHeader, "x-tenant");
      const facts: CallFacts = { transport: "connect", rpc: method.name, requestId, tenant: tenantHeader };
      try {
        const response = await handler(request, {
          tenantHeader,
          authorization: header(context.requestHeader, "authorization"),
          ip: context.values.get(kRemoteAddress),
          userAgent: header(context.requestHeader, "user-agent"),
          onIdentified: identifies(facts),
        });
        observeCallEnd(observer, facts, startedAt);
        return response;
      } catch (error) {
        observeCallEnd(observer, facts, startedAt, error);
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
      json = parseJson(bytes.length === 0 ? "{}" : bytes.toString("utf8"), "the request body") as JsonValue;
    } catch (error) {
      if (error instanceof AuthError) throw error;
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

/** Serves the Connect and gRPC-Web paths (`/auth.v1.AuthService/<Method>`). */
export function createConnectHandler(handlers: AuthHandlers, options: ConnectHandlerOptions) {
  const { observer, maxRequestBytes } = options;
  // No readMaxBytes here: connect-node would compare Content-Length with it before reading the
  // body and answer RESOURCE_EXHAUSTED; `readBody` enforces our limit with our error instead.
  const router = createConnectRouter({ jsonOptions: { ignoreUnknownFields: true } });
  router.service(AuthService, serviceImpl(handlers, observer));
  const routes = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) routes.set(handler.requestPath, handler);

  return {
    /** Whether `path` is a Connect route. */
    has: (path: string) => routes.has(path),
    async handle(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
      const route = routes.get(path);
      if (route === undefined) throw new Error(`no Connect route ${path}`);
      const startedAt = performance.now();
      const requestId = requestIdFrom(req.headers["x-request-id"] as string | undefined);
      const contextValues = createContextValues().set(kRemoteAddress, req.socket.remoteAddress).set(kRequestId, requestId);
      res.setHeader("x-request-id", requestId);
      let body: UniversalServerRequest["body"];
      try {
        const prepared = prepareBody(route.method.input, req.headers["content-type"] ?? "", await readBody(req, maxRequestBytes));
        body = prepared instanceof Uint8Array ? createAsyncIterable([prepared]) : prepared;
      } catch (error) {
        const tenant = req.headers["x-tenant"] as string | undefined;
        observeCallEnd(observer, { transport: "connect", rpc: route.method.name, requestId, tenant }, startedAt, error);
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
    },
  };
}
