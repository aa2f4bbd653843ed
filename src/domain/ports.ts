/**
 * The ports the flows need: narrow interfaces with domain types only. Adapters in src/infra
 * implement them; src/app.ts wires them. Store adapters translate an unreachable store into
 * `AuthError("UNAVAILABLE")`.
 */

import type { LoginThrottle, MailThrottle } from "./abuse-limits.js";
import type { MfaTickets, SecondFactorStore, SecondFactorThrottle, SecretBox } from "./mfa/ports.js";
import type {
  AccountCredentials,
  OldApi,
  RequestContext,
  SecurityEvent,
  TokenCheck,
  TokenSubject,
  User,
  UserCredentials,
} from "./model.js";
import type { SessionStore } from "./session-store.js";
import type { Tenant, TenantSettings } from "./tenants.js";

export type {
  MfaTicketPurpose,
  MfaTicketRecord,
  MfaTickets,
  SecondFactorStore,
  SecondFactorThrottle,
  SecretBox,
  TotpFactor,
} from "./mfa/ports.js";
export type {
  AccessEnd,
  CopyMarks,
  CreateOutcome,
  NewSession,
  RotateOutcome,
  RotateRequest,
  SessionLookup,
  SessionStore,
  UserCopy,
} from "./session-store.js";

/** Milliseconds since the epoch; tests pass a controllable clock. */
export interface Clock {
  now(): number;
}

export interface NewUser {
  readonly tenant: string;
  readonly email: string;
  readonly username: string | null;
  readonly fullName: string | null;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  /** An integer id kept from another system; unset: the next number. */
  readonly number?: number;
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Verified already (an administrator vouched for the address). */
  readonly emailVerifiedAt?: Date | null;
}

export interface UserRepository {
  tenantExists(tenant: string): Promise<boolean>;
  /**
   * Throws AuthError EMAIL_TAKEN or USERNAME_TAKEN on a case-insensitive duplicate in the tenant,
   * NUMBER_TAKEN for a number another user of the tenant has, ROLE_NOT_FOUND for a role the tenant
   * lacks.
   */
  create(user: NewUser): Promise<User>;
  /** By email when `login` holds an `@`, otherwise by username; case-insensitive. */
  findCredentialsByLogin(tenant: string, login: string): Promise<UserCredentials | null>;
  /**
   * As findCredentialsByLogin, reading only the Account: one query whose cost does not depend on
   * whether the account exists (for the flows an anonymous caller can time).
   */
  findAccountByLogin(tenant: string, login: string): Promise<AccountCredentials | null>;
  /**
   * As findAccountByLogin, in every tenant but `exceptTenant`: at most `limit` accounts, so that
   * one bounded query tells a unique account from an ambiguous one (Vigia's login without X-Tenant).
   */
  findAccountsByLoginInAnyTenant(login: string, exceptTenant: string, limit: number): Promise<AccountCredentials[]>;
  findCredentialsById(userId: string): Promise<UserCredentials | null>;
  findById(userId: string): Promise<User | null>;
  /**
   * What a sign-in reads once the password is proved, in one query: the whole user (as
   * `findById`), their tenant (as `TenantStore.find`), and whether they have a confirmed second
   * factor; null when there is no such user.
   */
  findForSignIn(userId: string): Promise<SignInRead | null>;
  /**
   * Sets a new password, raising the user's session epoch in the same statement (a new password
   * ends the sessions that rest on the old one); returns the new epoch.
   */
  updatePasswordHash(userId: string, passwordHash: string, changedAt: Date): Promise<number>;
  /** Replaces the hash of the same password, only if it is still `previousHash` (a change in between wins). */
  upgradePasswordHash(userId: string, previousHash: string, passwordHash: string): Promise<void>;
  /** Raises the user's session epoch ("log out everywhere"); the new epoch, or null when there is no such user. */
  raiseSessionEpoch(userId: string): Promise<number | null>;
  /**
   * Sets the user's active flag and raises the session epoch, in one statement; null when there is
   * no such user.
   */
  setActive(userId: string, active: boolean, at: Date): Promise<ActiveChange | null>;
}

/** What `UserRepository.findForSignIn` reads. */
export interface SignInRead {
  readonly user: User;
  /** Null when the tenant is gone. */
  readonly tenant: Tenant | null;
  /** The user has a confirmed second factor (SecondFactorStore `find` with `confirmedAt`). */
  readonly secondFactorConfirmed: boolean;
}

