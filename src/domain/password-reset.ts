/** Password reset: RequestPasswordReset, and ResetPassword by token (self-service) or by an admin. */

import { accountOf, limitMail } from "./abuse-limits.js";
import { ownTenantActor } from "./admin/authority.js";
import { AuthError, invalidField } from "./errors.js";
import type { RequestContext, User } from "./model.js";
import { consumeOneTimeToken, issueOneTimeToken, linkWithToken, presentedTokenHash, whyUnusable } from "./one-time-tokens.js";
import type { AuthDeps } from "./ports.js";
import { loadTenant } from "./tenants.js";
import { checkNewPassword, loginKey, resolveTenant, validateEmail } from "./validation.js";

/** Mails a reset link when an active account has this address; the same answer, after the same work, otherwise. */
export async function requestPasswordReset(deps: AuthDeps, ctx: RequestContext, input: { readonly email: string }): Promise<void> {
  const tenant = resolveTenant(ctx.tenantHeader, deps.policy.defaultTenant);
  const email = validateEmail(input.email);
  const key = loginKey(email);
  const user = (await deps.users.findAccountByLogin(tenant, email))?.user;
  // After the lookup, so that a request from an address the owner signed in from draws on her own
  // budget, which no anonymous caller can exhaust; an unknown address costs the same Redis
  // operations (abuse-limits.ts).
  await limitMail(deps, ctx, { mailbox: key, account: accountOf(tenant, key, user?.id) });
  await deps.events.record({
    type: "password_reset_requested",
    tenant,
    ...(user ? { userId: user.id } : {}),
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { email: key, accountExists: user !== undefined },
  });
  // Token and mail after the answer: an unknown address costs the caller exactly what a known one does.
  if (user?.isActive) {
    deps.background.defer(ctx, "password reset mail", async () => {
      const { token, expiresAt } = await issueOneTimeToken(deps, user, "reset_password", deps.policy.resetTokenTtlMs);
      await deps.mailer.sendPasswordReset(user.email, linkWithToken(deps.policy.resetPasswordUrl, token), expiresAt);
    });
  }
}

export interface ResetPasswordInput {
  readonly token: string;
  readonly email: string;
  readonly newPassword: string;
}

export interface ResetPasswordResult {
  readonly user: User;
  readonly sessionsEnded: number;
}

export async function resetPassword(deps: AuthDeps, ctx: RequestContext, input: ResetPasswordInput): Promise<ResetPasswordResult> {
  if (input.token.trim() !== "") return resetWithToken(deps, ctx, input);
  if (input.email.trim() !== "") return resetByAdmin(deps, ctx, input);
  throw invalidField("token", "required (or email, for an admin reset)");
}

/** Self-service: the mailed token proves control of the address. */
async function resetWithToken(deps: AuthDeps, ctx: RequestContext, input: ResetPasswordInput): Promise<ResetPasswordResult> {
  const tokenHash = presentedTokenHash("token", input.token);
  // Look before hashing: a used or expired token should not cost a bcrypt hash, and the policy
  // needs the user's email and username. The consume below re-checks everything atomically.
  const record = await deps.oneTimeTokens.find("reset_password", tokenHash);
  const now = new Date(deps.clock.now());
  if (record === null || record.usedAt !== null || record.expiresAt <= now) throw await whyUnusable(deps, "reset_password", tokenHash, now);
  const credentials = await deps.users.findCredentialsById(record.userId);
  if (credentials === null) throw await whyUnusable(deps, "reset_password", tokenHash, now);
  const passwordHash = await hashNewPassword(deps, input.newPassword, credentials.user);

  // The new hash and a new session epoch in one statement, then every session ends (session-epoch.ts).
  const { userId, sessionEpoch } = await consumeOneTimeToken(deps, "reset_password", tokenHash, { kind: "reset_password", passwordHash });
  const sessionsEnded = await deps.sessions.endAccess(userId, { epoch: sessionEpoch });
  await deps.events.record({
    type: "password_reset",
    tenant: credentials.user.tenant,
    userId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { by: "token", sessionsEnded },
  });
  return { user: credentials.user, sessionsEnded };
}

/** An administrator of the tenant sets a user's password (the admin reset of the Vigia API). */
async function resetByAdmin(deps: AuthDeps, ctx: RequestContext, input: ResetPasswordInput): Promise<ResetPasswordResult> {
  // The AdminService's rule, read fresh (a token issued before a demotion keeps no admin powers):
  // in the platform tenant only platform administrators count, since resetting a platform
  // administrator's password hands over every tenant.
  const { actor, tenant } = await ownTenantActor(deps, ctx);
  const admin = actor.user;
  const email = validateEmail(input.email);
  const target = await deps.users.findCredentialsByLogin(tenant.id, email);
  if (target === null) throw new AuthError("USER_NOT_FOUND");
  const passwordHash = await hashNewPassword(deps, input.newPassword, target.user);

  const now = new Date(deps.clock.now());
  // PostgreSQL first, then Redis (see session-epoch.ts).
  const epoch = await deps.users.updatePasswordHash(target.user.id, passwordHash, now);
  await deps.oneTimeTokens.voidAll(target.user.id, "reset_password", now);
  const sessionsEnded = await deps.sessions.endAccess(target.user.id, { epoch });
  await deps.events.record({
    type: "password_reset",
    tenant: tenant.id,
    userId: target.user.id,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { by: "admin", adminId: admin.id, sessionsEnded },
  });
  return { user: target.user, sessionsEnded };
}

async function hashNewPassword(deps: AuthDeps, password: string, user: User): Promise<string> {
  checkNewPassword("new_password", password, {
    minLength: (await loadTenant(deps, user.tenant)).policy.passwordMinLength,
    commonPasswords: deps.commonPasswords,
    context: [user.email, user.username],
  });
  return deps.passwords.hash(password);
}
