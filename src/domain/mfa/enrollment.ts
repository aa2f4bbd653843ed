/**
 * Enrolling and managing a TOTP second factor: Begin, Confirm, regenerating recovery codes,
 * Disable, and the status.
 *
 * Begin makes a new secret and answers it (base32 and as an `otpauth://` URI for a QR code); it
 * is stored sealed and pending, and nothing changes for the user until Confirm proves, with a
 * current code, that their authenticator holds it. Only then is MFA on, and Confirm answers the
 * recovery codes, once: they are stored hashed. A pending enrolment lapses after
 * MFA_ENROLLMENT_TTL. A user with MFA on must disable it (with a code or the password) before
 * enrolling another authenticator, so that a stolen session alone cannot swap the factor.
 *
 * The caller is a signed-in user (bearer), or, when the tenant requires MFA of a user who has
 * none, the holder of the enrolment ticket Login answered instead of tokens: Confirm with that
 * ticket then signs the user in.
 */
import { authenticate } from "../authenticate.js";
import { AuthError, invalidField } from "../errors.js";
import { startSession } from "../login.js";
import type { IssuedTokens, RequestContext, User } from "../model.js";
import type { AuthDeps, TotpFactor } from "../ports.js";
import { supersededByAccountChange } from "../session-epoch.js";
import { tenantHeaderAllows } from "../validation.js";
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from "./recovery-codes.js";
import {
  checkProof,
  eventBase,
  methodsAfter,
  type ProofInput,
  readProof,
  readTicket,
  recordFailure,
  secretContext,
  spendFailure,
  takeTicket,
} from "./second-factor.js";
import {
  base32Encode,
  matchTotp,
  newTotpSecret,
  normalizeTotpCode,
  otpauthUri,
  TOTP_ALGORITHM,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
} from "./totp.js";

export interface MfaEnrollment {
  /** The secret, base32 (for typing it into an app by hand). */
  readonly secret: string;
  readonly otpauthUri: string;
  readonly issuer: string;
  /** The account name the app shows (the user's email address). */
  readonly account: string;
  readonly algorithm: typeof TOTP_ALGORITHM;
  readonly digits: number;
  readonly periodSeconds: number;
  /** Ms since the epoch: Confirm must come before. */
  readonly expiresAt: number;
}

/** Who is enrolling: a signed-in user, or the holder of an enrolment ticket. */
async function enrollingUser(deps: AuthDeps, ctx: RequestContext, ticketText: string): Promise<User> {
  if (ticketText.trim() === "") return activeUser(deps, ctx, (await authenticate(deps, ctx)).userId);
  const ticket = readTicket(ticketText);
  const record = await deps.mfaTickets.peek(ticket.userId, ticket.hash, deps.clock.now());
  if (record === null || record.purpose !== "enroll") throw new AuthError("MFA_TICKET_INVALID");
  if (!tenantHeaderAllows(ctx.tenantHeader, record.tenant)) throw new AuthError("TENANT_MISMATCH");
  const user = await activeUser(deps, ctx, record.userId);
  if (user.sessionEpoch !== record.sessionEpoch) throw supersededByAccountChange();
  return user;
}

async function activeUser(deps: AuthDeps, ctx: RequestContext, userId: string): Promise<User> {
  const user = await deps.users.findById(userId);
  if (user === null) throw new AuthError("SESSION_REVOKED");
  if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
  ctx.onIdentified?.({ userId: user.id, tenant: user.tenant });
  return user;
}

function isPending(factor: TotpFactor | null, now: number): factor is TotpFactor {
  return factor !== null && factor.confirmedAt === null && (factor.enrollmentExpiresAt?.getTime() ?? 0) > now;
}

