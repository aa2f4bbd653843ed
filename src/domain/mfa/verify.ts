/**
 * The second step of a sign-in: Login answers a ticket instead of tokens when the user has MFA on
 * (or must enrol it), and VerifyMfa trades that ticket and a TOTP code, or a recovery code, for
 * the tokens Login would have answered.
 *
 * A ticket lives MFA_TICKET_TTL (5 minutes by default; an enrolment ticket MFA_ENROLLMENT_TTL),
 * is used once (taken out of Redis atomically, so of two concurrent VerifyMfa calls at most one
 * gets it), and survives MAX_TICKET_FAILURES - 1 wrong codes: then the password is needed again.
 * Every attempt also counts against the user's second-factor limit (SecondFactorThrottle), so a
 * thief of the password cannot guess codes through many tickets.
 */
import { AuthError } from "../errors.js";
import { startSession } from "../login.js";
import type { IssuedTokens, MfaChallenge, RequestContext, User } from "../model.js";
import type { AuthDeps, MfaTicketPurpose, MfaTicketRecord } from "../ports.js";
import { supersededByAccountChange } from "../session-epoch.js";
import { tenantHeaderAllows } from "../validation.js";
import { checkProof, methodsAfter, readProof, readTicket, spendFailure, takeTicket } from "./second-factor.js";
import { hashTicketSecret, newTicket } from "./ticket.js";

/**
 * What a user who proved the password still needs before a session: the second factor they have
 * (a confirmed one), or, when their tenant requires one, to enrol it; null when nothing.
 */
export function secondStepOwed(hasConfirmedFactor: boolean, tenantRequiresMfa: boolean): MfaTicketPurpose | null {
  if (hasConfirmedFactor) return "verify";
  return tenantRequiresMfa ? "enroll" : null;
}

/** Issues the ticket for the second step of a sign-in. */
export async function issueChallenge(deps: AuthDeps, user: User, purpose: MfaTicketPurpose): Promise<MfaChallenge> {
  const now = deps.clock.now();
  const ttlMs = purpose === "verify" ? deps.policy.mfaTicketTtlMs : deps.policy.mfaEnrollmentTtlMs;
  const { ticket, secret } = newTicket(user.id);
  await deps.mfaTickets.issue(
    { purpose, userId: user.id, tenant: user.tenant, sessionEpoch: user.sessionEpoch, expiresAt: now + ttlMs, failures: 0 },
    hashTicketSecret(secret),
    now,
  );
  return { kind: purpose === "verify" ? "mfa_required" : "mfa_enrollment_required", ticket, expiresIn: Math.floor(ttlMs / 1000) };
}

export interface VerifyMfaInput {
  readonly mfaTicket: string;
  readonly code: string;
  readonly recoveryCode: string;
}

/** Completes a sign-in with its ticket and a second factor: the same tokens Login answers without MFA. */
export async function verifyMfa(deps: AuthDeps, ctx: RequestContext, input: VerifyMfaInput): Promise<IssuedTokens> {
  if (input.mfaTicket.trim() === "")
    throw new AuthError("INVALID_REQUEST", { message: "mfa_ticket: required", metadata: { field: "mfa_ticket" } });
  const ticket = readTicket(input.mfaTicket);
  const proof = readProof({ code: input.code, recoveryCode: input.recoveryCode }, ["totp", "recovery_code"]);
  const record = await takeTicket(deps, ticket, "verify");
  try {
    if (!tenantHeaderAllows(ctx.tenantHeader, record.tenant)) throw new AuthError("TENANT_MISMATCH");
    // Counted only for a genuine ticket, that is for someone who knew the password: user ids are
    // no secret, and forged tickets must not spend the owner's attempts (a lockout by anyone).
    await deps.secondFactorThrottle.attempt(record.userId, ctx.ip);
    const user = await deps.users.findById(record.userId);
    if (user === null) throw new AuthError("MFA_TICKET_INVALID");
    if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
    // A password change or reset, or a sign-out everywhere, finished since Login checked the
    // password: the ticket rests on what that change meant to end. (One finishing from here on
    // is caught by the session store, against the same epoch.)
    if (user.sessionEpoch !== record.sessionEpoch) throw supersededByAccountChange();
    ctx.onIdentified?.({ userId: user.id, tenant: user.tenant });
    const factor = await deps.secondFactors.find(user.id);
    // MFA was turned off (by the user elsewhere, or an administrator's reset) since Login: the
    // ticket no longer says what this sign-in needs; signing in again will.
    if (factor === null || factor.confirmedAt === null) throw new AuthError("MFA_TICKET_INVALID");
    try {
      await checkProof(deps, ctx, user, factor, proof, "sign_in");
    } catch (error) {
      if (error instanceof AuthError && error.reason === "MFA_CODE_INVALID") throw await spendFailure(deps, ticket, record, error);
      throw error;
    }
    const tokens = await startSession(deps, ctx, user, methodsAfter(proof.kind));
    await deps.events.record({
      type: "login_succeeded",
      tenant: user.tenant,
      userId: user.id,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      detail: { secondFactor: proof.kind },
    });
    return tokens;
  } catch (error) {
    await keepTicketAfter(deps, error, ticket.hash, record);
    throw error;
  }
}

/**
 * After a failure that says nothing about the ticket or the code (a store unreachable, secrets
 * that cannot be opened without the key, the attempt limit, another tenant named), the ticket
 * goes back as it was: the user retries later, or uses a recovery code, without signing in again.
 */
export async function keepTicketAfter(deps: AuthDeps, error: unknown, hash: string, record: MfaTicketRecord): Promise<void> {
  const keep =
    !(error instanceof AuthError) ||
    error.category === "unavailable" ||
    error.category === "internal" ||
    ["MFA_UNAVAILABLE", "RATE_LIMITED", "ACCOUNT_LOCKED", "TENANT_MISMATCH"].includes(error.reason);
  if (keep) await deps.mfaTickets.putBack(record, hash, deps.clock.now()).catch(() => {});
}
