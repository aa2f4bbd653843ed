/**
 * The domain's own types: users, sessions and verified token claims. No row, proto or transport
 * type crosses into the domain; adapters map to and from these at the edge.
 */
import { emptyRecord, isForbiddenKey } from "./keys.js";

export interface User {
  /** Immutable UUID; the `sub` of access tokens. */
  readonly id: string;
  /** Stable integer, unique in the tenant: the `id` of the seed-compatible routes (kept from the old system on import). */
  readonly number: number;
  readonly tenant: string;
  /** As the user typed it (trimmed); compared case-insensitively. */
  readonly email: string;
  readonly username: string | null;
  readonly fullName: string | null;
  /** Role names in the order they were assigned. */
  readonly roles: readonly string[];
  /** Module-specific permissions merged from the roles, e.g. `{ reports: { view: true } }`. */
  readonly permissions: Readonly<Record<string, unknown>>;
  /** What an administrator recorded about the user, e.g. `{ empleado_id: 456 }` (a bounded JSON object). */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly isActive: boolean;
  readonly emailVerifiedAt: Date | null;
  readonly createdAt: Date;
  /**
   * How many changes have ended the user's access (password change or reset, "log out
   * everywhere", disabling), as read with the rest of this user. A session started or extended on
   * the strength of this read carries it; see session-epoch.ts.
   */
  readonly sessionEpoch: number;
}

/**
 * What the anonymous flows (Login, RequestPasswordReset, ResendVerification) read of an account
 * before a password is proved: a few columns that cost nothing to read, no roles. Reading the
 * whole user (two role subqueries, timestamps to parse) made a found account's refusal 35–50 µs
 * slower than an unknown one's.
 */
export interface Account {
  readonly id: string;
  readonly tenant: string;
  readonly email: string;
  readonly isActive: boolean;
  readonly emailVerified: boolean;
  /** As User.sessionEpoch: a Login's session carries the epoch of this read, made before its password check. */
  readonly sessionEpoch: number;
}

/** An account with its stored password hash; never leaves the domain. */
export interface AccountCredentials {
  readonly user: Account;
  readonly passwordHash: string;
}

/** A user together with the stored password hash; never leaves the domain. */
export interface UserCredentials {
  readonly user: User;
  readonly passwordHash: string;
}

/** The primary role: `admin` wins when present (as in the Vigia API), otherwise the first role. */
export function primaryRole(roles: readonly string[]): string {
  return roles.includes("admin") ? "admin" : (roles[0] ?? "");
}

/**
 * The roles with `admin` first, the others in the order they were assigned: the Vigia API's lists
 * (its example is `["admin", "qf"]`), in which the first role, `/whoami`'s primary one, and the
 * admin-preferring primary role of `/me` and of its login are then the same.
 */
export function rolesAdminFirst(roles: readonly string[]): string[] {
  return roles.includes("admin") ? ["admin", ...roles.filter((role) => role !== "admin")] : [...roles];
}

/**
 * Merges the permission objects of several roles: objects merge key by key, and a permission any
 * role grants (`true`) stays granted.
 */
