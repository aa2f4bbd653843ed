/**
 * The transports serve a list of services, each dispatched to its own typed handlers, and every
 * call goes through one envelope whose interceptors apply to every transport. Shown with a second
 * service built at run time from AuthService's descriptor (same RPCs, its own name and REST paths,
 * as AdminService will be), served with its own handlers beside the real AuthService: in memory
 * through Connect's router transport, and on real gRPC and HTTP servers on port 0. The flows are
 * fakes; handlers, envelope and servers are the real ones.
 */
import type { AddressInfo } from "node:net";
import {
  clone,
  create,
  createFileRegistry,
  type DescFile,
  type DescService,
  fromBinary,
  getExtension,
  setExtension,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptionsSchema, ServiceDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { AuthError } from "../../src/domain/errors.js";
import { AuthService, file_auth_v1_auth, MeRequestSchema, MeResponseSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { http } from "../../src/gen/google/api/annotations_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { createMetrics } from "../../src/metrics.js";
import { authService, authServiceHandlers } from "../../src/transport/auth-service.js";
import { createCallEnvelope, type Interceptor } from "../../src/transport/call/envelope.js";
import { connectRoutes } from "../../src/transport/connect/routes.js";
import { createGrpcServer } from "../../src/transport/grpc/server.js";
import { createHttpServer } from "../../src/transport/http/server.js";
import { openApiDocument } from "../../src/transport/rest/openapi/document.js";
import { type ServedService, serveService } from "../../src/transport/services.js";
import { fakeFlows, fakeUser } from "../support/fake-flows.js";

/** `auth.v1.SecondService`: AuthService's RPCs under another name, with REST paths under /v1/second. */
function secondService(): typeof AuthService {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    files.set(file.proto.name, file);
    for (const dependency of file.dependencies) visit(dependency);
  };
  visit(file_auth_v1_auth);
  const service = clone(ServiceDescriptorProtoSchema, AuthService.proto);
  service.name = "SecondService";
  for (const method of service.method) {
    // A fresh options message: the copy must not share the generated descriptor's.
    const options = fromBinary(MethodOptionsSchema, toBinary(MethodOptionsSchema, method.options ?? create(MethodOptionsSchema)));
    const rule = getExtension(options, http);
    for (const binding of [rule, ...rule.additionalBindings]) {
      const { pattern } = binding;
      if (pattern.case !== undefined && pattern.case !== "custom") pattern.value = pattern.value.replace("/v1/auth/", "/v1/second/");
    }
    setExtension(options, http, rule);
    method.options = options;
  }
  const file = create(FileDescriptorProtoSchema, {
    name: "auth/v1/second.proto",
    package: "auth.v1",
    syntax: "proto3",
    dependency: ["auth/v1/auth.proto", "auth/v1/options.proto", "google/api/annotations.proto"],
    service: [service],
  });
  const registry = createFileRegistry(file, (name) => files.get(name));
  // Same methods, same messages as AuthService: its generated type describes this one too.
  return registry.getService("auth.v1.SecondService") as unknown as typeof AuthService;
}

const SecondService = secondService();
const first = fakeUser({ email: "first@example.com" });
const second = fakeUser({ email: "second@example.com" });

/** The list the composition root builds, with one more entry: a service is a file of handlers and one line. */
const services: ServedService[] = [
  authService(
    fakeFlows({
      me: async () => first,
      signIn: async () => {
        throw new AuthError("INVALID_CREDENTIALS");
      },
    }),
  ),
  serveService(SecondService, authServiceHandlers(fakeFlows({ me: async () => second }))),
];

/** Refuses every call that names the tenant `blocked`: one concern, written once. */
const refuseBlockedTenant: Interceptor = (next) => async (call) => {
  if (call.ctx.tenantHeader === "blocked") throw new AuthError("TENANT_MISMATCH", { message: "blocked by an interceptor" });
  return next(call);
};

const logger = pino({ level: "silent" });
const metrics = createMetrics();
const envelope = createCallEnvelope({ logger, metrics }, { interceptors: [refuseBlockedTenant] });

describe("several services over Connect, in memory", () => {
  const transport = createRouterTransport(connectRoutes(services, envelope));
  const clients: [string, Client<typeof AuthService>, string][] = [
    ["AuthService", createClient(AuthService, transport), first.email],
    ["SecondService", createClient(SecondService, transport), second.email],
  ];

  it.each(clients)("dispatches %s to its own handlers", async (_, client, email) => {
    expect((await client.me({})).user?.email).toBe(email);
  });

  it.each(clients)("runs the envelope's interceptors on %s", async (_, client) => {
    const error = await client.me({}, { headers: { "x-tenant": "blocked" } }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.PermissionDenied);
  });

  it("answers a flow's AuthError with its code and the reason as an ErrorInfo detail", async () => {
    const error = await clients[0]![1].login({ identifier: "a", password: "b" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_CREDENTIALS");
  });

  it("answers an unexpected failure as INTERNAL, with the public message only", async () => {
    const error = await clients[1]![1].logout({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toBe("Internal error.");
  });
});

describe("several services on real servers", () => {
  const { limits } = loadConfig({});
  const onConnectionRefused = () => {};
  const grpcPort = createGrpcServer(services, {
    maxRequestBytes: 65_536,
    envelope,
    limits,
    credentials: grpc.ServerCredentials.createInsecure(),
    onConnectionRefused,
  });
  const httpServer = createHttpServer(services, fakeFlows({}), {
    maxRequestBytes: 65_536,
    envelope,
    logger,
    limits,
    tls: undefined,
    allowedOrigins: [],
    onConnectionRefused,
    readiness: async () => ({ ready: true, checks: {} }),
    compat: [],
    publicUrl: "http://localhost",
    version: "test",
    wellKnown: { jwks: () => ({ keys: [] }), metadata: {} },
  });
  let grpcAddress = "";
  let baseUrl = "";

  beforeAll(async () => {
    grpcAddress = `127.0.0.1:${await grpcPort.listen("127.0.0.1", 0)}`;
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    grpcPort.server.forceShutdown();
    await new Promise((resolve) => httpServer.close(resolve));
  });

  function grpcMe(service: DescService, metadata = new grpc.Metadata()): Promise<string> {
    const client = new grpc.Client(grpcAddress, grpc.credentials.createInsecure());
    return new Promise<string>((resolve, reject) => {
      client.makeUnaryRequest(
        `/${service.typeName}/Me`,
        (request: object) => Buffer.from(toBinary(MeRequestSchema, create(MeRequestSchema, request))),
        (bytes: Buffer) => fromBinary(MeResponseSchema, bytes),
        {},
        metadata,
        (error, response) => (error ? reject(error) : resolve(response?.user?.email ?? "")),
      );
    }).finally(() => client.close());
  }

  it.each([
    ["AuthService", AuthService, first.email],
    ["SecondService", SecondService, second.email],
  ])("serves %s over gRPC with its own handlers", async (_, service, email) => {
    expect(await grpcMe(service)).toBe(email);
  });

  it("runs the same interceptor on gRPC", async () => {
    const metadata = new grpc.Metadata();
    metadata.set("x-tenant", "blocked");
    await expect(grpcMe(SecondService, metadata)).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
  });

  it.each([
    ["/v1/auth/me", first.email],
    ["/v1/second/me", second.email],
  ])("serves %s through the REST gateway", async (path, email) => {
    const response = await fetch(`${baseUrl}${path}`);
    expect(response.status).toBe(200);
    expect(((await response.json()) as { user: { email: string } }).user.email).toBe(email);
    const blocked = await fetch(`${baseUrl}${path}`, { headers: { "x-tenant": "blocked" } });
    expect(blocked.status).toBe(403);
  });

  it("documents every service in the OpenAPI document", () => {
    const document = openApiDocument(
      services.map((s) => s.service),
      { version: "test" },
    ) as { paths: Record<string, { get?: { tags: string[] } }> };
    expect(document.paths["/v1/auth/me"]?.get?.tags).toEqual(["AuthService"]);
    expect(document.paths["/v1/second/me"]?.get?.tags).toEqual(["SecondService"]);
  });
});
