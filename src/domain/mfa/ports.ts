/**
 * The ports of second factors (MFA): the factor store in PostgreSQL, the secret box, the ticket
 * store in Redis and the attempt throttle. Re-exported by ports.ts with the others.
 */

/**
 * A user's TOTP factor as stored: its secret sealed (see SecretBox), pending until the first code
 * confirms it.
 */
export interface TotpFactor {
  readonly userId: string;
  readonly tenant: string;
  readonly sealedSecret: string;
  readonly createdAt: Date;
  /** When the first code confirmed it (MFA on); null while the enrolment is pending. */
  readonly confirmedAt: Date | null;
  /** When a pending enrolment lapses; null once confirmed. */
  readonly enrollmentExpiresAt: Date | null;
  /** Unused recovery codes. */
  readonly recoveryCodesLeft: number;
}

/** Second factors in PostgreSQL: one TOTP factor per user and its recovery codes (stored hashed). */
export interface SecondFactorStore {
  find(userId: string): Promise<TotpFactor | null>;
  /**
   * Starts an enrolment, replacing a pending one; false (nothing written) when the user has a
   * confirmed factor.
   */
  beginEnrollment(enrollment: {
    readonly userId: string;
    readonly tenant: string;
    readonly sealedSecret: string;
    readonly at: Date;
    readonly expiresAt: Date;
  }): Promise<boolean>;
  /**
   * Turns the pending enrolment on, in one transaction: only if it is still the one sealed as
   * `sealedSecret` and unexpired at `at`, recording `step` as the last accepted time step and
   * replacing the recovery codes. False when that enrolment is gone (restarted, expired, confirmed
   * by a concurrent call).
   */
  confirmEnrollment(confirmation: {
    readonly userId: string;
    readonly sealedSecret: string;
    readonly step: number;
    readonly at: Date;
    readonly recoveryCodeHashes: readonly string[];
  }): Promise<boolean>;
  /**
   * Records `step` as the last accepted time step of the user's confirmed factor, only if it is
   * later than the last one, in one conditional statement: false for a code of a step already
   * used (a replay), also under concurrency.
   */
  acceptStep(userId: string, step: number): Promise<boolean>;
  /** Marks an unused recovery code of a confirmed factor used; false when unknown or used already (single use under concurrency). */
  useRecoveryCode(userId: string, codeHash: string, at: Date): Promise<boolean>;
  /** Replaces every recovery code of the user's confirmed factor; false when there is none. */
  replaceRecoveryCodes(userId: string, codeHashes: readonly string[], at: Date): Promise<boolean>;
  /** Removes the factor (pending or confirmed) and its recovery codes; how many factors were removed. */
  remove(userId: string): Promise<number>;
}

/**
 * Encryption at rest for second-factor secrets, bound to a context (the user) so that a sealed
 * secret copied to another user's row does not open. Without a key-encryption key both throw
 * AuthError MFA_UNAVAILABLE.
 */
export interface SecretBox {
  seal(secret: Uint8Array, context: string): string;
  /** Throws MFA_UNAVAILABLE when the sealed secret cannot be opened (no key, another key, altered). */
  open(sealed: string, context: string): Uint8Array;
}

/** Why a second factor is asked for. */
export type MfaTicketPurpose =
  /** The user has MFA on: the ticket and a code complete the sign-in (VerifyMfa). */
  | "verify"
  /** The tenant requires MFA and the user has none: the ticket allows enrolling, which signs the user in. */
  | "enroll";

/** A sign-in waiting for its second factor, as stored (under a hash of the ticket's secret). */
export interface MfaTicketRecord {
  readonly purpose: MfaTicketPurpose;
  readonly userId: string;
  readonly tenant: string;
  /** The user's session epoch read with the password hash that Login checked (see session-epoch.ts). */
  readonly sessionEpoch: number;
  /** Ms since the epoch. */
  readonly expiresAt: number;
  /** Wrong codes presented with this ticket so far. */
  readonly failures: number;
}

/** MFA tickets in Redis, under the user's hash tag; a ticket lives at most until `expiresAt`. */
export interface MfaTickets {
  issue(ticket: MfaTicketRecord, secretHash: string, now: number): Promise<void>;
  /** Reads a ticket without using it; null when unknown or expired. */
  peek(userId: string, secretHash: string, now: number): Promise<MfaTicketRecord | null>;
  /** Takes a ticket out, atomically: of concurrent callers at most one receives it. */
  take(userId: string, secretHash: string, now: number): Promise<MfaTicketRecord | null>;
  /** Puts a taken ticket back (with its new failure count) for the rest of its lifetime. */
  putBack(ticket: MfaTicketRecord, secretHash: string, now: number): Promise<void>;
}

/**
 * Counts attempts at a user's second factor (codes, recovery codes, the password that stands for
 * one) against the abuse limits. The hook for the rate-limit work: its adapter decides the policy.
 */
export interface SecondFactorThrottle {
  /** Counts one attempt; throws AuthError RATE_LIMITED once the user had too many. */
  attempt(userId: string, ip: string | undefined): Promise<void>;
}
