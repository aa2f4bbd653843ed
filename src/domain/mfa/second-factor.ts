/**
 * What the MFA flows share: reading the proof a caller offers (a TOTP code, a recovery code, or
 * the password where one may stand in), checking it against the user's factor, and spending an
 * MFA ticket.
 *
 * A TOTP code is accepted once: the time step it matched must be later than the last step
 * accepted for the user, which the store records in the same conditional statement that checks
 * it (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of the OTP after the
 * successful validation has been issued for the first OTP"). So a code read over a shoulder, or
 * replayed from a log, is refused for the rest of its window, and so is any older code.
 */
import { checkSecret } from "../abuse-limits.js";
import { AuthError, invalidField } from "../errors.js";
import type { AuthMethod, RequestContext, User } from "../model.js";
import type { AuthDeps, MfaTicketRecord, TotpFactor } from "../ports.js";
import { hashRecoveryCode, normalizeRecoveryCode } from "./recovery-codes.js";
import { hashTicketSecret, type ParsedTicket, parseTicket } from "./ticket.js";
import { matchTotp, normalizeTotpCode } from "./totp.js";

/** Wrong codes one ticket survives; the next sign-in costs the password (and its limits) again. */
export const MAX_TICKET_FAILURES = 5;

/** The proof a caller offered. */
export type Proof =
  | { readonly kind: "totp"; readonly code: string }
  | { readonly kind: "recovery_code"; readonly code: string }
  | { readonly kind: "password"; readonly password: string };

export interface ProofInput {
  readonly code?: string;
  readonly recoveryCode?: string;
  readonly password?: string;
}

/**
 * Exactly one of the proofs `allowed` names, checked for shape: a TOTP code is 6 digits (spaces
 * allowed between them), a recovery code 16 characters of its alphabet (dashes and spaces allowed,
 * any case). INVALID_REQUEST naming the field otherwise: a mistyped shape is a client's mistake,
 * not a guess, and costs no attempt.
 */
export function readProof(input: ProofInput, allowed: readonly Proof["kind"][]): Proof {
  const offered: Proof[] = [];
  if (allowed.includes("totp") && (input.code ?? "") !== "") {
    const code = normalizeTotpCode(input.code ?? "");
    if (code === null) throw invalidField("code", "expected the 6 digits the authenticator app shows");
    offered.push({ kind: "totp", code });
  }
  if (allowed.includes("recovery_code") && (input.recoveryCode ?? "") !== "") {
    const code = normalizeRecoveryCode(input.recoveryCode ?? "");
    if (code === null)
      throw invalidField("recovery_code", "expected a recovery code of 16 letters and digits, such as 7KQ2-M9XD-4TPA-HW3C");
    offered.push({ kind: "recovery_code", code });
  }
  if (allowed.includes("password") && (input.password ?? "") !== "") offered.push({ kind: "password", password: input.password ?? "" });
  const fields = allowed.map((kind) => (kind === "totp" ? "code" : kind));
  const [proof] = offered;
  if (proof === undefined || offered.length > 1) throw invalidField(fields.join(" or "), `exactly one of ${fields.join(", ")} is required`);
  return proof;
}

/** The associated data a user's sealed TOTP secret is bound to. */
export const secretContext = (userId: string) => `auth.v1 totp secret\u0000${userId}`;

/** What a proof adds to `pwd` in the session's `amr`. */
export function methodsAfter(proof: Proof["kind"]): readonly AuthMethod[] {
  return proof === "recovery_code" ? ["pwd", "mfa"] : ["pwd", "otp", "mfa"];
}

/**
 * Whether `code` is the user's current TOTP code (within MFA_VALID_WINDOW steps) and no code of
 * its step or a later one was accepted before; records its step when it is.
 */
export async function acceptTotp(deps: AuthDeps, factor: TotpFactor, code: string): Promise<"accepted" | "wrong" | "replayed"> {
  const secret = deps.secretBox.open(factor.sealedSecret, secretContext(factor.userId));
  try {
    const step = matchTotp(secret, code, deps.clock.now(), deps.policy.mfaValidWindow);
    if (step === null) return "wrong";
    return (await deps.secondFactors.acceptStep(factor.userId, step)) ? "accepted" : "replayed";
  } finally {
    secret.fill(0);
  }
}

/**
 * Checks a proof against the user's confirmed factor (or their password). Records an `mfa_failed`
 * event and throws MFA_CODE_INVALID (INVALID_CREDENTIALS for a wrong password) when it fails;
 * records `mfa_recovery_code_used` when a recovery code was spent.
 */
