/**
 * The ports of the domain in memory, for unit tests of the flows that run in milliseconds: users,
 * one-time tokens, mail, background work, audit events, access tokens and a clock are plain fakes;
 * sessions and the abuse limits are the real Redis adapters over the embedded Redis stand-in (the
 * same Lua the contract test in test/integration/session-store.test.ts runs against a real Redis). The
 * real-store suites stay as they are; these add a depth that needs no server.
 */
import { randomBytes, randomUUID } from "node:crypto";
import RedisMock from "ioredis-mock";
import type { AbuseLimitsConfig } from "../../src/config.js";
import { AuthError } from "../../src/domain/errors.js";
import type { AccessClaims, AccountCredentials, SecurityEvent, User, UserCredentials } from "../../src/domain/model.js";
import type {
  AccessTokens,
  ActiveChange,
  AuthDeps,
  AuthPolicy,
  ConsumedToken,
  NewUser,
  OneTimePurpose,
  OneTimeTokenRecord,
  OneTimeTokens,
  SecondFactorStore,
  SignInRead,
  TenantStore,
  TokenEffect,
  TotpFactor,
  UserRepository,
} from "../../src/domain/ports.js";
import { DEFAULT_TENANT_SETTINGS, type Tenant } from "../../src/domain/tenants.js";
import { createSecretBox } from "../../src/infra/crypto/secret-box.js";
import { createAbuseLimits } from "../../src/infra/redis/abuse-limits.js";
import { createMfaTickets } from "../../src/infra/redis/mfa-tickets.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";

export const testPolicy: AuthPolicy = {
  defaultTenant: "default",
  accessTokenTtlMs: 15 * 60_000,
  refreshTokenTtlMs: 7 * 86_400_000,
  sessionMaxLifetimeMs: 30 * 86_400_000,
  sessionsPerUserMax: 100,
  refreshReuseGraceMs: 10_000,
  passwordMinLength: 8,
  requireVerifiedEmail: false,
  maxTokenBytes: 8192,
  emailTokenTtlMs: 86_400_000,
  resetTokenTtlMs: 15 * 60_000,
  verifyEmailUrl: "https://app.test/verify",
  verifyEmailUrlByApi: { ucontact: "https://app.test/api/auth/confirmed_email/{token}" },
  resetPasswordUrl: "https://app.test/reset",
  inviteTokenTtlMs: 7 * 86_400_000,
  platformTenant: "system",
  mfaIssuer: "Authward Test",
  mfaValidWindow: 1,
  mfaTicketTtlMs: 5 * 60_000,
  mfaEnrollmentTtlMs: 15 * 60_000,
};

/** The abuse limits' defaults (src/config.ts). */
export const testLimits: AbuseLimitsConfig = {
  login: {
    maxFailuresPerAccountAddress: 5,
    failureWindowMs: 3_600_000,
    lockDurationMs: 60_000,
    lockMaxDurationMs: 3_600_000,
    maxFailuresPerAccount: 20,
    accountWindowMs: 900_000,
    maxFailuresPerAddress: 100,
    addressWindowMs: 3_600_000,
  },
  mail: { perAddressPerHour: 5, perClientPerHour: 20, perOwnerPerHour: 5 },
  secondFactor: { maxAttempts: 10, windowMs: 900_000 },
  ownerAddressTtlMs: 30 * 86_400_000,
};

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public ms = 1_800_000_000_000) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

interface StoredUser {
  user: User;
  passwordHash: string;
}

/** Users by id; lookups are case-insensitive by email (with an `@`) or username. */
export class MemoryUsers implements UserRepository {
  readonly rows = new Map<string, StoredUser>();
  readonly tenants = new Set(["default"]);
  /** Where `findForSignIn` reads the tenant and the second factor (memoryDeps sets them). */
  signInSources: { readonly tenants: TenantStore; readonly secondFactors: SecondFactorStore } | undefined;

