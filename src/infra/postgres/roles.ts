/** The RoleStore port on PostgreSQL: roles with their permissions, and how many users hold each. */
import { type Kysely, sql } from "kysely";
import type { Role, RoleStore } from "../../domain/admin/ports.js";
import { AuthError } from "../../domain/errors.js";
import type { Database } from "./schema.js";
import { violatedConstraint } from "./users.js";

interface RoleRow {
  name: string;
  description: string;
  permissions: Record<string, unknown>;
  user_count: string | number;
  created_at: Date;
  updated_at: Date;
}

function roleRowToRole(row: RoleRow): Role {
  return {
    name: row.name,
    description: row.description,
    permissions: row.permissions,
    userCount: Number(row.user_count),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function createRoleStore(db: Kysely<Database>): RoleStore {
  const selectRoles = (tenant: string) =>
    db
      .selectFrom("roles")
      .select(["roles.name", "roles.description", "roles.permissions", "roles.created_at", "roles.updated_at"])
      .select(
        sql<string>`(select count(*) from user_roles ur where ur.tenant_id = roles.tenant_id and ur.role_name = roles.name)`.as(
          "user_count",
        ),
      )
      .where("roles.tenant_id", "=", tenant);
  const find = async (tenant: string, name: string) => {
    const row = await selectRoles(tenant).where("roles.name", "=", name).executeTakeFirst();
    return row === undefined ? null : roleRowToRole(row);
  };

  return {
    async create(tenant, role, at) {
      try {
        await db
          .insertInto("roles")
          .values({
            tenant_id: tenant,
            name: role.name,
            description: role.description,
            permissions: JSON.stringify(role.permissions),
            created_at: at,
            updated_at: at,
          })
          .execute();
      } catch (error) {
        if (violatedConstraint(error) === "roles_pkey") throw new AuthError("ROLE_EXISTS", { metadata: { field: "name" } });
        throw error;
      }
      const created = await find(tenant, role.name);
      if (created === null) throw new Error(`role ${role.name} vanished right after its creation`);
      return created;
    },

    async list(tenant, afterName, limit) {
      let query = selectRoles(tenant);
      if (afterName !== null) query = query.where("roles.name", ">", afterName);
      return (await query.orderBy("roles.name").limit(limit).execute()).map(roleRowToRole);
    },

    async existing(tenant, names) {
      if (names.length === 0) return [];
      const rows = await db.selectFrom("roles").select("name").where("tenant_id", "=", tenant).where("name", "in", names).execute();
      return rows.map((row) => row.name);
    },

    async update(tenant, name, changes, at) {
      const result = await db
        .updateTable("roles")
        .set({
          updated_at: at,
          ...(changes.description === undefined ? {} : { description: changes.description }),
          ...(changes.permissions === undefined ? {} : { permissions: JSON.stringify(changes.permissions) }),
        })
        .where("tenant_id", "=", tenant)
        .where("name", "=", name)
        .executeTakeFirst();
      return Number(result.numUpdatedRows) === 0 ? null : find(tenant, name);
    },

    delete: (tenant, name) => deleteRole(db, tenant, name),
  };
}

/** Deletes the role and takes it from its users; how many held it, or null when there was no such role. */
async function deleteRole(db: Kysely<Database>, tenant: string, name: string): Promise<number | null> {
  return db.transaction().execute(async (tx) => {
    // The role first, locked: a transaction giving it to a user (checkRolesExist's FOR SHARE)
    // finishes before its holders are read below, or waits and then finds it gone.
    const role = await tx
      .selectFrom("roles")
      .select("name")
      .where("tenant_id", "=", tenant)
      .where("name", "=", name)
      .forUpdate()
      .executeTakeFirst();
    if (role === undefined) return null;
    const taken = await tx.deleteFrom("user_roles").where("tenant_id", "=", tenant).where("role_name", "=", name).executeTakeFirst();
    await tx.deleteFrom("roles").where("tenant_id", "=", tenant).where("name", "=", name).execute();
    return Number(taken.numDeletedRows);
  });
}
