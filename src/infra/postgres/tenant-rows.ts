/** A row of `tenants` as a domain Tenant (tenants.ts, and the sign-in read of users.ts). */
import type { Selectable } from "kysely";
import type { Tenant } from "../../domain/tenants.js";
import type { TenantsTable } from "./schema.js";

export function tenantRowToTenant(row: Selectable<TenantsTable>): Tenant {
  return {
    id: row.id,
    displayName: row.name,
    isActive: row.is_active,
    settings: {
      passwordMinLength: row.password_min_length,
      verifiedEmailRequired: row.verified_email_required,
      rolesRequired: row.roles_required,
      mfaRequired: row.mfa_required,
    },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
