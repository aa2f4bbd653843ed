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
 *   every other oversized input (`wrapGrpcJsSendStatus`). (Answering first ourselves would race grpc-js's own answer on the
 *   same stream: two responses, and an exception thrown in grpc-js's data handler.)
 * - A compressed message grpc-js cannot decompress is answered by grpc-js with INTERNAL, as if
 *   the fault were ours; it is rewritten the same way into INVALID_ARGUMENT with INVALID_REQUEST,
 *   like any other malformed message.
 */
import type * as http2 from "node:http2";
import { constants } from "node:http2";
import type * as grpc from "@grpc/grpc-js";
// grpc-js's innermost server call, where it answers a message it refused; not re-exported by its index.
import { BaseServerInterceptingCall } from "@grpc/grpc-js/build/src/server-interceptors.js";
import { AuthError } from "../../domain/errors.js";
import { tooLarge } from "../http/io.js";

export interface Http2GuardOptions {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Whether `path` is one of our RPCs: only their oversized messages are answered here (grpc-js caps the rest). */
  readonly isRpc: (path: string) => boolean;
  /** Ends the call of a message grpc-js refused (a log line, the metrics) and returns the status to answer with. */
  readonly refuse: (path: string, metadata: grpc.Metadata, peer: string, error: AuthError) => GrpcStatus;
}

/**
 * The node:http2 servers grpc-js made for its bound ports. grpc-js keeps them in a private field;
 * reading it is one of the two places this service depends on grpc-js internals (the other:
 * `wrapGrpcJsSendStatus`; both checked at start-up and in the tests), so a grpc-js that moves
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
  wrapGrpcJsSendStatus();
  const refusals = refusalMapper(options);
  server.prependListener("session", (session: GuardedSession) => {
    session[refusalsOf] = refusals;
    // A connection that has not opened a call in time is closed; later idle periods between calls
    // are grpc-js's (GRPC_MAX_CONNECTION_IDLE).
    const timer = setTimeout(() => session.destroy(), options.headersTimeoutMs);
    timer.unref();
    session.once("stream", () => clearTimeout(timer));
    session.once("close", () => clearTimeout(timer));
  });
  server.prependListener("stream", (stream: http2.ServerHttp2Stream) => {
    const timer = setTimeout(() => {
      // Not received in time (or answered while the client still sends): reset the call.
      if (!stream.closed && !stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    }, options.requestTimeoutMs);
    timer.unref();
    const done = () => clearTimeout(timer);
    stream.once("end", done);
    stream.once("close", done);
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

/** A status as grpc-js's server calls send it (its `PartialStatusObject`, not re-exported by its index). */
export type GrpcStatus = Pick<grpc.StatusObject, "code" | "details"> & { metadata?: grpc.Metadata | null };

/** What the guard needs of a grpc-js call whose status it rewrites (grpc-js's BaseServerInterceptingCall). */
interface GrpcJsCall {
  readonly stream: http2.ServerHttp2Stream;
  readonly handler: { readonly path: string };
  readonly metadata: grpc.Metadata;
  /** Set once the call has sent its status or its stream has gone. */
  readonly cancelled: boolean;
  getPeer(): string;
}

/** Our answer to a call grpc-js refused, or undefined to let grpc-js's own status go out. */
type RefusalMapper = (call: GrpcJsCall, status: GrpcStatus) => GrpcStatus | undefined;

/** The mapper of the connection a call came on: one per connection (each server's guard sets its own), none per call. */
const refusalsOf = Symbol("authward.grpcRefusals");
type GuardedSession = http2.ServerHttp2Session & { [refusalsOf]?: RefusalMapper };

/**
 * Turns grpc-js's answers to a message it refused (RESOURCE_EXHAUSTED for an oversized one,
 * INTERNAL for one it cannot decompress) into ours. grpc-js sends those from the call it keeps
 * below every interceptor (BaseServerInterceptingCall), so its `sendStatus` is wrapped, once, on the
 * class: a status of another code, or one carrying metadata (every answer of ours carries its
 * details), passes through after two comparisons. Wrapping each call's stream instead (its
 * `respond`, the first form of this guard) gave every stream object a shape of its own and cost
 * ValidateToken 5-8 % of its rate (BENCHMARKS.md). A grpc-js that moves the class or the method fails at
 * start-up (and in the tests), never silently.
 */
function wrapGrpcJsSendStatus(): void {
  if (sendStatusWrapped) return;
  const proto = (BaseServerInterceptingCall as { prototype?: { sendStatus?: unknown } } | undefined)?.prototype;
  const original = proto?.sendStatus;
  if (proto === undefined || typeof original !== "function") {
    throw new Error(
      "@grpc/grpc-js no longer has BaseServerInterceptingCall.prototype.sendStatus: the gRPC port's guard cannot be installed",
    );
  }
  proto.sendStatus = function sendStatus(this: GrpcJsCall, status: GrpcStatus) {
    // Only the first status of a call goes out (grpc-js drops the others): a call that has ended
    // is not ended again. Each message of a frame is decompressed on its own, so fifty bad ones
    // in one call would otherwise be fifty log lines and counts.
    const ended = this.cancelled || this.stream.destroyed || this.stream.closed;
    if (!ended && (status.code === 8 || status.code === 13) && status.metadata == null) {
      const ours = (this.stream.session as GuardedSession | undefined)?.[refusalsOf]?.(this, status);
      if (ours !== undefined) return original.call(this, ours);
    }
    return original.call(this, status);
  };
  sendStatusWrapped = true;
}
let sendStatusWrapped = false;

/** The mapper of one guarded server: our error for grpc-js's refusal of a message to one of our RPCs. */
function refusalMapper(options: Http2GuardOptions): RefusalMapper {
  return (call, status) => {
    const path = call.handler.path;
    if (!options.isRpc(path)) return undefined;
    const message = status.details ?? "";
    let error: AuthError | undefined;
    if (status.code === 8 && GRPC_JS_TOO_LARGE.test(message)) error = tooLarge(options.maxMessageBytes);
    else if (status.code === 13 && GRPC_JS_UNDECOMPRESSABLE.test(message)) {
      error = new AuthError("INVALID_REQUEST", { message: "The request message could not be decompressed." });
    }
    return error === undefined ? undefined : options.refuse(path, call.metadata, call.getPeer(), error);
  };
}
