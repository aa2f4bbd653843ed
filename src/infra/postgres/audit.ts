/**
 * The SecurityEvents port: an audit_events row per event, and a log line. A failure to write the
 * row is logged and swallowed: a logout must not fail because the audit table is unreachable.
 * Also the AuditTrail port, which reads the rows back for administrators.
 */
import { type Kysely, sql } from "kysely";
import type { Logger } from "pino";
import type { AuditTrail } from "../../domain/admin/ports.js";
import type { SecurityEvent } from "../../domain/model.js";
import type { SecurityEvents } from "../../domain/ports.js";
import type { Database } from "./schema.js";

/** PostgreSQL text (and jsonb) cannot hold U+0000: a caller's NUL would cost the audit row, so it becomes U+FFFD. */
const storable = (text: string) => text.replaceAll("\u0000", "\uFFFD");

export function createAuditLog(db: Kysely<Database>, logger: Logger): SecurityEvents {
  return {
    async record(event: SecurityEvent) {
      logger.info({ event }, `security event: ${event.type}`);
      try {
        await db
          .insertInto("audit_events")
          .values({
            type: event.type,
            tenant_id: event.tenant,
            user_id: event.userId ?? null,
            actor_id: event.actorId ?? null,
            session_id: event.sessionId ?? null,
            ip: event.ip === undefined ? null : storable(event.ip),
            user_agent: event.userAgent === undefined ? null : storable(event.userAgent.slice(0, 512)),
            details: JSON.stringify(event.detail ?? {}, (_key, value) => (typeof value === "string" ? storable(value) : value)),
          })
          .execute();
      } catch (error) {
        logger.error({ err: error, eventType: event.type }, "could not write an audit event");
      }
    },
  };
}

export function createAuditTrail(db: Kysely<Database>): AuditTrail {
  return {
    async list(query) {
      let select = db.selectFrom("audit_events").selectAll().where("tenant_id", "=", query.tenant);
      if (query.userId !== undefined) select = select.where("user_id", "=", query.userId);
      if (query.type !== undefined) select = select.where("type", "=", query.type);
      if (query.since !== undefined) select = select.where("created_at", ">=", query.since);
      if (query.until !== undefined) select = select.where("created_at", "<", query.until);
      if (query.beforeId !== undefined) select = select.where("id", "<", sql<string>`${query.beforeId}::bigint`);
      const rows = await select.orderBy("id", "desc").limit(query.limit).execute();
      return rows.map((row) => ({
        id: String(row.id),
        type: row.type,
        tenant: row.tenant_id,
        userId: row.user_id,
        actorId: row.actor_id,
        sessionId: row.session_id,
        ip: row.ip,
        userAgent: row.user_agent,
        details: row.details,
        createdAt: row.created_at,
      }));
    },
  };
}
