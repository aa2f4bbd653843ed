/**
 * `email_verified` in access tokens (the OIDC claim), in ValidateToken's answer and in the offline
 * verifier, on every path that issues an access token: Login, Refresh and the VidaPlus reissue.
 */
import { randomBytes } from "node:crypto";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessTokenVerifier } from "../../packages/client/src/index.js";
import { issueOneTimeToken } from "../../src/domain/one-time-tokens.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

describe("email_verified", () => {
  let app: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    app = await startTestApp({ name: "email-verified" });
    client = createGrpcClient(app.grpcAddress);
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
  });

  /** A VidaPlus-style reissue: a new access token for the bearer's session. */
  async function reissue(accessToken: string): Promise<string> {
    const response = await fetch(`${app.baseUrl}/auth/refresh_token`, {
      method: "POST",
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(response.status).toBe(200);
    return recordSecret(((await response.json()) as { access_token: string }).access_token);
  }

  it("is false until the address is verified, then true on every path that issues a token", async () => {
    const email = `verified.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    const { user } = ok(await client.call("Register", { email, password }));
    const verifier = createAccessTokenVerifier({
      jwksUrl: `${app.baseUrl}/.well-known/jwks.json`,
      issuer: "https://auth.test",
      audience: "api",
      confirmWith: createGrpcTransport({ baseUrl: `http://${app.grpcAddress}` }),
    });

    const before = ok(await client.call("Login", { identifier: email, password }));
    expect(claimsOf(before.accessToken).email_verified).toBe(false);
    expect(ok(await client.call("ValidateToken", { token: before.accessToken }))).toMatchObject({ active: true, emailVerified: false });
    expect(await verifier.verify(before.accessToken)).toMatchObject({ emailVerified: false });

    const stored = await app.app.deps.users.findById(user.id);
    if (stored === null) throw new Error("no user");
    const { token } = await issueOneTimeToken(app.app.deps, stored, "verify_email", 60_000);
    recordSecret(token);
    ok(await client.call("VerifyEmail", { token }));

    // The token from before says what was true when it was issued.
    expect(ok(await client.call("ValidateToken", { token: before.accessToken })).emailVerified).toBe(false);
    const refreshed = ok(await client.call("Refresh", { refreshToken: before.refreshToken }));
    const reissued = await reissue(before.accessToken);
    const after = ok(await client.call("Login", { identifier: email, password }));
    for (const accessToken of [refreshed.accessToken, reissued, after.accessToken]) {
      expect(claimsOf(accessToken).email_verified).toBe(true);
      expect(ok(await client.call("ValidateToken", { token: accessToken }))).toMatchObject({ active: true, emailVerified: true });
      expect(await verifier.verify(accessToken)).toMatchObject({ emailVerified: true });
    }
  });
});
