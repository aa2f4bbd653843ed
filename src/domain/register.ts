/** Register: creates a user in the caller's tenant with the default role, and mails a verification link. */
import { limitMail } from "./abuse-limits.js";
import { deferVerificationMail } from "./email-verification.js";
import { AuthError } from "./errors.js";
import type { RequestContext, User } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { loadTenant } from "./tenants.js";
import { checkNewPassword, resolveTenant, validateEmail, validateFullName, validateUsername } from "./validation.js";

export interface RegisterInput {
  readonly email: string;
  readonly password: string;
  readonly username: string | undefined;
  readonly fullName: string | undefined;
}

/** The role every new user gets. */
export const DEFAULT_ROLE = "user";

export async function register(deps: AuthDeps, ctx: RequestContext, input: RegisterInput): Promise<User> {
  const tenant = resolveTenant(ctx.tenantHeader, deps.policy.defaultTenant);
  const email = validateEmail(input.email);
  const username = validateUsername(input.username);
  const fullName = validateFullName(input.fullName);
  // Before hashing, so that a typo in x-tenant costs nothing and says what is wrong; the tenant's
  // policy sets the password rules.
  // The platform tenant's users are made by administrators, never by signing up.
  if (tenant === deps.policy.platformTenant) throw new AuthError("TENANT_NOT_FOUND");
  const { tenant: found, policy } = await loadTenant(deps, tenant);
  if (!found.isActive) throw new AuthError("TENANT_DISABLED");
  checkNewPassword("password", input.password, {
    minLength: policy.passwordMinLength,
    commonPasswords: deps.commonPasswords,
    context: [email, username],
  });

  // Before hashing: the client's mail budget (Register mails whoever it names; it also bounds the
  // bcrypt an anonymous caller can spend, and probing for taken addresses).
  await limitMail(deps, ctx, {});

  const passwordHash = await deps.passwords.hash(input.password);
  const user = await deps.users.create({ tenant, email, username, fullName, passwordHash, roles: [DEFAULT_ROLE] });
  // A new account's verification mail always goes; it spends one of the mailbox's anonymous mails
  // (counted with the mail, after the answer: the account exists by now).
  deferVerificationMail(deps, ctx, user, { countsForMailbox: true });
  await deps.events.record({ type: "user_registered", tenant, userId: user.id, ip: ctx.ip, userAgent: ctx.userAgent });
  return user;
}
