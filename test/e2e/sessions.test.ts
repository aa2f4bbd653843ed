/** ListSessions and RevokeSession, with a second instance on the same stores seeing revocations at once. */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import { bearer, ok, type TestClient, transports } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

describe.each(transports)("sessions over $name", ({ connect }) => {
  let a: TestApp;
  let b: TestApp;
  let onA: TestClient;
  let onB: TestClient;

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const redisKeyPrefix = `ses${randomBytes(3).toString("hex")}:`;
    a = await startTestApp({ name: "sessions-a", databaseUrl, redisKeyPrefix });
    b = await startTestApp({ name: "sessions-b", databaseUrl, redisKeyPrefix });
    onA = connect(a);
    onB = connect(b);
  });
  afterAll(async () => {
    onA?.close();
    onB?.close();
    await a?.stop();
    await b?.stop();
  });

  async function user() {
    const email = `sessions.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    ok(await onA.call("Register", { email, password }));
    const login = async (userAgent: string) => ok(await onA.call("Login", { identifier: email, password }, { "user-agent": userAgent }));
    return { email, password, login };
  }

  it("lists each login with its details and marks the calling one", async () => {
    const { login } = await user();
    const laptop = await login("laptop-browser/1.0");
    const phone = await login("phone-app/2.0");
    const { sessions } = ok(await onB.call("ListSessions", {}, bearer(phone.accessToken)));
    expect(sessions).toHaveLength(2);
    const [newest, oldest] = sessions;
    expect(newest).toMatchObject({ id: phone.refreshToken.split(".")[1], current: true, ip: expect.stringMatching(/127\.0\.0\.1/) });
    // grpc-js sends its own user agent (set per channel, not per call); HTTP clients send theirs.
    const agent = (mine: string) => (onA.transport === "grpc" ? "grpc-node-js" : mine);
    expect(newest.userAgent).toContain(agent("phone-app/2.0"));
    expect(oldest).toMatchObject({ id: laptop.refreshToken.split(".")[1], current: false });
    expect(oldest.userAgent).toContain(agent("laptop-browser/1.0"));
    for (const session of sessions) expect(session.createdAt).toBeTruthy();
  });

  it("RevokeSession on one instance ends that session at once on the other", async () => {
    const { login } = await user();
    const keep = await login("keep");
    const drop = await login("drop");
    const dropId = drop.refreshToken.split(".")[1];
    expect(ok(await onB.call("ValidateToken", { token: drop.accessToken })).active).toBe(true);

    ok(await onA.call("RevokeSession", { sessionId: dropId }, bearer(keep.accessToken)));
    expect(ok(await onB.call("ValidateToken", { token: drop.accessToken }))).toMatchObject({
      active: false,
      reason: "INACTIVE_REASON_REVOKED",
    });
    expect(await onB.call("Refresh", { refreshToken: drop.refreshToken })).toMatchObject({ ok: false, reason: "SESSION_REVOKED" });
    expect(ok(await onB.call("ValidateToken", { token: keep.accessToken })).active).toBe(true);
    const { sessions } = ok(await onB.call("ListSessions", {}, bearer(keep.accessToken)));
    expect(sessions.map((s: { id: string }) => s.id)).toEqual([keep.refreshToken.split(".")[1]]);
  });

  it("answers NOT_FOUND for someone else's session, and leaves it alone", async () => {
    const mallory = await (await user()).login("mallory");
    const alice = await (await user()).login("alice");
    const aliceId = alice.refreshToken.split(".")[1];
    expect(await onA.call("RevokeSession", { sessionId: aliceId }, bearer(mallory.accessToken))).toMatchObject({
      ok: false,
      code: "NOT_FOUND",
      reason: "SESSION_NOT_FOUND",
    });
    expect(await onA.call("RevokeSession", { sessionId: "no-such-session" }, bearer(mallory.accessToken))).toMatchObject({
      reason: "SESSION_NOT_FOUND",
    });
    expect(ok(await onA.call("ValidateToken", { token: alice.accessToken })).active).toBe(true);
    expect(await onA.call("RevokeSession", { sessionId: aliceId })).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_MISSING" });
  });
});
