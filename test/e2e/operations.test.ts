/**
 * What operators and other teams rely on: gRPC reflection and health, Prometheus metrics moved by
 * real calls, and call logs that say who called.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { status as grpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, createRestClient, type TestClient } from "../support/clients.js";
import { checkHealth, healthCall, reflect } from "../support/grpc-tools.js";
import { newPassword } from "../support/secrets.js";

/** The value of one sample in a Prometheus text exposition; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{([^}]*)\}/.exec(line)?.[1] ?? "";
    const present = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(line.split(" ").at(-1));
  }
  return 0;
}

describe("operations", () => {
  let app: TestApp;
  let grpc: TestClient;
  let rest: TestClient;
  const email = `ops.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();

  beforeAll(async () => {
    app = await startTestApp({ name: "operations" });
    grpc = createGrpcClient(app.grpcAddress);
    rest = createRestClient(app.baseUrl);
    await grpc.call("Register", { email, password });
  });
  afterAll(async () => {
    grpc?.close();
    await app?.stop();
  });

  describe.each(["v1", "v1alpha"] as const)("gRPC reflection %s", (version) => {
    it("lists auth.v1.AuthService and resolves its methods' descriptors", async () => {
      const listed = await reflect(app.grpcAddress, version, { list_services: "" });
      const services = listed.list_services_response.service.map((s: { name: string }) => s.name);
      expect(services).toContain("auth.v1.AuthService");

      const found = await reflect(app.grpcAddress, version, { file_containing_symbol: "auth.v1.AuthService" });
      const files = found.file_descriptor_response.file_descriptor_proto.map((bytes: Buffer) =>
        fromBinary(FileDescriptorProtoSchema, bytes),
      );
      const auth = files.find((f: { name: string }) => f.name === "auth/v1/auth.proto");
      const service = auth.service.find((s: { name: string }) => s.name === "AuthService");
      const login = service.method.find((m: { name: string }) => m.name === "Login");
      expect(login).toMatchObject({ inputType: ".auth.v1.LoginRequest", outputType: ".auth.v1.LoginResponse" });
      expect(service.method.map((m: { name: string }) => m.name)).toEqual(
        expect.arrayContaining(["Register", "ValidateToken", "ListSessions"]),
      );
      expect(auth.messageType.map((m: { name: string }) => m.name)).toContain("LoginRequest");
      // Every import can be fetched by name, as grpcurl does to build the whole file set.
      for (const dependency of auth.dependency as string[]) {
        const byName = await reflect(app.grpcAddress, version, { file_by_filename: dependency });
        const [file] = byName.file_descriptor_response.file_descriptor_proto.map((bytes: Buffer) =>
          fromBinary(FileDescriptorProtoSchema, bytes),
        );
        expect(file?.name, dependency).toBe(dependency);
      }
      expect(auth.dependency).toEqual(expect.arrayContaining(["google/api/annotations.proto", "google/protobuf/timestamp.proto"]));
    });
  });

  it("answers grpc.health.v1 Check with SERVING for the server and the service", async () => {
    expect(await checkHealth(app.grpcAddress)).toBe("SERVING");
    expect(await checkHealth(app.grpcAddress, "auth.v1.AuthService")).toBe("SERVING");
  });

  it("lists the health statuses, refuses an unknown name without echoing it, and serves no Watch stream", async () => {
    const listed = await healthCall(app.grpcAddress, "List");
    expect(listed.response?.statuses).toMatchObject({ "": { status: "SERVING" }, "auth.v1.AuthService": { status: "SERVING" } });
    const unknown = await healthCall(app.grpcAddress, "Check", { service: `nope-${"x".repeat(2000)}` });
    expect(unknown).toEqual({ code: grpcStatus.NOT_FOUND, details: "no health status for this service" });
    // Watch streams were held open for good, outside REQUEST_TIMEOUT: UNIMPLEMENTED, which gRPC's
    // client-side health checking reads as "no health checking here".
    expect((await healthCall(app.grpcAddress, "Watch", { service: "" })).code).toBe(grpcStatus.UNIMPLEMENTED);
  });

  it("moves the Prometheus counters with real calls", async () => {
    const before = await (await fetch(app.metricsUrl)).text();
    await grpc.call("Login", { identifier: email, password: newPassword() });
    const login = await grpc.call("Login", { identifier: email, password });
    if (!login.ok) throw new Error("login failed");
    await rest.call("ValidateToken", { token: login.response.accessToken });
    await grpc.call("Refresh", { refreshToken: login.response.refreshToken });
    app.clock.advance(app.config.policy.refreshReuseGraceMs + 1000);
    await grpc.call("Refresh", { refreshToken: login.response.refreshToken });

    const response = await fetch(app.metricsUrl);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const after = await response.text();
    const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved("auth_requests_total", { transport: "grpc", rpc: "Login", code: "OK" })).toBe(1);
    expect(moved("auth_requests_total", { transport: "grpc", rpc: "Login", code: "Unauthenticated" })).toBe(1);
    expect(moved("auth_requests_total", { transport: "rest", rpc: "ValidateToken", code: "OK" })).toBe(1);
    expect(moved("auth_request_duration_seconds_count", { transport: "grpc", rpc: "Refresh" })).toBe(2);
    expect(moved("auth_logins_total", { outcome: "success" })).toBe(1);
    expect(moved("auth_logins_total", { outcome: "wrong_password" })).toBe(1);
    expect(moved("auth_refresh_reuse_total")).toBe(1);
    expect(moved("auth_security_events_total", { type: "refresh_reuse_detected" })).toBe(1);
    // Node's process metrics under their conventional names, as stock dashboards read them.
    expect(sample(after, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample(after, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(sample(after, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(sample(after, "process_start_time_seconds")).toBeGreaterThan(0);
    expect(after).not.toMatch(/^auth_(nodejs|process)_/m);
  });

  it("logs each call as JSON with its request id, rpc, code, latency, tenant and user", async () => {
    const login = await grpc.call("Login", { identifier: email, password }, { "x-request-id": "ops-login-1", "x-tenant": "default" });
    if (!login.ok) throw new Error("login failed");
    await rest.call("Me", {}, { authorization: `Bearer ${login.response.accessToken}`, "x-request-id": "ops-me-1" });
    const lines = readFileSync(app.logFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    const loginLine = lines.find((l) => l.requestId === "ops-login-1");
    expect(loginLine).toMatchObject({
      transport: "grpc",
      rpc: "Login",
      code: "OK",
      tenant: "default",
      userId: login.response.user.id,
      msg: "call ok",
    });
    expect(loginLine.latencyMs).toBeGreaterThan(0);
    expect(lines.find((l) => l.requestId === "ops-me-1")).toMatchObject({
      transport: "rest",
      rpc: "Me",
      code: "OK",
      userId: login.response.user.id,
    });
  });
});
