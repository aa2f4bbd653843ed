/**
 * The headers every answer carries, walked over every route family: each API answer (and so each
 * one that carries a token) says `Cache-Control: no-store` on every transport, native gRPC
 * included (as response metadata); every HTTP answer says `X-Content-Type-Options: nosniff`; the
 * well-known documents and the API page keep their own caching; the API page cannot be framed;
 * and a wrong password's 401 is never labelled an invalid token.
 */
import { randomBytes } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoginRequestSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword, recordSecret } from "../support/secrets.js";

const JSON_TYPE = { "content-type": "application/json" };
const FORM_TYPE = { "content-type": "application/x-www-form-urlencoded" };

describe("response headers on every route family", () => {
  let app: TestApp;
  let email: string;
  let password: string;

  beforeAll(async () => {
    app = await startTestApp({ name: "response-headers" });
    email = `headers.${randomBytes(5).toString("hex")}@example.com`;
    password = newPassword();
    const registered = await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ email, password }),
    });
    expect(registered.status).toBe(200);
  });
  afterAll(async () => {
    await app?.stop();
  });

  const loginProto = () => Buffer.from(toBinary(LoginRequestSchema, create(LoginRequestSchema, { identifier: email, password })));
  const grpcWebFrame = (message: Buffer) => {
    const header = Buffer.alloc(5);
    header.writeUInt32BE(message.length, 1);
    return Buffer.concat([header, message]);
  };

  /** Each family's login, answering tokens: [family, path, headers, body]. */
  const logins: [string, string, Record<string, string>, () => string | Buffer][] = [
    ["gateway", "/v1/auth/login", JSON_TYPE, () => JSON.stringify({ identifier: email, password })],
    ["Connect JSON", "/auth.v1.AuthService/Login", JSON_TYPE, () => JSON.stringify({ identifier: email, password })],
    ["Connect binary", "/auth.v1.AuthService/Login", { "content-type": "application/proto" }, loginProto],
    [
      "gRPC-Web",
      "/auth.v1.AuthService/Login",
      { "content-type": "application/grpc-web+proto", "x-grpc-web": "1" },
      () => grpcWebFrame(loginProto()),
    ],
    [
      "OAuth token endpoint",
      "/v1/auth/token",
      FORM_TYPE,
      () => new URLSearchParams({ grant_type: "password", username: email, password }).toString(),
    ],
    ["vidaplus", "/auth/token", FORM_TYPE, () => new URLSearchParams({ username: email, password }).toString()],
    ["vigia", "/api/v1/auth/login", FORM_TYPE, () => new URLSearchParams({ username: email, password }).toString()],
    ["solicitud", "/auth/login", JSON_TYPE, () => JSON.stringify({ username: email, password })],
    ["ucontact", "/api/auth/login", FORM_TYPE, () => new URLSearchParams({ username: email, password }).toString()],
  ];

  it.each(logins)("%s: a login answer, which carries a token, is no-store and nosniff", async (_family, path, headers, body) => {
    const response = await fetch(`${app.baseUrl}${path}`, { method: "POST", headers, body: body() });
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(response.status).toBe(200);
    // The answer does carry a token (a JWT's first part), whatever its encoding.
    expect(bytes.toString("latin1")).toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    for (const token of bytes.toString("latin1").match(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g) ?? []) recordSecret(token);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("native gRPC: the answer's metadata says no-store too (harmless there; it keeps a transcoding proxy from caching)", async () => {
    const client = new grpc.Client(app.grpcAddress, grpc.credentials.createInsecure());
    try {
      const metadata = await new Promise<grpc.Metadata>((resolve, reject) => {
        const call = client.makeUnaryRequest(
          "/auth.v1.AuthService/Login",
          (value: Buffer) => value,
          (bytes: Buffer) => bytes,
          loginProto(),
          (error) => error && reject(error),
        );
        call.on("metadata", resolve);
      });
      expect(metadata.get("cache-control")).toEqual(["no-store"]);
    } finally {
      client.close();
    }
  });

  it("a failed call is no-store too, and a wrong password's 401 is not an invalid token", async () => {
    for (const path of ["/v1/auth/login", "/auth.v1.AuthService/Login"]) {
      const response = await fetch(`${app.baseUrl}${path}`, {
        method: "POST",
        headers: JSON_TYPE,
        body: JSON.stringify({ identifier: email, password: "wrong" }),
      });
      expect(response.status).toBe(401);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("www-authenticate")).toBe("Bearer");
    }
  });

  it.each([
    ["health", "/healthz", "no-store"],
    ["readiness", "/readyz", "no-store"],
    ["JWKS", "/.well-known/jwks.json", "public, max-age=300"],
    ["discovery", "/.well-known/openid-configuration", "public, max-age=300"],
    ["OpenAPI", "/openapi.json", "no-cache"],
    ["an unknown path", "/nope", "no-store"],
  ])("%s is nosniff and keeps its own caching", async (_name, path, cacheControl) => {
    const response = await fetch(`${app.baseUrl}${path}`);
    await response.arrayBuffer();
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("cache-control")).toBe(cacheControl);
  });

  it("the API page and its assets cannot be framed, and its policy allows no inline script", async () => {
    for (const path of ["/docs", "/docs/init.js", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"]) {
      const response = await fetch(`${app.baseUrl}${path}`);
      await response.arrayBuffer();
      expect(response.status, path).toBe(200);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    }
  });
});
