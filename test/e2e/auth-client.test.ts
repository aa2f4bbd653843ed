/**
 * createAuthClient against the real service, over connect-node's transport and over connect-web's
 * (the browser one, which runs on fetch in Node too). A counting interceptor on the transport sees
 * every Refresh the client sends.
 */
import { randomBytes } from "node:crypto";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport as createNodeTransport } from "@connectrpc/connect-node";
import { createConnectTransport as createWebTransport } from "@connectrpc/connect-web";
import { generateSync } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthTokens, createAuthClient, MfaRequiredError } from "../../packages/client/src/index.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { createGrpcClient } from "../support/clients.js";
import { newPassword, recordCode, recordSecret } from "../support/secrets.js";

describe.each([
  ["connect-node", (baseUrl: string, interceptors: Interceptor[]) => createNodeTransport({ baseUrl, httpVersion: "1.1", interceptors })],
  ["connect-web", (baseUrl: string, interceptors: Interceptor[]) => createWebTransport({ baseUrl, interceptors })],
] as const)("createAuthClient over %s", (_, makeTransport) => {
  let app: TestApp;
  const email = `client.${randomBytes(4).toString("hex")}@example.com`;
  const password = newPassword();
  const refreshes: string[] = [];
  let transport: Transport;

  beforeAll(async () => {
    app = await startTestApp({ name: "auth-client", env: { KEY_ENCRYPTION_KEY: recordSecret(randomBytes(32).toString("base64")) } });
    const grpc = createGrpcClient(app.grpcAddress);
    await grpc.call("Register", { email, password });
    grpc.close();
    const counter: Interceptor = (next) => async (req) => {
      if (req.method.name === "Refresh") refreshes.push(req.url);
      return next(req);
    };
    transport = makeTransport(app.baseUrl, [counter]);
  });
  afterAll(async () => {
    await app?.stop();
  });

  const remember = (tokens: AuthTokens | undefined) => {
    if (tokens) {
      recordSecret(tokens.accessToken);
      recordSecret(tokens.refreshToken);
    }
  };

  it("signs in and attaches the access token to the calls that need it", async () => {
    const auth = createAuthClient({ transport, onTokens: remember });
    expect((await auth.login(email, password))?.email).toBe(email);
    expect((await auth.service.me({})).user?.email).toBe(email);
    expect((await auth.service.listSessions({})).sessions.length).toBeGreaterThan(0);
  });

  it("50 concurrent calls with an access token the service calls expired share exactly one Refresh, and all succeed", async () => {
    // The client believes its token is good; the service, whose clock moved on, says TOKEN_EXPIRED.
    const auth = createAuthClient({ transport, onTokens: remember });
    await auth.login(email, password);
    const stale = auth.tokens()?.accessToken;
    app.clock.advance(app.config.policy.accessTokenTtlMs + app.config.jwt.clockSkewMs + 1000);
    refreshes.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.service.me({})));
    expect(refreshes).toHaveLength(1);
    for (const { user } of results) expect(user?.email).toBe(email);
    expect(auth.tokens()?.accessToken).not.toBe(stale);
  });

  it("50 concurrent calls with an access token about to expire refresh once, before sending", async () => {
    let clock = Date.now();
    const auth = createAuthClient({ transport, onTokens: remember, now: () => clock });
    await auth.login(email, password);
    clock = (auth.tokens()?.accessExpiresAt ?? 0) - 30_000; // inside the 60 s margin
    refreshes.length = 0;
    const results = await Promise.all(Array.from({ length: 50 }, () => auth.service.me({})));
    expect(refreshes).toHaveLength(1);
    expect(results.every((r) => r.user?.email === email)).toBe(true);
  });

  it("forgets the tokens and fails the calls when the session is gone", async () => {
    let saved: AuthTokens | undefined;
    const auth = createAuthClient({
      transport,
      onTokens: (t) => {
        remember(t);
        saved = t;
      },
    });
    await auth.login(email, password);
    const other = createAuthClient({ transport, tokens: auth.tokens() });
    await other.logout(true);
    app.clock.advance(app.config.policy.accessTokenTtlMs + app.config.jwt.clockSkewMs + 1000);
    const error = await auth.service.me({}).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unauthenticated);
    expect(auth.tokens()).toBeUndefined();
    expect(saved).toBeUndefined();
  });

  it("keeps no tokens from a Login that needs a second factor, and signs in with verifyMfa", async () => {
    const mfaEmail = `client.mfa.${randomBytes(4).toString("hex")}@example.com`;
    const auth = createAuthClient({ transport, onTokens: remember });
    await createAuthClient({ transport }).service.register({ email: mfaEmail, password });
    await auth.login(mfaEmail, password);
    const begun = await auth.service.beginMfaEnrollment({});
    recordSecret(begun.secret);
    const code = (steps: number) =>
      recordCode(generateSync({ secret: begun.secret, epoch: Math.floor(app.clock.now() / 1000) + steps * 30 }));
    await auth.service.confirmMfaEnrollment({ code: code(0) });
    await auth.logout();

    const error = await auth.login(mfaEmail, password).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MfaRequiredError);
    expect(auth.tokens()).toBeUndefined();
    const { ticket, enrollment } = error as MfaRequiredError;
    expect(enrollment).toBe(false);
    recordSecret(ticket);
    app.clock.advance(30_000);
    expect((await auth.verifyMfa(ticket, { code: code(0) }))?.email).toBe(mfaEmail);
    expect((await auth.service.me({})).user?.email).toBe(mfaEmail);
  });

  it("carries the same fresh token to other services through authorize()", async () => {
    const auth = createAuthClient({ transport, onTokens: remember });
    await auth.login(email, password);
    const seen: string[] = [];
    const spy: Interceptor = (next) => async (req) => {
      seen.push(req.header.get("authorization") ?? "");
      return next(req);
    };
    const { createClient } = await import("@connectrpc/connect");
    const { AuthService } = await import("../../packages/client/src/index.js");
    const yours = createClient(AuthService, auth.authorize(makeTransport(app.baseUrl, [spy])));
    await yours.me({});
    expect(seen).toEqual([`Bearer ${auth.tokens()?.accessToken}`]);
  });
});
