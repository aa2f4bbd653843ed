/**
 * Who may administer what. A tenant's administrators (role `admin` in that tenant) administer
 * their own tenant; platform administrators (role `platform-admin` in the platform tenant)
 * administer tenants and may act in any tenant. The platform tenant is administered by platform
 * administrators only: otherwise its `admin` could grant themselves `platform-admin`.
 *
 * Authority is read fresh from the user store on every call, never from the token: a token issued
 * before a demotion or a disable must not keep administrative powers for its remaining lifetime.
 */
import { authenticate } from "../authenticate.js";
import { AuthError } from "../errors.js";
import type { RequestContext, User } from "../model.js";
import type { AuthDeps } from "../ports.js";
import type { Tenant } from "../tenants.js";
import { validateTenantId } from "../validation.js";

export const TENANT_ADMIN_ROLE = "admin";
export const PLATFORM_ADMIN_ROLE = "platform-admin";

/** An administrator making a call: who they are now, and whether they act as a platform administrator. */
export interface Actor {
  readonly user: User;
  readonly platform: boolean;
  readonly ctx: RequestContext;
}

export function isPlatformAdmin(user: User, platformTenant: string): boolean {
  return user.isActive && user.tenant === platformTenant && user.roles.includes(PLATFORM_ADMIN_ROLE);
}

/** The caller, read now from the user store: authenticated, existing and active. */
async function currentCaller(deps: AuthDeps, ctx: RequestContext): Promise<User> {
  const claims = await authenticate(deps, ctx);
  const user = await deps.users.findById(claims.userId);
  // A deleted user's sessions were ended with them; this is the race of a call in flight.
  if (user === null) throw new AuthError("SESSION_REVOKED");
  if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
  return user;
}

/** A platform administrator, or PERMISSION_DENIED (PLATFORM_ADMIN_REQUIRED). */
export async function platformActor(deps: AuthDeps, ctx: RequestContext): Promise<Actor> {
  const user = await currentCaller(deps, ctx);
  if (!isPlatformAdmin(user, deps.policy.platformTenant)) throw new AuthError("PLATFORM_ADMIN_REQUIRED");
  return { user, platform: true, ctx };
}

/**
 * An administrator of the tenant named in the request field `tenant` (or a platform
 * administrator), with that tenant; PERMISSION_DENIED (ADMIN_REQUIRED) otherwise. The tenant is
 * looked up only once the caller may see it, so nobody else learns which tenants exist.
 */
export async function tenantActor(deps: AuthDeps, ctx: RequestContext, tenantField: string): Promise<{ actor: Actor; tenant: Tenant }> {
  const user = await currentCaller(deps, ctx);
  return authorizeIn(deps, ctx, user, validateTenantId("tenant", tenantField));
}

/**
 * An administrator of the caller's own tenant, for the AuthService's calls that administer
 * without naming a tenant (an admin's ResetPassword). The same rule as `tenantActor`: in the
 * platform tenant only platform administrators count, whatever `admin` role someone holds there.
 */
export async function ownTenantActor(deps: AuthDeps, ctx: RequestContext): Promise<{ actor: Actor; tenant: Tenant }> {
  const user = await currentCaller(deps, ctx);
  return authorizeIn(deps, ctx, user, user.tenant);
}

async function authorizeIn(deps: AuthDeps, ctx: RequestContext, user: User, tenantId: string): Promise<{ actor: Actor; tenant: Tenant }> {
  const platform = isPlatformAdmin(user, deps.policy.platformTenant);
  const tenantAdmin = user.tenant === tenantId && tenantId !== deps.policy.platformTenant && user.roles.includes(TENANT_ADMIN_ROLE);
  if (!platform && !tenantAdmin) throw new AuthError("ADMIN_REQUIRED");
  const tenant = await deps.tenants.find(tenantId);
  if (tenant === null) throw new AuthError("TENANT_NOT_FOUND");
  // A disabled tenant's administrators lost their sessions with it; platform administrators may
  // still look after its users.
  if (!platform && !tenant.isActive) throw new AuthError("TENANT_DISABLED");
  return { actor: { user, platform, ctx }, tenant };
}

/** Administrators act on other accounts: touching their own could lock them out (and nobody else in). */
export function refuseSelf(actor: Actor, userId: string): void {
  if (actor.user.id === userId) throw new AuthError("CANNOT_MODIFY_SELF");
}

/** The parts of an audit event every administrative action shares. */
export function byActor(actor: Actor): { actorId: string; ip: string | undefined; userAgent: string | undefined } {
  return { actorId: actor.user.id, ip: actor.ctx.ip, userAgent: actor.ctx.userAgent };
}
