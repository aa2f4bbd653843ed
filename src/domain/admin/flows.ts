/**
 * The administration flows bound to their ports: what the AdminService's handlers call, as
 * domain/flows.ts does for the AuthService's. Each keeps its own signature minus `deps`.
 */
import { listAuditEvents } from "./audit.js";
import type { AdminDeps } from "./ports.js";
import { createRole, deleteRole, listRoles, updateRole } from "./roles.js";
import { createTenant, disableTenant, enableTenant, getTenant, listTenants, updateTenant } from "./tenants.js";
import { deleteUser, disableUser, enableUser, endUserSessions, resetUserMfa, setUserRoles, unlockUser } from "./user-access.js";
import { createUser, getUser, listUsers, updateUser } from "./users.js";

/** A flow without its first argument, the ports. */
type Bound<F> = F extends (deps: AdminDeps, ...args: infer A) => infer R ? (...args: A) => R : never;

const flows = {
  createTenant,
  getTenant,
  listTenants,
  updateTenant,
  disableTenant,
  enableTenant,
  createUser,
  getUser,
  listUsers,
  updateUser,
  disableUser,
  enableUser,
  deleteUser,
  setUserRoles,
  endUserSessions,
  unlockUser,
  resetUserMfa,
  createRole,
  listRoles,
  updateRole,
  deleteRole,
  listAuditEvents,
};

export type AdminFlows = { readonly [K in keyof typeof flows]: Bound<(typeof flows)[K]> };

export function bindAdminFlows(deps: AdminDeps): AdminFlows {
  const bound: Record<string, unknown> = {};
  for (const [name, flow] of Object.entries(flows)) {
    bound[name] = (...args: unknown[]) => (flow as (deps: AdminDeps, ...rest: unknown[]) => unknown)(deps, ...args);
  }
  return bound as AdminFlows;
}
