/**
 * The SecondFactorStore port on PostgreSQL: a TOTP factor per user (`mfa_factors`, its secret
 * sealed by the caller) and its recovery codes (`mfa_recovery_codes`, hashes only). Every check
 * that must hold once under concurrency (a time step accepted, a recovery code spent, an
 * enrolment confirmed) is one conditional statement, so PostgreSQL's row lock decides which of
 * concurrent callers wins. Each operation is a function taking `db` first.
 */
import { type Kysely, sql, type Transaction } from "kysely";
import type { SecondFactorStore, TotpFactor } from "../../domain/ports.js";
import type { Database } from "./schema.js";

type Enrollment = Parameters<SecondFactorStore["beginEnrollment"]>[0];
type Confirmation = Parameters<SecondFactorStore["confirmEnrollment"]>[0];

export function createSecondFactorStore(db: Kysely<Database>): SecondFactorStore {
  return {
    find: (userId) => findFactor(db, userId),
    beginEnrollment: (enrollment) => beginEnrollment(db, enrollment),
    confirmEnrollment: (confirmation) => confirmEnrollment(db, confirmation),
    acceptStep: (userId, step) => acceptStep(db, userId, step),
    useRecoveryCode: (userId, codeHash, at) => useRecoveryCode(db, userId, codeHash, at),
    replaceRecoveryCodes: (userId, codeHashes, at) => replaceRecoveryCodes(db, userId, codeHashes, at),
    remove: async (userId) => Number((await db.deleteFrom("mfa_factors").where("user_id", "=", userId).executeTakeFirst()).numDeletedRows),
  };
}

async function findFactor(db: Kysely<Database>, userId: string): Promise<TotpFactor | null> {
  const row = await db
    .selectFrom("mfa_factors as f")
    .select(["f.user_id", "f.tenant_id", "f.secret_sealed", "f.created_at", "f.confirmed_at", "f.enrollment_expires_at"])
    .select(sql<string>`(select count(*) from mfa_recovery_codes c where c.user_id = f.user_id and c.used_at is null)`.as("codes_left"))
    .where("f.user_id", "=", userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return {
    userId: row.user_id,
    tenant: row.tenant_id,
    sealedSecret: row.secret_sealed,
    createdAt: row.created_at,
    confirmedAt: row.confirmed_at,
    enrollmentExpiresAt: row.enrollment_expires_at,
    recoveryCodesLeft: Number(row.codes_left),
  };
}

/** Replaces a pending enrolment; a confirmed factor is left alone (no row is returned: false). */
async function beginEnrollment(db: Kysely<Database>, { userId, tenant, sealedSecret, at, expiresAt }: Enrollment): Promise<boolean> {
  const pending = {
    tenant_id: tenant,
    secret_sealed: sealedSecret,
    created_at: at,
    enrollment_expires_at: expiresAt,
    last_used_step: null,
  };
  const row = await db
    .insertInto("mfa_factors")
    .values({ user_id: userId, confirmed_at: null, ...pending })
    .onConflict((oc) => oc.column("user_id").doUpdateSet(pending).where("mfa_factors.confirmed_at", "is", null))
    .returning("user_id")
    .executeTakeFirst();
  return row !== undefined;
}

async function confirmEnrollment(db: Kysely<Database>, { userId, sealedSecret, step, at, recoveryCodeHashes }: Confirmation) {
  return db.transaction().execute(async (tx) => {
    const confirmed = await tx
      .updateTable("mfa_factors")
      .set({ confirmed_at: at, enrollment_expires_at: null, last_used_step: step })
      .where("user_id", "=", userId)
      .where("confirmed_at", "is", null)
      .where("secret_sealed", "=", sealedSecret)
      .where("enrollment_expires_at", ">", at)
      .returning("user_id")
      .executeTakeFirst();
    if (confirmed === undefined) return false;
    await insertCodes(tx, userId, recoveryCodeHashes, at);
    return true;
  });
}

async function acceptStep(db: Kysely<Database>, userId: string, step: number): Promise<boolean> {
  const row = await db
    .updateTable("mfa_factors")
    .set({ last_used_step: step })
    .where("user_id", "=", userId)
    .where("confirmed_at", "is not", null)
    .where((eb) => eb.or([eb("last_used_step", "is", null), eb("last_used_step", "<", sql<string>`${step}`)]))
    .returning("user_id")
    .executeTakeFirst();
  return row !== undefined;
}

async function useRecoveryCode(db: Kysely<Database>, userId: string, codeHash: string, at: Date): Promise<boolean> {
  const row = await db
    .updateTable("mfa_recovery_codes")
    .set({ used_at: at })
    .where("user_id", "=", userId)
    .where("code_hash", "=", codeHash)
    .where("used_at", "is", null)
    .returning("user_id")
    .executeTakeFirst();
  return row !== undefined;
}

async function replaceRecoveryCodes(db: Kysely<Database>, userId: string, codeHashes: readonly string[], at: Date): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    // The factor's row lock orders this against a concurrent disable or another regeneration.
    const factor = await tx
      .selectFrom("mfa_factors")
      .select("user_id")
      .where("user_id", "=", userId)
      .where("confirmed_at", "is not", null)
      .forUpdate()
      .executeTakeFirst();
    if (factor === undefined) return false;
    await insertCodes(tx, userId, codeHashes, at);
    return true;
  });
}

async function insertCodes(tx: Transaction<Database>, userId: string, hashes: readonly string[], at: Date): Promise<void> {
  await tx.deleteFrom("mfa_recovery_codes").where("user_id", "=", userId).execute();
  if (hashes.length === 0) return;
  await tx
    .insertInto("mfa_recovery_codes")
    .values(hashes.map((code_hash) => ({ user_id: userId, code_hash, created_at: at, used_at: null })))
    .execute();
}
