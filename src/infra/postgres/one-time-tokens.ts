/** The OneTimeTokens port on PostgreSQL: hashes only, consumed by one conditional statement. */
import { randomUUID } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { OneTimeTokens } from "../../domain/ports.js";
import type { Database } from "./schema.js";

export function createOneTimeTokens(db: Kysely<Database>): OneTimeTokens {
  return {
    async issue(token) {
      await db
        .insertInto("one_time_tokens")
        .values({
          id: randomUUID(),
          user_id: token.userId,
          tenant_id: token.tenant,
          purpose: token.purpose,
          token_hash: token.tokenHash,
          expires_at: token.expiresAt,
          used_at: null,
          created_at: token.createdAt,
        })
        .execute();
    },

    async find(purpose, tokenHash) {
      const row = await db
        .selectFrom("one_time_tokens")
        .select(["user_id", "expires_at", "used_at"])
        .where("token_hash", "=", tokenHash)
        .where("purpose", "=", purpose)
        .executeTakeFirst();
      return row === undefined ? null : { userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at };
    },

    async consume(purpose, tokenHash, now, effect) {
      // One statement: the token is marked used only if it is unused and unexpired at `now`, and
      // the effect applies only to the user of a token that was marked. Of concurrent callers
      // PostgreSQL lets exactly one UPDATE of the row succeed; the others find it used.
      const userUpdate =
        effect.kind === "verify_email"
          ? sql`update users set email_verified_at = coalesce(users.email_verified_at, ${now}), updated_at = ${now}`
          : // A reset proves control of the mailbox as well: the address counts as verified.
            // and the session epoch rises with the new password (sessions on the old one end).
            sql`update users set password_hash = ${effect.passwordHash}, password_changed_at = ${now}, updated_at = ${now},
                email_verified_at = coalesce(users.email_verified_at, ${now}), session_epoch = users.session_epoch + 1`;
      const result = await sql<{ id: string; session_epoch: number }>`
        with consumed as (
          update one_time_tokens set used_at = ${now}
          where token_hash = ${tokenHash} and purpose = ${purpose} and used_at is null and expires_at > ${now}
          returning user_id
        ),
        voided as (
          -- The user's other tokens of the same purpose die with this one.
          update one_time_tokens set used_at = ${now}
          where user_id in (select user_id from consumed) and purpose = ${purpose} and used_at is null and token_hash <> ${tokenHash}
        )
        ${userUpdate}
        from consumed where users.id = consumed.user_id
        returning users.id, users.session_epoch`.execute(db);
      const row = result.rows[0];
      return row === undefined ? null : { userId: row.id, sessionEpoch: row.session_epoch };
    },

    async voidAll(userId, purpose, now) {
      await db
        .updateTable("one_time_tokens")
        .set({ used_at: now })
        .where("user_id", "=", userId)
        .where("purpose", "=", purpose)
        .where("used_at", "is", null)
        .execute();
    },
  };
}
