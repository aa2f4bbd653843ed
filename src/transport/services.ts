/**
 * The services the transports serve. Each is a proto service with its handlers, typed per service
 * (`ServiceHandlers<typeof AuthService>`: a missing or mistyped RPC is a compile error) and bound
 * here, by descriptor, into `Rpc`s that gRPC, Connect and the REST gateway dispatch to. Adding a
 * service is a file of handlers and one entry in the list the composition root passes around.
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  isMessage,
  type Message,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { AuthError } from "../domain/errors.js";
import type { RequestContext } from "../domain/model.js";

/** One RPC: converts the request, calls one flow, converts the result. */
export type RpcHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: RequestContext,
) => Promise<MessageInitShape<O>>;

/** A handler for every RPC of service `S`, each typed by its method's messages. */
export type ServiceHandlers<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O> ? RpcHandler<I, O> : never;
};

/** An RPC ready to serve: its descriptor, and its handler over messages of any type (checked at run time). */
export interface Rpc {
  readonly method: DescMethodUnary;
  /** Answers `request` (a message of `method.input`) with a message of `method.output`. */
  handle(request: Message, ctx: RequestContext): Promise<Message>;
}

/** A service with its RPCs, in the order of the proto. */
export interface ServedService {
  readonly service: DescService;
  readonly rpcs: readonly Rpc[];
}

/** Binds `handlers` to the methods of `service`. */
export function serveService<S extends DescService>(service: S, handlers: ServiceHandlers<S>): ServedService {
  const rpcs = service.methods.map((method): Rpc => {
    const handler = handlers[method.localName];
    // Only a caller outside the type system (plain JavaScript) can leave one out.
    if (handler === undefined) throw new Error(`no handler for ${service.typeName}.${method.name}`);
    if (!isUnary(method)) throw new Error(`${service.typeName}.${method.name}: only unary RPCs are served`);
    return {
      method,
      async handle(request, ctx) {
        // Every transport decodes with `method.input`; this guard is what lets the types agree.
        if (!isMessage(request, method.input)) {
          throw new AuthError("INVALID_REQUEST", { message: `The request is not a ${method.input.typeName} message.` });
        }
        return create(method.output, await handler(request, ctx));
      },
    };
  });
  return { service, rpcs };
}

function isUnary(method: DescMethod): method is DescMethodUnary {
  return method.methodKind === "unary";
}
