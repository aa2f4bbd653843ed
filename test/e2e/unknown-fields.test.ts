/**
 * A JSON body with a field this version does not know (a newer client, a typo) is read the same
 * way by every JSON route family: the field is ignored, as the protobuf JSON mapping allows and as
 * our own up-front check does, so Connect JSON and gRPC-Web JSON answer what REST answers.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { newPassword } from "../support/secrets.js";

const JSON_TYPE = { "content-type": "application/json" };

describe("unknown JSON fields", () => {
  let app: TestApp;
  let email: string;
  let password: string;

  beforeAll(async () => {
    app = await startTestApp({ name: "unknown-fields" });
    email = `unknown.${randomBytes(5).toString("hex")}@example.com`;
    password = newPassword();
    const registered = await fetch(`${app.baseUrl}/v1/auth/register`, {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ email, password, someFutureField: { nested: [1, 2] } }),
    });
    expect(registered.status).toBe(200);
  });
  afterAll(async () => {
    await app?.stop();
  });

  it("are ignored by Connect JSON, as by REST", async () => {
    const body = JSON.stringify({ identifier: email, password, someFutureField: true });
    const connect = await fetch(`${app.baseUrl}/auth.v1.AuthService/Login`, { method: "POST", headers: JSON_TYPE, body });
    expect(connect.status).toBe(200);
    expect(((await connect.json()) as { accessToken?: string }).accessToken).toEqual(expect.any(String));
    const rest = await fetch(`${app.baseUrl}/v1/auth/login`, { method: "POST", headers: JSON_TYPE, body });
    expect(rest.status).toBe(200);
    const validate = await fetch(`${app.baseUrl}/auth.v1.AuthService/ValidateToken`, {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ token: "not-a-token", unknown: 1 }),
    });
    expect(validate.status).toBe(200);
    expect(await validate.json()).toEqual({ reason: "INACTIVE_REASON_MALFORMED" });
  });

  it("still refuse a known field of the wrong type, with our reason", async () => {
    const answer = await fetch(`${app.baseUrl}/auth.v1.AuthService/Login`, {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ identifier: 42, password }),
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(await answer.json())).toContain("INVALID_REQUEST");
  });
});
