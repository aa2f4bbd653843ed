/** The signed-in user's own account: Me and ChangePassword. */
import { checkSecret } from "./abuse-limits.js";
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import type { RequestContext, User } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { loadTenant } from "./tenants.js";
import { checkNewPassword, checkPasswordInput } from "./validation.js";

/**
 * The signed-in user, read fresh. PERMISSION_DENIED with NO_ROLES for a user whose roles were all
 * taken away in a tenant that requires one (Vigia's 403 on `/me`), as Login and Refresh refuse them.
 */
export async function me(deps: AuthDeps, ctx: RequestContext): Promise<User> {
  const claims = await authenticate(deps, ctx);
  const user = await deps.users.findById(claims.userId);
  if (user === null) throw new AuthError("SESSION_REVOKED");
  if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
  // The tenant is read only then: the usual Me costs no extra query.
  if (user.roles.length === 0 && (await loadTenant(deps, user.tenant)).policy.rolesRequired) throw new AuthError("NO_ROLES");
  return user;
}

export interface ChangePasswordInput {
  readonly currentPassword: string;
  readonly newPassword: string;
}

/** Changes the password and ends every other session; returns how many ended. */
export async function changePassword(deps: AuthDeps, ctx: RequestContext, input: ChangePasswordInput): Promise<number> {
  const claims = await authenticate(deps, ctx);
  const current = checkPasswordInput("current_password", input.currentPassword);
  const credentials = await deps.users.findCredentialsById(claims.userId);
  if (credentials === null) throw new AuthError("SESSION_REVOKED");
  const { user, passwordHash } = credentials;
  if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
  checkNewPassword("new_password", input.newPassword, {
    minLength: (await loadTenant(deps, user.tenant)).policy.passwordMinLength,
    commonPasswords: deps.commonPasswords,
    context: [user.email, user.username],
  });
  // The current password draws on the same guessing budget as Login: a stolen access token must
  // not become a way to guess the password behind it.
  const attempt = {
    account: { kind: "user", userId: user.id },
    address: ctx.ip,
    kind: "password",
    tenant: user.tenant,
    completesSignIn: false,
  } as const;
  if (!(await checkSecret(deps, ctx, attempt, () => deps.passwords.verify(current, passwordHash)))) {
    throw new AuthError("INVALID_CREDENTIALS");
  }

  const newHash = await deps.passwords.hash(input.newPassword);
  const now = new Date(deps.clock.now());
  // PostgreSQL first (the new hash and a new session epoch, in one statement), then Redis: every
  // other session ends, including one a login with the old password creates while this runs, and
  // no request that read the old hash can start or extend one afterwards (see session-epoch.ts).
  const epoch = await deps.users.updatePasswordHash(user.id, newHash, now);
  // A reset link mailed before the change must not undo it.
  await deps.oneTimeTokens.voidAll(user.id, "reset_password", now);
  const ended = await deps.sessions.endAccess(user.id, { epoch, keepSessionId: claims.sessionId });
  await deps.events.record({
    type: "password_changed",
    tenant: user.tenant,
    userId: user.id,
    sessionId: claims.sessionId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { sessionsEnded: ended },
  });
  return ended;
}
