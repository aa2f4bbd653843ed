/**
 * What other teams import from `authward-client`: the offline verifier against the running
 * server's JWKS, its optional ValidateToken confirmation, and the Connect interceptor.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccessTokenError,
  AuthService,
  accessTokenInterceptor,
  createAccessTokenVerifier,
  ErrorInfoSchema,
  kAccessToken,
} from "../../packages/client/src/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

describe("the offline verifier for other services", () => {
  let app: TestApp;
  let client: TestClient;
  const email = `offline.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();
  const options = () => ({ jwksUrl: `${app.baseUrl}/.well-known/jwks.json`, issuer: "https://auth.test", audience: "api" });

  beforeAll(async () => {
    app = await startTestApp({ name: "offline" });
    client = createGrpcClient(app.grpcAddress);
    await client.call("Register", { email, password, username: "offline_user" });
  });
  afterAll(async () => {
    client?.close();
    await app?.stop();
  });

  async function accessToken(): Promise<string> {
    const login = await client.call("Login", { identifier: email, password });
    if (!login.ok) throw new Error("login failed");
    return login.response.accessToken;
  }

  async function refusal(promise: Promise<unknown>): Promise<AccessTokenError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof AccessTokenError)) throw new Error(`expected an AccessTokenError, got ${String(error)}`);
    return error;
  }

  it("verifies our tokens against the JWKS and returns their claims", async () => {
    const verified = await createAccessTokenVerifier(options()).verify(await accessToken());
    expect(verified).toMatchObject({ tenant: "default", email, username: "offline_user", roles: ["user"], amr: ["pwd"] });
    expect(verified.userId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("refuses tampered, foreign-audience and expired tokens with the service's reasons", async () => {
    const verifier = createAccessTokenVerifier(options());
    const token = await accessToken();
    expect((await refusal(verifier.verify(`${token.slice(0, -4)}AAAA`))).reason).toBe("TOKEN_INVALID");
    expect((await refusal(createAccessTokenVerifier({ ...options(), audience: "billing" }).verify(token))).reason).toBe("TOKEN_INVALID");
    expect((await refusal(verifier.verify(""))).reason).toBe("TOKEN_MISSING");
    app.clock.advance(-(app.config.policy.accessTokenTtlMs + 120_000));
    try {
      expect((await refusal(verifier.verify(await accessToken()))).reason).toBe("TOKEN_EXPIRED");
    } finally {
      app.clock.advance(app.config.policy.accessTokenTtlMs + 120_000);
    }
  });

  it("sees a logout only when asked to confirm with ValidateToken", async () => {
    const token = await accessToken();
    await client.call("Logout", {}, { authorization: `Bearer ${token}` });
    await expect(createAccessTokenVerifier(options()).verify(token)).resolves.toMatchObject({ email });
    const confirming = createAccessTokenVerifier({
      ...options(),
      confirmWith: createGrpcTransport({ baseUrl: `http://${app.grpcAddress}` }),
    });
    expect((await refusal(confirming.verify(token))).reason).toBe("SESSION_REVOKED");
    await expect(confirming.verify(await accessToken())).resolves.toMatchObject({ email });
  });

  describe("the Connect interceptor", () => {
    // Another team's service, here implementing one method of ours for brevity, that reads the caller.
    const service = () =>
      createClient(
        AuthService,
        createRouterTransport(
          ({ service }) =>
            service(AuthService, {
              me: (_req, context) => ({
                user: { id: context.values.get(kAccessToken)?.userId ?? "", email: context.values.get(kAccessToken)?.email ?? "" },
              }),
            }),
          { router: { interceptors: [accessTokenInterceptor(createAccessTokenVerifier(options()))] } },
        ),
      );

    it("hands the verified caller to the handler", async () => {
      const { user } = await service().me({}, { headers: { authorization: `Bearer ${await accessToken()}` } });
      expect(user?.email).toBe(email);
    });

    it.each([
      ["no authorization header", undefined, "TOKEN_MISSING"],
      ["a malformed header", "Basic abc", "TOKEN_INVALID"],
      ["a bad token", "Bearer not.a.token", "TOKEN_INVALID"],
    ])("refuses %s with UNAUTHENTICATED and the reason", async (_, authorization, reason) => {
      const error = await service()
        .me({}, { headers: authorization === undefined ? {} : { authorization } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.Unauthenticated);
      expect((error as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe(reason);
    });
  });
});
