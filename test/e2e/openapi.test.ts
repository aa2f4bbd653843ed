/**
 * The OpenAPI document beyond the gateway: its server is relative (so /docs' "Try it out" works by
 * any host name, and no Host header reaches the document), and the seed-compatible routes are in
 * it, one tag per old API, with request and answer shapes that the real answers match: each seed
 * route is called (success and failure) and its JSON checked against the schema the document
 * gives for that status, so a route whose shape changes without its declaration fails here.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SEEDS } from "../../src/config.js";
import type { Flows } from "../../src/domain/flows.js";
import { compatRoutes } from "../../src/transport/rest/compat/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, ok } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

type Operation = {
  tags: string[];
  operationId: string;
  security?: unknown;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content: { "application/json": { schema: object } } }>;
};

/** The seed routes as declared (building them calls no flow). */
const declared = compatRoutes(SEEDS, { flows: {} as Flows, maxRequestBytes: 1024 });

describe("the OpenAPI document's server and seed routes", () => {
  let app: TestApp;
  let document: {
    servers: { url: string }[];
    tags: { name: string; description: string }[];
    paths: Record<string, Record<string, Operation>>;
  };
  const ajv = addFormats.default(new Ajv2020.default({ allErrors: true, strict: true }));
  const email = `openapi.${randomBytes(4).toString("hex")}@example.com`;
  const username = `openapi_${randomBytes(3).toString("hex")}`;
  const password = newPassword();
  const checked = new Set<string>();

  const url = (path: string) => `${app.baseUrl}${path}`;
  /** Calls a route and checks its JSON answer against the document's schema for its status. */
  const call = async (
    method: string,
    path: string,
    init: { form?: Record<string, string>; json?: object; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...init.headers };
    let body: string | undefined;
    if (init.form !== undefined) body = new URLSearchParams(init.form).toString();
    if (init.form !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    if (init.json !== undefined) body = JSON.stringify(init.json);
    if (init.json !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(url(path), { method, headers, body });
    const answer = (await response.json()) as any;
    const template = declared.find((r) => r.method === method && r.match(path) !== undefined)?.path;
    expect(template, `${method} ${path} is a seed route`).toBeDefined();
    const operation = document.paths[template!]?.[method.toLowerCase()];
    expect(operation, `${method} ${template} is documented`).toBeDefined();
    const documented = operation!.responses[String(response.status)] ?? operation!.responses.default;
    const validate = ajv.compile(documented!.content["application/json"].schema);
    if (!validate(answer)) {
      throw new Error(
        `${method} ${path} answered ${response.status} ${JSON.stringify(answer)}, unlike its document: ${ajv.errorsText(validate.errors)}`,
      );
    }
    checked.add(`${method} ${template} ${response.status < 300 ? "ok" : "error"}`);
    return { status: response.status, answer: answer as Record<string, any> };
  };

  beforeAll(async () => {
    app = await startTestApp({ name: "openapi" });
    document = (await (await fetch(url("/openapi.json"))).json()) as typeof document;
    const grpc = createGrpcClient(app.grpcAddress);
    ok(await grpc.call("Register", { email, username, password }));
    grpc.close();
  }, 60_000);
  afterAll(async () => {
    await app?.stop();
  });

  it("passes an OpenAPI 3.1 validator, with a relative server that no Host header changes", async () => {
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.servers).toEqual([{ url: "/" }]);
    const text = await (await fetch(url("/openapi.json"))).text();
    // The same bytes whatever name the client used; no trace of a hostile Host.
    const { request } = await import("node:http");
    const viaOtherHost = await new Promise<string>((resolve, reject) => {
      const req = request(url("/openapi.json"), { headers: { host: "evil.example:666", "x-forwarded-host": "evil.example" } }, (res) => {
        let data = "";
        res.on("data", (chunk: Buffer) => (data += chunk.toString()));
        res.on("end", () => resolve(data));
      });
      req.on("error", reject);
      req.end();
    });
    expect(viaOtherHost).toBe(text);
    expect(text).not.toContain("evil.example");
    expect(text).not.toContain("127.0.0.1");
  });

  it("lists every seed route under its API's own tag", () => {
    const tags = new Map(document.tags.map((tag) => [tag.name, tag.description]));
    expect(tags.size).toBe(SEEDS.length);
    for (const route of declared) {
      const operation = document.paths[route.path!]?.[route.method.toLowerCase()];
      expect(operation, `${route.method} ${route.path}`).toBeDefined();
      expect(operation!.tags).toEqual([route.openApi!.tag.name]);
      expect(tags.get(route.openApi!.tag.name)).toBe(route.openApi!.tag.description);
      expect(operation!.operationId).toBe(route.name.replaceAll(".", "_"));
    }
    expect(document.paths["/api/v1/auth/me"]!.get!.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(document.paths["/auth/token"]!.post!.requestBody!.content)).toEqual(["application/x-www-form-urlencoded"]);
    // A path variable is a parameter.
    expect(document.paths["/api/auth/confirmed_email/{token}"]!.get).toMatchObject({
      parameters: [{ name: "token", in: "path", required: true }],
    });
  });

  it("documents the answers the seed routes really give, success and failure", async () => {
    const wrong = newPassword("wrong");
    // VidaPlus (000)
    const vidaplus = await call("POST", "/auth/token", { form: { username: email, password } });
    expect(vidaplus.status).toBe(200);
    recordSecret(vidaplus.answer.access_token);
    expect((await call("POST", "/auth/token", { form: { username: email, password: wrong } })).status).toBe(401);
    expect((await call("POST", "/auth/token", { form: { username: email } })).status).toBe(422);
    const bearer = { authorization: `Bearer ${vidaplus.answer.access_token}` };
    expect((await call("POST", "/auth/refresh_token", { headers: bearer })).status).toBe(200);
    expect((await call("POST", "/auth/refresh_token")).status).toBe(401);

    // Vigia (001)
    const vigia = await call("POST", "/api/v1/auth/login", { form: { username, password, grant_type: "password" } });
    expect(vigia.status).toBe(200);
    const vigiaBearer = { authorization: `Bearer ${recordSecret(vigia.answer.access_token as string)}` };
    expect((await call("POST", "/api/v1/auth/login", { form: { username, password: wrong } })).status).toBe(401);
    expect((await call("GET", "/api/v1/auth/me", { headers: vigiaBearer })).status).toBe(200);
    expect((await call("GET", "/api/v1/auth/me")).status).toBe(401);
    expect((await call("GET", "/api/v1/auth/whoami", { headers: vigiaBearer })).status).toBe(200);
    expect(
      (
        await call("POST", "/api/v1/auth/reset-password", {
          headers: { ...vigiaBearer, "x-tenant": "default" },
          json: { email, new_password: newPassword() },
        })
      ).status,
    ).toBe(403);

    // Solicitud Transporte (002)
    const solicitud = await call("POST", "/auth/login", { json: { username: email, password } });
    expect(solicitud.status).toBe(200);
    recordSecret(solicitud.answer.datos.accessToken);
    const refreshToken = recordSecret(solicitud.answer.datos.refreshToken as string);
    expect((await call("POST", "/auth/login", { json: { username: email, password: wrong } })).status).toBe(422);
    expect((await call("POST", "/auth/refresh", { json: { refreshToken } })).status).toBe(200);
    expect((await call("POST", "/auth/refresh", { json: { refreshToken: "nope" } })).status).toBe(401);
    expect((await call("POST", "/auth/mfa/verify", { json: { mfaTicket: "nope", code: "123456" } })).status).toBeGreaterThanOrEqual(400);

    // UContact (003)
    const other = `ucontact.${randomBytes(4).toString("hex")}@example.com`;
    const otherPassword = newPassword();
    expect((await call("POST", "/api/auth/register", { json: { email: other, password: otherPassword } })).status).toBe(201);
    expect((await call("POST", "/api/auth/register", { json: { email: other, password: otherPassword } })).status).toBe(409);
    const ucontact = await call("POST", "/api/auth/login", { form: { username: other, password: otherPassword } });
    expect(ucontact.status).toBe(200);
    recordSecret(ucontact.answer.access_token);
    const ucontactRefresh = recordSecret(ucontact.answer.refresh_token as string);
    expect((await call("POST", "/api/auth/login", { form: { username: other, password: wrong } })).status).toBe(401);
    expect((await call("POST", "/api/auth/refresh-token", { json: { refresh_token: ucontactRefresh } })).status).toBe(200);
    expect((await call("POST", "/api/auth/refresh-token", { json: {} })).status).toBe(422);
    await app.app.drainBackground();
    const mailed = readdirSync(app.config.mailOutboxDir)
      .map((file) => readFileSync(join(app.config.mailOutboxDir, file), "utf8"))
      .find((mail) => mail.includes(`To: ${other}`));
    const mailToken = /(?:token=|confirmed_email\/)([A-Za-z0-9_-]+)/.exec(mailed ?? "")?.[1];
    expect(mailToken).toBeDefined();
    recordSecret(mailToken!);
    expect((await call("GET", `/api/auth/confirmed_email/${mailToken}`)).status).toBe(200);
    expect((await call("GET", "/api/auth/confirmed_email/not-a-token")).status).toBeGreaterThanOrEqual(400);
    // The page's button: the link again (already confirmed), and a bad one.
    expect((await call("POST", `/api/auth/confirmed_email/${mailToken}`)).status).toBe(200);
    expect((await call("POST", "/api/auth/confirmed_email/not-a-token")).status).toBeGreaterThanOrEqual(400);

    // Vigia's changes of password last: they end the sessions used above.
    const admin = `admin.${randomBytes(4).toString("hex")}@example.com`;
    const adminPassword = newPassword();
    const grpc = createGrpcClient(app.grpcAddress);
    const created = ok(await grpc.call("Register", { email: admin, password: adminPassword }));
    grpc.close();
    await app.app.db.insertInto("user_roles").values({ user_id: created.user.id, tenant_id: "default", role_name: "admin" }).execute();
    const adminLogin = await call("POST", "/api/v1/auth/login", { form: { username: admin, password: adminPassword } });
    const adminBearer = { authorization: `Bearer ${recordSecret(adminLogin.answer.access_token as string)}` };
    const reset = await call("POST", "/api/v1/auth/reset-password", {
      headers: { ...adminBearer, "x-tenant": "default" },
      json: { email: other, new_password: newPassword() },
    });
    expect(reset.status).toBe(200);
    const changed = newPassword();
    expect(
      (
        await call("POST", "/api/v1/auth/change-password", {
          headers: vigiaBearer,
          json: { current_password: wrong, new_password: changed },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await call("POST", "/api/v1/auth/change-password", {
          headers: vigiaBearer,
          json: { current_password: password, new_password: changed },
        })
      ).status,
    ).toBe(200);

    // Every documented seed route answered as documented, on success and on failure (the MFA step's
    // success needs an enrolled authenticator: test/e2e/mfa.test.ts signs in through it).
    const successElsewhere = new Set(["POST /auth/mfa/verify"]);
    for (const route of declared) {
      if (!successElsewhere.has(`${route.method} ${route.path}`)) {
        expect(checked.has(`${route.method} ${route.path} ok`), `${route.method} ${route.path} succeeded`).toBe(true);
      }
      if (route.path !== "/api/v1/auth/whoami")
        expect(checked.has(`${route.method} ${route.path} error`), `${route.method} ${route.path} failed`).toBe(true);
    }
  });
});
