/**
 * The gRPC port's guard at the HTTP/2 level, below grpc-js: what grpc-js leaves to its user or
 * does not do at all.
 * - A new connection must open its first call within HEADERS_TIMEOUT (grpc-js keeps a connection
 *   that never sends a complete request open until it is idle-timed-out, and a TLS handshake
 *   bounded by the handshake timeout alone).
 * - A call's request (headers, message and end of stream) must arrive within REQUEST_TIMEOUT;
 *   grpc-js waits for a trickled message for ever (its only bound is the client's deadline). Such a
 *   call is reset (RST_STREAM CANCEL: the client sees CANCELLED).
 * - A message whose length prefix is over MAX_REQUEST_BYTES is refused by grpc-js itself as soon as
 *   the prefix arrives, before its bytes are buffered (its cap is set to ours), but with
 *   RESOURCE_EXHAUSTED and no detail, from inside grpc-js where no interceptor sees it. The guard
 *   recognises grpc-js's answer to such a message by its status and text and rewrites it into
 *   ours: INVALID_ARGUMENT with the REQUEST_TOO_LARGE ErrorInfo, through the call envelope, like
 *   every other oversized input. (Answering first ourselves would race grpc-js's own answer on the
 *   same stream: two responses, and an exception thrown in grpc-js's data handler.)
 * - A compressed message grpc-js cannot decompress is answered by grpc-js with INTERNAL, as if
 *   the fault were ours; it is rewritten the same way into INVALID_ARGUMENT with INVALID_REQUEST,
 *   like any other malformed message.
 */
import type * as http2 from "node:http2";
import { constants } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import { AuthError } from "../../domain/errors.js";
import { tooLarge } from "../http/io.js";

export interface Http2GuardOptions {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Whether `path` is one of our RPCs: only their oversized messages are answered here (grpc-js caps the rest). */
  readonly isRpc: (path: string) => boolean;
  /** Ends the call of a message grpc-js refused (a log line, the metrics) and returns the trailers to answer with. */
  readonly refuse: (path: string, headers: http2.IncomingHttpHeaders, peer: string | undefined, error: AuthError) => Record<string, string>;
}

/**
 * The node:http2 servers grpc-js made for its bound ports. grpc-js keeps them in a private field;
 * reading it is the one place this service depends on grpc-js internals, so a grpc-js that moves
 * it fails at start-up (and in the tests), never silently.
 */
export function http2ServersOf(server: grpc.Server): (http2.Http2Server | http2.Http2SecureServer)[] {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    throw new Error("@grpc/grpc-js no longer keeps its HTTP/2 servers in `http2Servers`: the gRPC port's guard cannot be installed");
  }
  return [...servers.keys()] as (http2.Http2Server | http2.Http2SecureServer)[];
}

/** Installs the guard on one of grpc-js's HTTP/2 servers, ahead of grpc-js's own handlers. */
export function guardHttp2Server(server: http2.Http2Server | http2.Http2SecureServer, options: Http2GuardOptions): void {
  server.prependListener("session", (session: http2.ServerHttp2Session) => {
    // A connection that has not opened a call in time is closed; later idle periods between calls
    // are grpc-js's (GRPC_MAX_CONNECTION_IDLE).
    const timer = setTimeout(() => session.destroy(), options.headersTimeoutMs);
    timer.unref();
    session.once("stream", () => clearTimeout(timer));
    session.once("close", () => clearTimeout(timer));
  });
  server.prependListener("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const path = headers[":path"] ?? "";
    const timer = setTimeout(() => {
      // Not received in time (or answered while the client still sends): reset the call.
      if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    }, options.requestTimeoutMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    stream.once("end", done);
    stream.once("close", done);
    if (options.isRpc(path)) {
      mapGrpcJsRefusals(stream, options.maxMessageBytes, (error) =>
        options.refuse(path, headers, stream.session?.socket?.remoteAddress, error),
      );
    }
  });
}

/**
 * grpc-js's own answers to an oversized message, matched from the start: the status details of
 * other answers quote the caller's own text (`Invalid grpc-timeout value "…"`), which must never
 * pass for one of these. From @grpc/grpc-js 1.14: `Received message larger than max (n vs m)`
 * (stream-decoder.js, as soon as a length prefix says more than the cap) and `Received message that
 * decompresses to a size larger than m` (server-interceptors.js).
 */
const GRPC_JS_TOO_LARGE = /^Received message (?:that decompresses to a size )?larger than/;
/** grpc-js's answer to a compressed message it cannot decompress (server-interceptors.js). */
const GRPC_JS_UNDECOMPRESSABLE = /^Failed to decompress message$/;

/**
 * Turns grpc-js's answers to a message it refused (RESOURCE_EXHAUSTED for an oversized one,
 * INTERNAL for one it cannot decompress) into ours. The stream's `respond` is wrapped, for this
 * one stream, before grpc-js sees the stream; only an answer with one of those two codes has its
 * message decoded and compared.
 */
function mapGrpcJsRefusals(stream: http2.ServerHttp2Stream, max: number, ours: (error: AuthError) => Record<string, string>): void {
  const respond = stream.respond.bind(stream);
  stream.respond = (headers?: http2.OutgoingHttpHeaders, options?: http2.ServerStreamResponseOptions) => {
    const status = String(headers?.["grpc-status"] ?? "");
    if (status !== "8" && status !== "13") return respond(headers, options);
    const message = grpcMessageOf(headers);
    if (status === "8" && GRPC_JS_TOO_LARGE.test(message)) {
      return respond({ ":status": 200, "content-type": "application/grpc", ...ours(tooLarge(max)) }, options);
    }
    if (status === "13" && GRPC_JS_UNDECOMPRESSABLE.test(message)) {
      const malformed = new AuthError("INVALID_REQUEST", { message: "The request message could not be decompressed." });
      return respond({ ":status": 200, "content-type": "application/grpc", ...ours(malformed) }, options);
    }
    return respond(headers, options);
  };
}

/** The decoded `grpc-message` of an answer (grpc-js writes it with encodeURI). */
function grpcMessageOf(headers: http2.OutgoingHttpHeaders | undefined): string {
  const message = String(headers?.["grpc-message"] ?? "");
  try {
    return decodeURIComponent(message);
  } catch {
    // grpc-js's messages are plain; a malformed escape is simply not one of them.
    return message;
  }
}
