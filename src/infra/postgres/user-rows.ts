/** A user as read from PostgreSQL: the columns of `users` with their roles, and the domain User they make. */
import { type Kysely, type Selectable, sql } from "kysely";
import { mergePermissions, type User } from "../../domain/model.js";
import type { Database, UsersTable } from "./schema.js";

export type UserRow = Selectable<UsersTable> & { roles: string[]; role_permissions: Record<string, unknown>[] };

export function userRowToUser(row: UserRow): User {
  return {
    id: row.id,
    // bigint: a string from pg; below 2^53 by construction (a kept number is at most 2^52 - 1, see
    // MAX_KEPT_USER_NUMBER, and the sequence has 2^52 numbers left after it).
    number: Number(row.number),
    tenant: row.tenant_id,
    email: row.email,
    username: row.username,
    fullName: row.full_name,
    roles: row.roles,
    permissions: mergePermissions(row.role_permissions),
    attributes: row.attributes,
    isActive: row.is_active,
    emailVerifiedAt: row.email_verified_at,
    createdAt: row.created_at,
    sessionEpoch: row.session_epoch,
  };
}

/** A user's role names, in the order they were assigned (a column of a query over `users`). */
export const roleNamesOfUser = () =>
  sql<string[]>`array(select ur.role_name from user_roles ur where ur.user_id = users.id order by ur.assigned_at, ur.role_name)`.as(
    "roles",
  );

/** The permissions of a user's roles, in the order they were assigned, to merge (a column of a query over `users`). */
export const rolePermissionsOfUser = () =>
  sql<Record<string, unknown>[]>`coalesce((select jsonb_agg(r.permissions order by ur.assigned_at) from user_roles ur
    join roles r on r.tenant_id = ur.tenant_id and r.name = ur.role_name where ur.user_id = users.id), '[]'::jsonb)`.as("role_permissions");

/** Selects users with their role names, in the order they were assigned. */
export function selectUsers(db: Kysely<Database>) {
  return db.selectFrom("users").selectAll("users").select(roleNamesOfUser()).select(rolePermissionsOfUser());
}
