/** The RoleStore port on PostgreSQL: roles with their permissions, and how many users hold each. */
import { type Kysely, sql, type Transaction } from "kysely";
import type { Role, RoleStore } from "../../domain/admin/ports.js";
import { AuthError, invalidField } from "../../domain/errors.js";
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
    async create(tenant, role, at, maxTenantBytes) {
      try {
        await db.transaction().execute(async (tx) => {
          await checkTenantBudget(tx, tenant, role.name, role.permissions, maxTenantBytes);
          await tx
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
        });
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

    update: async (tenant, name, changes, at, maxTenantBytes) =>
      (await updateRole(db, tenant, name, changes, at, maxTenantBytes)) ? find(tenant, name) : null,
    delete: (tenant, name) => deleteRole(db, tenant, name),
  };
}

/** Applies a role's changes within the tenant's permissions budget; false when there is no such role. */
async function updateRole(
  db: Kysely<Database>,
  tenant: string,
  name: string,
  changes: Parameters<RoleStore["update"]>[2],
  at: Date,
  maxTenantBytes: number,
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    if (changes.permissions !== undefined) await checkTenantBudget(tx, tenant, name, changes.permissions, maxTenantBytes);
    const result = await tx
      .updateTable("roles")
      .set({
        updated_at: at,
        ...(changes.description === undefined ? {} : { description: changes.description }),
        ...(changes.permissions === undefined ? {} : { permissions: JSON.stringify(changes.permissions) }),
      })
      .where("tenant_id", "=", tenant)
      .where("name", "=", name)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  });
}

/**
 * INVALID_PERMISSIONS when role `name` holding `permissions` would make the tenant's roles hold
 * more than `maxBytes` of permissions together, unless the role holds as much or more already (a
 * tenant over the budget from before it existed may still shrink or reword its roles). Sizes are
 * PostgreSQL's own text of the jsonb; the tenant's row is locked so that two writers cannot both
 * pass the check and together exceed it.
 */
async function checkTenantBudget(
  tx: Transaction<Database>,
  tenant: string,
  name: string,
  permissions: Readonly<Record<string, unknown>>,
  maxBytes: number,
): Promise<void> {
  await tx.selectFrom("tenants").select("id").where("id", "=", tenant).forUpdate().execute();
  const { rows } = await sql<{ others: string; current: string; next: string }>`
    select coalesce(sum(octet_length(permissions::text)) filter (where name <> ${name}), 0) as others,
           coalesce(sum(octet_length(permissions::text)) filter (where name = ${name}), 0) as current,
           octet_length(${JSON.stringify(permissions)}::jsonb::text) as next
    from roles where tenant_id = ${tenant}`.execute(tx);
  const others = Number(rows[0]?.others ?? 0);
  const current = Number(rows[0]?.current ?? 0);
  const next = Number(rows[0]?.next ?? 0);
  if (others + next > maxBytes && next > current) {
    throw invalidField(
      "permissions",
      `the tenant's roles would hold ${others + next} bytes of permissions together, more than the ${maxBytes} allowed`,
      "INVALID_PERMISSIONS",
    );
  }
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
