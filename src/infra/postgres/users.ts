/** The UserRepository port on PostgreSQL (Kysely). Rows become domain users here and nowhere else. */
import { randomUUID } from "node:crypto";
import { type Kysely, sql, type Transaction } from "kysely";
import { AuthError } from "../../domain/errors.js";
import { lookupKey, normalizeEmail, normalizeUsername } from "../../domain/identifiers.js";
import type { UserCredentials } from "../../domain/model.js";
import type { NewUser, UserRepository } from "../../domain/ports.js";
import { findAccountByLogin, findAccountsByLoginInAnyTenant } from "./accounts.js";
import type { Database } from "./schema.js";
import { findForSignIn } from "./sign-in-read.js";
import { selectUsers, type UserRow, userRowToUser } from "./user-rows.js";

export { selectUsers, userRowToUser } from "./user-rows.js";

function rowToCredentials(row: UserRow): UserCredentials {
  return { user: userRowToUser(row), passwordHash: row.password_hash };
}

/** What each unique index of users means to a caller. */
const takenBy = new Map<string, () => AuthError>([
  ["users_tenant_email_key", () => new AuthError("EMAIL_TAKEN", { metadata: { field: "email" } })],
  [
    "users_tenant_email_skeleton_key",
    () =>
      new AuthError("EMAIL_TAKEN", {
        message: "An account with an email address that looks the same already exists.",
        metadata: { field: "email", conflict: "lookalike" },
      }),
  ],
  ["users_tenant_username_key", () => new AuthError("USERNAME_TAKEN", { metadata: { field: "username" } })],
  [
    "users_tenant_username_skeleton_key",
    () =>
      new AuthError("USERNAME_TAKEN", {
        message: "A username that looks the same is taken.",
        metadata: { field: "username", conflict: "lookalike" },
      }),
  ],
]);

/** The unique constraint a PostgreSQL unique violation names, if that is what the error is. */
export function violatedConstraint(error: unknown): string | undefined {
  const e = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (e.code !== "23505") return undefined;
  if (typeof e.constraint === "string") return e.constraint;
  // PGlite reports the constraint only in the message.
  return typeof e.message === "string" ? /constraint "([^"]+)"/.exec(e.message)?.[1] : undefined;
}

/** The AuthError for a unique violation of the users table, or the error itself. */
export function userConflict(error: unknown): unknown {
  const constraint = violatedConstraint(error) ?? "";
  if (constraint === "users_tenant_number_key") return new AuthError("NUMBER_TAKEN", { metadata: { field: "number" } });
  return takenBy.get(constraint)?.() ?? error;
}

/**
 * ROLE_NOT_FOUND naming the first of `roles` that the tenant lacks; nothing when it has them all.
 * Within a transaction the roles found stay locked (FOR SHARE) until it ends: a DeleteRole running
 * meanwhile waits and then takes them from their users too, or ran first and they are not found
 * here (without the lock, the insert that follows failed on the foreign key: a 500).
 */
export async function checkRolesExist(db: Kysely<Database> | Transaction<Database>, tenant: string, roles: readonly string[]) {
  if (roles.length === 0) return;
  const rows = await db.selectFrom("roles").select("name").where("tenant_id", "=", tenant).where("name", "in", roles).forShare().execute();
  const known = new Set(rows.map((row) => row.name));
  const missing = roles.find((role) => !known.has(role));
  if (missing !== undefined) {
    throw new AuthError("ROLE_NOT_FOUND", {
      message: `The tenant has no role ${JSON.stringify(missing)}.`,
      metadata: { field: "roles", role: missing },
    });
  }
}

/** Gives the user `roles` in order (distinct timestamps keep the order readable back). */
export async function insertRoles(tx: Transaction<Database>, userId: string, tenant: string, roles: readonly string[], at: Date) {
  for (const [index, role] of roles.entries()) {
    await tx
      .insertInto("user_roles")
      .values({ user_id: userId, tenant_id: tenant, role_name: role, assigned_at: new Date(at.getTime() + index) })
      .execute();
  }
}

/**
 * Moves the number sequence to at least `number`, so that users created later never get a number
 * an import kept (setval is immediate, outside any transaction's rollback).
 */
async function reserveNumber(tx: Transaction<Database>, number: number): Promise<void> {
  await sql`select setval('users_number_seq', greatest(${number}::bigint, (select last_value from users_number_seq)))`.execute(tx);
}

