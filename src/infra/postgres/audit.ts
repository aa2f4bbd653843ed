/**
 * The SecurityEvents port: an audit_events row per event, and a log line. A failure to write the
 * row is logged and swallowed: a logout must not fail because the audit table is unreachable.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
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
