/**
 * The SecurityEvents port: an audit_events row per event, and a log line. A failure to write the
 * row is logged and swallowed: a logout must not fail because the audit table is unreachable.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { SecurityEvent } from "../../domain/model.js";
import type { SecurityEvents } from "../../domain/ports.js";
import type { Database } from "./schema.js";

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
            session_id: event.sessionId ?? null,
            ip: event.ip ?? null,
            user_agent: event.userAgent?.slice(0, 512) ?? null,
            details: JSON.stringify(event.detail ?? {}),
          })
          .execute();
      } catch (error) {
        logger.error({ err: error, eventType: event.type }, "could not write an audit event");
      }
    },
  };
}
