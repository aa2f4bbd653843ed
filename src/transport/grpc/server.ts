/**
 * Native gRPC (h2c) with @grpc/grpc-js, the fast path for internal callers of ValidateToken: every
 * served service, each call through the call envelope. Service definitions are built from the
 * protobuf-es descriptors, so grpc-js carries our generated messages; requests are decoded here so
 * that a bad message is INVALID_ARGUMENT with a reason, like every other error.
 */
import { type DescMessage, type DescMethod, type DescService, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { AuthError } from "../../domain/errors.js";
import type { CallEnvelope } from "../call/envelope.js";
import { codeOf, statusDetailsBin } from "../errors.js";
import type { Rpc, ServedService } from "../services.js";

export interface GrpcServerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
  /** Adds `/auth.bench.v1.Bench/Empty`, the floor the benchmarks compare ValidateToken with. */
  readonly benchFloor?: boolean;
}

const EMPTY = Buffer.alloc(0);

/**
 * An RPC that does nothing: an empty message in, an empty message out, through grpc-js alone. The
 * least any unary call on this server can cost; benchmarks only (BENCH_FLOOR=true).
 */
function addBenchFloor(server: grpc.Server): void {
  const identity = (bytes: Buffer) => bytes;
  server.addService(
    {
      Empty: {
        path: "/auth.bench.v1.Bench/Empty",
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    } as grpc.ServiceDefinition,
    { Empty: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, EMPTY) },
  );
}

/** Wire forms of frozen (shared, immutable) responses, such as a remembered token's ValidateToken answer. */
const serialized = new WeakMap<Message, Buffer>();

function serialize(schema: DescMessage, message: Message): Buffer {
  if (!Object.isFrozen(message)) return asBuffer(toBinary(schema, message));
  let bytes = serialized.get(message);
  if (bytes === undefined) {
    bytes = asBuffer(toBinary(schema, message));
    serialized.set(message, bytes);
  }
  return bytes;
}

/**
 * A Buffer over the same memory, not a copy: Buffer.from(uint8Array) copies small arrays into
 * Node's shared 8 KB slabs, and a remembered answer would then keep a whole slab alive.
 */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function firstValue(metadata: grpc.Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : undefined;
}

/** The IP of a grpc-js peer string such as `127.0.0.1:5000` or `[::1]:5000`. */
export function ipOfPeer(peer: string): string | undefined {
  const match = /^(?:ipv[46]:)?\[?([^\]]+?)\]?:\d+$/.exec(peer);
  return match?.[1];
}

/**
 * Calls `start` once the call has ended: grpc-js emits `cancelled` on a unary call after it has
 * handed the trailers to the HTTP/2 stream (and when the stream closes early); the stream's frames
 * reach the socket in the session's own immediate, which runs before ours.
 */
function afterGrpcAnswer(grpcCall: grpc.ServerUnaryCall<Buffer, Message>, start: () => void): void {
  const go = () => setImmediate(start);
  if (grpcCall.cancelled) go();
  else grpcCall.once("cancelled", go);
}

function toServiceError(authError: AuthError): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(statusDetailsBin(authError)));
  return { code: codeOf(authError) as number as grpc.status, details: authError.message, metadata };
}

function decode(schema: DescMessage, bytes: Buffer, maxBytes: number): Message {
  if (bytes.length > maxBytes) throw new AuthError("REQUEST_TOO_LARGE", { message: `The request exceeds ${maxBytes} bytes.` });
  try {
    return fromBinary(schema, bytes);
  } catch {
    throw new AuthError("INVALID_REQUEST", { message: `The request is not a valid ${schema.typeName} message.` });
  }
}

export function createGrpcServer(services: readonly ServedService[], options: GrpcServerOptions): grpc.Server {
  const server = new grpc.Server({
    // Larger than our own limit, so that oversized requests reach `decode` and get our error.
    "grpc.max_receive_message_length": Math.max(options.maxRequestBytes * 4, 1_048_576),
  });
  for (const { service, rpcs } of services) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Message>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const rpc of rpcs) {
      definition[rpc.method.localName] = methodDefinition(service, rpc.method);
      implementation[rpc.method.localName] = unaryHandler(rpc, options);
    }
    server.addService(definition as grpc.ServiceDefinition, implementation);
  }
  if (options.benchFloor) addBenchFloor(server);
  return server;
}

/** How grpc-js frames one method: bytes in (decoded by `unaryHandler`), our messages out. */
function methodDefinition(service: DescService, method: DescMethod): grpc.MethodDefinition<Buffer, Message> {
  return {
    path: `/${service.typeName}/${method.name}`,
    requestStream: false,
    responseStream: false,
    originalName: method.name,
    requestSerialize: (value: Buffer) => value,
    requestDeserialize: (bytes: Buffer) => bytes,
    responseSerialize: (value: Message) => serialize(method.output, value),
    responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

/** Adapts one RPC to grpc-js through the call envelope. */
function unaryHandler(rpc: Rpc, options: GrpcServerOptions): grpc.handleUnaryCall<Buffer, Message> {
  const { method } = rpc;
  return (grpcCall, callback) => {
    const call = options.envelope.open({
      transport: "grpc",
      name: method.name,
      method,
      header: (name) => firstValue(grpcCall.metadata, name),
      peer: ipOfPeer(grpcCall.getPeer()),
      afterAnswer: (start) => afterGrpcAnswer(grpcCall, start),
    });
    // The response headers go out with the answer, in the same write as its message and trailers:
    // sent before the handler's await, they would cost a write (a syscall) of their own per call.
    const answer = (error: AuthError | null, response?: Message) => {
      const metadata = new grpc.Metadata();
      for (const [key, value] of Object.entries(call.responseHeaders)) metadata.set(key, value);
      grpcCall.sendMetadata(metadata);
      if (error === null) callback(null, response);
      else callback(toServiceError(error));
    };
    options.envelope
      .run(call, (c) => rpc.handle(decode(method.input, grpcCall.request, options.maxRequestBytes), c.ctx))
      .then((response) => answer(null, response), answer);
  };
}

/** Binds the server; resolves with the bound port (useful with port 0). */
export function listenGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
  });
}
