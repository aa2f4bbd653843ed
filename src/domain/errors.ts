/**
 * The one error type of the service, with its closed catalog of reasons.
 *
 * A flow throws `new AuthError("WEAK_PASSWORD")`; the transport maps the error's category to a
 * status code in one place (src/transport/errors.ts) and sends the reason as a
 * `google.rpc.ErrorInfo` detail. The message is safe to show to a caller; an internal cause is
 * kept in `cause` for the logs and never sent.
 */

/** What kind of failure, independent of any transport; mapped once to gRPC/Connect codes. */
export type ErrorCategory =
  | "invalid_input"
  | "conflict"
  | "not_found"
  | "unauthenticated"
  | "forbidden"
  | "precondition"
  | "rate_limited"
  | "unimplemented"
  | "unavailable"
  | "internal";

/** Every reason a caller can receive, with its usual category and its public message. */
export const reasonCatalog = {
  INVALID_REQUEST: ["invalid_input", "The request is malformed."],
  REQUEST_TOO_LARGE: ["invalid_input", "The request body is too large."],
  INVALID_EMAIL: ["invalid_input", "The email address is not valid."],
  INVALID_USERNAME: ["invalid_input", "The username is not valid."],
  INVALID_TENANT: ["invalid_input", "The tenant is not valid."],
  INVALID_ROLE: ["invalid_input", "The role name is not valid."],
  INVALID_PERMISSIONS: ["invalid_input", "The permissions object is not valid."],
  INVALID_ATTRIBUTES: ["invalid_input", "The attributes object is not valid."],
  INVALID_PAGE_TOKEN: ["invalid_input", "The page token is not valid for this request."],
  WEAK_PASSWORD: ["invalid_input", "The password is too weak."],
  PASSWORD_TOO_LONG: ["invalid_input", "The password is too long."],
  EMAIL_TAKEN: ["conflict", "An account with this email address already exists."],
  USERNAME_TAKEN: ["conflict", "This username is taken."],
  NUMBER_TAKEN: ["conflict", "Another user of the tenant has this number."],
  TENANT_EXISTS: ["conflict", "A tenant with this id already exists."],
  ROLE_EXISTS: ["conflict", "The tenant already has a role with this name."],
  TENANT_NOT_FOUND: ["not_found", "The tenant does not exist."],
  INVALID_CREDENTIALS: ["unauthenticated", "Invalid credentials."],
  TOKEN_MISSING: ["unauthenticated", "No bearer token was sent."],
  TOKEN_INVALID: ["unauthenticated", "The token is not valid."],
  TOKEN_EXPIRED: ["unauthenticated", "The token has expired."],
  TOKEN_REUSED: ["unauthenticated", "The refresh token was already used; the session has been ended."],
  TOKEN_USED: ["precondition", "The token was already used."],
  SESSION_REVOKED: ["unauthenticated", "The session has ended."],
  ACCOUNT_DISABLED: ["forbidden", "The account is disabled."],
  EMAIL_NOT_VERIFIED: ["forbidden", "The email address is not verified."],
  NO_ROLES: ["forbidden", "The account has no role; this tenant requires one to sign in."],
  TENANT_DISABLED: ["forbidden", "The tenant is disabled."],
  TENANT_MISMATCH: ["forbidden", "The token belongs to another tenant."],
  ADMIN_REQUIRED: ["forbidden", "This operation needs an administrator of the tenant."],
  PLATFORM_ADMIN_REQUIRED: ["forbidden", "This operation needs a platform administrator."],
  CANNOT_MODIFY_SELF: ["precondition", "Administrators cannot disable, delete or change the roles of their own account."],
  ROLE_PROTECTED: ["precondition", "This role cannot be deleted."],
  TENANT_PROTECTED: ["precondition", "The platform tenant cannot be disabled."],
  MFA_REQUIRED: ["forbidden", "This account signs in with a second factor, which this route cannot take: use Login and VerifyMfa."],
  MFA_ENROLLMENT_REQUIRED: ["forbidden", "This tenant requires a second factor: enrol one (BeginMfaEnrollment) before signing in."],
  MFA_TICKET_INVALID: ["unauthenticated", "The MFA ticket is not valid, was used, or has expired; sign in again."],
  MFA_CODE_INVALID: ["unauthenticated", "The code is not valid."],
  MFA_ALREADY_ENABLED: ["precondition", "A second factor is enrolled already; disable it first to enrol another."],
  MFA_NOT_ENROLLED: ["precondition", "No second factor is enrolled."],
  MFA_ENROLLMENT_NOT_FOUND: ["precondition", "No enrolment is waiting for a code (it expired, or was never begun); begin again."],
  MFA_UNAVAILABLE: [
    "precondition",
    "Second factors are unavailable: the service has no key-encryption key (KEY_ENCRYPTION_KEY) to protect their secrets.",
  ],
  USER_NOT_FOUND: ["not_found", "No user has this email address in the tenant."],
  ROLE_NOT_FOUND: ["not_found", "The tenant has no role with this name."],
  SESSION_NOT_FOUND: ["not_found", "You have no live session with this id."],
  RATE_LIMITED: ["rate_limited", "Too many requests; retry later."],
  ACCOUNT_LOCKED: ["rate_limited", "Too many failed sign-ins for this account from your address; retry later."],
  UNAVAILABLE: ["unavailable", "The service is temporarily unavailable; retry later."],
  INTERNAL: ["internal", "Internal error."],
} as const satisfies Record<string, readonly [ErrorCategory, string]>;

export type AuthErrorReason = keyof typeof reasonCatalog;

export interface AuthErrorOptions {
  /** A more precise public message than the catalog's (never a secret or an internal detail). */
  message?: string;
  /** Overrides the reason's usual category, e.g. a one-time token failure is a precondition. */
  category?: ErrorCategory;
  /** Public key/value context, e.g. `{ field: "email" }`; sent to callers. */
  metadata?: Record<string, string>;
  /** The internal cause; logged, never sent. */
  cause?: unknown;
  /** How long the caller should wait before retrying (a limit's real remaining time); sent as RetryInfo and Retry-After. */
  retryAfterMs?: number;
}

export class AuthError extends Error {
  readonly reason: AuthErrorReason;
  readonly category: ErrorCategory;
  readonly metadata: Readonly<Record<string, string>>;
  readonly retryAfterMs: number | undefined;

  constructor(reason: AuthErrorReason, options: AuthErrorOptions = {}) {
    const [category, message] = reasonCatalog[reason];
    super(options.message ?? message, { cause: options.cause });
    this.name = "AuthError";
    this.reason = reason;
    this.category = options.category ?? category;
    this.metadata = options.metadata ?? {};
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A missing or malformed request field: INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string, reason: AuthErrorReason = "INVALID_REQUEST"): AuthError {
  return new AuthError(reason, { message: `${field}: ${problem}`, metadata: { field } });
}
