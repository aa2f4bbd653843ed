/**
 * Lookalike identities (issue 11, item 3), over every transport on a real server, PostgreSQL,
 * Redis and SMTP: an address written with the Kelvin sign, fullwidth letters or a Cyrillic 'а'
 * is the owner's, in either order of registration, and a NUL in any identifier is a clear
 * INVALID_ARGUMENT (400; 422 on the FastAPI-style seed routes), never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTenant } from "../../src/infra/postgres/database.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient, transports } from "../support/clients.js";
import { recordSecret } from "../support/secrets.js";
import { createTestSmtp, linkIn, type TestSmtp } from "../support/smtp.js";

const password = "correct horse battery staple";
const otherPassword = "another long passphrase";
const nul = "\u0000";

describe("lookalike identities", () => {
  let app: TestApp;
  let smtp: TestSmtp;
  let grpc: TestClient;
  let adminToken: string;
  let tenantCount = 0;

  /** A tenant of its own for each scenario, so that they do not see each other's users. */
  async function freshTenant(): Promise<Record<string, string>> {
    const tenant = `ident-${++tenantCount}`;
    await ensureTenant(app.app.db, tenant, tenant);
    return { "x-tenant": tenant };
  }

  beforeAll(async () => {
    for (const secret of [password, otherPassword]) recordSecret(secret);
    smtp = await createTestSmtp();
    app = await startTestApp({ name: "identifiers", env: { SMTP_URL: smtp.url } });
    grpc = createGrpcClient(app.grpcAddress);
    const admin = ok(await grpc.call("Register", { email: "root@example.com", password }));
    await app.app.db.insertInto("user_roles").values({ user_id: admin.user.id, tenant_id: "default", role_name: "admin" }).execute();
    adminToken = ok(await grpc.call("Login", { identifier: "root@example.com", password })).accessToken;
  });
  afterAll(async () => {
    grpc?.close();
    await app?.stop();
    await smtp?.stop();
  });

  describe.each(transports)("over $name", ({ connect }) => {
    let client: TestClient;
    beforeAll(() => {
      client = connect(app);
    });
    afterAll(() => client.close());

    it("answers EMAIL_TAKEN to a Kelvin-sign, fullwidth or Cyrillic twin registered after the owner", async () => {
      const tenant = await freshTenant();
      ok(await client.call("Register", { email: "kate@example.com", username: "kate", password }, tenant));
      for (const email of ["\u212Aate@example.com", "ｋａｔｅ@example.com", "k\u0430te@example.com", "KATE@EXAMPLE.COM"]) {
        expect(failed(await client.call("Register", { email, password }, tenant)), email).toMatchObject({
          code: "ALREADY_EXISTS",
          reason: "EMAIL_TAKEN",
        });
      }
      for (const username of ["ＫＡＴＥ", "\u212Aate", "KATE"]) {
        expect(failed(await client.call("Register", { email: "x@example.com", username, password }, tenant)), username).toMatchObject({
          reason: "USERNAME_TAKEN",
        });
      }
      // Still one account in the tenant.
      const rows = await app.app.db.selectFrom("users").select("email").where("tenant_id", "=", tenant["x-tenant"]!).execute();
      expect(rows).toEqual([{ email: "kate@example.com" }]);
    });

    it("refuses zero-width, bidi and mixed-script identifiers with INVALID_EMAIL or INVALID_USERNAME", async () => {
      const tenant = await freshTenant();
      for (const email of ["ka\u200Bte@example.com", "\u202Eetak@example.com", "kate\u2060@example.com"]) {
        expect(failed(await client.call("Register", { email, password }, tenant))).toMatchObject({
          code: "INVALID_ARGUMENT",
          reason: "INVALID_EMAIL",
        });
      }
      for (const username of ["ka\u200Bte", "\u202Ekate", "k\u0430te"]) {
        expect(failed(await client.call("Register", { email: "kate@example.com", username, password }, tenant))).toMatchObject({
          code: "INVALID_ARGUMENT",
          reason: "INVALID_USERNAME",
        });
      }
    });

    it("signs the owner in by any form of her address or name, and a lookalike not at all", async () => {
      const tenant = await freshTenant();
      const owner = ok(await client.call("Register", { email: "ada@example.com", username: "ada", password }, tenant));
      for (const identifier of ["Ada@EXAMPLE.COM", "ＡＤＡ＠ＥＸＡＭＰＬＥ.com", "ＡＤＡ", "Ada"]) {
        expect(ok(await client.call("Login", { identifier, password }, tenant)).user.id, identifier).toBe(owner.user.id);
      }
      expect(failed(await client.call("Login", { identifier: "\u0430da@example.com", password }, tenant)).reason).toBe(
        "INVALID_CREDENTIALS",
      );
    });

    it("makes the Unicode and punycode forms of an IDN domain one address", async () => {
      const tenant = await freshTenant();
      ok(await client.call("Register", { email: "user@münchen.de", password }, tenant));
      expect(failed(await client.call("Register", { email: "user@xn--mnchen-3ya.de", password }, tenant)).reason).toBe("EMAIL_TAKEN");
      expect(ok(await client.call("Login", { identifier: "USER@XN--MNCHEN-3YA.DE", password }, tenant)).user.email).toBe("user@münchen.de");
    });

    it("answers INVALID_ARGUMENT, never INTERNAL, to a NUL in any identifier of any RPC", async () => {
      const tenant = await freshTenant();
      const cases: [string, Record<string, string>, Record<string, string>, string][] = [
        ["Register", { email: `kate${nul}@example.com`, password }, tenant, "INVALID_EMAIL"],
        ["Register", { email: "kate@example.com", username: `kate${nul}`, password }, tenant, "INVALID_USERNAME"],
        ["Register", { email: "kate@example.com", fullName: `Kate${nul}`, password }, tenant, "INVALID_REQUEST"],
        ["Login", { identifier: `kate${nul}@example.com`, password }, tenant, "INVALID_EMAIL"],
        ["Login", { identifier: `kate${nul}`, password }, tenant, "INVALID_USERNAME"],
        ["ResendVerification", { email: `kate${nul}@example.com` }, tenant, "INVALID_EMAIL"],
        ["RequestPasswordReset", { email: `kate${nul}@example.com` }, tenant, "INVALID_EMAIL"],
        ["ResetPassword", { email: `kate${nul}@example.com`, newPassword: otherPassword }, bearer(adminToken), "INVALID_EMAIL"],
      ];
      for (const [method, request, headers, reason] of cases) {
        const result = failed(await client.call(method, request, headers));
        expect({ method, code: result.code, reason: result.reason }).toEqual({ method, code: "INVALID_ARGUMENT", reason });
        if (result.httpStatus !== undefined) expect(result.httpStatus).toBe(400);
      }
    });

    it("never answers INTERNAL to a NUL in a token or session id", async () => {
      for (const [method, request] of [
        ["VerifyEmail", { token: `abc${nul}def` }],
        ["Refresh", { refreshToken: `abc${nul}.def` }],
        ["ResetPassword", { token: `abc${nul}`, newPassword: otherPassword }],
        ["ValidateToken", { token: `abc${nul}` }],
      ] as const) {
        const result = await client.call(method, request);
        if (!result.ok) expect([method, result.code]).not.toEqual([method, "INTERNAL"]);
      }
    });
  });

  it("keeps the owner safe when the squatter registered first: mail goes to the plain address, and a reset hands her the account", async () => {
    const tenant = await freshTenant();
    const squatter = ok(await grpc.call("Register", { email: "\u212Aim@example.com", password }, tenant));
    // Shown, put in tokens and mailed as a plain K: the squatter's characters are not kept.
    expect(squatter.user.email).toBe("Kim@example.com");
    const verification = await smtp.waitFor("kim@example.com", /verify|confirm/i);
    expect((verification.to as { value: { address: string }[] }).value[0]!.address).toBe("Kim@example.com");
    const squatterSession = ok(await grpc.call("Login", { identifier: "\u212Aim@example.com", password }, tenant));

    // The owner cannot make a second account for her address...
    expect(failed(await grpc.call("Register", { email: "kim@example.com", password: otherPassword }, tenant)).reason).toBe("EMAIL_TAKEN");
    // ...but the reset mail for it reaches her mailbox, not the squatter's spelling of it.
    ok(await grpc.call("RequestPasswordReset", { email: "kim@example.com" }, tenant));
    const reset = await smtp.waitFor("kim@example.com", /reset/i);
    expect((reset.to as { value: { address: string }[] }).value[0]!.address).toBe("Kim@example.com");
    const token = linkIn(reset).searchParams.get("token")!;
    recordSecret(token);
    ok(await grpc.call("ResetPassword", { token, newPassword: otherPassword }, tenant));

    // The account is hers: her password works, the squatter's does not, his session is over.
    expect(ok(await grpc.call("Login", { identifier: "kim@example.com", password: otherPassword }, tenant)).user.id).toBe(squatter.user.id);
    expect(failed(await grpc.call("Login", { identifier: "\u212Aim@example.com", password }, tenant)).reason).toBe("INVALID_CREDENTIALS");
    expect(failed(await grpc.call("Me", {}, { ...tenant, ...bearer(squatterSession.accessToken) })).code).toBe("UNAUTHENTICATED");
  });

  it("keeps the owner safe when she registered first: the squatter gets EMAIL_TAKEN and her mail stays hers", async () => {
    const tenant = await freshTenant();
    const owner = ok(await grpc.call("Register", { email: "lee@example.com", password }, tenant));
    await smtp.waitFor("lee@example.com", /verify|confirm/i);
    expect(failed(await grpc.call("Register", { email: "ｌｅｅ@example.com", password: otherPassword }, tenant)).reason).toBe(
      "EMAIL_TAKEN",
    );
    // A reset asked for with the squatter's spelling goes to the owner's own address.
    ok(await grpc.call("RequestPasswordReset", { email: "ＬＥＥ@example.com" }, tenant));
    const reset = await smtp.waitFor("lee@example.com", /reset/i);
    expect((reset.to as { value: { address: string }[] }).value[0]!.address).toBe("lee@example.com");
    expect(ok(await grpc.call("Login", { identifier: "lee@example.com", password }, tenant)).user.id).toBe(owner.user.id);
  });

  describe("the HTTP routes outside the proto", () => {
    const post = async (path: string, body: string, headers: Record<string, string>) => {
      const response = await fetch(`${app.baseUrl}${path}`, { method: "POST", headers, body });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const formHeaders = { "content-type": "application/x-www-form-urlencoded" };
    const jsonHeaders = { "content-type": "application/json" };

    it.each([
      [
        "OAuth token endpoint",
        "/v1/auth/token",
        () => form({ grant_type: "password", username: `kate${nul}`, password }),
        formHeaders,
        400,
      ],
      ["VidaPlus token", "/auth/token", () => form({ username: `kate${nul}@example.com`, password }), formHeaders, 422],
      ["Vigia login", "/api/v1/auth/login", () => form({ username: `kate${nul}`, password }), formHeaders, 422],
      [
        "Vigia admin reset",
        "/api/v1/auth/reset-password",
        () => JSON.stringify({ email: `kate${nul}@example.com`, new_password: otherPassword }),
        () => ({ ...jsonHeaders, ...bearer(adminToken), "x-tenant": "default" }),
        422,
      ],
      ["Solicitud login", "/auth/login", () => JSON.stringify({ username: `kate${nul}`, password }), jsonHeaders, 422],
      [
        "UContact register (email)",
        "/api/auth/register",
        () => JSON.stringify({ email: `kate${nul}@example.com`, password }),
        jsonHeaders,
        422,
      ],
      [
        "UContact register (username)",
        "/api/auth/register",
        () => JSON.stringify({ email: "kate@example.com", username: `kate${nul}`, password }),
        jsonHeaders,
        422,
      ],
      ["UContact login", "/api/auth/login", () => form({ username: `kate${nul}`, password }), formHeaders, 422],
    ] as const)(
      "%s answers a NUL in the identifier with a 4xx naming the field, never a 500",
      async (_name, path, body, headers, status) => {
        const answer = await post(path, body(), typeof headers === "function" ? headers() : headers);
        expect(answer.status).toBe(status);
        expect(answer.body.reason).toMatch(/^INVALID_(EMAIL|USERNAME)$/);
      },
    );
  });
});
