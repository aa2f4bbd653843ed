/** JWT_ALGORITHM=HS256 with JWT_SECRET: selectable, and strict about the algorithm either way. */
import { randomBytes } from "node:crypto";
import { decodeProtectedHeader } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

describe("HS256 signing", () => {
  let hs: TestApp;
  let es: TestApp;
  let hsClient: TestClient;
  let esClient: TestClient;

  beforeAll(async () => {
    const secret = recordSecret(randomBytes(32).toString("base64url"));
    hs = await startTestApp({ name: "hs256", env: { JWT_ALGORITHM: "HS256", JWT_SECRET: secret, JWT_PRIVATE_KEY: "" } });
    es = await startTestApp({ name: "es256" });
    hsClient = createGrpcClient(hs.grpcAddress);
    esClient = createGrpcClient(es.grpcAddress);
  });
  afterAll(async () => {
    hsClient?.close();
    esClient?.close();
    await hs?.stop();
    await es?.stop();
  });

  async function accessToken(client: TestClient): Promise<string> {
    const email = `hs.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    await client.call("Register", { email, password });
    const login = await client.call("Login", { identifier: email, password });
    if (!login.ok) throw new Error("login failed");
    return login.response.accessToken;
  }

  it("signs HS256 tokens with a kid and typ at+jwt, and validates them", async () => {
    const token = await accessToken(hsClient);
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: "HS256", typ: "at+jwt", kid: expect.any(String) });
    expect(await hsClient.call("ValidateToken", { token })).toMatchObject({ ok: true, response: { active: true } });
  });

  it("accepts only its own algorithm: an ES256 service refuses HS256 tokens and the reverse", async () => {
    const hsToken = await accessToken(hsClient);
    const esToken = await accessToken(esClient);
    expect(await esClient.call("ValidateToken", { token: hsToken })).toMatchObject({
      ok: true,
      response: { active: false, reason: "INACTIVE_REASON_ALGORITHM_NOT_ALLOWED" },
    });
    expect(await hsClient.call("ValidateToken", { token: esToken })).toMatchObject({
      ok: true,
      response: { active: false, reason: "INACTIVE_REASON_ALGORITHM_NOT_ALLOWED" },
    });
  });
});
