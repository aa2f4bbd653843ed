/**
 * Upgrading from the Redis layout before 2026-11-25 (`s:{<session>}`, `n:{<session>}`,
 * `u:{<user>}`, two-part refresh tokens) signs nobody out: sessions written in the old layout by
 * hand, as the previous version wrote them, are moved at start-up and keep working, and an old
 * refresh token is answered with one of the new shape.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { hashSecret, newSecret, newSessionId, sealSuccessor } from "../../src/domain/refresh-token.js";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

const DAY = 86_400_000;

describe("moving sessions from the previous Redis layout", () => {
  let databaseUrl: string;
  let prefix: string;
  let first: TestApp;
  let app: TestApp;
  let client: TestClient;
  let userId: string;
  const apps: TestApp[] = [];

  /** Writes a session as the previous version did; returns its two-part refresh token and an access token for it. */
  async function writeOldSession(options: { rotatedAgoMs?: number } = {}) {
    const redis = (app ?? first).app.redis;
    const now = Date.now();
    const sessionId = newSessionId();
    const secret = newSecret();
    const fields: Record<string, string> = {
      u: userId,
      t: "default",
      c: hashSecret(secret),
      ca: String(now - DAY),
      lu: String(now - 60_000),
      ae: String(now + 29 * DAY),
      ip: "203.0.113.5",
      ua: "old-client/1.0",
    };
    let previous: string | undefined;
    if (options.rotatedAgoMs !== undefined) {
      // Rotated a moment ago: the previous secret is in its grace window, its successor sealed.
      previous = newSecret();
      Object.assign(fields, { p: hashSecret(previous), pu: String(now - options.rotatedAgoMs + 10_000), o: "" });
      await redis.set(`${prefix}n:{${sessionId}}`, sealSuccessor(secret, previous), "PX", 10_000 - options.rotatedAgoMs);
    }
    await redis.hset(`${prefix}s:{${sessionId}}`, fields);
    await redis.pexpire(`${prefix}s:{${sessionId}}`, 7 * DAY);
    await redis.sadd(`${prefix}u:{${userId}}`, sessionId);
    const { token } = await (app ?? first).app.deps.tokens.issue(
      {
        userId,
        tenant: "default",
        sessionId,
        roles: ["user"],
        email: "old@example.com",
        emailVerified: false,
        username: null,
        amr: ["pwd"],
      },
      now,
    );
    recordSecret(secret);
    if (previous !== undefined) recordSecret(previous);
    return {
      sessionId,
      refreshToken: recordSecret(`${sessionId}.${secret}`),
      previousToken: previous === undefined ? undefined : recordSecret(`${sessionId}.${previous}`),
      accessToken: recordSecret(token),
    };
  }

  let before: Awaited<ReturnType<typeof writeOldSession>>;
  let inGrace: Awaited<ReturnType<typeof writeOldSession>>;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    prefix = `mig${randomBytes(3).toString("hex")}:`;
    // An instance to create the user; then the sessions the previous version left behind.
    first = await startTestApp({ name: "migration-first", databaseUrl, redisKeyPrefix: prefix });
    const register = createGrpcClient(first.grpcAddress);
    userId = ok(await register.call("Register", { email: `old.${randomBytes(4).toString("hex")}@example.com`, password: newPassword() }))
      .user.id;
    register.close();
    before = await writeOldSession();
    inGrace = await writeOldSession({ rotatedAgoMs: 2000 });
    await first.stop();
    // The previous version wrote no layout marker.
    const { Redis } = await import("ioredis");
    const raw = new Redis(inject("redisUrl"));
    await raw.del(`${prefix}layout`);
    raw.disconnect();

    app = await startTestApp({ name: "migration", databaseUrl, redisKeyPrefix: prefix });
    apps.push(app);
    client = createGrpcClient(app.grpcAddress);
  }, 120_000);
  afterAll(async () => {
    client?.close();
    for (const started of apps) await started.stop();
  });

  it("moves each session under its user at start-up, with its remaining lifetime, and leaves a pointer", async () => {
    const redis = app.app.redis;
    expect(await redis.exists(`${prefix}s:{${before.sessionId}}`, `${prefix}u:{${userId}}`)).toBe(0);
    const moved = await redis.hgetall(`${prefix}{${userId}}:s:${before.sessionId}`);
    expect(moved).toMatchObject({ u: userId, t: "default", ip: "203.0.113.5", ua: "old-client/1.0" });
    expect(await redis.pttl(`${prefix}{${userId}}:s:${before.sessionId}`)).toBeGreaterThan(7 * DAY - 120_000);
    expect((await redis.smembers(`${prefix}{${userId}}:idx`)).sort()).toEqual([before.sessionId, inGrace.sessionId].sort());
    expect(await redis.get(`${prefix}legacy:{${before.sessionId}}`)).toBe(userId);
    expect(await redis.pttl(`${prefix}legacy:{${before.sessionId}}`)).toBeGreaterThan(28 * DAY);
    expect(await redis.hget(`${prefix}layout`, "v")).toBe("2");
  });

  it("keeps an access token of a moved session active", async () => {
    expect(ok(await client.call("ValidateToken", { token: before.accessToken }))).toMatchObject({
      active: true,
      sessionId: before.sessionId,
    });
    const { sessions } = ok(await client.call("ListSessions", {}, bearer(before.accessToken)));
    expect(sessions.map((s: { id: string }) => s.id).sort()).toEqual([before.sessionId, inGrace.sessionId].sort());
  });

  it("honours the grace window of a token rotated just before the upgrade", async () => {
    if (inGrace.previousToken === undefined) throw new Error("no previous token");
    // The previous version rotated `previousToken` into `refreshToken` a moment before the move:
    // a retry with it gets that successor, in the new shape.
    const retried = ok(await client.call("Refresh", { refreshToken: inGrace.previousToken }));
    expect(retried.refreshToken.split(".").slice(1)).toEqual(inGrace.refreshToken.split("."));
  });

  it("refreshes an old two-part token into a three-part one, and still catches its reuse", async () => {
    const refreshed = ok(await client.call("Refresh", { refreshToken: before.refreshToken }));
    const parts = refreshed.refreshToken.split(".");
    expect(parts).toHaveLength(3);
    expect(parts[0]).toBe(Buffer.from(userId.replaceAll("-", ""), "hex").toString("base64url"));
    expect(parts[1]).toBe(before.sessionId);
    // A retry inside the grace window gets the same successor.
    expect(ok(await client.call("Refresh", { refreshToken: before.refreshToken })).refreshToken).toBe(refreshed.refreshToken);
    const next = ok(await client.call("Refresh", { refreshToken: refreshed.refreshToken }));
    app.clock.advance(app.config.policy.refreshReuseGraceMs + 1000);
    expect(failed(await client.call("Refresh", { refreshToken: before.refreshToken })).reason).toBe("TOKEN_REUSED");
    expect(ok(await client.call("ValidateToken", { token: next.accessToken })).reason).toBe("INACTIVE_REASON_REVOKED");
  });

  it("is idempotent: another start moves nothing and changes nothing", async () => {
    const snapshot = await app.app.redis.hgetall(`${prefix}{${userId}}:s:${inGrace.sessionId}`);
    const again = await startTestApp({ name: "migration-again", databaseUrl, redisKeyPrefix: prefix });
    apps.push(again);
    expect(await again.app.redis.hgetall(`${prefix}{${userId}}:s:${inGrace.sessionId}`)).toEqual(snapshot);
  });

  it("moves a session an instance of the previous version writes after the upgrade, when it turns up", async () => {
    const late = await writeOldSession();
    expect(ok(await client.call("ValidateToken", { token: late.accessToken })).active).toBe(true);
    const lateRefresh = await writeOldSession();
    expect(ok(await client.call("Refresh", { refreshToken: lateRefresh.refreshToken })).refreshToken.split(".")).toHaveLength(3);
    // Ending every session of the user ends the ones still in the old layout too.
    const lateLogout = await writeOldSession();
    const mine = ok(await client.call("Refresh", { refreshToken: late.refreshToken }));
    // Revoking one of them by id finds it too.
    const lateRevoke = await writeOldSession();
    ok(await client.call("RevokeSession", { sessionId: lateRevoke.sessionId }, bearer(mine.accessToken)));
    expect(ok(await client.call("ValidateToken", { token: lateRevoke.accessToken })).active).toBe(false);
    ok(await client.call("Logout", { allSessions: true }, bearer(mine.accessToken)));
    expect(ok(await client.call("ValidateToken", { token: lateLogout.accessToken })).active).toBe(false);
    expect(await app.app.redis.exists(`${prefix}s:{${lateLogout.sessionId}}`)).toBe(0);
  });

  it("answers an old-shape token that names no session it knows as a revoked session, and garbage as invalid", async () => {
    expect(failed(await client.call("Refresh", { refreshToken: `${newSessionId()}.${newSecret()}` })).reason).toBe("SESSION_REVOKED");
    expect(failed(await client.call("Refresh", { refreshToken: `${before.sessionId}.short` })).reason).toBe("TOKEN_INVALID");
  });
});
