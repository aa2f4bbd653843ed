/**
 * OpenTelemetry traces, received by an in-process OTLP/HTTP receiver from the real service on real
 * PostgreSQL and Redis: a Login over native gRPC, Connect, REST, the OAuth endpoint and a seed
 * route, each sent with a W3C `traceparent` (and `tracestate`), arrives as a server span that is
 * the caller's child, named and attributed per the semantic conventions, with PostgreSQL, Redis
 * and bcrypt spans as its children; a failure carries its reason; a malformed traceparent starts a
 * new trace; and no span, attribute or resource holds a password, a token or an email.
 */
import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpcJs from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createConnectClient, createGrpcClient, createRestClient, ok, type TestClient } from "../support/clients.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "../support/otlp.js";
import { newPassword } from "../support/secrets.js";

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
/** A caller's trace context: its trace, and the span that made the call. */
const callerContext = () => ({ traceId: hex(16), parentId: hex(8) });
const traceparent = (c: { traceId: string; parentId: string }) => `00-${c.traceId}-${c.parentId}-01`;

describe("OpenTelemetry traces", () => {
  let receiver: OtlpReceiver;
  let app: TestApp;
  let grpc: TestClient;
  let connect: TestClient;
  let rest: TestClient;
  const email = `tracing.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();
  /** Every secret a span could leak. */
  const secrets: string[] = [email, password];

  /** The spans of one trace, once its server span and `count` spans in all have arrived. */
  const traceOf = async (traceId: string, atLeast = 1): Promise<ReceivedSpan[]> => {
    await receiver.waitFor((spans) => spans.filter((s) => s.traceId === traceId).length >= atLeast);
    return receiver.spans.filter((s) => s.traceId === traceId);
  };
  const serverSpan = (spans: ReceivedSpan[]) => {
    const found = spans.filter((s) => s.kind === 2);
    expect(found).toHaveLength(1);
    return found[0]!;
  };
  /** Whether `span` descends from `ancestor` within `spans`. */
  const descends = (span: ReceivedSpan, ancestor: ReceivedSpan, spans: ReceivedSpan[]): boolean => {
    let parent = spans.find((s) => s.spanId === span.parentSpanId);
    while (parent !== undefined) {
      if (parent.spanId === ancestor.spanId) return true;
      parent = spans.find((s) => s.spanId === parent!.parentSpanId);
    }
    return false;
  };
  /** The call's span, continuing the caller's, with query, Redis and bcrypt spans beneath it. */
  const expectLoginTrace = async (caller: { traceId: string; parentId: string }) => {
    // The server span, its queries, its Redis commands and bcrypt: a login makes several of each.
    await receiver.waitFor((spans) => {
      const trace = spans.filter((s) => s.traceId === caller.traceId);
      return trace.some((s) => s.kind === 2) && trace.some((s) => s.attributes["db.system.name"] === "redis");
    });
    const spans = await traceOf(caller.traceId);
    const server = serverSpan(spans);
    expect(server.parentSpanId).toBe(caller.parentId);
    const children = spans.filter((s) => s !== server);
    for (const child of children) expect(descends(child, server, spans), child.name).toBe(true);
    const queries = children.filter((s) => s.attributes["db.system.name"] === "postgresql");
    expect(queries.length).toBeGreaterThan(0);
    for (const query of queries) {
      expect(query.kind).toBe(3);
      expect(query.attributes["db.query.text"]).toEqual(expect.any(String));
      expect(query.name).toMatch(/^(SELECT|INSERT|UPDATE|DELETE|WITH)\b/);
    }
    expect(queries.some((q) => q.name === "SELECT users")).toBe(true);
    const commands = children.filter((s) => s.attributes["db.system.name"] === "redis");
    expect(commands.length).toBeGreaterThan(0);
    for (const command of commands) {
      expect(command.kind).toBe(3);
      // The command and the key's shape: prefix, hash tag, family, nothing else.
      expect(command.name).toMatch(new RegExp(`^[A-Z_]+( ${app.config.redisKeyPrefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[^ ]*)?$`));
      expect(String(command.attributes["authward.redis.key"] ?? "")).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}/);
    }
    expect(children.some((s) => s.name === "bcrypt.verify")).toBe(true);
    return server;
  };

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    app = await startTestApp({
      name: "tracing",
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "authward-test",
        OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=test",
        OTEL_BSP_SCHEDULE_DELAY: "50",
      },
    });
    grpc = createGrpcClient(app.grpcAddress);
    connect = createConnectClient(app.baseUrl);
    rest = createRestClient(app.baseUrl);
    ok(await grpc.call("Register", { email, password }));
  }, 60_000);
  let stopped = false;
  afterAll(async () => {
    grpc?.close();
    if (!stopped) await app?.stop();
    await receiver?.close();
  });

  it("continues the caller's trace over native gRPC: one server span per RPC, rpc.* attributes, store and bcrypt children", async () => {
    const caller = callerContext();
    const login = ok(
      await grpc.call(
        "Login",
        { identifier: email, password },
        { traceparent: traceparent(caller), tracestate: "vendor=opaque", "x-tenant": "default" },
      ),
    );
    secrets.push(login.accessToken, login.refreshToken);
    const server = await expectLoginTrace(caller);
    expect(server.name).toBe("auth.v1.AuthService/Login");
    expect(server.traceState).toBe("vendor=opaque");
    expect(server.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "auth.v1.AuthService",
      "rpc.method": "Login",
      "rpc.grpc.status_code": 0,
      "authward.call": "Login",
      "authward.tenant": "default",
    });
    expect(server.resource).toMatchObject({
      "service.name": "authward-test",
      "deployment.environment.name": "test",
      "process.pid": process.pid,
    });
  });

  it("records the tenant as the service resolves it: an x-tenant in capitals is the lowercase tenant the call ran in", async () => {
    const caller = callerContext();
    const login = ok(
      await grpc.call("Login", { identifier: email, password }, { traceparent: traceparent(caller), "x-tenant": "DeFault" }),
    );
    secrets.push(login.accessToken, login.refreshToken);
    const server = await expectLoginTrace(caller);
    expect(server.attributes["authward.tenant"]).toBe("default");
  });

  it("continues it over REST (the gateway), with http.* attributes and the status written", async () => {
    const caller = callerContext();
    const login = ok(await rest.call("Login", { identifier: email, password }, { traceparent: traceparent(caller) }));
    secrets.push(login.accessToken, login.refreshToken);
    const server = await expectLoginTrace(caller);
    expect(server.name).toBe("POST /v1/auth/login");
    expect(server.attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/v1/auth/login",
      "http.response.status_code": 200,
      "rpc.method": "Login",
      "authward.call": "Login",
    });
  });

  it("continues it over Connect, the OAuth token endpoint and a seed route", async () => {
    const viaConnect = callerContext();
    const connectLogin = ok(await connect.call("Login", { identifier: email, password }, { traceparent: traceparent(viaConnect) }));
    secrets.push(connectLogin.accessToken, connectLogin.refreshToken);
    expect((await expectLoginTrace(viaConnect)).attributes).toMatchObject({ "rpc.system": "connect_rpc", "rpc.method": "Login" });

    const viaOauth = callerContext();
    const token = await fetch(`${app.baseUrl}/v1/auth/token`, {
      method: "POST",
      headers: { traceparent: traceparent(viaOauth) },
      body: new URLSearchParams({ grant_type: "password", username: email, password }),
    });
    const tokens = (await token.json()) as { access_token: string; refresh_token: string };
    secrets.push(tokens.access_token, tokens.refresh_token);
    expect(await expectLoginTrace(viaOauth)).toMatchObject({
      name: "POST /v1/auth/token",
      attributes: expect.objectContaining({ "authward.call": "oauth.token", "http.response.status_code": 200 }),
    });

    const viaSeed = callerContext();
    const seed = await fetch(`${app.baseUrl}/api/v1/auth/login`, {
      method: "POST",
      headers: { traceparent: traceparent(viaSeed) },
      body: new URLSearchParams({ username: email, password }),
    });
    secrets.push(((await seed.json()) as { access_token: string }).access_token);
    expect(await expectLoginTrace(viaSeed)).toMatchObject({
      name: "POST /api/v1/auth/login",
      attributes: expect.objectContaining({ "authward.call": "compat.vigia.login", "http.response.status_code": 200 }),
    });
  });

  it("continues it over gRPC-Web", async () => {
    const caller = callerContext();
    const client = createClient(AuthService, createGrpcWebTransport({ baseUrl: app.baseUrl, httpVersion: "1.1" }));
    await client.validateToken({ token: "x" }, { headers: { traceparent: traceparent(caller) } });
    const server = serverSpan(await traceOf(caller.traceId));
    expect(server).toMatchObject({ name: "auth.v1.AuthService/ValidateToken", parentSpanId: caller.parentId });
    expect(server.attributes).toMatchObject({ "rpc.system": "connect_rpc", "rpc.method": "ValidateToken" });
  });

  it("records a failure's status and reason, never its message or the input", async () => {
    const wrong = newPassword("wrong");
    secrets.push(wrong);
    const overGrpc = callerContext();
    await grpc.call("Login", { identifier: email, password: wrong }, { traceparent: traceparent(overGrpc) });
    const overRest = callerContext();
    await rest.call("Login", { identifier: email, password: wrong }, { traceparent: traceparent(overRest) });
    expect(serverSpan(await traceOf(overGrpc.traceId)).attributes).toMatchObject({
      "rpc.grpc.status_code": 16,
      "error.type": "INVALID_CREDENTIALS",
    });
    const restSpan = serverSpan(await traceOf(overRest.traceId));
    expect(restSpan.attributes).toMatchObject({ "http.response.status_code": 401, "error.type": "INVALID_CREDENTIALS" });
    // The caller's mistake is not the server's error (only 5xx and server faults are).
    expect(restSpan.statusCode).not.toBe(2);
  });

  it("starts a new trace for a malformed or hostile traceparent, and answers the call as usual", async () => {
    for (const header of [
      "garbage",
      `00-${"0".repeat(32)}-${hex(8)}-01`,
      `ff-${hex(16)}-${hex(8)}-01`,
      `00-${hex(16)}-${hex(8)}-01-${"x".repeat(4000)}`,
    ]) {
      const requestId = `trace-${hex(4)}`;
      const result = await grpc.call("ValidateToken", { token: "not-a-token" }, { traceparent: header, "x-request-id": requestId });
      expect(result.ok).toBe(true);
      await receiver.waitFor((spans) => spans.some((s) => s.attributes["authward.request_id"] === requestId));
      const span = receiver.spans.find((s) => s.attributes["authward.request_id"] === requestId)!;
      expect(span.parentSpanId).toBe("");
      expect(span.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(header).not.toContain(span.traceId);
    }
  });

  it("follows the caller's sampling decision: a traceparent not sampled (flags 00) exports nothing of its call", async () => {
    const unsampled = callerContext();
    const login = ok(
      await grpc.call("Login", { identifier: email, password }, { traceparent: `00-${unsampled.traceId}-${unsampled.parentId}-00` }),
    );
    secrets.push(login.accessToken, login.refreshToken);
    // A sampled call after it: once its spans are in, the unsampled call's would have been too.
    const sampled = callerContext();
    ok(await grpc.call("ValidateToken", { token: "x" }, { traceparent: traceparent(sampled) }));
    await traceOf(sampled.traceId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.spans.filter((s) => s.traceId === unsampled.traceId)).toEqual([]);
  });

  it("puts the trace id in the call's log line", async () => {
    const caller = callerContext();
    ok(await grpc.call("ValidateToken", { token: "x" }, { traceparent: traceparent(caller), "x-request-id": "trace-log-1" }));
    await traceOf(caller.traceId);
    const { readFileSync } = await import("node:fs");
    const line = readFileSync(app.logFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((l) => l.requestId === "trace-log-1");
    expect(line?.traceId).toBe(caller.traceId);
  });

  it("exports no password, token or email, in any span, attribute or resource", async () => {
    // Stopping exports what is still queued.
    stopped = true;
    await app.stop();
    expect(receiver.bodies.length).toBeGreaterThan(0);
    const everything = receiver.bodies.map((b) => b.toString("utf8")).join("\n");
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(everything.includes(secret), `a secret (${secret.slice(0, 4)}…) reached a span`).toBe(false);
      // Nor any part of a token (a JWT's payload, a refresh token's secret).
      for (const part of secret.split(".").filter((p) => p.length >= 16)) expect(everything.includes(part)).toBe(false);
    }
  });
});

describe("OpenTelemetry traces over OTLP/HTTP protobuf (the default protocol)", () => {
  it("exports the caller's trace as protobuf to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", async () => {
    const receiver = await startOtlpReceiver();
    const app = await startTestApp({
      name: "tracing-protobuf",
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: "50" },
    });
    try {
      const caller = callerContext();
      const grpc = createGrpcClient(app.grpcAddress);
      await grpc.call("ValidateToken", { token: "x" }, { traceparent: traceparent(caller) });
      grpc.close();
      const traceIdBytes = Buffer.from(caller.traceId, "hex");
      const deadline = Date.now() + 15_000;
      while (!receiver.bodies.some((body) => body.includes(traceIdBytes))) {
        if (Date.now() > deadline) throw new Error("no protobuf export holding the caller's trace id");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(receiver.contentTypes.every((type) => type === "application/x-protobuf")).toBe(true);
      expect(Buffer.concat(receiver.bodies).includes(Buffer.from("auth.v1.AuthService/ValidateToken"))).toBe(true);
    } finally {
      await app.stop();
      await receiver.close();
    }
  }, 60_000);
});

describe("OpenTelemetry traces over OTLP/gRPC", () => {
  it("exports to a collector's gRPC TraceService when OTEL_EXPORTER_OTLP_PROTOCOL=grpc", async () => {
    // A collector's gRPC endpoint, as far as the exporter can tell: TraceService/Export, bytes kept.
    const received: Buffer[] = [];
    const identity = (bytes: Buffer) => bytes;
    const collector = new grpcJs.Server();
    collector.addService(
      {
        Export: {
          path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      } as grpcJs.ServiceDefinition,
      {
        Export: (call: grpcJs.ServerUnaryCall<Buffer, Buffer>, callback: grpcJs.sendUnaryData<Buffer>) => {
          received.push(call.request);
          callback(null, Buffer.alloc(0));
        },
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      collector.bindAsync("127.0.0.1:0", grpcJs.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    const app = await startTestApp({
      name: "tracing-grpc",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_BSP_SCHEDULE_DELAY: "50" },
    });
    try {
      const caller = callerContext();
      const grpc = createGrpcClient(app.grpcAddress);
      await grpc.call("ValidateToken", { token: "x" }, { traceparent: traceparent(caller) });
      grpc.close();
      const traceIdBytes = Buffer.from(caller.traceId, "hex");
      const deadline = Date.now() + 15_000;
      while (!received.some((body) => body.includes(traceIdBytes))) {
        if (Date.now() > deadline) throw new Error("no OTLP/gRPC export holding the caller's trace id");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(Buffer.concat(received).includes(Buffer.from("auth.v1.AuthService/ValidateToken"))).toBe(true);
    } finally {
      await app.stop();
      collector.forceShutdown();
    }
  }, 60_000);
});