export function mergePermissions(objects: readonly Readonly<Record<string, unknown>>[]): Record<string, unknown> {
  // Keys come from stored role documents: the result has no prototype, and the names that would
  // reach one are dropped (they are refused when a role is written).
  const merged = emptyRecord();
  for (const object of objects) {
    for (const [key, value] of Object.entries(object)) {
      if (isForbiddenKey(key)) continue;
      const current = merged[key];
      if (isPlainObject(current) && isPlainObject(value)) merged[key] = mergePermissions([current, value]);
      else if (current === true) continue;
      else merged[key] = value;
    }
  }
  return merged;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** What the caller presented in the `authorization` header, as the transport read it. */
export type Credential =
  | { readonly kind: "none" }
  | { readonly kind: "bearer"; readonly token: string }
  /** A header that is not `Bearer <token>`. */
  | { readonly kind: "malformed" };

/**
 * The old APIs this service replaces (shared/seeds/), whose routes it also serves. A call that came
 * through one of them says which (`RequestContext.api`).
 */
export type OldApi = "vidaplus" | "vigia" | "solicitud" | "ucontact";

/** Facts about the caller that every flow may use; built by the transport from headers. */
export interface RequestContext {
  /** The tenant the caller named (`x-tenant`), trimmed; undefined when it named none. */
  readonly tenantHeader: string | undefined;
  readonly credential: Credential;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
  /** Told who the caller is once a flow knows it (for the call's log line). */
  readonly onIdentified?: (who: { readonly userId: string; readonly tenant: string }) => void;
  /**
   * Calls `start` once the answer to this request has been written (handed to the operating
   * system), or the caller has gone. Background work (mail, a re-hash) waits for it: started
   * earlier, it ran before the answer went out and made answers about existing accounts slower.
   * Absent outside a transport (the CLI, unit tests): the work starts on the next turn of the loop.
   */
  readonly afterAnswer?: (start: () => void) => void;
  /**
   * The old API whose routes carried this call; undefined for the native API. It chooses the
   * legacy token profile the call's access tokens are issued in and may be presented in (only when
   * the operator configured one for that API), and the link a verification mail carries.
   */
  readonly api?: OldApi;
}

/** The claims of a verified access token. */
export interface AccessClaims {
  readonly userId: string;
  readonly tenant: string;
  readonly sessionId: string;
  readonly roles: readonly string[];
  readonly email: string;
  /** Whether the address was verified when the token was issued (the OIDC `email_verified` claim). */
  readonly emailVerified: boolean;
  readonly username: string | null;
  /** How the user signed in: RFC 8176 values, those of AuthMethod when we issued the token. */
  readonly amr: readonly string[];
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
  /**
   * The old API whose legacy token profile the token was issued in (HS256 with that API's own
   * secret, its claim names); undefined for our own tokens.
   */
  readonly profile?: OldApi;
}

/**
 * Authentication methods, as RFC 8176 registers them for the `amr` claim: `pwd` a password; `otp`
 * a one-time password of RFC 4226 or 6238 (a TOTP code); `mfa` more than one factor. A recovery
 * code gives `pwd` and `mfa` but not `otp`: it is a second factor (something the user keeps), not
 * a code from the authenticator, so a service that insists on `otp` can tell the two apart.
 */
export type AuthMethod = "pwd" | "otp" | "mfa";

/** The `amr` of a sign-in by password alone. */
export const PASSWORD_ONLY: readonly AuthMethod[] = Object.freeze(["pwd"]);

/** What an access token is issued for: the claims, and the user's integer number (Vigia's `uid`). */
export type TokenSubject = Omit<AccessClaims, "issuedAt" | "expiresAt" | "profile"> & {
  /** The user's integer number; the Vigia profile's `uid` (and `sub`) need it. */
  readonly userNumber?: number;
};

/** Why an access token is not active; the transport maps these to the proto enum. */
export type InactiveReason =
  | "malformed"
  | "bad_signature"
  | "algorithm_not_allowed"
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "wrong_type"
  | "revoked"
  | "wrong_tenant"
  | "too_large"
  /** The session is gone because its user was disabled. */
  | "user_disabled"
  /** Valid, but the user lacks a role or permission the call required. */
  | "insufficient_permissions";

export type TokenCheck =
  | { readonly active: true; readonly claims: AccessClaims }
  | { readonly active: false; readonly reason: InactiveReason };

/** A live session as its owner sees it. */
export interface SessionInfo {
  readonly id: string;
  readonly createdAt: number;
  readonly lastUsedAt: number;
  /** When it ends unless refreshed. */
  readonly expiresAt: number;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
}

/** What Login and Refresh hand back. */
export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Seconds. */
  readonly expiresIn: number;
  /** Seconds. */
  readonly refreshExpiresIn: number;
  readonly user: User;
}

/** What administrators do (AdminService); each is an audit event naming its actor. */
export type AdminEventType =
  | "tenant_created"
  | "tenant_updated"
  | "tenant_disabled"
  | "tenant_enabled"
  | "user_created"
  | "user_invited"
  | "user_updated"
  | "user_disabled"
  | "user_enabled"
  | "user_deleted"
  | "user_roles_set"
  | "user_sessions_ended"
  | "user_mfa_reset"
  | "role_created"
  | "role_updated"
  | "role_deleted"
  | "platform_admin_bootstrapped";

/** A security-relevant event, for the log and the audit table. Nothing secret in it. */
export interface SecurityEvent {
  readonly type:
    | "user_registered"
    | "email_verified"
    | "verification_requested"
    | "login_succeeded"
    | "login_failed"
    | "refresh_reuse_detected"
    | "logout"
    | "password_changed"
    | "password_reset_requested"
    | "password_reset"
    | "session_revoked"
    | "user_disabled"
    | "user_enabled"
    | "login_throttled"
    | "account_locked"
    | "login_unlocked"
    | AdminEventType
    | "mfa_enabled"
    | "mfa_disabled"
    | "mfa_failed"
    | "mfa_recovery_code_used"
    | "mfa_recovery_codes_regenerated";
  readonly tenant: string;
  /** The user the event is about. */
  readonly userId?: string;
  /** The administrator who acted, for administrative events. */
  readonly actorId?: string;
  readonly sessionId?: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly detail?: Readonly<Record<string, string | number | boolean | readonly string[]>>;
}

/** A sign-in that needs a second step: a ticket for VerifyMfa, or for enrolling a second factor. */
export interface MfaChallenge {
  readonly kind: "mfa_required" | "mfa_enrollment_required";
  /** Opaque, single use; only its hash is stored. */
  readonly ticket: string;
  /** Seconds. */
  readonly expiresIn: number;
}

/** What Login answers: a session's tokens, or the second step it needs first. */
export type LoginOutcome = { readonly kind: "signed_in"; readonly tokens: IssuedTokens } | MfaChallenge;