  async tenantExists(tenant: string) {
    return this.tenants.has(tenant);
  }
  async create(input: NewUser): Promise<User> {
    for (const { user } of this.rows.values()) {
      if (user.tenant !== input.tenant) continue;
      if (user.email.toLowerCase() === input.email.toLowerCase()) throw new AuthError("EMAIL_TAKEN");
      if (input.username !== null && user.username?.toLowerCase() === input.username.toLowerCase()) throw new AuthError("USERNAME_TAKEN");
    }
    const user: User = {
      ...input,
      id: randomUUID(),
      number: input.number ?? this.rows.size + 1,
      roles: [...input.roles],
      permissions: {},
      attributes: input.attributes ?? {},
      isActive: true,
      emailVerifiedAt: input.emailVerifiedAt ?? null,
      createdAt: new Date(),
      sessionEpoch: 0,
    };
    this.rows.set(user.id, { user, passwordHash: input.passwordHash });
    return user;
  }
  async findCredentialsByLogin(tenant: string, login: string): Promise<UserCredentials | null> {
    const key = login.trim().toLowerCase();
    for (const row of this.rows.values()) {
      const { user } = row;
      const value = key.includes("@") ? user.email : user.username;
      if (user.tenant === tenant && value?.toLowerCase() === key) return { ...row };
    }
    return null;
  }
  async findAccountByLogin(tenant: string, login: string): Promise<AccountCredentials | null> {
    const found = await this.findCredentialsByLogin(tenant, login);
    if (found === null) return null;
    const { id, email, isActive, emailVerifiedAt, sessionEpoch } = found.user;
    return {
      user: { id, tenant: found.user.tenant, email, isActive, emailVerified: emailVerifiedAt !== null, sessionEpoch },
      passwordHash: found.passwordHash,
    };
  }
  async findAccountsByLoginInAnyTenant(login: string, exceptTenant: string, limit: number): Promise<AccountCredentials[]> {
    const tenants = new Set([...this.rows.values()].map((row) => row.user.tenant));
    const found: AccountCredentials[] = [];
    for (const tenant of tenants) {
      const account = tenant === exceptTenant ? null : await this.findAccountByLogin(tenant, login);
      if (account !== null && found.length < limit) found.push(account);
    }
    return found;
  }
  async findCredentialsById(userId: string): Promise<UserCredentials | null> {
    const row = this.rows.get(userId);
    return row === undefined ? null : { ...row };
  }
  async findById(userId: string): Promise<User | null> {
    return this.rows.get(userId)?.user ?? null;
  }
  async findForSignIn(userId: string): Promise<SignInRead | null> {
    const user = await this.findById(userId);
    if (user === null) return null;
    if (this.signInSources === undefined) throw new Error("MemoryUsers.signInSources is not set");
    const { tenants, secondFactors } = this.signInSources;
    const factor = await secondFactors.find(userId);
    return { user, tenant: await tenants.find(user.tenant), secondFactorConfirmed: factor?.confirmedAt != null };
  }
  async updatePasswordHash(userId: string, passwordHash: string): Promise<number> {
    const row = this.rows.get(userId);
    if (row === undefined) throw new AuthError("USER_NOT_FOUND");
    row.passwordHash = passwordHash;
    return this.raise(row);
  }
  async raiseSessionEpoch(userId: string): Promise<number | null> {
    const row = this.rows.get(userId);
    return row === undefined ? null : this.raise(row);
  }
  async setActive(userId: string, active: boolean): Promise<ActiveChange | null> {
    const row = this.rows.get(userId);
    if (row === undefined) return null;
    const wasActive = row.user.isActive;
    row.user = { ...row.user, isActive: active };
    return { tenant: row.user.tenant, wasActive, sessionEpoch: this.raise(row) };
  }
  /** As the SQL does: the epoch rises with every change that ends access. */
  private raise(row: StoredUser): number {
    row.user = { ...row.user, sessionEpoch: row.user.sessionEpoch + 1 };
    return row.user.sessionEpoch;
  }
  async upgradePasswordHash(userId: string, previousHash: string, passwordHash: string): Promise<void> {
    const row = this.rows.get(userId);
    if (row !== undefined && row.passwordHash === previousHash) row.passwordHash = passwordHash;
  }
  /** Test helper: changes the stored user. */
  update(userId: string, change: Partial<User>): void {
    const row = this.rows.get(userId);
    if (row !== undefined) row.user = { ...row.user, ...change };
  }
}

interface StoredToken extends OneTimeTokenRecord {
  readonly purpose: OneTimePurpose;
}

/** One-time tokens by hash; `consume` applies its effect to the users, as the SQL statement does. */
export class MemoryOneTimeTokens implements OneTimeTokens {
  readonly tokens = new Map<string, StoredToken>();
  constructor(private readonly users: MemoryUsers) {}

