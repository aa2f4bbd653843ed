/**
 * Connect (JSON and binary) and gRPC-Web through connect-node, on the HTTP port. Request bodies are
 * read here, with our limit, and checked up front by decoding them, so a malformed or oversized
 * body is INVALID_ARGUMENT with a reason like every other error (connect-node alone would answer
 * RESOURCE_EXHAUSTED, i.e. HTTP 429, for an oversized body, and send decode errors without our
 * ErrorInfo detail). connect-node then decodes the message a second time for the handler, with
 * the router's options (unknown JSON fields ignored, as the check here and the REST gateway do).
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
import { afterHttpAnswer, mediaTypeOf, readBody } from "../http/io.js";
import { headerOf } from "../http/router.js";
import type { ServedService } from "../services.js";
import { connectCallInput, connectRoutes, kAfterAnswer, kPeer } from "./routes.js";

export interface ConnectHandlerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
}

/** The media types of gRPC-Web and gRPC (over HTTP/1.1), as connect-node reads them; `json` when JSON-encoded. */
const envelopedMediaType = /^application\/grpc(?:-web)?(?:\+(?:(json)|proto))?$/;

/** A message as JSON (`json`) or binary, checked as Connect's are: hostile keys refused, the schema matched. */
function checkMessage(schema: DescMessage, bytes: Uint8Array, json: boolean): JsonValue | undefined {
  if (!json) {
    try {
      fromBinary(schema, bytes);
    } catch {
      throw new AuthError("INVALID_REQUEST", { message: `The request body is not a valid ${schema.typeName} message.` });
    }
    return undefined;
  }
  let value: JsonValue;
  try {
    value = parseJson(bytes.length === 0 ? "{}" : Buffer.from(bytes).toString("utf8"), "the request body") as JsonValue;
  } catch (error) {
    if (error instanceof AuthError) throw error;
    throw new AuthError("INVALID_REQUEST", { message: "The request body is not valid JSON." });
  }
  try {
    fromJson(schema, value, { ignoreUnknownFields: true });
  } catch (error) {
    throw new AuthError("INVALID_REQUEST", { message: `The request body does not match ${schema.typeName}: ${(error as Error).message}` });
  }
  return value;
}

/**
 * The one message of a unary gRPC-Web (or gRPC) body: a frame of a flags byte, a 4-byte length and
 * the message. A compressed frame is left to connect-node, which refuses every compression here.
 */
function checkEnveloped(schema: DescMessage, bytes: Buffer, json: boolean): void {
  const malformed = () =>
    new AuthError("INVALID_REQUEST", { message: `The request body is not one enveloped ${schema.typeName} message.` });
  if (bytes.length < 5) throw malformed();
  const flags = bytes[0]!;
  const length = bytes.readUInt32BE(1);
  if (bytes.length !== 5 + length) throw malformed();
  if ((flags & 0x01) === 0) checkMessage(schema, bytes.subarray(5), json);
}

/**
 * Decodes a unary body, whatever the protocol (Connect, gRPC-Web, gRPC over HTTP/1.1), to report a
 * malformed one, or one naming a prototype key, with our error; returns the bytes connect-node
 * should parse (`{}` for an empty Connect JSON body).
 */
function prepareBody(schema: DescMessage, mediaType: string, bytes: Buffer): Uint8Array {
  // connect-node is handed the bytes, not our parsed value: it parses a value it is handed with
  // fromJson's defaults, which refuse unknown fields; bytes go through its jsonOptions (below).
  if (mediaType === "application/json") {
    checkMessage(schema, bytes, true);
    return bytes.length === 0 ? Buffer.from("{}") : bytes;
  }
  if (mediaType === "application/proto") checkMessage(schema, bytes, false);
  const enveloped = envelopedMediaType.exec(mediaType);
  if (enveloped !== null) checkEnveloped(schema, bytes, enveloped[1] === "json");
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
        const prepared = prepareBody(route.method.input, mediaTypeOf(req), await readBody(req, maxRequestBytes));
        body = createAsyncIterable([prepared]);
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
      try {
        await universalResponseToNodeResponse(await route(request), res);
      } catch (error) {
        // A client that hung up cannot be answered; its call has ended (and been logged) already.
        if (!res.destroyed) throw error;
      }
    },
  };
}