export function createUserRepository(db: Kysely<Database>): UserRepository {
  async function findById(userId: string): Promise<UserRow | undefined> {
    return selectUsers(db).where("users.id", "=", userId).executeTakeFirst();
  }

  return {
    async tenantExists(tenant) {
      const row = await db.selectFrom("tenants").select("id").where("id", "=", tenant).executeTakeFirst();
      return row !== undefined;
    },

    async create(user: NewUser) {
      const id = await insertUser(db, user);
      const row = await findById(id);
      if (row === undefined) throw new Error(`user ${id} vanished right after its creation`);
      return userRowToUser(row);
    },

    async findCredentialsByLogin(tenant, login) {
      // Every lookup by email or username comes here: the key is computed (and NUL, zero-width or
      // bidi characters refused) before anything reaches PostgreSQL.
      const key = lookupKey(login);
      // Usernames cannot contain '@', so the shape of the identifier says which column to search.
      const column = key.includes("@") ? "users.email_normalized" : "users.username_normalized";
      const row = await selectUsers(db).where("users.tenant_id", "=", tenant).where(column, "=", key).executeTakeFirst();
      return row === undefined ? null : rowToCredentials(row);
    },

    findAccountByLogin: (tenant, login) => findAccountByLogin(db, tenant, login),
    findAccountsByLoginInAnyTenant: (login, exceptTenant, limit) => findAccountsByLoginInAnyTenant(db, login, exceptTenant, limit),

    async findCredentialsById(userId) {
      const row = await findById(userId);
      return row === undefined ? null : rowToCredentials(row);
    },

    async findById(userId) {
      const row = await findById(userId);
      return row === undefined ? null : userRowToUser(row);
    },

    findForSignIn: (userId) => findForSignIn(db, userId),

    async upgradePasswordHash(userId, previousHash, passwordHash) {
      await db
        .updateTable("users")
        .set({ password_hash: passwordHash })
        .where("id", "=", userId)
        .where("password_hash", "=", previousHash)
        .execute();
    },

    updatePasswordHash: (userId, passwordHash, changedAt) => updatePasswordHash(db, userId, passwordHash, changedAt),

    async raiseSessionEpoch(userId) {
      const row = await db
        .updateTable("users")
        .set((eb) => ({ session_epoch: eb("session_epoch", "+", 1) }))
        .where("id", "=", userId)
        .returning("session_epoch")
        .executeTakeFirst();
      return row?.session_epoch ?? null;
    },

    setActive: (userId, active, at) => setActive(db, userId, active, at),
  };
}

/** Sets a new password hash and raises the session epoch; the new epoch. */
async function updatePasswordHash(db: Kysely<Database>, userId: string, passwordHash: string, changedAt: Date): Promise<number> {
  // The epoch rises in the same statement as the hash: no reader sees one without the other.
  const row = await db
    .updateTable("users")
    .set((eb) => ({
      password_hash: passwordHash,
      password_changed_at: changedAt,
      updated_at: changedAt,
      session_epoch: eb("session_epoch", "+", 1),
    }))
    .where("id", "=", userId)
    .returning("session_epoch")
    .executeTakeFirst();
  if (row === undefined) throw new AuthError("USER_NOT_FOUND");
  return row.session_epoch;
}

/** Inserts the user and their roles in one transaction; their id. A taken email or username is the AuthError that says so. */
async function insertUser(db: Kysely<Database>, user: NewUser): Promise<string> {
  const id = randomUUID();
  const now = new Date();
  // The flows pass display forms; the keys and skeletons are computed here, from the one
  // profile, so that no caller can store a key that Login would not compute.
  const email = normalizeEmail(user.email);
  const username = normalizeUsername(user.username ?? undefined);
  try {
    await db.transaction().execute(async (tx) => {
      await checkRolesExist(tx, user.tenant, user.roles);
      if (user.number !== undefined) await reserveNumber(tx, user.number);
      await tx
        .insertInto("users")
        .values({
          id,
          ...(user.number === undefined ? {} : { number: user.number }),
          attributes: JSON.stringify(user.attributes ?? {}),
          tenant_id: user.tenant,
          email: email.display,
          email_normalized: email.key,
          email_skeleton: email.skeleton,
          username: username?.display ?? null,
          username_normalized: username?.key ?? null,
          username_skeleton: username?.skeleton ?? null,
          full_name: user.fullName,
          password_hash: user.passwordHash,
          email_verified_at: user.emailVerifiedAt ?? null,
          password_changed_at: now,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await insertRoles(tx, id, user.tenant, user.roles, now);
    });
  } catch (error) {
    throw userConflict(error);
  }
  return id;
}

/** Sets the active flag and raises the session epoch; the user's tenant, new epoch and previous flag, or null when unknown. */
async function setActive(db: Kysely<Database>, userId: string, active: boolean, at: Date) {
  // The previous value comes from the row the update locked, so two concurrent calls cannot
  // both report a change.
  const result = await sql<{ tenant_id: string; session_epoch: number; was_active: boolean }>`
    update users set is_active = ${active}, session_epoch = users.session_epoch + 1, updated_at = ${at}
    from (select id, is_active from users where id = ${userId} for update) as previous
    where users.id = previous.id
    returning users.tenant_id, users.session_epoch, previous.is_active as was_active`.execute(db);
  const row = result.rows[0];
  return row === undefined ? null : { tenant: row.tenant_id, sessionEpoch: row.session_epoch, wasActive: row.was_active };
}

/** Operator actions the CLI needs and the flows do not. */
export function createUserAdministration(db: Kysely<Database>) {
  return {
    async markEmailVerified(userId: string, at: Date): Promise<void> {
      await db
        .updateTable("users")
        .set({ email_verified_at: at, updated_at: at })
        .where("id", "=", userId)
        .where("email_verified_at", "is", null)
        .execute();
    },
    /** Gives the user a role of their tenant; false when they had it already. */
    async grantRole(userId: string, tenant: string, role: string): Promise<boolean> {
      const result = await db
        .insertInto("user_roles")
        .values({ user_id: userId, tenant_id: tenant, role_name: role })
        .onConflict((oc) => oc.columns(["user_id", "role_name"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
    },
  };
}