export async function checkProof(
  deps: AuthDeps,
  ctx: RequestContext,
  user: User,
  factor: TotpFactor,
  proof: Proof,
  during: "sign_in" | "disable" | "regenerate",
): Promise<void> {
  // Every proof draws on the sign-in guessing budget too (abuse-limits.ts: the same pair lock and
  // per-account throttle as the password), refused before it is checked when over a limit.
  let outcome = "wrong" as "accepted" | "wrong" | "replayed";
  const attempt = {
    account: { kind: "user", userId: user.id },
    address: ctx.ip,
    kind: proof.kind === "password" ? "password" : "second_factor",
    tenant: user.tenant,
    completesSignIn: during === "sign_in",
  } as const;
  await checkSecret(deps, ctx, attempt, async () => {
    outcome = await proofOutcome(deps, user, factor, proof);
    return outcome === "accepted";
  });
  if (outcome !== "accepted") {
    await recordFailure(deps, ctx, user, { method: proof.kind, during, ...(outcome === "replayed" ? { replayed: true } : {}) });
    if (proof.kind === "password") throw new AuthError("INVALID_CREDENTIALS");
    throw new AuthError(
      "MFA_CODE_INVALID",
      outcome === "replayed" ? { message: "This code was used already; wait for the next one." } : {},
    );
  }
  if (proof.kind === "recovery_code") {
    const left = (await deps.secondFactors.find(user.id))?.recoveryCodesLeft ?? 0;
    await deps.events.record({ ...eventBase(ctx, user), type: "mfa_recovery_code_used", detail: { during, recoveryCodesLeft: left } });
  }
}

/** Checks a proof against the user's factor (or password): accepted, wrong, or a TOTP code used before. */
async function proofOutcome(deps: AuthDeps, user: User, factor: TotpFactor, proof: Proof): Promise<"accepted" | "wrong" | "replayed"> {
  switch (proof.kind) {
    case "totp":
      return acceptTotp(deps, factor, proof.code);
    case "recovery_code":
      return (await deps.secondFactors.useRecoveryCode(user.id, hashRecoveryCode(user.id, proof.code), new Date(deps.clock.now())))
        ? "accepted"
        : "wrong";
    case "password": {
      const credentials = await deps.users.findCredentialsById(user.id);
      return credentials !== null && (await deps.passwords.verify(proof.password, credentials.passwordHash)) ? "accepted" : "wrong";
    }
  }
}

export function recordFailure(
  deps: AuthDeps,
  ctx: RequestContext,
  user: Pick<User, "id" | "tenant">,
  detail: Readonly<Record<string, string | number | boolean>>,
): Promise<void> {
  return deps.events.record({ ...eventBase(ctx, user), type: "mfa_failed", detail });
}

export function eventBase(ctx: RequestContext, user: Pick<User, "id" | "tenant">) {
  return { tenant: user.tenant, userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent };
}

/** A ticket as presented: its parts and the hash it is stored under; MFA_TICKET_INVALID when it is not one of ours. */
export function readTicket(text: string): ParsedTicket & { readonly hash: string } {
  const parsed = parseTicket(text.trim());
  if (parsed === null) throw new AuthError("MFA_TICKET_INVALID");
  return { ...parsed, hash: hashTicketSecret(parsed.secret) };
}

/**
 * Takes a ticket of `purpose` out of the store (single use: of concurrent callers at most one
 * gets it). A ticket of the other purpose goes back untouched. MFA_TICKET_INVALID when there is
 * none to take.
 */
export async function takeTicket(
  deps: AuthDeps,
  ticket: ParsedTicket & { readonly hash: string },
  purpose: MfaTicketRecord["purpose"],
): Promise<MfaTicketRecord> {
  const now = deps.clock.now();
  const record = await deps.mfaTickets.take(ticket.userId, ticket.hash, now);
  if (record === null) throw new AuthError("MFA_TICKET_INVALID");
  if (record.purpose !== purpose) {
    await deps.mfaTickets.putBack(record, ticket.hash, now);
    throw new AuthError("MFA_TICKET_INVALID", {
      message: purpose === "verify" ? "This ticket is for enrolling a second factor, not for VerifyMfa." : "This ticket is for VerifyMfa.",
    });
  }
  return record;
}

/**
 * After a wrong code: the ticket goes back with one more failure, unless that was its last
 * allowed one. Returns the error to throw, which says when the ticket is spent.
 */
export async function spendFailure(deps: AuthDeps, ticket: { readonly hash: string }, record: MfaTicketRecord, error: AuthError) {
  const failures = record.failures + 1;
  if (failures < MAX_TICKET_FAILURES) {
    await deps.mfaTickets.putBack({ ...record, failures }, ticket.hash, deps.clock.now());
    return error;
  }
  return new AuthError(error.reason, { message: `${error.message} Too many wrong codes: sign in again.`, metadata: error.metadata });
}
