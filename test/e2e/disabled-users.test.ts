/**
 * Disabling and enabling a user, through the domain flow (as the AdminService will) and through the
 * CLI (as an operator does), with two instances on the same PostgreSQL and Redis: a disable made
 * on one is seen by the other at once.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AuthError } from "../../src/domain/errors.js";
import { disableUser, enableUser } from "../../src/domain/user-status.js";
import { createTestDatabase, startTestApp, type TestApp } from "../support/app.js";
import { bearer, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword } from "../support/secrets.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const operator = { kind: "operator" as const, id: "test" };

describe("disabled users", () => {
  let a: TestApp;
  let b: TestApp;
  let onA: TestClient;
  let onB: TestClient;
  let databaseUrl: string;
  let redisKeyPrefix: string;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    redisKeyPrefix = `dis${randomBytes(3).toString("hex")}:`;
    a = await startTestApp({ name: "disabled-a", databaseUrl, redisKeyPrefix });
    b = await startTestApp({ name: "disabled-b", databaseUrl, redisKeyPrefix });
    onA = createGrpcClient(a.grpcAddress);
    onB = createGrpcClient(b.grpcAddress);
  });
  afterAll(async () => {
    onA?.close();
    onB?.close();
    await a?.stop();
    await b?.stop();
  });

  async function signedInUser() {
    const email = `disabled.${randomBytes(5).toString("hex")}@example.com`;
    const password = newPassword();
    const { user } = ok(await onA.call("Register", { email, password }));
    const login = () => onA.call("Login", { identifier: email, password });
    return { email, password, userId: user.id as string, first: ok(await login()), second: ok(await login()), login };
  }

  async function auditOf(userId: string, type: string) {
    return a.app.db.selectFrom("audit_events").select(["type", "details"]).where("user_id", "=", userId).where("type", "=", type).execute();
  }

  it("makes every token of the user inactive at once on the other instance, with USER_DISABLED", async () => {
    const user = await signedInUser();
    const bystander = await signedInUser();
    for (const login of [user.first, user.second])
      expect(ok(await onB.call("ValidateToken", { token: login.accessToken })).active).toBe(true);

    const result = await disableUser(a.app.deps, { userId: user.userId, actor: operator, reason: "left the company" });
    expect(result).toEqual({ userId: user.userId, tenant: "default", changed: true, sessionsEnded: 2 });

    for (const login of [user.first, user.second]) {
      expect(ok(await onB.call("ValidateToken", { token: login.accessToken }))).toMatchObject({
        active: false,
        reason: "INACTIVE_REASON_USER_DISABLED",
        userId: "",
      });
    }
    expect(await b.app.deps.sessions.list(user.userId, b.clock.now())).toEqual([]);
    // The bystander is untouched.
    expect(ok(await onB.call("ValidateToken", { token: bystander.first.accessToken })).active).toBe(true);

    // Audited, with who and why.
    const [event] = await auditOf(user.userId, "user_disabled");
    expect(event?.details).toMatchObject({ by: "operator", actorId: "test", reason: "left the company", sessionsEnded: 2, changed: true });
  });

  it("answers ACCOUNT_DISABLED to Me, Refresh, Login and the other bearer calls", async () => {
    const user = await signedInUser();
    await disableUser(b.app.deps, { userId: user.userId, actor: operator });
    const disabled = { code: "PERMISSION_DENIED", reason: "ACCOUNT_DISABLED" };
    expect(failed(await onA.call("Me", {}, bearer(user.first.accessToken)))).toMatchObject(disabled);
    expect(failed(await onA.call("ListSessions", {}, bearer(user.first.accessToken)))).toMatchObject(disabled);
    expect(failed(await onA.call("Refresh", { refreshToken: user.first.refreshToken }))).toMatchObject(disabled);
    // A refresh token made up from the user's id alone (the `sub` every relying service sees) with
    // a session id and secret of its own tells nothing: a disabled user is not told from an active one.
    const madeUp = (userId: string) =>
      [Buffer.from(userId.replaceAll("-", ""), "hex"), randomBytes(16), randomBytes(32)].map((b) => b.toString("base64url")).join(".");
    const active = await signedInUser();
    for (const userId of [user.userId, active.userId])
      expect(failed(await onA.call("Refresh", { refreshToken: madeUp(userId) }))).toMatchObject({ reason: "SESSION_REVOKED" });
    expect(failed(await user.login())).toMatchObject(disabled);
    // A wrong password still learns nothing.
    expect(failed(await onA.call("Login", { identifier: user.email, password: newPassword() }))).toMatchObject({
      reason: "INVALID_CREDENTIALS",
    });
  });

  it("lets an enabled user sign in again, while the tokens from before stay inactive", async () => {
    const user = await signedInUser();
    await disableUser(a.app.deps, { userId: user.userId, actor: operator });
    // Disabling twice changes nothing more, and says so.
    expect(await disableUser(a.app.deps, { userId: user.userId, actor: operator })).toMatchObject({ changed: false, sessionsEnded: 0 });
    expect(await enableUser(b.app.deps, { userId: user.userId, actor: operator })).toMatchObject({ changed: true });

    const again = ok(await user.login());
    expect(ok(await onA.call("ValidateToken", { token: again.accessToken })).active).toBe(true);
    expect(ok(await onA.call("ValidateToken", { token: user.first.accessToken }))).toMatchObject({
      active: false,
      reason: "INACTIVE_REASON_REVOKED",
    });
    expect(failed(await onA.call("Refresh", { refreshToken: user.first.refreshToken })).reason).toBe("SESSION_REVOKED");
    expect(await auditOf(user.userId, "user_enabled")).toHaveLength(1);
  });

  it("refuses a target outside the tenant, an id that is not a UUID, and a reason with control characters", async () => {
    const user = await signedInUser();
    const reasonOf = (promise: Promise<unknown>) =>
      promise.then(
        () => "no error",
        (error: unknown) => (error instanceof AuthError ? error.reason : String(error)),
      );
    expect(await reasonOf(disableUser(a.app.deps, { userId: user.userId, tenant: "other", actor: operator }))).toBe("USER_NOT_FOUND");
    expect(await reasonOf(disableUser(a.app.deps, { userId: "not-a-uuid'; drop table users;--", actor: operator }))).toBe("USER_NOT_FOUND");
    expect(await reasonOf(disableUser(a.app.deps, { userId: randomUUID(), actor: operator }))).toBe("USER_NOT_FOUND");
    expect(await reasonOf(disableUser(a.app.deps, { userId: user.userId, actor: operator, reason: "a\u0000b" }))).toBe("INVALID_REQUEST");
    expect(await reasonOf(disableUser(a.app.deps, { userId: user.userId, actor: operator, reason: "x".repeat(501) }))).toBe(
      "INVALID_REQUEST",
    );
    // None of that touched the user.
    expect(ok(await onA.call("ValidateToken", { token: user.first.accessToken })).active).toBe(true);
  });

  describe("from the command line", () => {
    const cli = (args: string[]) =>
      run("npm", ["run", "--silent", "cli", "--", ...args], {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: databaseUrl,
          REDIS_URL: inject("redisUrl"),
          REDIS_KEY_PREFIX: redisKeyPrefix,
        },
        timeout: 60_000,
      });
    const cliError = (args: string[]) =>
      cli(args).then(
        (done) => ({ code: 0, stderr: "", stdout: done.stdout }),
        (error: { code: number; stderr: string; stdout: string }) => error,
      );

    it("disable --email ends the user's sessions on the running instances; enable --user-id lets them back in", async () => {
      const user = await signedInUser();
      const { stdout } = await cli(["disable", "--email", user.email.toUpperCase(), "--reason", "suspicious activity"]);
      expect(stdout).toBe(`disabled ${user.email.toUpperCase()} (${user.userId}) in default; ended 2 session(s)\n`);
      expect(ok(await onB.call("ValidateToken", { token: user.second.accessToken })).reason).toBe("INACTIVE_REASON_USER_DISABLED");
      expect(failed(await user.login()).reason).toBe("ACCOUNT_DISABLED");
      const [event] = await auditOf(user.userId, "user_disabled");
      expect(event?.details).toMatchObject({ by: "operator", reason: "suspicious activity", sessionsEnded: 2 });

      expect((await cli(["enable", "--user-id", user.userId])).stdout).toBe(`enabled ${user.userId} (${user.userId}) in default\n`);
      expect(ok(await user.login()).accessToken).toBeTruthy();
    });

    it("says what is wrong with its arguments, and changes nothing", async () => {
      const user = await signedInUser();
      const both = await cliError(["disable", "--email", user.email, "--user-id", user.userId]);
      expect(both).toMatchObject({ code: 1 });
      expect(both.stderr).toContain("exactly one of --email or --user-id");
      const unknown = await cliError(["disable", "--email", "nobody@example.com"]);
      expect(unknown).toMatchObject({ code: 1 });
      expect(unknown.stderr).toContain("No user has this email address");
      const wrongTenant = await cliError(["disable", "--email", user.email, "--tenant", "elsewhere"]);
      expect(wrongTenant).toMatchObject({ code: 1 });
      expect((await cliError(["disable", "--user-id", "x"])).stderr).toContain("No such user.");
      expect(ok(await onA.call("ValidateToken", { token: user.first.accessToken })).active).toBe(true);
    });
  });
});
