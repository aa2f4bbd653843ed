/**
 * The HTTP port beyond the happy path: health endpoints, unknown routes, malformed and oversized
 * bodies (always INVALID_ARGUMENT with a reason, never INTERNAL), gRPC-Web and Connect binary
 * through connect-node's own clients, and request ids.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService, InactiveReason } from "../../src/gen/auth/v1/auth_pb.js";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, reasonFromConnectJson } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";
import { type RedisServer, startRedis } from "../support/servers.js";

describe("the HTTP port", () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ name: "http" });
  });
  afterAll(async () => {
    await app?.stop();
  });

  const post = (method: string, body: string | Buffer, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${app.baseUrl}/auth.v1.AuthService/${method}`, { method: "POST", headers, body });

  it("answers /healthz and /readyz", async () => {
    const health = await fetch(`${app.baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${app.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok", checks: { postgres: "ok", redis: "ok" } });
  });

  it.each([
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/openapi.json",
    "/docs",
    "/docs/init.js",
    "/docs/swagger-ui.css",
  ])("answers %s to GET and HEAD only, any other method with a 405 naming them", async (path) => {
    expect((await fetch(`${app.baseUrl}${path}`)).status).toBe(200);
    const head = await fetch(`${app.baseUrl}${path}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const response = await fetch(`${app.baseUrl}${path}`, { method, headers: { "content-type": "application/json" }, body: "{}" });
      expect([method, response.status, response.headers.get("allow")]).toEqual([method, 405, "GET, HEAD"]);
      expect(await response.json()).toMatchObject({ code: 12, message: `Method ${method} is not allowed on ${path}.` });
    }
  });

  it("answers an unknown route with a JSON 404", async () => {
    const response = await fetch(`${app.baseUrl}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 5, message: "No route for GET /nope." });
  });

  it("answers a non-JSON body with INVALID_ARGUMENT and a reason", async () => {
    const response = await post("Login", "this is not json");
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("not valid JSON");
    expect(reasonFromConnectJson(body)).toBe("INVALID_REQUEST");
  });

  it("answers a field of the wrong type with INVALID_ARGUMENT naming the message", async () => {
    const response = await post("Register", JSON.stringify({ email: 5, password: ["x"] }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("auth.v1.RegisterRequest");
    expect(reasonFromConnectJson(body)).toBe("INVALID_REQUEST");
  });

  it("answers an oversized body with INVALID_ARGUMENT before reading it", async () => {
    const big = JSON.stringify({ identifier: "a@example.com", password: "p".repeat(app.config.maxRequestBytes) });
    const response = await post("Login", big);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(reasonFromConnectJson(body)).toBe("REQUEST_TOO_LARGE");
  });

  it("answers an oversized chunked body (no Content-Length) the same way", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port: app.httpPort,
          method: "POST",
          path: "/auth.v1.AuthService/Login",
          headers: { "content-type": "application/json" },
        },
        (res) => {
          let text = "";
          res.on("data", (chunk) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on("error", reject);
      const chunk = "x".repeat(16_384);
      const write = (left: number): void => {
        if (left <= 0) {
          req.end();
          return;
        }
        if (req.write(chunk)) write(left - chunk.length);
        else req.once("drain", () => write(left - chunk.length));
      };
      write(app.config.maxRequestBytes * 2);
    }).catch((error) => ({ status: -1, body: String(error) }));
    expect(status).toBe(400);
    expect(reasonFromConnectJson(JSON.parse(body))).toBe("REQUEST_TOO_LARGE");
  });

  it("answers an oversized message over gRPC with INVALID_ARGUMENT", async () => {
    const client = createGrpcClient(app.grpcAddress);
    try {
      const result = await client.call("Login", { identifier: "a@example.com", password: "p".repeat(app.config.maxRequestBytes) });
      expect(result).toMatchObject({ ok: false, code: "INVALID_ARGUMENT", reason: "REQUEST_TOO_LARGE" });
    } finally {
      client.close();
    }
  });

  it("echoes a sane x-request-id and makes one up otherwise", async () => {
    const given = await post("ValidateToken", JSON.stringify({ token: "x" }), {
      "content-type": "application/json",
      "x-request-id": "req-123",
    });
    expect(given.headers.get("x-request-id")).toBe("req-123");
    const made = await post("ValidateToken", JSON.stringify({ token: "x" }), {
      "content-type": "application/json",
      "x-request-id": "bad id with spaces",
    });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe.each([
    ["gRPC-Web", () => createGrpcWebTransport({ baseUrl: app.baseUrl, httpVersion: "1.1" })],
    ["Connect binary", () => createConnectTransport({ baseUrl: app.baseUrl, httpVersion: "1.1", useBinaryFormat: true })],
  ])("with connect-node's %s client", (_, transport) => {
    let client: Client<typeof AuthService>;
    beforeAll(() => {
      client = createClient(AuthService, transport());
    });

    it("registers, logs in and validates", async () => {
      const email = `web.${randomBytes(4).toString("hex")}@example.com`;
      const password = newPassword();
      await client.register({ email, password });
      const login = await client.login({ identifier: email, password });
      const check = await client.validateToken({ token: login.accessToken });
      expect(check.active).toBe(true);
      expect(check.email).toBe(email);
      const bad = await client.validateToken({ token: `${login.accessToken}x` });
      expect(bad.reason).toBe(InactiveReason.BAD_SIGNATURE);
    });

    it("receives the reason as an ErrorInfo detail", async () => {
      const error = await client.me({}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      const [info] = (error as ConnectError).findDetails(ErrorInfoSchema);
      expect(info?.reason).toBe("TOKEN_MISSING");
      expect(info?.domain).toBe("auth.v1");
    });
  });
});

describe("a flood of /readyz", () => {
  // A Redis of its own, so that its PING count is this app's readiness probes and nothing else's.
  let redis: RedisServer;
  let app: TestApp;
  let observer: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    // One pool connection, and no health timer probing during the test.
    app = await startTestApp({
      name: "readyz-flood",
      redisUrl: redis.url,
      env: { DATABASE_POOL_MAX: "1", HEALTH_CHECK_INTERVAL: "10m" },
    });
    observer = new Redis(redis.url, { lazyConnect: true });
    await observer.connect();
  });
  afterAll(async () => {
    observer?.disconnect();
    await app?.stop();
    await redis?.stop();
  });

  const pings = async () => Number(/cmdstat_ping:calls=(\d+)/.exec(await observer.info("commandstats"))?.[1] ?? 0);

  it("shares one store probe among concurrent callers instead of queueing one per request on the pool", async () => {
    const before = await pings();
    // Hold the only pool connection, so that the probes' `select 1` wait while the requests arrive
    // (well under the probe's 1 s timeout).
    let release = () => {};
    const held = app.app.db.connection().execute(() => new Promise<void>((resolve) => (release = resolve)));
    const answers = Promise.all(
      Array.from({ length: 40 }, async () => {
        const response = await fetch(`${app.baseUrl}/readyz`);
        return { status: response.status, body: await response.json() };
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    release();
    await held;
    for (const answer of await answers) {
      expect(answer).toEqual({ status: 200, body: { status: "ok", checks: { postgres: "ok", redis: "ok" } } });
    }
    // One probe for the requests that arrived while the connection was held; one more for any that
    // arrived after it finished. Before, every request ran its own: 40.
    expect((await pings()) - before).toBeLessThanOrEqual(3);
  });
});
