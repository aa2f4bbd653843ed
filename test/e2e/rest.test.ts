/**
 * The REST gateway and the OAuth token endpoint with plain fetch, the same failures giving the same
 * reason over REST, Connect and gRPC, and the OpenAPI document and API page.
 */
import { randomBytes } from "node:crypto";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthService } from "../../src/gen/auth/v1/auth_pb.js";
import { httpBindings } from "../../src/transport/rest/gateway.js";
import { startTestApp, type TestApp } from "../support/app.js";
import {
  type CallResult,
  createConnectClient,
  createGrpcClient,
  createRestClient,
  reasonFromStatusJson,
  type TestClient,
} from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";
import { createTestSmtp, type TestSmtp } from "../support/smtp.js";

const uniqueEmail = (tag: string) => `${tag}.${randomBytes(5).toString("hex")}@example.com`;

describe("the REST gateway", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  const url = (path: string) => `${app.baseUrl}${path}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url(path), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  beforeAll(async () => {
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "rest", env: { SMTP_URL: smtp.url, MAIL_PER_ADDRESS_PER_HOUR: "2" } });
  });
  afterAll(async () => {
    await app?.stop();
    await smtp?.stop();
  });

  async function registered() {
    const email = uniqueEmail("rest");
    const password = newPassword();
    const response = await post("/v1/auth/register", { email, password, full_name: "Snake Case" });
    expect(response.status).toBe(200);
    const { user } = (await response.json()) as { user: Record<string, unknown> };
    return { email, password, user };
  }

  it("accepts both field spellings in and answers lowerCamelCase with every field", async () => {
    const { email, password, user } = await registered();
    expect(user).toMatchObject({ email, fullName: "Snake Case", username: "", emailVerified: false, isActive: true, roles: ["user"] });
    const login = await post("/v1/auth/login", { identifier: email, password });
    const tokens = (await login.json()) as Record<string, any>;
    expect(Object.keys(tokens).sort()).toEqual([
      "accessToken",
      "expiresIn",
      "mfaEnrollmentRequired",
      "mfaRequired",
      "mfaTicket",
      "mfaTicketExpiresIn",
      "refreshExpiresIn",
      "refreshToken",
      "tokenType",
      "user",
    ]);
    expect(tokens).toMatchObject({ mfaRequired: false, mfaEnrollmentRequired: false, mfaTicket: "", mfaTicketExpiresIn: 0 });
    recordSecret(tokens.accessToken);
    const check = (await (await post("/v1/auth/validate-token", { token: "garbage" })).json()) as Record<string, unknown>;
    expect(check).toMatchObject({ active: false, reason: "INACTIVE_REASON_MALFORMED", userId: "", roles: [] });
    const refreshed = await post("/v1/auth/refresh", { refresh_token: tokens.refreshToken });
    expect(refreshed.status).toBe(200);
  });

  it("passes authorization and x-tenant through", async () => {
    const { email, password } = await registered();
    const { accessToken } = (await (await post("/v1/auth/login", { identifier: email, password })).json()) as { accessToken: string };
    const me = await fetch(url("/v1/auth/me"), { headers: { authorization: `Bearer ${accessToken}` } });
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(email);
    const unauthenticated = await fetch(url("/v1/auth/me"));
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get("www-authenticate")).toBe("Bearer");
    const otherTenant = await post(
      "/v1/auth/register",
      { email: uniqueEmail("t"), password: newPassword() },
      { "x-tenant": "no-such-tenant" },
    );
    expect(otherTenant.status).toBe(404);
    expect(reasonFromStatusJson(await otherTenant.json())).toBe("TENANT_NOT_FOUND");
  });

  it.each([
    ["an unknown route", () => fetch(url("/v1/auth/nope")), 404, 5],
    ["a wrong method", () => fetch(url("/v1/auth/login")), 405, 12],
    [
      "malformed JSON",
      () => fetch(url("/v1/auth/login"), { method: "POST", headers: { "content-type": "application/json" }, body: "{oops" }),
      400,
      3,
    ],
    [
      "a wrong content type",
      () => fetch(url("/v1/auth/login"), { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" }),
      400,
      3,
    ],
    ["a JSON array", () => post("/v1/auth/login", [1, 2]), 400, 3],
    ["a field of the wrong type", () => post("/v1/auth/login", { identifier: 5 }), 400, 3],
    ["a body over the limit", () => post("/v1/auth/login", { identifier: "x".repeat(300_000) }), 413, 3],
  ])("answers %s with HTTP %i and a google.rpc.Status body", async (_, request, status, code) => {
    const response = await request();
    expect(response.status).toBe(status);
    const body = (await response.json()) as { code: number; message: string };
    expect(body.code).toBe(code);
    expect(body.message).toBeTruthy();
    if (status === 405) expect(response.headers.get("allow")).toBe("POST");
  });

  describe("the same failure over every transport", () => {
    let clients: Record<string, TestClient>;
    beforeAll(() => {
      clients = { rest: createRestClient(app.baseUrl), connect: createConnectClient(app.baseUrl), grpc: createGrpcClient(app.grpcAddress) };
    });
    afterAll(() => clients.grpc?.close());

    const cases: [string, string, () => Promise<[string, object, Record<string, string>?]>][] = [
      [
        "a wrong password",
        "INVALID_CREDENTIALS",
        async () => ["Login", { identifier: (await registered()).email, password: newPassword() }],
      ],
      ["no bearer token", "TOKEN_MISSING", async () => ["Me", {}]],
      ["a weak password", "WEAK_PASSWORD", async () => ["Register", { email: uniqueEmail("weak"), password: "short" }]],
      ["a taken email", "EMAIL_TAKEN", async () => ["Register", { email: (await registered()).email, password: newPassword() }]],
      ["a malformed email", "INVALID_EMAIL", async () => ["Register", { email: "nope", password: newPassword() }]],
      ["a garbage refresh token", "TOKEN_INVALID", async () => ["Refresh", { refreshToken: "garbage" }]],
      ["a garbage mailed token", "TOKEN_INVALID", async () => ["VerifyEmail", { token: "garbage" }]],
      [
        "an unknown tenant",
        "TENANT_NOT_FOUND",
        async () => ["Register", { email: uniqueEmail("t"), password: newPassword() }, { "x-tenant": "nowhere" }],
      ],
      [
        "a malformed tenant",
        "INVALID_TENANT",
        async () => ["Login", { identifier: "a@example.com", password: "x" }, { "x-tenant": "Not A Slug!" }],
      ],
    ];

    it.each(cases)("%s gives %s everywhere, with the HTTP status of its code", async (_, reason, make) => {
      const [method, request, headers] = await make();
      const results: Record<string, CallResult> = {};
      for (const [name, client] of Object.entries(clients)) results[name] = await client.call(method, request, headers);
      const codes = new Set(Object.values(results).map((r) => (r.ok ? "OK" : r.code)));
      expect(codes.size).toBe(1);
      for (const result of Object.values(results)) expect(result).toMatchObject({ ok: false, reason });
      const code = Object.values(results)[0] as Extract<CallResult, { ok: false }>;
      const numeric = (await import("@grpc/grpc-js")).status[code.code as keyof typeof import("@grpc/grpc-js").status] as number;
      expect((results.rest as { httpStatus: number }).httpStatus).toBe(codeToHttpStatus(numeric));
      expect((results.connect as { httpStatus: number }).httpStatus).toBe(codeToHttpStatus(numeric));
    });

    it("a rate limit gives RATE_LIMITED and 429 everywhere", async () => {
      for (const client of Object.values(clients)) {
        const email = uniqueEmail("limit");
        await client.call("ResendVerification", { email });
        await client.call("ResendVerification", { email });
        const limited = await client.call("ResendVerification", { email });
        expect(limited).toMatchObject({ ok: false, code: "RESOURCE_EXHAUSTED", reason: "RATE_LIMITED" });
        if (client.transport !== "grpc") expect((limited as { httpStatus: number }).httpStatus).toBe(429);
      }
    });
  });

  describe("the OAuth 2.0 token endpoint", () => {
    const token = (form: Record<string, string>, contentType = "application/x-www-form-urlencoded") =>
      fetch(url("/v1/auth/token"), {
        method: "POST",
        headers: { "content-type": contentType },
        body: new URLSearchParams(form).toString(),
      });

    it("issues tokens for the password grant and rotates them for the refresh_token grant, uncached", async () => {
      const { email, password } = await registered();
      const response = await token({ grant_type: "password", username: email.toUpperCase(), password, scope: "ignored" });
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("pragma")).toBe("no-cache");
      const body = (await response.json()) as Record<string, any>;
      expect(body).toMatchObject({ token_type: "bearer", expires_in: 900 });
      recordSecret(body.access_token);
      recordSecret(body.refresh_token);
      const refreshed = (await (await token({ grant_type: "refresh_token", refresh_token: body.refresh_token })).json()) as Record<
        string,
        any
      >;
      expect(refreshed.refresh_token).not.toBe(body.refresh_token);
      expect(refreshed.token_type).toBe("bearer");
    });

    it.each([
      ["a wrong password", { grant_type: "password", username: "nobody@example.com", password: "whatever-it-is" }, 400, "invalid_grant"],
      ["a bad refresh token", { grant_type: "refresh_token", refresh_token: "nope" }, 400, "invalid_grant"],
      ["a missing parameter", { grant_type: "password", username: "a@example.com" }, 400, "invalid_request"],
      ["no grant type", { username: "a@example.com" }, 400, "invalid_request"],
      ["another grant type", { grant_type: "client_credentials" }, 400, "unsupported_grant_type"],
    ])("answers %s with RFC 6749 error %s", async (_, form, status, error) => {
      const response = await token(form);
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: string }).error).toBe(error);
    });

    it("refuses a grant for the account's state (no roles where required, a disabled tenant) as invalid_grant, never a 500", async () => {
      const password = newPassword();
      const passwordHash = await app.app.deps.passwords.hash(password);
      const cases: [string, { rolesRequired: boolean; disabled: boolean }, string][] = [
        ["NO_ROLES", { rolesRequired: true, disabled: false }, "no-roles"],
        ["TENANT_DISABLED", { rolesRequired: false, disabled: true }, "off"],
      ];
      for (const [reason, { rolesRequired, disabled }, prefix] of cases) {
        const tenant = `${prefix}-${randomBytes(3).toString("hex")}`;
        await app.app.deps.tenants.create({
          id: tenant,
          displayName: tenant,
          settings: { passwordMinLength: null, verifiedEmailRequired: null, rolesRequired, mfaRequired: false },
          createdAt: new Date(),
        });
        const email = uniqueEmail(prefix);
        await app.app.deps.users.create({ tenant, email, username: null, fullName: null, passwordHash, roles: [] });
        if (disabled) await app.app.deps.tenants.update(tenant, { isActive: false }, new Date());
        const response = await fetch(url("/v1/auth/token"), {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "x-tenant": tenant },
          body: new URLSearchParams({ grant_type: "password", username: email, password }).toString(),
        });
        expect(response.status, reason).toBe(400);
        expect(await response.json()).toMatchObject({ error: "invalid_grant", reason });
      }
    });

    it("wants a form body", async () => {
      const response = await token({ grant_type: "password" }, "application/json");
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe("invalid_request");
    });
  });

  describe("the OpenAPI document and the API page", () => {
    it("passes an OpenAPI 3.1 validator and lists every http rule, with security where a bearer token is needed", async () => {
      const document = (await (await fetch(url("/openapi.json"))).json()) as any;
      const result = await new Validator().validate(document);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
      expect(document.openapi).toBe("3.1.0");
      for (const binding of httpBindings([AuthService])) {
        const operation = document.paths[binding.template.openApiPath]?.[binding.verb.toLowerCase()];
        expect(operation, `${binding.verb} ${binding.template.template}`).toBeDefined();
      }
      expect(document.paths["/v1/auth/me"].get.security).toEqual([{ bearerAuth: [] }]);
      expect(document.paths["/v1/auth/login"].post.security).toBeUndefined();
      expect(document.paths["/v1/auth/token"].post).toBeDefined();
      expect(document.components.securitySchemes.bearerAuth).toEqual({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
      expect(document.components.schemas["google.rpc.Status"]).toBeDefined();
      expect(document.paths["/v1/auth/login"].post.description).toContain("An unknown user and a wrong password get the same error");
      expect(document.components.schemas["auth.v1.LoginRequest"].properties.identifier.description).toContain(
        "email address or the username",
      );
    });

    it("serves a readable API page whose assets all come from this server", async () => {
      const page = await fetch(url("/docs"));
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      const html = await page.text();
      expect(html).not.toMatch(/https?:\/\//);
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
      expect(assets).toEqual(expect.arrayContaining(["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/init.js"]));
      for (const asset of assets) {
        const response = await fetch(url(asset));
        expect(response.status, asset).toBe(200);
        expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
      }
      expect(await (await fetch(url("/docs/init.js"))).text()).toContain('url: "/openapi.json"');
    });
  });
});