/** What `setActive` changed. */
export interface ActiveChange {
  readonly tenant: string;
  readonly wasActive: boolean;
  /** The session epoch after the change. */
  readonly sessionEpoch: number;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /**
   * Whether the password matches. Does the work of one verification at the current cost whatever
   * the stored hash is (ours at a lower cost, imported, unreadable: padded up to it), so that a
   * login's time does not tell how, or whether, the account's password is stored; only a hash
   * costlier than that costs more.
   */
  verify(password: string, storedHash: string): Promise<boolean>;
  /** Does the work of one `verify` against a hash of the current cost, for unknown users. */
  verifyAgainstDummy(password: string): Promise<void>;
  /** Whether a hash that just verified should be replaced (an imported format, or another cost). */
  needsRehash(storedHash: string): boolean;
}

/** Whether a password is on the blocklist of commonly used passwords. */
export interface CommonPasswords {
  includes(password: string): boolean;
}

export interface AccessTokens {
  /**
   * Signs an access token issued at `now` (ms), expiring after the lifetime or at `notAfter` (ms),
   * whichever is first. With `api`, in that old API's legacy token profile when the operator
   * configured one for it (its own secret, claims and lifetime); otherwise one of ours.
   */
  issue(claims: TokenSubject, now: number, notAfter?: number, api?: OldApi): Promise<{ token: string; expiresAt: number }>;
  /**
   * Verifies signature, algorithm, kid, typ, iss, aud, exp/nbf (with the clock skew) and claim
   * shapes. Our own tokens always; legacy tokens only of the profile `accept` names (a route of
   * that API), or of any configured profile (`"any"`: ValidateToken).
   */
  verify(token: string, options: { audience: string | undefined; now: number; accept?: OldApi | "any" }): Promise<TokenCheck>;
}

/** The audit trail. `record` never rejects: a failure to write is logged, not the caller's problem. */
export interface SecurityEvents {
  record(event: SecurityEvent): Promise<void>;
}

export type OneTimePurpose = "verify_email" | "reset_password";

export interface OneTimeTokenRecord {
  readonly userId: string;
  readonly expiresAt: Date;
  readonly usedAt: Date | null;
}

/** What consuming a one-time token does to its user, in the same statement. */
export type TokenEffect = { readonly kind: "verify_email" } | { readonly kind: "reset_password"; readonly passwordHash: string };

export interface ConsumedToken {
  readonly userId: string;
  /** The user's session epoch after the effect (a reset raises it). */
  readonly sessionEpoch: number;
}

/** A tenant to create: the base roles `admin` and `user` come with it. */
export interface NewTenant {
  readonly id: string;
  readonly displayName: string;
  readonly settings: TenantSettings;
  readonly createdAt: Date;
}

export interface TenantChanges {
  readonly displayName?: string;
  readonly settings?: Partial<TenantSettings>;
  readonly isActive?: boolean;
}

export interface TenantStore {
  find(id: string): Promise<Tenant | null>;
  /** Throws AuthError TENANT_EXISTS when the id is taken. */
  create(tenant: NewTenant): Promise<Tenant>;
  /** Tenants in the order of their ids, after `afterId`. */
  list(afterId: string | null, limit: number): Promise<Tenant[]>;
  /** Null when the tenant does not exist. */
  update(id: string, changes: TenantChanges, at: Date): Promise<Tenant | null>;
}

/** What a user holds now: roles, and the permissions of those roles merged. */
export interface UserGrants {
  readonly tenant: string;
  readonly roles: readonly string[];
  readonly permissions: Readonly<Record<string, unknown>>;
}

/**
 * Users' current roles and permissions for ValidateToken's `required_*` checks, read from the
 * user store through a per-process cache of bounded staleness, so that tokens need not carry
 * permissions and the check costs no query in the usual case.
 */
export interface Grants {
  /** The user's grants now (possibly cached); null when the user no longer exists. */
  of(userId: string): Promise<UserGrants | null>;
  /** After a change to roles or permissions: forgets what this process cached and tells the others. */
  changed(change: { readonly tenant: string; readonly userId?: string }): Promise<void>;
}

