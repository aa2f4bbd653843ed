/**
 * Refresh answers from the copy of the user kept beside their sessions (no PostgreSQL), and every
 * change to the user or their tenant made through the service reaches the next refresh, on
 * another instance: each case signs in on A, refreshes on B once (the copy in use), changes the
 * user through the AdminService (or the mailed verification) on A, and refreshes on B again. The
 * copy lives 12 hours: a change that did not delete it would show as a stale answer here.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { bootstrapPlatformAdmin } from "../../src/cli/create-admin.js";
import { AuthError } from "../../src/domain/errors.js";
import { issueOneTimeToken } from "../../src/domain/one-time-tokens.js";
import { formatRefreshToken, newSecret, parseRefreshToken } from "../../src/domain/refresh-token.js";
import { createAdminGrpcClient } from "../support/admin-clients.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { bearer, createConnectClient, createGrpcClient, failed, ok, type TestClient } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as Record<string, unknown>;

describe("Refresh on the copy of the user kept beside the sessions", () => {
  let a: TestApp;
  let b: TestApp;
  let onA: TestClient;
  let onB: TestClient;
  let admin: TestClient;
  let platform: Record<string, string>;
  let redis: Redis;
  const tenant = `copy${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    a = await startTestApp({ name: "copy-a" });
    b = await startTestApp({ name: "copy-b", databaseUrl: a.config.databaseUrl, redisKeyPrefix: a.config.redisKeyPrefix });
    onA = createGrpcClient(a.grpcAddress);
    // Connect JSON: the user's permissions and attributes arrive as plain JSON.
    onB = createConnectClient(b.baseUrl);
    admin = createAdminGrpcClient(a.grpcAddress);
    redis = new Redis(inject("redisUrl"));
    const password = newPassword();
    await bootstrapPlatformAdmin(a.app.db, a.config, { email: "root@example.com", username: "root", fullName: undefined, password });
    platform = bearer(ok(await onA.call("Login", { identifier: "root@example.com", password }, { "x-tenant": "system" })).accessToken);
    ok(await admin.call("CreateTenant", { id: tenant, displayName: "Copy" }, platform));
    ok(await admin.call("CreateRole", { tenant, name: "viewer", permissions: { reports: { view: true } } }, platform));
  });
  afterAll(async () => {
    for (const client of [onA, onB, admin]) client?.close();
    redis?.disconnect();
    await b?.stop();
    await a?.stop();
  });

  const copyKey = (userId: string) => `${a.config.redisKeyPrefix}{${userId}}:u`;

  /** A user of the tenant with roles user and viewer, signed in on A and refreshed once on B. */
  async function signedIn() {
    const email = `u.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    const created = ok(await admin.call("CreateUser", { tenant, email, password, roles: ["user", "viewer"] }, platform));
    const userId = created.user.id as string;
    const login = ok(await onA.call("Login", { identifier: email, password }, { "x-tenant": tenant }));
    expect(await redis.exists(copyKey(userId))).toBe(1);
    const first = ok(await onB.call("Refresh", { refreshToken: login.refreshToken }, { "x-tenant": tenant }));
    expect(first.user).toMatchObject({ id: userId, email, roles: ["user", "viewer"], permissions: { reports: { view: true } } });
    return { userId, email, password, refreshToken: first.refreshToken as string };
  }

  const refreshOnB = (refreshToken: string) => onB.call("Refresh", { refreshToken }, { "x-tenant": tenant });

  /** Counts B's reads of a user from PostgreSQL until `restore`. */
  function countUserReads() {
    const users = b.app.deps.users;
    const findById = users.findById.bind(users);
    const counter = { reads: 0, restore: () => ((users as { findById: typeof users.findById }).findById = findById) };
    (users as { findById: typeof users.findById }).findById = async (id) => {
      counter.reads++;
      return findById(id);
    };
    return counter;
  }

  it("reads no PostgreSQL for a refresh with a copy, and answers the user as Login did", async () => {
    const { refreshToken, userId } = await signedIn();
    const counter = countUserReads();
    try {
      const refreshed = ok(await refreshOnB(refreshToken));
      expect(counter.reads).toBe(0);
      expect(refreshed.user).toMatchObject({ id: userId, tenant, isActive: true, roles: ["user", "viewer"] });
    } finally {
      counter.restore();
    }
  });

  it.each<[string, Record<string, unknown>, (user: any, claims: Record<string, unknown>) => boolean]>([
    [
      "email",
      { email: "changed.@example.com" },
      (user: any, claims: Record<string, unknown>) => user.email.startsWith("changed.") && claims.email === user.email,
    ],
    [
      "username",
      { username: "renamed" },
      (user: any, claims: Record<string, unknown>) => user.username === "renamed" && claims.username === "renamed",
    ],
    ["full name", { fullName: "Ann Other" }, (user: any) => user.fullName === "Ann Other"],
    ["attributes", { attributes: { empleado_id: 7 } }, (user: any) => user.attributes.empleado_id === 7],
    [
      "verification",
      { emailVerified: true },
      (user: any, claims: Record<string, unknown>) => user.emailVerified === true && claims.email_verified === true,
    ],
  ])("UpdateUser (%s) reaches the next refresh", async (_, change, holds) => {
    const { userId, refreshToken } = await signedIn();
    const fields = { ...change, ...("email" in change ? { email: `changed.${randomBytes(3).toString("hex")}@example.com` } : {}) };
    ok(await admin.call("UpdateUser", { tenant, userId, ...fields }, platform));
    expect(await redis.exists(copyKey(userId))).toBe(0);
    const refreshed = ok(await refreshOnB(refreshToken));
    expect(holds(refreshed.user, claimsOf(refreshed.accessToken))).toBe(true);
  });

  it("SetUserRoles reaches the next refresh (answer and token)", async () => {
    const { userId, refreshToken } = await signedIn();
    ok(await admin.call("SetUserRoles", { tenant, userId, roles: ["user"] }, platform));
    const refreshed = ok(await refreshOnB(refreshToken));
    expect(refreshed.user.roles).toEqual(["user"]);
    expect(claimsOf(refreshed.accessToken).roles).toEqual(["user"]);
    expect(refreshed.user.permissions).toEqual({});
  });

  it("a verified address (the mailed token) reaches the next refresh", async () => {
    const { userId, refreshToken } = await signedIn();
    const stored = await a.app.deps.users.findById(userId);
    if (stored === null) throw new Error("no user");
    const { token } = await issueOneTimeToken(a.app.deps, stored, "verify_email", 60_000);
    ok(await onA.call("VerifyEmail", { token: recordSecret(token) }));
    const refreshed = ok(await refreshOnB(refreshToken));
    expect(refreshed.user.emailVerified).toBe(true);
    expect(claimsOf(refreshed.accessToken).email_verified).toBe(true);
  });

  it("a role's new permissions reach the next refresh of every holder (the tenant's generation)", async () => {
    const first = await signedIn();
    const second = await signedIn();
    ok(await admin.call("UpdateRole", { tenant, name: "viewer", permissions: { reports: { view: true, export: true } } }, platform));
    for (const { refreshToken } of [first, second]) {
      expect(ok(await refreshOnB(refreshToken)).user.permissions).toEqual({ reports: { view: true, export: true } });
    }
    ok(await admin.call("UpdateRole", { tenant, name: "viewer", permissions: { reports: { view: true } } }, platform));
  });

  it("a user without roles, in a tenant that requires none, refreshes on a copy too; once it requires roles, NO_ROLES", async () => {
    const email = `r.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    const userId = ok(await admin.call("CreateUser", { tenant, email, password }, platform)).user.id as string;
    const login = ok(await onA.call("Login", { identifier: email, password }, { "x-tenant": tenant }));
    ok(await admin.call("SetUserRoles", { tenant, userId, roles: [] }, platform));
    const counter = countUserReads();
    try {
      // The change dropped the copy: this refresh reads PostgreSQL (and the tenant's policy), and keeps one.
      const first = ok(await refreshOnB(login.refreshToken));
      expect(first.user).toMatchObject({ id: userId, roles: [] });
      expect(counter.reads).toBe(1);
      const second = ok(await refreshOnB(first.refreshToken));
      expect(second.user).toMatchObject({ id: userId, roles: [] });
      expect(counter.reads).toBe(1);
      ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: true } }, platform));
      expect(failed(await refreshOnB(second.refreshToken)).reason).toBe("NO_ROLES");
      expect(counter.reads).toBe(2);
      // The VidaPlus refresh (a new access token for the bearer's session) refuses them too.
      const reissued = await fetch(`${b.baseUrl}/auth/refresh_token`, {
        method: "POST",
        headers: { authorization: `Bearer ${second.accessToken}` },
      });
      expect(reissued.status).toBe(403);
    } finally {
      counter.restore();
      ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: false } }, platform));
    }
  });

  it("a tenant that comes to require roles refuses the next refresh of a user without any", async () => {
    const { userId, refreshToken } = await signedIn();
    ok(await admin.call("SetUserRoles", { tenant, userId, roles: [] }, platform));
    ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: true } }, platform));
    try {
      // The session and user ids are in every access token: a wrong secret for them (the change
      // dropped the copy) is TOKEN_INVALID, with no PostgreSQL read and nothing said of the account.
      const { sessionId } = parseRefreshToken(refreshToken)!;
      const counter = countUserReads();
      try {
        const guessed = recordSecret(formatRefreshToken(userId, sessionId, newSecret()));
        expect(failed(await refreshOnB(guessed)).reason).toBe("TOKEN_INVALID");
        expect(counter.reads).toBe(0);
      } finally {
        counter.restore();
      }
      expect(failed(await refreshOnB(refreshToken)).reason).toBe("NO_ROLES");
    } finally {
      ok(await admin.call("UpdateTenant", { tenant, policy: { rolesRequired: false } }, platform));
    }
  });

  it("DisableUser refuses the next refresh (ACCOUNT_DISABLED), EnableUser lets a new sign-in refresh again", async () => {
    const { userId, email, password, refreshToken } = await signedIn();
    ok(await admin.call("DisableUser", { tenant, userId }, platform));
    expect(failed(await refreshOnB(refreshToken)).reason).toBe("ACCOUNT_DISABLED");
    ok(await admin.call("EnableUser", { tenant, userId }, platform));
    const again = ok(await onA.call("Login", { identifier: email, password }, { "x-tenant": tenant }));
    expect(ok(await refreshOnB(again.refreshToken)).user.isActive).toBe(true);
  });

  it("DeleteUser refuses the next refresh (SESSION_REVOKED) and leaves no copy", async () => {
    const { userId, refreshToken } = await signedIn();
    ok(await admin.call("DeleteUser", { tenant, userId }, platform));
    expect(await redis.exists(copyKey(userId))).toBe(0);
    expect(failed(await refreshOnB(refreshToken)).reason).toBe("SESSION_REVOKED");
  });

  it("keeps no copy read before a change that finished in between (the cache-aside race)", async () => {
    const { userId, refreshToken } = await signedIn();
    await b.app.deps.sessions.userChanged(userId); // no copy: the next refresh reads PostgreSQL
    const users = b.app.deps.users;
    const findById = users.findById.bind(users);
    (users as { findById: typeof users.findById }).findById = async (id) => {
      const found = await findById(id); // the user as they were …
      ok(await admin.call("UpdateUser", { tenant, userId, fullName: "After" }, platform)); // … changed meanwhile
      return found;
    };
    let next: string;
    try {
      next = ok(await refreshOnB(refreshToken)).refreshToken;
    } finally {
      (users as { findById: typeof users.findById }).findById = findById;
    }
    expect(await redis.exists(copyKey(userId))).toBe(0);
    expect(ok(await refreshOnB(next)).user.fullName).toBe("After");
  });

  /**
   * Replaces `name` of `object` by `replacement` (given the original) until the returned restore
   * runs: the service's own stores, with one step made to fail as an unreachable Redis would.
   */
  function interpose<T extends object, K extends keyof T>(object: T, name: K, replacement: (original: T[K]) => T[K]) {
    const original = object[name];
    object[name] = replacement(typeof original === "function" ? (original.bind(object) as T[K]) : original);
    return () => {
      object[name] = original;
    };
  }

  const unreachable = () => new AuthError("UNAVAILABLE", { cause: new Error("Connection is closed.") });

  /** A user without roles in a new tenant that requires none, signed in on A (a copy kept). */
  async function signedInWithoutRoles(tenantId: string) {
    ok(await admin.call("CreateTenant", { id: tenantId, displayName: "Generation" }, platform));
    const email = `g.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    const userId = ok(await admin.call("CreateUser", { tenant: tenantId, email, password }, platform)).user.id as string;
    ok(await admin.call("SetUserRoles", { tenant: tenantId, userId, roles: [] }, platform));
    const login = ok(await onA.call("Login", { identifier: email, password }, { "x-tenant": tenantId }));
    expect(await redis.exists(copyKey(userId))).toBe(1);
    return { userId, refreshToken: login.refreshToken as string };
  }

  it("uses no copy kept before the tenant's generation was lost (the key deleted after a tenant change)", async () => {
    const fresh = `gen${randomBytes(3).toString("hex")}`;
    const generationKey = `${a.config.redisKeyPrefix}{t:${fresh}}:g`;
    // The tenant has never changed: its generation key does not exist when Login keeps the copy.
    expect(await redis.exists(generationKey)).toBe(0);
    const { refreshToken } = await signedInWithoutRoles(fresh);
    ok(await admin.call("UpdateTenant", { tenant: fresh, policy: { rolesRequired: true } }, platform));
    // Lost, as after a restart without persistence, an eviction or a failover.
    await redis.del(generationKey);
    expect(failed(await onA.call("Refresh", { refreshToken }, { "x-tenant": fresh })).reason).toBe("NO_ROLES");
  });

  it("a user change whose Redis step after the commit fails leaves no earlier copy in use (the copy went before the write)", async () => {
    const { userId, refreshToken } = await signedIn();
    const { directory, sessions } = a.app.deps;
    let written = false;
    let copyAtWrite: number | undefined;
    const restoreWrite = interpose(directory, "setRoles", (setRoles) => async (...args) => {
      copyAtWrite = await redis.exists(copyKey(userId));
      const updated = await setRoles(...args);
      written = true;
      return updated;
    });
    const restoreStep = interpose(sessions, "userChanged", (userChanged) => async (id) => {
      if (written) throw unreachable();
      return userChanged(id);
    });
    try {
      expect(failed(await admin.call("SetUserRoles", { tenant, userId, roles: ["user"] }, platform)).reason).toBe("UNAVAILABLE");
    } finally {
      restoreStep();
      restoreWrite();
    }
    expect(copyAtWrite).toBe(0);
    const refreshed = ok(await refreshOnB(refreshToken));
    expect(refreshed.user.roles).toEqual(["user"]);
    expect(claimsOf(refreshed.accessToken).roles).toEqual(["user"]);
  });

  it("a tenant change whose Redis step after the commit fails leaves no earlier copy in use (the generation moved before)", async () => {
    const fresh = `gen${randomBytes(3).toString("hex")}`;
    const { refreshToken } = await signedInWithoutRoles(fresh);
    const { tenants, sessions } = a.app.deps;
    let written = false;
    const restoreWrite = interpose(tenants, "update", (update) => async (...args) => {
      const updated = await update(...args);
      written = true;
      return updated;
    });
    const restoreStep = interpose(sessions, "tenantChanged", (tenantChanged) => async (id) => {
      if (written) throw unreachable();
      return tenantChanged(id);
    });
    try {
      const answer = await admin.call("UpdateTenant", { tenant: fresh, policy: { rolesRequired: true } }, platform);
      expect(failed(answer).reason).toBe("UNAVAILABLE");
    } finally {
      restoreStep();
      restoreWrite();
    }
    expect(failed(await onA.call("Refresh", { refreshToken }, { "x-tenant": fresh })).reason).toBe("NO_ROLES");
  });

  it("a change whose Redis step before the write fails is refused UNAVAILABLE with nothing written", async () => {
    const { userId } = await signedIn();
    const fresh = `gen${randomBytes(3).toString("hex")}`;
    ok(await admin.call("CreateTenant", { id: fresh, displayName: "Unchanged" }, platform));
    const { sessions, users, tenants } = a.app.deps;
    const restoreUser = interpose(sessions, "userChanged", () => async () => {
      throw unreachable();
    });
    const restoreTenant = interpose(sessions, "tenantChanged", () => async () => {
      throw unreachable();
    });
    try {
      expect(failed(await admin.call("SetUserRoles", { tenant, userId, roles: ["user"] }, platform)).reason).toBe("UNAVAILABLE");
      const answer = await admin.call("UpdateTenant", { tenant: fresh, policy: { rolesRequired: true } }, platform);
      expect(failed(answer).reason).toBe("UNAVAILABLE");
    } finally {
      restoreTenant();
      restoreUser();
    }
    expect((await users.findById(userId))?.roles).toEqual(["user", "viewer"]);
    expect((await tenants.find(fresh))?.settings.rolesRequired).toBe(false);
    // Repeating the change finishes it.
    ok(await admin.call("SetUserRoles", { tenant, userId, roles: ["user"] }, platform));
    expect((await users.findById(userId))?.roles).toEqual(["user"]);
  });
});
