/** Role administration within a tenant: roles with a bounded permissions object. */
import { changeTenant } from "../changes.js";
import { checkDocument, PERMISSIONS_LIMITS, TENANT_PERMISSIONS_MAX_BYTES } from "../documents.js";
import { AuthError, invalidField } from "../errors.js";
import type { RequestContext } from "../model.js";
import { hasRefusedTextCharacter, validateRoleName } from "../validation.js";
import { byActor, PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE, tenantActor } from "./authority.js";
import { decodePageToken, page, pageSize } from "./paging.js";
import type { AdminDeps, Role } from "./ports.js";

const MAX_DESCRIPTION = 500;

export function checkDescription(value: string): string {
  const description = value.trim();
  if ([...description].length > MAX_DESCRIPTION || hasRefusedTextCharacter(description)) {
    throw invalidField("description", `at most ${MAX_DESCRIPTION} characters, no control or bidi control characters`);
  }
  return description;
}

export async function createRole(
  deps: AdminDeps,
  ctx: RequestContext,
  input: {
    readonly tenant: string;
    readonly name: string;
    readonly description: string;
    readonly permissions: Readonly<Record<string, unknown>> | undefined;
  },
): Promise<Role> {
  const { actor, tenant } = await tenantActor(deps, ctx, input.tenant);
  const name = validateRoleName("name", input.name);
  const description = checkDescription(input.description);
  const permissions = input.permissions === undefined ? {} : checkDocument(input.permissions, PERMISSIONS_LIMITS);
  const role = await deps.roles.create(
    tenant.id,
    { name, description, permissions },
    new Date(deps.clock.now()),
    TENANT_PERMISSIONS_MAX_BYTES,
  );
  await deps.events.record({ type: "role_created", tenant: tenant.id, ...byActor(actor), detail: { role: name } });
  return role;
}

export async function listRoles(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly pageSize: number; readonly pageToken: string },
): Promise<{ roles: Role[]; nextPageToken: string }> {
  const { tenant } = await tenantActor(deps, ctx, input.tenant);
  const limit = pageSize(input.pageSize);
  const filters = { tenant: tenant.id, list: "roles" };
  const after = decodePageToken(input.pageToken, filters, /^[a-z0-9_-]{1,64}$/);
  const rows = await deps.roles.list(tenant.id, after, limit + 1);
  const { items, nextPageToken } = page(rows, limit, (role) => role.name, filters);
  return { roles: items, nextPageToken };
}

export async function updateRole(
  deps: AdminDeps,
  ctx: RequestContext,
  input: {
    readonly tenant: string;
    readonly name: string;
    readonly description: string | undefined;
    readonly permissions: Readonly<Record<string, unknown>> | undefined;
  },
): Promise<Role> {
  const { actor, tenant } = await tenantActor(deps, ctx, input.tenant);
  const name = validateRoleName("name", input.name);
  const changes = {
    ...(input.description === undefined ? {} : { description: checkDescription(input.description) }),
    ...(input.permissions === undefined ? {} : { permissions: checkDocument(input.permissions, PERMISSIONS_LIMITS) }),
  };
  const at = new Date(deps.clock.now());
  // Every holder's permissions change: copies of them and ValidateToken's grants everywhere are dropped.
  const role = await changeTenant(deps, tenant.id, () => deps.roles.update(tenant.id, name, changes, at, TENANT_PERMISSIONS_MAX_BYTES));
  if (role === null) throw new AuthError("ROLE_NOT_FOUND", { metadata: { field: "name" } });
  await deps.events.record({
    type: "role_updated",
    tenant: tenant.id,
    ...byActor(actor),
    detail: { role: name, fields: Object.keys(changes) },
  });
  return role;
}

export async function deleteRole(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly name: string },
): Promise<number> {
  const { actor, tenant } = await tenantActor(deps, ctx, input.tenant);
  const name = validateRoleName("name", input.name);
  // Administrators' authority is these roles: deleting one would demote every administrator at once.
  if (name === TENANT_ADMIN_ROLE || (tenant.id === deps.policy.platformTenant && name === PLATFORM_ADMIN_ROLE)) {
    throw new AuthError("ROLE_PROTECTED", { metadata: { field: "name" } });
  }
  const usersAffected = await changeTenant(deps, tenant.id, () => deps.roles.delete(tenant.id, name));
  if (usersAffected === null) throw new AuthError("ROLE_NOT_FOUND", { metadata: { field: "name" } });
  await deps.events.record({ type: "role_deleted", tenant: tenant.id, ...byActor(actor), detail: { role: name, usersAffected } });
  return usersAffected;
}
