/**
 * Native gRPC (h2c, or TLS with ALPN h2) with @grpc/grpc-js, the fast path for internal callers of
 * ValidateToken: every served service, each call through the call envelope. Service definitions
 * are built from the protobuf-es descriptors, so grpc-js carries our generated messages; requests
 * are decoded here so that a bad message is INVALID_ARGUMENT with a reason, like every other
 * error. The port's limits (streams per connection, idle and age, keepalive, connection cap, slow
 * and oversized requests) are set here and in ./http2-guard.ts, once for every service.
 */
import { type DescMessage, type DescMethod, type DescService, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { ConnectionLimits } from "../../config.js";
import { AuthError } from "../../domain/errors.js";
import type { Call, CallEnvelope, CallHandler, CallInput } from "../call/envelope.js";
import { codeOf, statusDetailsBin } from "../errors.js";
import { capConnections } from "../listeners.js";
import type { Rpc, ServedService } from "../services.js";
import { type GrpcStatus, guardHttp2Server, http2ServersOf } from "./http2-guard.js";

export interface GrpcServerOptions {
  readonly maxRequestBytes: number;
  readonly envelope: CallEnvelope;
  readonly limits: ConnectionLimits;
  /** Insecure (h2c) or TLS (see ./credentials.ts). */
  readonly credentials: grpc.ServerCredentials;
  /** Called for each connection closed because MAX_CONNECTIONS were open. */
  readonly onConnectionRefused: () => void;
  /** Adds `/auth.bench.v1.Bench/Empty`, the floor the benchmarks compare ValidateToken with. */
  readonly benchFloor?: boolean;
}

/** The gRPC port: the grpc-js server (services are added to it before `listen`), and how to bind it. */
export interface GrpcPort {
  readonly server: grpc.Server;
  /** Binds the port with the limits and the guard; resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
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

/** Every value of a metadata entry joined with commas, as HTTP joins a repeated list header (RFC 9110 §5.3). */
function joinedValues(metadata: grpc.Metadata, key: string): string | undefined {
  const texts = metadata.get(key).filter((v): v is string => typeof v === "string");
  return texts.length === 0 ? undefined : texts.join(", ");
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

function toServiceError(authError: AuthError): GrpcStatus & { metadata: grpc.Metadata } {
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

/** grpc-js's options for the port's limits (docs/configuration.md). */
function serverOptions(options: GrpcServerOptions): grpc.ServerOptions {
  const { limits } = options;
  return {
    // Our limit: grpc-js refuses a larger message by its length prefix, before buffering it, and
    // the guard (./http2-guard.ts) turns that refusal into our INVALID_ARGUMENT + REQUEST_TOO_LARGE.
    "grpc.max_receive_message_length": options.maxRequestBytes,
    // Advertised in SETTINGS: grpc-js's default is 2^32 - 1 calls in flight per connection.
    "grpc.max_concurrent_streams": limits.grpcMaxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.grpcMaxConnectionIdleMs,
    ...(limits.grpcMaxConnectionAgeMs > 0
      ? {
          "grpc.max_connection_age_ms": limits.grpcMaxConnectionAgeMs,
          // Calls in flight when the GOAWAY goes out get as long as a request may take to arrive.
          "grpc.max_connection_age_grace_ms": limits.requestTimeoutMs,
        }
      : {}),
    "grpc.keepalive_time_ms": limits.grpcKeepaliveTimeMs,
    "grpc.keepalive_timeout_ms": 20_000,
    // Channelz (grpc-js's call and socket statistics, on by default) is read only through its own
    // service, which this server does not offer; tracked, it costs closures, timestamps and
    // counters per call and per message on every call of the port.
    "grpc.enable_channelz": 0,
  };
}

export function createGrpcServer(services: readonly ServedService[], options: GrpcServerOptions): GrpcPort {
  const server = new grpc.Server(serverOptions(options));
  const rpcByPath = new Map<string, Rpc>();
  for (const { service, rpcs } of services) {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Message>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const rpc of rpcs) {
      definition[rpc.method.localName] = methodDefinition(service, rpc.method);
      implementation[rpc.method.localName] = unaryHandler(rpc, options);
      rpcByPath.set(definition[rpc.method.localName]!.path, rpc);
    }
    server.addService(definition as grpc.ServiceDefinition, implementation);
  }
  if (options.benchFloor) addBenchFloor(server);

  /** Ends a call the guard refused before grpc-js read it: its log line and metrics, then its status. */
  const refuse = (path: string, metadata: grpc.Metadata, peer: string, thrown: AuthError): GrpcStatus => {
    const method = rpcByPath.get(path)!.method;
    const call = options.envelope.open({
      transport: "grpc",
      name: method.name,
      method,
      header: (name) => firstValue(metadata, name),
      headerList: (name) => joinedValues(metadata, name),
      peer: ipOfPeer(peer),
    });
    const status = toServiceError(options.envelope.fail(call, thrown));
    for (const [key, value] of Object.entries(call.responseHeaders)) status.metadata.set(key, value);
    return status;
  };

  return {
    server,
    async listen(host, port) {
      const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
      const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(address, options.credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
      );
      const { limits } = options;
      for (const http2Server of http2ServersOf(server)) {
        capConnections(http2Server, limits.maxConnections, options.onConnectionRefused);
        guardHttp2Server(http2Server, {
          headersTimeoutMs: limits.headersTimeoutMs,
          requestTimeoutMs: limits.requestTimeoutMs,
          maxMessageBytes: options.maxRequestBytes,
          isRpc: (path) => rpcByPath.has(path),
          refuse,
        });
      }
      return bound;
    },
  };
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

/**
 * A gRPC call as the envelope reads it. A class, not an object literal of closures: ValidateToken
 * is served tens of thousands of times a second, and each closure is an allocation per call. The
 * peer's address is parsed only when a flow asks for the client's address (never on ValidateToken).
 */
class GrpcCallInput implements CallInput {
  readonly transport = "grpc";
  readonly name: string;
  private address: string | undefined | null = null;

  constructor(
    readonly method: DescMethod,
    readonly grpcCall: grpc.ServerUnaryCall<Buffer, Message>,
  ) {
    this.name = method.name;
  }

  header(name: string): string | undefined {
    return firstValue(this.grpcCall.metadata, name);
  }

  headerList(name: string): string | undefined {
    return joinedValues(this.grpcCall.metadata, name);
  }

  get peer(): string | undefined {
    if (this.address === null) this.address = ipOfPeer(this.grpcCall.getPeer());
    return this.address;
  }

  afterAnswer(start: () => void): void {
    afterGrpcAnswer(this.grpcCall, start);
  }
}

/**
 * The answer's metadata: the response headers go out with the answer, in the same write as its
 * message and trailers (sent before the handler's await, they would cost a write, a syscall, of
 * their own per call).
 */
function sendResponseHeaders(grpcCall: grpc.ServerUnaryCall<Buffer, Message>, call: Call): void {
  const metadata = new grpc.Metadata();
  const headers = call.responseHeaders;
  for (const key in headers) metadata.set(key, headers[key]!);
  grpcCall.sendMetadata(metadata);
}

/** Adapts one RPC to grpc-js through the call envelope. */
function unaryHandler(rpc: Rpc, options: GrpcServerOptions): grpc.handleUnaryCall<Buffer, Message> {
  const { method } = rpc;
  const { envelope, maxRequestBytes } = options;
  // One handler per RPC, not per call: the request travels on the call's input.
  const handle = (call: Call) =>
    rpc.handle(decode(method.input, (call.input as GrpcCallInput).grpcCall.request, maxRequestBytes), call.ctx);
  return (grpcCall, callback) => void serve(envelope, envelope.open(new GrpcCallInput(method, grpcCall)), handle, callback);
}

async function serve(
  envelope: CallEnvelope,
  call: Call,
  handle: CallHandler<Message>,
  callback: grpc.sendUnaryData<Message>,
): Promise<void> {
  const { grpcCall } = call.input as GrpcCallInput;
  let response: Message;
  try {
    response = await envelope.run(call, handle);
  } catch (error) {
    sendResponseHeaders(grpcCall, call);
    callback(toServiceError(error as AuthError));
    return;
  }
  sendResponseHeaders(grpcCall, call);
  callback(null, response);
}
