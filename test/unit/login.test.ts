/**
 * The login flow's promises about what an attacker can learn, checked with in-memory fakes of the
 * ports (the integration and end-to-end suites use the real stores).
 */
import { describe, expect, it } from "vitest";
import type { LoginThrottle, Refusal } from "../../src/domain/abuse-limits.js";
import { AuthError } from "../../src/domain/errors.js";
import { login } from "../../src/domain/login.js";
import type { RequestContext, SecurityEvent, User } from "../../src/domain/model.js";
import type { AuthDeps, CreateOutcome, NewSession, PasswordHasher } from "../../src/domain/ports.js";
import { DEFAULT_TENANT_SETTINGS, type Tenant, type TenantSettings } from "../../src/domain/tenants.js";

const user: User = {
  id: "00000000-0000-4000-8000-000000000001",
  number: 1,
  tenant: "default",
  email: "ann@example.com",
  username: "ann",
  fullName: null,
  roles: ["user"],
  permissions: {},
  attributes: {},
  isActive: true,
  emailVerifiedAt: null,
  createdAt: new Date(0),
  sessionEpoch: 3,
};

function fakeDeps(
  overrides: Partial<User> = {},
  requireVerifiedEmail = false,
  tenant: Partial<Tenant & TenantSettings> = {},
  createOutcome: CreateOutcome = "created",
  refusal: Refusal | null = null,
) {
  const calls = { verify: 0, dummy: 0, sessions: 0 };
  /** What the login asked of the guessing limits, in order. */
  const throttle: string[] = [];
  const loginThrottle: LoginThrottle = {
    async begin(attempt) {
      throttle.push(`begin ${attempt.account.kind} ${attempt.kind} ${attempt.address}`);
      if (refusal !== null) return { allowed: false, refusal };
      return {
        allowed: true,
        failed: async () => {
          throttle.push("failed");
          return null;
        },
        succeeded: async (completesSignIn) => void throttle.push(`succeeded ${completesSignIn}`),
      };
    },
    signedIn: async (account, address) => void throttle.push(`signed in ${account.kind} ${address}`),
    lift: async () => 0,
  };
  const events: SecurityEvent[] = [];
  const created: NewSession[] = [];
  /** Repository calls, in order: what PostgreSQL is asked, found account or not. */
  const queries: string[] = [];
  const passwords: PasswordHasher = {
    hash: async (pw) => `hash:${pw}`,
    verify: async (pw, stored) => {
      calls.verify += 1;
      return stored === `hash:${pw}`;
    },
    verifyAgainstDummy: async () => {
      calls.dummy += 1;
    },
    needsRehash: () => false,
  };
  const stored = { ...user, ...overrides };
  const tenantOf = (id: string): Tenant => ({
    id,
    displayName: id,
    isActive: tenant.isActive ?? true,
    settings: { ...DEFAULT_TENANT_SETTINGS, ...tenant },
    createdAt: new Date(0),
    updatedAt: new Date(0),
  });
  const deps = {
    users: {
      findAccountByLogin: async (_tenant: string, login: string) => {
        queries.push("findAccountByLogin");
        if (login !== "ann@example.com" && login !== "ann") return null;
        const { id, tenant, email, isActive, emailVerifiedAt, sessionEpoch } = stored;
        const account = { id, tenant, email, isActive, emailVerified: emailVerifiedAt !== null, sessionEpoch };
        return { user: account, passwordHash: "hash:right-password" };
      },
      findById: async (id: string) => {
        queries.push("findById");
        return id === stored.id ? stored : null;
      },
      // Nobody here has a second factor.
      findForSignIn: async (id: string) => {
        queries.push("findForSignIn");
        return id === stored.id ? { user: stored, tenant: tenantOf(stored.tenant), secondFactorConfirmed: false } : null;
      },
    },
    sessions: {
      create: async (session: NewSession) => {
        calls.sessions += 1;
        created.push(session);
        return createOutcome;
      },
      copyMarks: async () => ({ userChange: "", tenantGeneration: "" }),
      keepCopy: async () => {},
    },
    tenants: { find: async (id: string): Promise<Tenant> => tenantOf(id) },
    passwords,
    // Nobody here has a second factor.
    secondFactors: { find: async () => null },
    loginThrottle,
    background: { defer: (_ctx: unknown, _label: string, task: () => Promise<void>) => void task() },
    tokens: { issue: async () => ({ token: "access", expiresAt: 2_000_000_000 }) },
    events: {
      record: async (event: SecurityEvent) => {
        events.push(event);
      },
    },
    clock: { now: () => 1_700_000_000_000 },
    policy: {
      defaultTenant: "default",
      accessTokenTtlMs: 900_000,
      refreshTokenTtlMs: 86_400_000,
      sessionMaxLifetimeMs: 2 * 86_400_000,
      refreshReuseGraceMs: 10_000,
      passwordMinLength: 8,
      requireVerifiedEmail,
      maxTokenBytes: 8192,
    },
  } as unknown as AuthDeps;
  return { deps, calls, events, created, queries, throttle };
}

