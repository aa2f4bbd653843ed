/**
 * The ports the flows need: narrow interfaces with domain types only. Adapters in src/infra
 * implement them; src/app.ts wires them. Store adapters translate an unreachable store into
 * `AuthError("UNAVAILABLE")`.
 */
import type { AccessClaims, SecurityEvent, TokenCheck, User, UserCredentials } from "./model.js";

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
}

export interface UserRepository {
  tenantExists(tenant: string): Promise<boolean>;
  /** Throws AuthError EMAIL_TAKEN or USERNAME_TAKEN on a case-insensitive duplicate in the tenant. */
  create(user: NewUser): Promise<User>;
  /** By email when `login` holds an `@`, otherwise by username; case-insensitive. */
  findCredentialsByLogin(tenant: string, login: string): Promise<UserCredentials | null>;
  findCredentialsById(userId: string): Promise<UserCredentials | null>;
  findById(userId: string): Promise<User | null>;
  updatePasswordHash(userId: string, passwordHash: string, changedAt: Date): Promise<void>;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, storedHash: string): Promise<boolean>;
  /** Does the work of one `verify` against a hash of the current cost, for unknown users. */
  verifyAgainstDummy(password: string): Promise<void>;
}

/** Whether a password is on the blocklist of commonly used passwords. */
export interface CommonPasswords {
  includes(password: string): boolean;
}

export interface AccessTokens {
  /** Signs an access token for the claims, issued at `now` (ms). */
  issue(claims: Omit<AccessClaims, "issuedAt" | "expiresAt">, now: number): Promise<{ token: string; expiresAt: number }>;
  /** Verifies signature, algorithm, kid, typ, iss, aud, exp/nbf (with the clock skew) and claim shapes. */
  verify(token: string, options: { audience: string | undefined; now: number }): Promise<TokenCheck>;
}

export interface NewSession {
  readonly id: string;
  readonly userId: string;
  readonly tenant: string;
  readonly secretHash: string;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
  readonly createdAt: number;
  /** The absolute cap: the session ends then, however often it is refreshed. */
  readonly absoluteExpiresAt: number;
  /** Idle lifetime: the session ends if not refreshed within this. */
  readonly idleTtlMs: number;
}

export interface RotateRequest {
  readonly sessionId: string;
  readonly presentedHash: string;
  readonly nextHash: string;
  /** The next secret, encrypted under a key only the holder of the presented secret can derive. */
  readonly sealedNext: string;
  readonly now: number;
  readonly graceMs: number;
  readonly idleTtlMs: number;
}

export type RotateOutcome =
  /** The presented secret was current: it is now the previous one and `nextHash` is current. */
  | { readonly kind: "rotated"; readonly ttlMs: number }
  /** The presented secret was rotated less than the grace window ago: here is its successor. */
  | { readonly kind: "grace"; readonly sealedNext: string; readonly ttlMs: number }
  /** The presented secret was rotated before the grace window: the session was deleted. */
  | { readonly kind: "reused"; readonly userId: string; readonly tenant: string }
  /** The session exists but the secret was never one of its tokens. */
  | { readonly kind: "mismatch" }
  /** No such session (expired, ended, or never existed). */
  | { readonly kind: "missing" };

export interface SessionOwner {
  readonly userId: string;
  readonly tenant: string;
}

export interface SessionStore {
  create(session: NewSession): Promise<void>;
  owner(sessionId: string): Promise<SessionOwner | null>;
  /** One atomic step: compare, rotate, detect reuse. */
  rotate(request: RotateRequest): Promise<RotateOutcome>;
  isActive(sessionId: string): Promise<boolean>;
  /** Ends one session; true when it existed. */
  revoke(sessionId: string, userId: string): Promise<boolean>;
  /** Ends every session of the user but `keepSessionId`; returns how many ended. */
  revokeAllForUser(userId: string, keepSessionId?: string): Promise<number>;
}

export interface SecurityEvents {
  record(event: SecurityEvent): void;
}

/** The policy knobs the flows read; built from the configuration by the composition root. */
export interface AuthPolicy {
  readonly defaultTenant: string;
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly sessionMaxLifetimeMs: number;
  readonly refreshReuseGraceMs: number;
  readonly passwordMinLength: number;
  readonly requireVerifiedEmail: boolean;
  readonly maxTokenBytes: number;
}

/** Everything a flow may use. */
export interface AuthDeps {
  readonly users: UserRepository;
  readonly sessions: SessionStore;
  readonly passwords: PasswordHasher;
  readonly commonPasswords: CommonPasswords;
  readonly tokens: AccessTokens;
  readonly events: SecurityEvents;
  readonly clock: Clock;
  readonly policy: AuthPolicy;
}
