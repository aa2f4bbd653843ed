/**
 * The Account lookups of the flows an anonymous caller can time (Login, the mail requests): one
 * query of text and booleans, whose cost does not depend on whether the account exists.
 */
import { type Kysely, type SelectQueryBuilder, sql } from "kysely";
import { lookupKey } from "../../domain/identifiers.js";
import type { AccountCredentials } from "../../domain/model.js";
import type { Database } from "./schema.js";

type UsersQuery = SelectQueryBuilder<Database, "users", object>;

/** The accounts that hold `login`'s key among the rows `scope` keeps, at most `limit`. */
async function findAccounts(db: Kysely<Database>, login: string, scope: (query: UsersQuery) => UsersQuery, limit: number) {
  const key = lookupKey(login); // as findCredentialsByLogin in the repository
  const column = key.includes("@") ? "email_normalized" : "username_normalized";
  // Text and booleans only: a found row costs what an empty answer does, to PostgreSQL and to
  // the driver (a timestamp alone costs microseconds to parse).
  const rows = await scope(db.selectFrom("users"))
    .select(["id", "tenant_id", "email", "is_active", "password_hash", "session_epoch"])
    .select(sql<boolean>`email_verified_at is not null`.as("email_verified"))
    .where(column, "=", key)
    .limit(limit)
    .execute();
  return rows.map(
    (row): AccountCredentials => ({
      user: {
        id: row.id,
        tenant: row.tenant_id,
        email: row.email,
        isActive: row.is_active,
        emailVerified: row.email_verified,
        sessionEpoch: row.session_epoch,
      },
      passwordHash: row.password_hash,
    }),
  );
}

/** The Account of a login in a tenant (UserRepository.findAccountByLogin). */
export async function findAccountByLogin(db: Kysely<Database>, tenant: string, login: string): Promise<AccountCredentials | null> {
  const [found] = await findAccounts(db, login, (query) => query.where("tenant_id", "=", tenant), 1);
  return found ?? null;
}

/**
 * The Accounts of a login in every tenant but `exceptTenant`, at most `limit` (Vigia's legacy
 * mode): the login keys' own indexes (migration 0008) make it one bounded read, whatever the
 * number of tenants.
 */
export function findAccountsByLoginInAnyTenant(
  db: Kysely<Database>,
  login: string,
  exceptTenant: string,
  limit: number,
): Promise<AccountCredentials[]> {
  return findAccounts(db, login, (query) => query.where("tenant_id", "<>", exceptTenant), limit);
}
