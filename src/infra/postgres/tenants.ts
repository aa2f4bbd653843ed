/** The TenantStore port on PostgreSQL. */
import type { Kysely } from "kysely";
import { AuthError } from "../../domain/errors.js";
import type { TenantChanges, TenantStore } from "../../domain/ports.js";
import { BASE_ROLES } from "./database.js";
import type { Database } from "./schema.js";
import { tenantRowToTenant } from "./tenant-rows.js";
import { violatedConstraint } from "./users.js";

export function createTenantStore(db: Kysely<Database>): TenantStore {
  return {
    async find(id) {
      const row = await db.selectFrom("tenants").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? null : tenantRowToTenant(row);
    },

    async create(tenant) {
      try {
        const row = await db.transaction().execute(async (tx) => {
          const inserted = await tx
            .insertInto("tenants")
            .values({
              id: tenant.id,
              name: tenant.displayName,
              password_min_length: tenant.settings.passwordMinLength,
              verified_email_required: tenant.settings.verifiedEmailRequired,
              roles_required: tenant.settings.rolesRequired,
              mfa_required: tenant.settings.mfaRequired,
              created_at: tenant.createdAt,
              updated_at: tenant.createdAt,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await tx
            .insertInto("roles")
            .values(BASE_ROLES.map((name) => ({ tenant_id: tenant.id, name, created_at: tenant.createdAt, updated_at: tenant.createdAt })))
            .execute();
          return inserted;
        });
        return tenantRowToTenant(row);
      } catch (error) {
        if (violatedConstraint(error) === "tenants_pkey") throw new AuthError("TENANT_EXISTS", { metadata: { field: "id" } });
        throw error;
      }
    },

    async list(afterId, limit) {
      let query = db.selectFrom("tenants").selectAll();
      if (afterId !== null) query = query.where("id", ">", afterId);
      return (await query.orderBy("id").limit(limit).execute()).map(tenantRowToTenant);
    },

    async update(id, changes: TenantChanges, at) {
      const settings = changes.settings ?? {};
      const row = await db
        .updateTable("tenants")
        .set({
          updated_at: at,
          ...(changes.displayName === undefined ? {} : { name: changes.displayName }),
          ...(changes.isActive === undefined ? {} : { is_active: changes.isActive }),
          ...(settings.passwordMinLength === undefined ? {} : { password_min_length: settings.passwordMinLength }),
          ...(settings.verifiedEmailRequired === undefined ? {} : { verified_email_required: settings.verifiedEmailRequired }),
          ...(settings.rolesRequired === undefined ? {} : { roles_required: settings.rolesRequired }),
          ...(settings.mfaRequired === undefined ? {} : { mfa_required: settings.mfaRequired }),
        })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst();
      return row === undefined ? null : tenantRowToTenant(row);
    },
  };
}
