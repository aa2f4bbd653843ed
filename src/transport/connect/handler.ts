/**
 * Connect (JSON and binary) and gRPC-Web through connect-node, on the HTTP port. Request bodies are
 * read here, with our limit, and JSON or binary Connect bodies are decoded once up front, so a
 * malformed or oversized body is INVALID_ARGUMENT with a reason like every other error
 * (connect-node alone would answer RESOURCE_EXHAUSTED, i.e. HTTP 429, for an oversized body, and
 * send decode errors without our ErrorInfo detail).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { type DescMessage, fromBinary, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { type ConnectError, createConnectRouter, createContextValues } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalHandler, type UniversalServerRequest } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { AuthError } from "../../domain/errors.js";
import { parseJson } from "../../domain/keys.js";
import type { CallEnvelope } from "../call/envelope.js";
import { toConnectError } from "../errors.js";
import { errorHeaders, httpStatusOf } from "../http/errors.js";
import { afterHttpAnswer, readBody } from "../http/io.js";
import { headerOf } from "../http/router.js";
import type { ServedService } from "../services.js";
import { connectCallInput, connectRoutes, kAfterAnswer, kPeer } from "./routes.js";

export interface ConnectHandlerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
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

/** Serves the Connect and gRPC-Web paths (`/<service>/<Method>`) of every served service. */
export function createConnectHandler(services: readonly ServedService[], options: ConnectHandlerOptions) {
  const { envelope, maxRequestBytes } = options;
  // No readMaxBytes here: connect-node would compare Content-Length with it before reading the
  // body and answer RESOURCE_EXHAUSTED; `readBody` enforces our limit with our error instead.
  const router = createConnectRouter({ jsonOptions: { ignoreUnknownFields: true } });
  connectRoutes(services, envelope)(router);
  const routes = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) routes.set(handler.requestPath, handler);

  return {
    /** Whether `path` is a Connect route. */
    has: (path: string) => routes.has(path),
    async handle(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
      const route = routes.get(path);
      if (route === undefined) throw new Error(`no Connect route ${path}`);
      const startedAt = performance.now();
      const peer = req.socket.remoteAddress;
      let body: UniversalServerRequest["body"];
      try {
        const prepared = prepareBody(route.method.input, req.headers["content-type"] ?? "", await readBody(req, maxRequestBytes));
        body = prepared instanceof Uint8Array ? createAsyncIterable([prepared]) : prepared;
      } catch (thrown) {
        // A body we could not read never reaches the handler: the call ends here, and connect-node
        // reads the error through this iterable and encodes it for the client's protocol.
        const call = envelope.open({ ...connectCallInput(route.method, (name) => headerOf(req, name), peer), startedAt });
        const error = envelope.fail(call, thrown);
        const headers = { ...call.responseHeaders, ...errorHeaders(error, httpStatusOf(error)) };
        for (const [key, value] of Object.entries(headers)) res.setHeader(key, value);
        body = failing(toConnectError(error));
      }
      const contextValues = createContextValues()
        .set(kPeer, peer)
        .set(kAfterAnswer, (start) => afterHttpAnswer(res, start));
      const request: UniversalServerRequest = { ...universalRequestFromNodeRequest(req, res, undefined, contextValues), body };
      await universalResponseToNodeResponse(await route(request), res);
    },
  };
}