  async issue(token: Parameters<OneTimeTokens["issue"]>[0]): Promise<void> {
    this.tokens.set(token.tokenHash, { userId: token.userId, purpose: token.purpose, expiresAt: token.expiresAt, usedAt: null });
  }
  async find(purpose: OneTimePurpose, tokenHash: string): Promise<OneTimeTokenRecord | null> {
    const token = this.tokens.get(tokenHash);
    return token === undefined || token.purpose !== purpose ? null : token;
  }
  async consume(purpose: OneTimePurpose, tokenHash: string, now: Date, effect: TokenEffect): Promise<ConsumedToken | null> {
    const token = this.tokens.get(tokenHash);
    if (token === undefined || token.purpose !== purpose || token.usedAt !== null || token.expiresAt <= now) return null;
    this.tokens.set(tokenHash, { ...token, usedAt: now });
    const verified = { emailVerifiedAt: this.users.rows.get(token.userId)?.user.emailVerifiedAt ?? now };
    this.users.update(token.userId, verified);
    const sessionEpoch =
      effect.kind === "reset_password"
        ? await this.users.updatePasswordHash(token.userId, effect.passwordHash)
        : (this.users.rows.get(token.userId)?.user.sessionEpoch ?? 0);
    return { userId: token.userId, sessionEpoch };
  }
  async voidAll(userId: string, purpose: OneTimePurpose, now: Date): Promise<void> {
    for (const [hash, token] of this.tokens) {
      if (token.userId === userId && token.purpose === purpose && token.usedAt === null) this.tokens.set(hash, { ...token, usedAt: now });
    }
  }
}

/** Tenants in memory; `default` exists, following the service's settings. */
export class MemoryTenants implements TenantStore {
  readonly rows = new Map<string, Tenant>([
    [
      "default",
      {
        id: "default",
        displayName: "default",
        isActive: true,
        settings: DEFAULT_TENANT_SETTINGS,
        createdAt: new Date(0),
        updatedAt: new Date(0),
      },
    ],
  ]);
  async find(id: string) {
    return this.rows.get(id) ?? null;
  }
  async create(tenant: Parameters<TenantStore["create"]>[0]) {
    if (this.rows.has(tenant.id)) throw new AuthError("TENANT_EXISTS");
    const row: Tenant = { ...tenant, isActive: true, updatedAt: tenant.createdAt };
    this.rows.set(tenant.id, row);
    return row;
  }
  async list(afterId: string | null, limit: number) {
    return [...this.rows.values()]
      .filter((t) => afterId === null || t.id > afterId)
      .sort((a, b) => a.id.localeCompare(b.id))
      .slice(0, limit);
  }
  async update(id: string, changes: Parameters<TenantStore["update"]>[1], at: Date) {
    const row = this.rows.get(id);
    if (row === undefined) return null;
    const updated: Tenant = {
      ...row,
      displayName: changes.displayName ?? row.displayName,
      isActive: changes.isActive ?? row.isActive,
      settings: { ...row.settings, ...changes.settings },
      updatedAt: at,
    };
    this.rows.set(id, updated);
    return updated;
  }
}

interface StoredFactor {
  factor: Omit<TotpFactor, "recoveryCodesLeft">;
  lastStep: number | null;
  codes: Map<string, Date | null>;
}

/** Second factors in memory, with the conditional semantics of the SQL (a step only forward, a code once). */
export class MemorySecondFactors implements SecondFactorStore {
  readonly rows = new Map<string, StoredFactor>();

  async find(userId: string): Promise<TotpFactor | null> {
    const row = this.rows.get(userId);
    if (row === undefined) return null;
    return { ...row.factor, recoveryCodesLeft: [...row.codes.values()].filter((used) => used === null).length };
  }
  async beginEnrollment(e: Parameters<SecondFactorStore["beginEnrollment"]>[0]): Promise<boolean> {
    if (this.rows.get(e.userId)?.factor.confirmedAt != null) return false;
    this.rows.set(e.userId, {
      factor: {
        userId: e.userId,
        tenant: e.tenant,
        sealedSecret: e.sealedSecret,
        createdAt: e.at,
        confirmedAt: null,
        enrollmentExpiresAt: e.expiresAt,
      },
      lastStep: null,
      codes: new Map(),
    });
    return true;
  }
  async confirmEnrollment(c: Parameters<SecondFactorStore["confirmEnrollment"]>[0]): Promise<boolean> {
    const row = this.rows.get(c.userId);
    const f = row?.factor;
    if (row === undefined || f === undefined || f.confirmedAt !== null || f.sealedSecret !== c.sealedSecret) return false;
    if ((f.enrollmentExpiresAt?.getTime() ?? 0) <= c.at.getTime()) return false;
    row.factor = { ...f, confirmedAt: c.at, enrollmentExpiresAt: null };
    row.lastStep = c.step;
    row.codes = new Map(c.recoveryCodeHashes.map((h) => [h, null]));
    return true;
  }
  async acceptStep(userId: string, step: number): Promise<boolean> {
    const row = this.rows.get(userId);
    if (row === undefined || row.factor.confirmedAt === null || (row.lastStep !== null && row.lastStep >= step)) return false;
    row.lastStep = step;
    return true;
  }
  async useRecoveryCode(userId: string, codeHash: string, at: Date): Promise<boolean> {
    const codes = this.rows.get(userId)?.codes;
    if (codes === undefined || codes.get(codeHash) !== null) return false;
    codes.set(codeHash, at);
    return true;
  }
  async replaceRecoveryCodes(userId: string, codeHashes: readonly string[]): Promise<boolean> {
    const row = this.rows.get(userId);
    if (row === undefined || row.factor.confirmedAt === null) return false;
    row.codes = new Map(codeHashes.map((h) => [h, null]));
    return true;
  }
  async remove(userId: string): Promise<number> {
    return this.rows.delete(userId) ? 1 : 0;
  }
}