export async function beginMfaEnrollment(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly mfaTicket: string },
): Promise<MfaEnrollment> {
  const user = await enrollingUser(deps, ctx, input.mfaTicket);
  const existing = await deps.secondFactors.find(user.id);
  if (existing?.confirmedAt != null) throw new AuthError("MFA_ALREADY_ENABLED");
  const now = deps.clock.now();
  const secret = newTotpSecret();
  try {
    // Sealed before anything is stored: without a key-encryption key this is MFA_UNAVAILABLE.
    const sealedSecret = deps.secretBox.seal(secret, secretContext(user.id));
    const expiresAt = now + deps.policy.mfaEnrollmentTtlMs;
    const begun = await deps.secondFactors.beginEnrollment({
      userId: user.id,
      tenant: user.tenant,
      sealedSecret,
      at: new Date(now),
      expiresAt: new Date(expiresAt),
    });
    if (!begun) throw new AuthError("MFA_ALREADY_ENABLED");
    const issuer = deps.policy.mfaIssuer;
    return {
      secret: base32Encode(secret),
      otpauthUri: otpauthUri(issuer, user.email, secret),
      issuer,
      account: user.email,
      algorithm: TOTP_ALGORITHM,
      digits: TOTP_DIGITS,
      periodSeconds: TOTP_PERIOD_SECONDS,
      expiresAt,
    };
  } finally {
    secret.fill(0);
  }
}

export interface ConfirmedEnrollment {
  /** Shown once; only their hashes are kept. */
  readonly recoveryCodes: readonly string[];
  /** When confirmed with an enrolment ticket: the sign-in it completes. */
  readonly tokens: IssuedTokens | undefined;
}

export async function confirmMfaEnrollment(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly code: string; readonly mfaTicket: string },
): Promise<ConfirmedEnrollment> {
  const code = normalizeTotpCode(input.code);
  if (code === null) throw invalidField("code", "expected the 6 digits the authenticator app shows");
  const ticket = input.mfaTicket.trim() === "" ? undefined : readTicket(input.mfaTicket);
  const userId = ticket?.userId ?? (await authenticate(deps, ctx)).userId;
  const record = ticket === undefined ? undefined : await takeTicket(deps, ticket, "enroll");
  try {
    if (record !== undefined && !tenantHeaderAllows(ctx.tenantHeader, record.tenant)) throw new AuthError("TENANT_MISMATCH");
    // After the ticket is taken: a forged one must not spend the owner's attempts (see VerifyMfa).
    await deps.secondFactorThrottle.attempt(userId, ctx.ip);
    const user = await activeUser(deps, ctx, userId);
    // As in VerifyMfa: a change that ended the user's access since Login voids the ticket.
    if (record !== undefined && user.sessionEpoch !== record.sessionEpoch) throw supersededByAccountChange();
    const now = deps.clock.now();
    const factor = await deps.secondFactors.find(user.id);
    if (factor?.confirmedAt != null) throw new AuthError("MFA_ALREADY_ENABLED");
    if (!isPending(factor, now)) throw new AuthError("MFA_ENROLLMENT_NOT_FOUND");

    const secret = deps.secretBox.open(factor.sealedSecret, secretContext(user.id));
    const step = matchTotp(secret, code, now, deps.policy.mfaValidWindow);
    secret.fill(0);
    if (step === null) {
      await recordFailure(deps, ctx, user, { method: "totp", during: "enrollment" });
      const wrong = new AuthError("MFA_CODE_INVALID");
      if (record !== undefined && ticket !== undefined) {
        const error = await spendFailure(deps, ticket, record, wrong);
        // Spent: the enrolment was put back already when failures remain.
        throw error;
      }
      throw wrong;
    }
    const recoveryCodes = newRecoveryCodes();
    const confirmed = await deps.secondFactors.confirmEnrollment({
      userId: user.id,
      sealedSecret: factor.sealedSecret,
      step,
      at: new Date(now),
      recoveryCodeHashes: recoveryCodes.map((c) => hashRecoveryCode(user.id, normalizeRecoveryCode(c) ?? c)),
    });
    if (!confirmed) throw new AuthError("MFA_ENROLLMENT_NOT_FOUND");
    await deps.events.record({ ...eventBase(ctx, user), type: "mfa_enabled", detail: { method: "totp" } });
    if (record === undefined) return { recoveryCodes, tokens: undefined };
    const tokens = await startSession(deps, ctx, user, methodsAfter("totp"));
    await deps.events.record({ ...eventBase(ctx, user), type: "login_succeeded", detail: { secondFactor: "totp", enrolled: true } });
    return { recoveryCodes, tokens };
  } catch (error) {
    // A failure that was not the code's nor the account's (the enrolment lapsed or was begun
    // again, a store went away): the ticket goes back as it was, so the user can begin again
    // without signing in again.
    const spent = error instanceof AuthError && ["MFA_CODE_INVALID", "ACCOUNT_DISABLED", "SESSION_REVOKED"].includes(error.reason);
    if (record !== undefined && ticket !== undefined && !spent) {
      await deps.mfaTickets.putBack(record, ticket.hash, deps.clock.now()).catch(() => {});
    }
    throw error;
  }
}

