/** Email verification: the mail Register sends, VerifyEmail, and ResendVerification. */
import { AuthError } from "./errors.js";
import type { OldApi, RequestContext, User } from "./model.js";
import { consumeOneTimeToken, issueOneTimeToken, linkWithToken, presentedTokenHash } from "./one-time-tokens.js";
import type { AuthDeps } from "./ports.js";
import { loginKey, resolveTenant, validateEmail } from "./validation.js";

const HOUR = 3_600_000;

/**
 * Issues a verification token and mails its link: to the confirmation route of the old API the
 * mail was asked for through (`api`, such as UContact's, whose clients open that route), else ours.
 */
export async function sendVerificationMail(deps: AuthDeps, user: Pick<User, "id" | "tenant" | "email">, api?: OldApi): Promise<void> {
  const { token, expiresAt } = await issueOneTimeToken(deps, user, "verify_email", deps.policy.emailTokenTtlMs);
  const base = (api === undefined ? undefined : deps.policy.verifyEmailUrlByApi[api]) ?? deps.policy.verifyEmailUrl;
  await deps.mailer.sendVerification(user.email, linkWithToken(base, token), expiresAt);
}

/** Queues the verification mail: a slow or failing mail server never fails or delays the caller. */
export function deferVerificationMail(deps: AuthDeps, ctx: RequestContext, user: Pick<User, "id" | "tenant" | "email">): void {
  deps.background.defer(ctx, "verification mail", () => sendVerificationMail(deps, user, ctx.api));
}

export async function verifyEmail(deps: AuthDeps, ctx: RequestContext, input: { readonly token: string }): Promise<User> {
  const tokenHash = presentedTokenHash("token", input.token);
  const { userId } = await consumeOneTimeToken(deps, "verify_email", tokenHash, { kind: "verify_email" });
  const user = await deps.users.findById(userId);
  if (user === null) throw new AuthError("INTERNAL", { cause: new Error(`user ${userId} of a consumed token is gone`) });
  await deps.events.record({ type: "email_verified", tenant: user.tenant, userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent });
  return user;
}

/**
 * Throttles mails per address: the key is the address asked for, known or not, so the limit
 * itself reveals nothing about which accounts exist.
 */
export async function limitMailsTo(deps: AuthDeps, tenant: string, email: string): Promise<void> {
  const allowed = await deps.rateLimiter.hit(`mail:${tenant}:${loginKey(email)}`, deps.policy.mailsPerAddressPerHour, HOUR);
  if (!allowed) throw new AuthError("RATE_LIMITED", { message: "Too many mails were asked for this address; retry in an hour." });
}

/** Sends a new verification mail when an active, unverified account has this address; the same answer otherwise. */
export async function resendVerification(deps: AuthDeps, ctx: RequestContext, input: { readonly email: string }): Promise<void> {
  const tenant = resolveTenant(ctx.tenantHeader, deps.policy.defaultTenant);
  const email = validateEmail(input.email);
  await limitMailsTo(deps, tenant, email);
  const credentials = await deps.users.findAccountByLogin(tenant, email);
  const user = credentials?.user;
  await deps.events.record({
    type: "verification_requested",
    tenant,
    ...(user ? { userId: user.id } : {}),
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { email: loginKey(email) },
  });
  // The token and the mail happen after the answer, so both cases cost the caller the same.
  if (user?.isActive && !user.emailVerified) deferVerificationMail(deps, ctx, user);
}
