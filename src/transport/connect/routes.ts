/**
 * The Connect routes (`/<service>/<Method>` for Connect, gRPC-Web and gRPC over HTTP/1.1): every RPC
 * of every served service, each call through the call envelope. A plain `(router) => void`, as
 * connect-es asks, so that tests serve the same routes over `createRouterTransport`.
 */

import type { DescMethod } from "@bufbuild/protobuf";
import { type ConnectRouter, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import type { CallEnvelope, CallInput } from "../call/envelope.js";
import { codeOf, toAuthError, toConnectError } from "../errors.js";
import { errorHeaders } from "../http/errors.js";
import type { Rpc, ServedService } from "../services.js";

/** The socket peer of the HTTP request, set by the Node adapter (absent in memory). */
export const kPeer = createContextKey<string | undefined>(undefined, { description: "socket peer address" });
/** When the answer is out (`RequestContext.afterAnswer`), set by the Node adapter (absent in memory). */
export const kAfterAnswer = createContextKey<CallInput["afterAnswer"]>(undefined, { description: "after the answer is written" });

export function connectRoutes(services: readonly ServedService[], envelope: CallEnvelope): (router: ConnectRouter) => void {
  return (router) => {
    for (const { rpcs } of services) for (const rpc of rpcs) router.rpc(rpc.method, connectHandler(rpc, envelope));
  };
}

/** The envelope's view of a Connect call. */
export function connectCallInput(
  method: DescMethod,
  header: (name: string) => string | undefined,
  peer: string | undefined,
  afterAnswer?: CallInput["afterAnswer"],
): CallInput {
  return { transport: "connect", name: method.name, method, header, peer, afterAnswer };
}

function connectHandler(rpc: Rpc, envelope: CallEnvelope) {
  return async (request: Parameters<Rpc["handle"]>[0], context: HandlerContext) => {
    const header = (name: string) => context.requestHeader.get(name) ?? undefined;
    const call = envelope.open(connectCallInput(rpc.method, header, context.values.get(kPeer), context.values.get(kAfterAnswer)));
    // connect-node sends these with the answer and with an error alike.
    for (const [key, value] of Object.entries(call.responseHeaders)) context.responseHeader.set(key, value);
    try {
      return await envelope.run(call, (c) => rpc.handle(request, c.ctx));
    } catch (thrown) {
      const error = toAuthError(thrown);
      const status = codeToHttpStatus(codeOf(error));
      // The shared rules of HTTP errors (a 401's WWW-Authenticate) hold for Connect's answers too.
      for (const [key, value] of Object.entries(errorHeaders(error, status))) context.responseHeader.set(key, value);
      throw toConnectError(error);
    }
  };
}
