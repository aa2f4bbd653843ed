/**
 * After PostgreSQL has committed a change to a user or a tenant, every copy and cache of them
 * learns it: the copy of the user Refresh reads beside their sessions (ports.ts `UserCopy`), the
 * tenant's generation that copies are read under, and ValidateToken's grants. Every flow that
 * changes what a User holds (a field, the roles, the active flag) calls `userChanged` after the
 * change; every flow that changes a tenant's roles or policy calls `tenantChanged`. (Ending a
 * user's access, `sessions.endAccess`, does what `userChanged` does to the copy by itself.)
 */
import type { AuthDeps } from "./ports.js";

type ChangeDeps = Pick<AuthDeps, "sessions" | "grants">;

export async function userChanged(deps: ChangeDeps, user: { readonly tenant: string; readonly userId: string }): Promise<void> {
  await deps.sessions.userChanged(user.userId);
  await deps.grants.changed(user);
}

export async function tenantChanged(deps: ChangeDeps, tenant: string): Promise<void> {
  await deps.sessions.tenantChanged(tenant);
  await deps.grants.changed({ tenant });
}
