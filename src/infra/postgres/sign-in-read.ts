/** The read of a sign-in once the password is proved (UserRepository `findForSignIn`): one statement. */
import { type Kysely, sql } from "kysely";
import type { SignInRead } from "../../domain/ports.js";
import type { Database } from "./schema.js";
import { tenantRowToTenant } from "./tenant-rows.js";
import { selectUsers, userRowToUser } from "./user-rows.js";

/**
 * The user, their tenant and whether they have a confirmed second factor, in one statement (a
 * sign-in's reads after the password: one round trip instead of three).
 */
export async function findForSignIn(db: Kysely<Database>, userId: string): Promise<SignInRead | null> {
  const row = await selectUsers(db)
    .leftJoin("tenants as t", "t.id", "users.tenant_id")
    .select([
      "t.id as t_id",
      "t.name as t_name",
      "t.is_active as t_is_active",
      "t.password_min_length as t_password_min_length",
      "t.verified_email_required as t_verified_email_required",
      "t.roles_required as t_roles_required",
      "t.mfa_required as t_mfa_required",
      "t.created_at as t_created_at",
      "t.updated_at as t_updated_at",
    ])
    .select(
      sql<boolean>`exists(select 1 from mfa_factors f where f.user_id = users.id and f.confirmed_at is not null)`.as(
        "second_factor_confirmed",
      ),
    )
    .where("users.id", "=", userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  const tenant =
    row.t_id === null
      ? null
      : tenantRowToTenant({
          id: row.t_id,
          name: row.t_name!,
          is_active: row.t_is_active!,
          password_min_length: row.t_password_min_length,
          verified_email_required: row.t_verified_email_required,
          roles_required: row.t_roles_required!,
          mfa_required: row.t_mfa_required!,
          created_at: row.t_created_at!,
          updated_at: row.t_updated_at!,
        });
  return { user: userRowToUser(row), tenant, secondFactorConfirmed: row.second_factor_confirmed };
}