/** One-time email tokens, stored as hashes in PostgreSQL (they must survive a Redis flush). */
export interface OneTimeTokens {
  issue(token: {
    readonly userId: string;
    readonly tenant: string;
    readonly purpose: OneTimePurpose;
    readonly tokenHash: string;
    readonly createdAt: Date;
    readonly expiresAt: Date;
  }): Promise<void>;
  find(purpose: OneTimePurpose, tokenHash: string): Promise<OneTimeTokenRecord | null>;
  /**
   * Marks the token used and applies `effect` to its user in one conditional statement, so that
   * of concurrent callers exactly one succeeds (a password reset raises the session epoch in it
   * too). Returns the user, or null when the token was not usable at `now` (unknown, used or
   * expired).
   */
  consume(purpose: OneTimePurpose, tokenHash: string, now: Date, effect: TokenEffect): Promise<ConsumedToken | null>;
  /** Marks every unused token of the user with this purpose used. */
  voidAll(userId: string, purpose: OneTimePurpose, now: Date): Promise<void>;
}

/** Outgoing mail. Implementations render text and HTML; the link already holds the token. */
export interface Mailer {
  sendVerification(to: string, link: URL, expiresAt: Date): Promise<void>;
  sendPasswordReset(to: string, link: URL, expiresAt: Date): Promise<void>;
  /** An administrator created the account: the link (a reset link) lets the user choose a password. */
  sendInvitation(to: string, link: URL, expiresAt: Date): Promise<void>;
}

/** Work that runs after the answer is sent (mail): failures are logged; shutdown waits for it. */
export interface Background {
  /**
   * Runs `task` once the answer to the request `ctx` has been written (see
   * `RequestContext.afterAnswer`), so that it neither delays that answer nor shows in its time.
   */
  defer(ctx: RequestContext, label: string, task: () => Promise<void>): void;
}

/** The policy knobs the flows read: the `policy` section of the configuration (src/config.ts). */
export interface AuthPolicy {
  readonly defaultTenant: string;
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly sessionMaxLifetimeMs: number;
  /** Most sessions a user keeps: starting one more ends the oldest (SESSIONS_PER_USER_MAX; 0: no limit). */
  readonly sessionsPerUserMax: number;
  readonly refreshReuseGraceMs: number;
  readonly passwordMinLength: number;
  readonly requireVerifiedEmail: boolean;
  readonly maxTokenBytes: number;
  readonly emailTokenTtlMs: number;
  readonly resetTokenTtlMs: number;
  /** Where verification links point; the token is added as `?token=`. */
  readonly verifyEmailUrl: string;
  /**
   * Where the verification link of a mail sent from an old API's route points instead (UContact's
   * `/api/auth/confirmed_email/{token}`); `{token}` stands for the token.
   */
  readonly verifyEmailUrlByApi: Readonly<Partial<Record<OldApi, string>>>;
  /** Where password reset links point; the token is added as `?token=`. */
  readonly resetPasswordUrl: string;
  /** Lifetime of the set-password link of an invited user (a reset token). */
  readonly inviteTokenTtlMs: number;
  /** The tenant whose `platform-admin` role administers every tenant (PLATFORM_TENANT). */
  readonly platformTenant: string;
  /** The issuer shown in authenticator apps (MFA_ISSUER_NAME). */
  readonly mfaIssuer: string;
  /** Time steps either side of now whose TOTP code is accepted (MFA_VALID_WINDOW). */
  readonly mfaValidWindow: number;
  /** Lifetime of an MFA ticket (MFA_TICKET_TTL). */
  readonly mfaTicketTtlMs: number;
  /** How long an enrolment may wait for its first code (MFA_ENROLLMENT_TTL). */
  readonly mfaEnrollmentTtlMs: number;
}

/** Everything a flow may use. */
export interface AuthDeps {
  readonly users: UserRepository;
  readonly tenants: TenantStore;
  readonly grants: Grants;
  readonly sessions: SessionStore;
  readonly passwords: PasswordHasher;
  readonly commonPasswords: CommonPasswords;
  readonly tokens: AccessTokens;
  readonly oneTimeTokens: OneTimeTokens;
  readonly mailer: Mailer;
  /** The guessing budget every check of a secret draws on (abuse-limits.ts). */
  readonly loginThrottle: LoginThrottle;
  /** The budget of Register, RequestPasswordReset and ResendVerification (abuse-limits.ts). */
  readonly mailThrottle: MailThrottle;
  readonly background: Background;
  readonly events: SecurityEvents;
  readonly secondFactors: SecondFactorStore;
  readonly secretBox: SecretBox;
  readonly mfaTickets: MfaTickets;
  readonly secondFactorThrottle: SecondFactorThrottle;
  readonly clock: Clock;
  readonly policy: AuthPolicy;
}
