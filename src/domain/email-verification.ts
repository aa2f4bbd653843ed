/** Email verification: the mail Register sends, VerifyEmail, and ResendVerification. */
import { accountOf, limitMail } from "./abuse-limits.js";
import { AuthError } from "./errors.js";
import type { OldApi, RequestContext, User } from "./model.js";
import { consumeOneTimeToken, issueOneTimeToken, linkWithToken, presentedTokenHash } from "./one-time-tokens.js";
import type { AuthDeps } from "./ports.js";
import { loginKey, resolveTenant, validateEmail } from "./validation.js";

/**
 * Issues a verification token and mails its link: to the confirmation route of the old API the
 * mail was asked for through (`api`, such as UContact's, whose clients open that route), else ours.
 */
export async function sendVerificationMail(deps: AuthDeps, user: Pick<User, "id" | "tenant" | "email">, api?: OldApi): Promise<void> {
  const { token, expiresAt } = await issueOneTimeToken(deps, user, "verify_email", deps.policy.emailTokenTtlMs);
  const base = (api === undefined ? undefined : deps.policy.verifyEmailUrlByApi[api]) ?? deps.policy.verifyEmailUrl;
  await deps.mailer.sendVerification(user.email, linkWithToken(base, token), expiresAt);
}

/**
 * Queues the verification mail: a slow or failing mail server never fails or delays the caller.
 * `countsForMailbox`: the mail was not asked for through the mail budget (Register's), so it is
 * counted in the mailbox's anonymous budget as it goes.
 */
export function deferVerificationMail(
  deps: AuthDeps,
  ctx: RequestContext,
  user: Pick<User, "id" | "tenant" | "email">,
  options: { readonly countsForMailbox?: boolean } = {},
): void {
  deps.background.defer(ctx, "verification mail", async () => {
    if (options.countsForMailbox) await deps.mailThrottle.sent(loginKey(user.email));
    await sendVerificationMail(deps, user, ctx.api);
  });
}

export async function verifyEmail(deps: AuthDeps, ctx: RequestContext, input: { readonly token: string }): Promise<User> {
  const tokenHash = presentedTokenHash("token", input.token);
  const { userId } = await consumeOneTimeToken(deps, "verify_email", tokenHash, { kind: "verify_email" });
  const user = await deps.users.findById(userId);
  if (user === null) throw new AuthError("INTERNAL", { cause: new Error(`user ${userId} of a consumed token is gone`) });
  await deps.events.record({ type: "email_verified", tenant: user.tenant, userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent });
  return user;
}

/** Sends a new verification mail when an active, unverified account has this address; the same answer otherwise. */
export async function resendVerification(deps: AuthDeps, ctx: RequestContext, input: { readonly email: string }): Promise<void> {
  const tenant = resolveTenant(ctx.tenantHeader, deps.policy.defaultTenant);
  const email = validateEmail(input.email);
  const key = loginKey(email);
  const credentials = await deps.users.findAccountByLogin(tenant, email);
  const user = credentials?.user;
  // After the lookup, so that the owner's own addresses draw on her budget; an unknown address
  // costs the same Redis operations (abuse-limits.ts).
  await limitMail(deps, ctx, { mailbox: key, account: accountOf(tenant, key, user?.id) });
  await deps.events.record({
    type: "verification_requested",
    tenant,
    ...(user ? { userId: user.id } : {}),
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { email: key },
  });
  // The token and the mail happen after the answer, so both cases cost the caller the same.
  if (user?.isActive && !user.emailVerified) deferVerificationMail(deps, ctx, user);
}