/** The caller's confirmed factor; MFA_NOT_ENROLLED when MFA is off. */
async function confirmedFactor(deps: AuthDeps, user: User): Promise<TotpFactor> {
  const factor = await deps.secondFactors.find(user.id);
  if (factor === null || factor.confirmedAt === null) throw new AuthError("MFA_NOT_ENROLLED");
  return factor;
}

/** New recovery codes for the caller, proven with a current code or the password; the old ones stop working. */
export async function regenerateRecoveryCodes(deps: AuthDeps, ctx: RequestContext, input: ProofInput): Promise<readonly string[]> {
  const claims = await authenticate(deps, ctx);
  const proof = readProof(input, ["totp", "password"]);
  const user = await activeUser(deps, ctx, claims.userId);
  const factor = await confirmedFactor(deps, user);
  await deps.secondFactorThrottle.attempt(user.id, ctx.ip);
  await checkProof(deps, ctx, user, factor, proof, "regenerate");
  const recoveryCodes = newRecoveryCodes();
  const hashes = recoveryCodes.map((c) => hashRecoveryCode(user.id, normalizeRecoveryCode(c) ?? c));
  if (!(await deps.secondFactors.replaceRecoveryCodes(user.id, hashes, new Date(deps.clock.now()))))
    throw new AuthError("MFA_NOT_ENROLLED");
  await deps.events.record({ ...eventBase(ctx, user), type: "mfa_recovery_codes_regenerated", detail: { proof: proof.kind } });
  return recoveryCodes;
}

/** Turns MFA off for the caller, proven with a current code or the password; the secret and recovery codes are deleted. */
export async function disableMfa(deps: AuthDeps, ctx: RequestContext, input: ProofInput): Promise<void> {
  const claims = await authenticate(deps, ctx);
  const proof = readProof(input, ["totp", "password"]);
  const user = await activeUser(deps, ctx, claims.userId);
  const factor = await confirmedFactor(deps, user);
  await deps.secondFactorThrottle.attempt(user.id, ctx.ip);
  await checkProof(deps, ctx, user, factor, proof, "disable");
  const removed = await deps.secondFactors.remove(user.id);
  if (removed === 0) throw new AuthError("MFA_NOT_ENROLLED");
  await deps.events.record({ ...eventBase(ctx, user), type: "mfa_disabled", detail: { proof: proof.kind } });
}

export interface MfaStatus {
  readonly enabled: boolean;
  /** Ms since the epoch; undefined while off. */
  readonly enabledAt: number | undefined;
  readonly recoveryCodesLeft: number;
  /** An enrolment is waiting for its first code. */
  readonly enrollmentPending: boolean;
}

export async function mfaStatus(deps: AuthDeps, ctx: RequestContext): Promise<MfaStatus> {
  const claims = await authenticate(deps, ctx);
  const factor = await deps.secondFactors.find(claims.userId);
  const enabled = factor?.confirmedAt != null;
  return {
    enabled,
    enabledAt: factor?.confirmedAt?.getTime(),
    recoveryCodesLeft: enabled ? (factor?.recoveryCodesLeft ?? 0) : 0,
    enrollmentPending: isPending(factor, deps.clock.now()),
  };
}
