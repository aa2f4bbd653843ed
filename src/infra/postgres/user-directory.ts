/** The UserDirectory port (user administration) on PostgreSQL. */
import { type Kysely, sql } from "kysely";
import type { UserChanges, UserDirectory } from "../../domain/admin/ports.js";
import { normalizeEmail, normalizeUsername } from "../../domain/identifiers.js";
import type { Database } from "./schema.js";
import { checkRolesExist, insertRoles, selectUsers, userConflict, userRowToUser } from "./users.js";

/** `value` with LIKE's wildcards escaped, for a prefix match (`... like escaped || '%'`). */
export function likePrefix(value: string): string {
  return `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export function createUserDirectory(db: Kysely<Database>): UserDirectory {
  const byId = async (userId: string) => {
    const row = await selectUsers(db).where("users.id", "=", userId).executeTakeFirst();
    return row === undefined ? null : userRowToUser(row);
  };

  return {
    async find(tenant, ref) {
      let query = selectUsers(db).where("users.tenant_id", "=", tenant);
      query = "id" in ref ? query.where("users.id", "=", ref.id) : query.where("users.number", "=", ref.number);
      const row = await query.executeTakeFirst();
      return row === undefined ? null : userRowToUser(row);
    },

    list: (tenant, filter, afterNumber, limit) => listUsers(db, tenant, filter, afterNumber, limit),

    update: (userId, changes, at) => updateUser(db, userId, changes, at).then((found) => (found ? byId(userId) : null)),

    async setRoles(userId, tenant, roles, at) {
      const found = await db.transaction().execute(async (tx) => {
        // Locks the user's row: two concurrent SetUserRoles apply one after the other.
        const user = await tx.selectFrom("users").select("id").where("id", "=", userId).forUpdate().executeTakeFirst();
        if (user === undefined) return false;
        await checkRolesExist(tx, tenant, roles);
        await tx.deleteFrom("user_roles").where("user_id", "=", userId).execute();
        await insertRoles(tx, userId, tenant, roles, at);
        await tx.updateTable("users").set({ updated_at: at }).where("id", "=", userId).execute();
        return true;
      });
      return found ? byId(userId) : null;
    },

    async delete(userId) {
      return db.transaction().execute(async (tx) => {
        // Audit events keep the user id; the address some of them recorded is personal data.
        await tx
          .updateTable("audit_events")
          .set({ details: sql`details - 'email'` })
          .where("user_id", "=", userId)
          .where(sql<boolean>`jsonb_exists(details, 'email')`)
          .execute();
        // user_roles and one_time_tokens go with the row (on delete cascade).
        const row = await tx.deleteFrom("users").where("id", "=", userId).returning("session_epoch").executeTakeFirst();
        return row === undefined ? null : row.session_epoch + 1;
      });
    },

    async ids(tenant, afterId, limit) {
      let query = db.selectFrom("users").select("id").where("tenant_id", "=", tenant);
      if (afterId !== null) query = query.where("id", ">", afterId);
      return (await query.orderBy("id").limit(limit).execute()).map((row) => row.id);
    },
  };
}

/** One page of the tenant's users by number, after `afterNumber`, filtered. */
async function listUsers(
  db: Kysely<Database>,
  tenant: string,
  filter: Parameters<UserDirectory["list"]>[1],
  afterNumber: number | null,
  limit: number,
) {
  let query = selectUsers(db).where("users.tenant_id", "=", tenant);
  if (afterNumber !== null) query = query.where("users.number", ">", afterNumber);
  if (filter.emailPrefix !== undefined) query = query.where(sql<boolean>`users.email_normalized like ${likePrefix(filter.emailPrefix)}`);
  if (filter.usernamePrefix !== undefined) {
    query = query.where(sql<boolean>`users.username_normalized like ${likePrefix(filter.usernamePrefix)}`);
  }
  if (filter.active !== undefined) query = query.where("users.is_active", "=", filter.active);
  if (filter.role !== undefined) {
    const role = filter.role;
    query = query.where(({ exists, selectFrom }) =>
      exists(
        selectFrom("user_roles")
          .select("user_roles.user_id")
          .whereRef("user_roles.user_id", "=", "users.id")
          .where("user_roles.role_name", "=", role),
      ),
    );
  }
  const rows = await query.orderBy("users.number").limit(limit).execute();
  return rows.map(userRowToUser);
}

/** Applies `changes` (keys and skeletons from the one identifier profile); false when the user is gone. */
async function updateUser(db: Kysely<Database>, userId: string, changes: UserChanges, at: Date): Promise<boolean> {
  const set: Record<string, unknown> = { updated_at: at };
  // Keys and skeletons from the one identifier profile, as UserRepository.create computes them.
  if (changes.email !== undefined) {
    const email = normalizeEmail(changes.email);
    set.email = email.display;
    set.email_normalized = email.key;
    set.email_skeleton = email.skeleton;
  }
  if (changes.username !== undefined) {
    const username = normalizeUsername(changes.username ?? undefined);
    set.username = username?.display ?? null;
    set.username_normalized = username?.key ?? null;
    set.username_skeleton = username?.skeleton ?? null;
  }
  if (changes.fullName !== undefined) set.full_name = changes.fullName;
  if (changes.attributes !== undefined) set.attributes = JSON.stringify(changes.attributes);
  if (changes.emailVerifiedAt !== undefined) set.email_verified_at = changes.emailVerifiedAt;
  try {
    const result = await db.updateTable("users").set(set).where("id", "=", userId).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
  } catch (error) {
    throw userConflict(error);
  }
  return true;
}
