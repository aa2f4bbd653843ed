/**
 * The gRPC port's guard at the HTTP/2 level, below grpc-js: what grpc-js leaves to its user or
 * does not do at all.
 * - A new connection must open its first call within HEADERS_TIMEOUT (grpc-js keeps a connection
 *   that never sends a complete request open until it is idle-timed-out, and a TLS handshake
 *   bounded by the handshake timeout alone).
 * - A call's request (headers, message and end of stream) must arrive within REQUEST_TIMEOUT;
 *   grpc-js waits for a trickled message for ever (its only bound is the client's deadline).
 * - A message whose length prefix is over MAX_REQUEST_BYTES is answered INVALID_ARGUMENT with the
 *   REQUEST_TOO_LARGE ErrorInfo, like every other oversized input, as soon as the prefix arrives
 *   and before its bytes are buffered. grpc-js's own cap (kept above ours) would answer
 *   RESOURCE_EXHAUSTED without a detail, from inside grpc-js where no interceptor sees it.
 */
import type * as http2 from "node:http2";
import { constants } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
import type { AuthError } from "../../domain/errors.js";
import { tooLarge } from "../http/io.js";

export interface Http2GuardOptions {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Whether `path` is one of our RPCs: only their oversized messages are answered here (grpc-js caps the rest). */
  readonly isRpc: (path: string) => boolean;
  /** Ends the call of an oversized message (a log line, the metrics) and returns the trailers to answer with. */
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
      answer(stream, {
        "grpc-status": "4", // DEADLINE_EXCEEDED
        "grpc-message": encodeURIComponent(`The request did not arrive within ${options.requestTimeoutMs} ms.`),
      });
    }, options.requestTimeoutMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    stream.once("end", done);
    stream.once("close", done);
    if (options.isRpc(path)) {
      stream.on(
        "data",
        lengthPrefixWatcher(options.maxMessageBytes, () => {
          done();
          answer(stream, options.refuse(path, headers, stream.session?.socket?.remoteAddress, tooLarge(options.maxMessageBytes)));
        }),
      );
    }
  });
}

/**
 * Answers a call that grpc-js has not answered yet with a trailers-only response, then closes the
 * stream (RST_STREAM NO_ERROR once the answer is out: the client may stop sending, RFC 9113
 * §8.1). grpc-js sees the stream closed and drops the call.
 */
function answer(stream: http2.ServerHttp2Stream, trailers: Record<string, string>): void {
  if (stream.headersSent || stream.closed || stream.destroyed) return;
  try {
    stream.respond({ ":status": 200, "content-type": "application/grpc", ...trailers }, { endStream: true });
    stream.close(constants.NGHTTP2_NO_ERROR);
  } catch {
    // The session went away meanwhile: nothing is left to answer.
    stream.destroy();
  }
}

/**
 * Follows the gRPC framing of a request (1 flag byte, a 4-byte big-endian length, the message) and
 * calls `onTooLarge` once, as soon as a length prefix says more than `max` bytes.
 */
function lengthPrefixWatcher(max: number, onTooLarge: () => void): (chunk: Buffer) => void {
  let header = Buffer.alloc(0);
  let skip = 0;
  let tripped = false;
  return (chunk) => {
    let offset = 0;
    while (!tripped && offset < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - offset);
        skip -= n;
        offset += n;
        continue;
      }
      const n = Math.min(5 - header.length, chunk.length - offset);
      header = Buffer.concat([header, chunk.subarray(offset, offset + n)]);
      offset += n;
      if (header.length < 5) return;
      const length = header.readUInt32BE(1);
      header = Buffer.alloc(0);
      if (length > max) {
        tripped = true;
        onTooLarge();
        return;
      }
      skip = length;
    }
  };
}
