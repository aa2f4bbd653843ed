/**
 * What an administrator does to a user's access: disable and enable, delete, set roles, end
 * sessions, reset second factors, lift sign-in locks. Each changes PostgreSQL (between the Redis
 * steps of changes.ts when it changes what a copy of the user holds), then Redis (the locks live in
 * Redis only), and writes an audit event naming the administrator.
 */
import { isIP } from "node:net";
import { liftLoginLimits } from "../abuse-limits.js";
import { changeUser, userChanged } from "../changes.js";
import { AuthError, invalidField } from "../errors.js";
import type { RequestContext, User } from "../model.js";
import { disableUser as disableAccount, enableUser as enableAccount, endUserAccess, type Actor as StatusActor } from "../user-status.js";
import { endSessionsOf } from "./access.js";
import { type Actor, byActor, refuseSelf } from "./authority.js";
import type { AdminDeps } from "./ports.js";
import { administeredUser, checkRoles } from "./users.js";

async function recordUserEvent(
  deps: AdminDeps,
  actor: Actor,
  user: User,
  type: "user_deleted" | "user_roles_set" | "user_sessions_ended" | "user_mfa_reset",
  detail?: Readonly<Record<string, number | readonly string[]>>,
): Promise<void> {
  await deps.events.record({ type, tenant: user.tenant, userId: user.id, ...byActor(actor), ...(detail ? { detail } : {}) });
}

/** The administrator as the user-status flows record them. */
function statusActor(actor: Actor): StatusActor {
  return { kind: "admin", id: actor.user.id, ip: actor.ctx.ip, userAgent: actor.ctx.userAgent };
}

/** The user as they are now, after a change; USER_NOT_FOUND if they were deleted meanwhile. */
async function reread(deps: AdminDeps, user: User): Promise<User> {
  const now = await deps.directory.find(user.tenant, { id: user.id });
  if (now === null) throw new AuthError("USER_NOT_FOUND", { message: "The tenant has no such user." });
  return now;
}

/**
 * Disables the user through the user-status flow: the flag and the session epoch in PostgreSQL,
 * then every session ends and the user is marked disabled in Redis, on every instance at once
 * (ValidateToken answers USER_DISABLED); it writes the audit event naming the administrator.
 */
export async function disableUser(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string },
): Promise<{ user: User; sessionsEnded: number }> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  refuseSelf(actor, user.id);
  const { sessionsEnded } = await disableAccount(deps, { userId: user.id, tenant: user.tenant, actor: statusActor(actor) });
  await userChanged(deps, { tenant: user.tenant, userId: user.id });
  return { user: await reread(deps, user), sessionsEnded };
}

export async function enableUser(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string },
): Promise<User> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  await enableAccount(deps, { userId: user.id, tenant: user.tenant, actor: statusActor(actor) });
  await userChanged(deps, { tenant: user.tenant, userId: user.id });
  return reread(deps, user);
}

export async function deleteUser(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string },
): Promise<number> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  refuseSelf(actor, user.id);
  // PostgreSQL (the row, and an epoch past the user's last), then Redis: every session ends, and a
  // request that read the user before the delete cannot start one after it.
  const sessionsEnded = await changeUser(deps, { tenant: user.tenant, userId: user.id }, async () => {
    const epoch = await deps.directory.delete(user.id);
    if (epoch === null) throw new AuthError("USER_NOT_FOUND", { message: "The tenant has no such user." });
    return endUserAccess(deps, user.id, epoch, false);
  });
  await recordUserEvent(deps, actor, user, "user_deleted", { sessionsEnded });
  return sessionsEnded;
}

export async function setUserRoles(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string; readonly roles: readonly string[] },
): Promise<User> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  refuseSelf(actor, user.id);
  const roles = checkRoles(input.roles);
  const at = new Date(deps.clock.now());
  const updated = await changeUser(deps, { tenant: user.tenant, userId: user.id }, () =>
    deps.directory.setRoles(user.id, user.tenant, roles, at),
  );
  if (updated === null) throw new AuthError("USER_NOT_FOUND", { message: "The tenant has no such user." });
  await recordUserEvent(deps, actor, user, "user_roles_set", { roles });
  return updated;
}

export async function endUserSessions(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string },
): Promise<number> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  const sessionsEnded = await endSessionsOf(deps, user.id);
  await recordUserEvent(deps, actor, user, "user_sessions_ended", { sessionsEnded });
  return sessionsEnded;
}

/**
 * Lifts the sign-in locks and throttles on a user of the tenant (domain/abuse-limits.ts), at one
 * client address or at all of them; audited as `login_unlocked` naming the administrator.
 * Returns how many locks and counters were cleared.
 */
export async function unlockUser(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string; readonly clientAddress: string },
): Promise<number> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  const address = input.clientAddress.trim();
  if (address !== "" && isIP(address) === 0) throw invalidField("client_address", "not an IPv4 or IPv6 address");
  return liftLoginLimits(deps, {
    account: { kind: "user", userId: user.id },
    tenant: user.tenant,
    ...(address === "" ? {} : { address }),
    actor: { kind: "admin", id: actor.user.id, ip: actor.ctx.ip, userAgent: actor.ctx.userAgent },
  });
}

export async function resetUserMfa(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string },
): Promise<number> {
  const { actor, user } = await administeredUser(deps, ctx, input);
  // The factor and its recovery codes go; an MFA ticket issued before is refused from now on
  // (VerifyMfa finds no factor). The user enrols again when they choose, or at their next
  // sign-in if the tenant requires MFA.
  const factorsRemoved = await deps.secondFactors.remove(user.id);
  if (factorsRemoved === 0) throw new AuthError("MFA_NOT_ENROLLED");
  await recordUserEvent(deps, actor, user, "user_mfa_reset", { factorsRemoved });
  return factorsRemoved;
}