const ctx: RequestContext = { tenantHeader: undefined, credential: { kind: "none" }, ip: "203.0.113.9", userAgent: "test" };

async function failure(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(error)}`);
  return error;
}

describe("login", () => {
  it("does one password verification of the same cost for an unknown user as for a wrong password", async () => {
    const unknown = fakeDeps();
    const unknownError = await failure(login(unknown.deps, ctx, { identifier: "bob@example.com", password: "whatever-pw" }));
    const wrong = fakeDeps();
    const wrongError = await failure(login(wrong.deps, ctx, { identifier: "ann@example.com", password: "whatever-pw" }));

    expect(unknown.calls).toEqual({ verify: 0, dummy: 1, sessions: 0 });
    expect(wrong.calls).toEqual({ verify: 1, dummy: 0, sessions: 0 });
    expect([unknownError.reason, unknownError.message]).toEqual([wrongError.reason, wrongError.message]);
    expect(unknownError.reason).toBe("INVALID_CREDENTIALS");
  });

  it("asks the repository the same for an unknown user, a wrong password and a disabled account; roles only once the password is proved", async () => {
    const unknown = fakeDeps();
    await failure(login(unknown.deps, ctx, { identifier: "bob@example.com", password: "whatever-pw" }));
    const wrong = fakeDeps();
    await failure(login(wrong.deps, ctx, { identifier: "ann@example.com", password: "whatever-pw" }));
    const disabled = fakeDeps({ isActive: false });
    await failure(login(disabled.deps, ctx, { identifier: "ann@example.com", password: "whatever-pw" }));
    expect(unknown.queries).toEqual(["findAccountByLogin"]);
    expect(wrong.queries).toEqual(unknown.queries);
    expect(disabled.queries).toEqual(unknown.queries);

    const right = fakeDeps();
    const tokens = await login(right.deps, ctx, { identifier: "ann", password: "right-password" });
    expect(right.queries).toEqual(["findAccountByLogin", "findForSignIn"]);
    expect(tokens.user.roles).toEqual(["user"]);
  });

  it("tells a disabled account only to someone who knows the password", async () => {
    const disabled = fakeDeps({ isActive: false });
    expect((await failure(login(disabled.deps, ctx, { identifier: "ann", password: "wrong-password" }))).reason).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await failure(login(disabled.deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe("ACCOUNT_DISABLED");
    expect(disabled.calls.sessions).toBe(0);
  });

  it("refuses an unverified email only when REQUIRE_VERIFIED_EMAIL is on, and only after the password", async () => {
    const strict = fakeDeps({}, true);
    expect((await failure(login(strict.deps, ctx, { identifier: "ann", password: "wrong-password" }))).reason).toBe("INVALID_CREDENTIALS");
    expect((await failure(login(strict.deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe("EMAIL_NOT_VERIFIED");
    const lenient = fakeDeps({}, false);
    const tokens = await login(lenient.deps, ctx, { identifier: "ANN", password: "right-password" });
    expect(tokens.user.id).toBe(user.id);
    expect(tokens.refreshExpiresIn).toBe(86_400);
  });

  it("follows the tenant's policy over the service's, and tells it only after the password", async () => {
    const strictTenant = fakeDeps({}, false, { verifiedEmailRequired: true });
    expect((await failure(login(strictTenant.deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe(
      "EMAIL_NOT_VERIFIED",
    );
    const lenientTenant = fakeDeps({}, true, { verifiedEmailRequired: false });
    expect((await login(lenientTenant.deps, ctx, { identifier: "ann", password: "right-password" })).user.id).toBe(user.id);

    const rolesRequired = fakeDeps({ roles: [] }, false, { rolesRequired: true });
    expect((await failure(login(rolesRequired.deps, ctx, { identifier: "ann", password: "wrong-password" }))).reason).toBe(
      "INVALID_CREDENTIALS",
    );
    expect((await failure(login(rolesRequired.deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe("NO_ROLES");
    expect(rolesRequired.calls.sessions).toBe(0);
    const rolesOptional = fakeDeps({ roles: [] });
    expect((await login(rolesOptional.deps, ctx, { identifier: "ann", password: "right-password" })).user.roles).toEqual([]);

    const disabledTenant = fakeDeps({}, false, { isActive: false });
    expect((await failure(login(disabledTenant.deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe(
      "TENANT_DISABLED",
    );
  });

  it("checks its input before looking anybody up", async () => {
    const { deps, calls } = fakeDeps();
    expect((await failure(login(deps, ctx, { identifier: "  ", password: "x" }))).message).toBe("identifier: required");
    expect((await failure(login(deps, ctx, { identifier: "ann", password: "" }))).message).toBe("password: required");
    expect((await failure(login(deps, { ...ctx, tenantHeader: "Bad Tenant!" }, { identifier: "ann", password: "x" }))).reason).toBe(
      "INVALID_TENANT",
    );
    expect(calls).toEqual({ verify: 0, dummy: 0, sessions: 0 });
  });

  it("keeps the epoch it read before the password check when it reads the roles after it", async () => {
    const { deps, created } = fakeDeps();
    // A password change finished during the bcrypt: the read after it sees the raised epoch.
    (deps.users as { findById: (id: string) => Promise<User> }).findById = async () => ({ ...user, sessionEpoch: 4 });
    await login(deps, ctx, { identifier: "ann", password: "right-password" });
    expect(created[0]).toMatchObject({ userId: user.id, epoch: 3 });
  });

  it("starts the session on the epoch it read with the credentials, and its refresh token names the user", async () => {
    const { deps, created } = fakeDeps({ emailVerifiedAt: new Date(1) });
    const tokens = await login(deps, ctx, { identifier: "ann", password: "right-password" });
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({ userId: user.id, epoch: 3 });
    expect(tokens.refreshToken.split(".")).toHaveLength(3);
    expect(tokens.refreshToken.split(".")[1]).toBe(created[0]?.id);
  });

  it.each([
    ["stale", "SESSION_REVOKED", "superseded"],
    ["disabled", "ACCOUNT_DISABLED", "disabled"],
  ] as const)("answers a session the store refuses as %s with %s, and audits it", async (outcome, reason, cause) => {
    const { deps, events } = fakeDeps({}, false, {}, outcome);
    expect((await failure(login(deps, ctx, { identifier: "ann", password: "right-password" }))).reason).toBe(reason);
    expect(events.map((e) => [e.type, e.detail?.cause])).toEqual([["login_failed", cause]]);
  });

  it("asks the guessing limits the same things for an unknown user as for a wrong password", async () => {
    const unknown = fakeDeps();
    await failure(login(unknown.deps, ctx, { identifier: "bob@example.com", password: "whatever-pw" }));
    const wrong = fakeDeps();
    await failure(login(wrong.deps, ctx, { identifier: "ann@example.com", password: "whatever-pw" }));
    expect(unknown.throttle).toEqual(["begin unknown password 203.0.113.9", "failed"]);
    expect(wrong.throttle).toEqual(["begin user password 203.0.113.9", "failed"]);
  });

  it("spends no bcrypt on a refused attempt, and answers with the limit's real wait", async () => {
    for (const identifier of ["ann", "bob@example.com"]) {
      const locked = fakeDeps({}, false, {}, "created", { limit: "account_address", retryAfterMs: 4200, first: false, locked: true });
      const error = await failure(login(locked.deps, ctx, { identifier, password: "right-password" }));
      expect([error.reason, error.category, error.retryAfterMs, error.metadata.limit]).toEqual([
        "ACCOUNT_LOCKED",
        "rate_limited",
        4200,
        "account_address",
      ]);
      expect(error.message).toBe("Too many failed sign-ins for this account from your address; retry in 5 s.");
      expect(locked.calls).toEqual({ verify: 0, dummy: 0, sessions: 0 });
    }
    const throttled = fakeDeps({}, false, {}, "created", { limit: "account", retryAfterMs: 900, first: true, locked: false });
    const error = await failure(login(throttled.deps, ctx, { identifier: "ann", password: "right-password" }));
    expect([error.reason, error.retryAfterMs]).toEqual(["RATE_LIMITED", 900]);
    expect(throttled.events.map((e) => [e.type, e.userId, e.detail?.limit])).toEqual([["login_throttled", user.id, "account"]]);
  });

  it("reports a right password, then the session it started as a completed sign-in", async () => {
    const { deps, throttle } = fakeDeps();
    await login(deps, ctx, { identifier: "ann", password: "right-password" });
    // The password alone does not complete a sign-in (a second factor may be due); the session does.
    expect(throttle).toEqual(["begin user password 203.0.113.9", "succeeded false", "signed in user 203.0.113.9"]);
  });
});

describe("login without x-tenant in any tenant (Vigia's legacy mode)", () => {
  /** The fake's accounts are in `tenants`; the lookup across tenants reads at most `limit`. */
  function legacyDeps(tenants: readonly string[]) {
    const fake = fakeDeps();
    const seen: { login: string; except: string; limit: number }[] = [];
    Object.assign(fake.deps.users, {
      findAccountsByLoginInAnyTenant: async (login: string, except: string, limit: number) => {
        fake.queries.push("findAccountsByLoginInAnyTenant");
        seen.push({ login, except, limit });
        if (login !== "ann@example.com") return [];
        const { id, email, isActive, sessionEpoch } = user;
        return tenants
          .filter((tenant) => tenant !== except)
          .slice(0, limit)
          .map((tenant) => ({
            user: { id, tenant, email, isActive, emailVerified: false, sessionEpoch },
            passwordHash: "hash:right-password",
          }));
      },
    });
    Object.assign(fake.deps.policy, { platformTenant: "system" });
    return { ...fake, seen };
  }
  const anyTenant = { identifier: "ANN@example.com", password: "right-password", anyTenant: true };

  it("signs in the one account that holds the address, in its tenant", async () => {
    const { deps, events, seen } = legacyDeps(["acme-pharma"]);
    const tokens = await login(deps, ctx, anyTenant);
    expect(tokens.user.id).toBe(user.id);
    expect(events.map((e) => [e.type, e.tenant])).toEqual([["login_succeeded", "acme-pharma"]]);
    // One bounded read, never in the platform tenant.
    expect(seen).toEqual([{ login: "ann@example.com", except: "system", limit: 2 }]);
  });

  it("answers an address held in several tenants as an unknown one, after the same work, even with the right password", async () => {
    const ambiguous = legacyDeps(["acme-pharma", "globex"]);
    const ambiguousError = await failure(login(ambiguous.deps, ctx, anyTenant));
    const unknown = legacyDeps([]);
    const unknownError = await failure(login(unknown.deps, ctx, anyTenant));
    expect([ambiguousError.reason, ambiguousError.message]).toEqual([unknownError.reason, unknownError.message]);
    expect(ambiguousError.reason).toBe("INVALID_CREDENTIALS");
    // One dummy verification each, no real one: the time does not tell them apart.
    expect(ambiguous.calls).toEqual({ verify: 0, dummy: 1, sessions: 0 });
    expect(ambiguous.calls).toEqual(unknown.calls);
    expect(ambiguous.queries).toEqual(unknown.queries);
    expect(ambiguous.events.map((e) => e.detail)).toEqual([{ cause: "unknown_user", lookup: "any_tenant" }]);
  });

  it("looks only in the named tenant when x-tenant is there, and refuses an unknown one at once", async () => {
    const named = legacyDeps(["acme-pharma", "globex"]);
    await login(named.deps, { ...ctx, tenantHeader: "default" }, anyTenant);
    expect(named.queries).toEqual(["findAccountByLogin", "findForSignIn"]);

    const missing = legacyDeps([]);
    Object.assign(missing.deps.tenants, { find: async () => null });
    expect((await failure(login(missing.deps, { ...ctx, tenantHeader: "no-such" }, anyTenant))).reason).toBe("TENANT_NOT_FOUND");
    expect(missing.calls).toEqual({ verify: 0, dummy: 0, sessions: 0 });
  });
});