/** Access tokens that are readable JSON, expiring at the policy's lifetime; `verify` checks expiry only. */
function fakeAccessTokens(ttlMs: number): AccessTokens {
  return {
    async issue(claims, now, notAfter) {
      const expiresAt = Math.floor(Math.min(now + ttlMs, notAfter ?? Number.POSITIVE_INFINITY) / 1000);
      const full: AccessClaims = { ...claims, issuedAt: Math.floor(now / 1000), expiresAt };
      return { token: `fake.${Buffer.from(JSON.stringify(full)).toString("base64url")}`, expiresAt };
    },
    async verify(token, { now }) {
      if (!token.startsWith("fake.")) return { active: false, reason: "malformed" };
      const claims = JSON.parse(Buffer.from(token.slice(5), "base64url").toString("utf8")) as AccessClaims;
      return claims.expiresAt * 1000 <= now ? { active: false, reason: "expired" } : { active: true, claims };
    },
  };
}

export interface SentMail {
  readonly kind: "verification" | "reset" | "invitation";
  readonly to: string;
  readonly link: URL;
}

/** Every port in memory, and what the tests look at. */
export function memoryDeps(policy: Partial<AuthPolicy> = {}) {
  const clock = new ManualClock();
  const users = new MemoryUsers();
  const tenants = new MemoryTenants();
  const oneTimeTokens = new MemoryOneTimeTokens(users);
  const mail: SentMail[] = [];
  const events: SecurityEvent[] = [];
  const pending: Promise<void>[] = [];
  const redis = new RedisMock();
  const fullPolicy = { ...testPolicy, ...policy };
  const secondFactors = new MemorySecondFactors();
  users.signInSources = { tenants, secondFactors };
  const deps: AuthDeps = {
    users,
    tenants,
    grants: {
      async of(userId) {
        const user = await users.findById(userId);
        return user === null ? null : { tenant: user.tenant, roles: user.roles, permissions: user.permissions };
      },
      async changed() {},
    },
    sessions: createSessionStore(redis, `m${randomUUID().slice(0, 8)}:`, fullPolicy.sessionMaxLifetimeMs),
    passwords: {
      hash: async (password) => `hash:${password}`,
      verify: async (password, stored) => stored === `hash:${password}`,
      verifyAgainstDummy: async () => {},
      needsRehash: () => false,
    },
    commonPasswords: { includes: (password) => password === "password123" },
    tokens: fakeAccessTokens(fullPolicy.accessTokenTtlMs),
    oneTimeTokens,
    mailer: {
      sendVerification: async (to, link) => void mail.push({ kind: "verification", to, link }),
      sendPasswordReset: async (to, link) => void mail.push({ kind: "reset", to, link }),
      sendInvitation: async (to, link) => void mail.push({ kind: "invitation", to, link }),
    },
    ...createAbuseLimits(redis, `l${randomUUID().slice(0, 8)}:`, testLimits),
    background: { defer: (_ctx, _label, task) => void pending.push(task()) },
    events: { record: async (event) => void events.push(event) },
    clock,
    policy: fullPolicy,
    secondFactors,
    secretBox: createSecretBox(randomBytes(32)),
    // The real adapter over the same stand-in Redis (the throttles come with the abuse limits above).
    mfaTickets: createMfaTickets(redis, `m${randomUUID().slice(0, 8)}:`),
  };
  return {
    deps,
    clock,
    users,
    tenants,
    oneTimeTokens,
    mail,
    events,
    redis,
    secondFactors,
    /** Waits for the mail the flows deferred. */
    settle: () => Promise.all(pending.splice(0)).then(() => undefined),
  };
}
