/** The audit trail, read back by the tenant's administrators: newest first, filtered, paged. */
import { invalidField } from "../errors.js";
import type { RequestContext } from "../model.js";
import { validateUserId } from "../validation.js";
import { tenantActor } from "./authority.js";
import { decodeNumberPageToken, page, pageSize } from "./paging.js";
import type { AdminDeps, AuditRecord } from "./ports.js";

const eventType = /^[a-z][a-z0-9_]{0,63}$/;
/** The range of a google.protobuf.Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. */
const FIRST_TIME = Date.parse("0001-01-01T00:00:00.000Z");
const LAST_TIME = Date.parse("9999-12-31T23:59:59.999Z");

export interface ListAuditEventsInput {
  readonly tenant: string;
  readonly pageSize: number;
  readonly pageToken: string;
  readonly userId: string;
  readonly type: string;
  readonly since: Date | undefined;
  readonly until: Date | undefined;
}

export async function listAuditEvents(
  deps: AdminDeps,
  ctx: RequestContext,
  input: ListAuditEventsInput,
): Promise<{ events: AuditRecord[]; nextPageToken: string }> {
  const { tenant } = await tenantActor(deps, ctx, input.tenant);
  const userId = input.userId.trim() === "" ? undefined : validateUserId("user_id", input.userId);
  const type = input.type.trim() === "" ? undefined : input.type.trim();
  if (type !== undefined && !eventType.test(type)) throw invalidField("type", "an event type such as login_failed");
  for (const [field, date] of [
    ["since", input.since],
    ["until", input.until],
  ] as const) {
    // A Timestamp's range: binary clients can send any seconds, and a time PostgreSQL cannot hold
    // (before 4713 BC) would fail the query.
    const time = date?.getTime() ?? FIRST_TIME;
    if (!(time >= FIRST_TIME && time <= LAST_TIME)) throw invalidField(field, "not a valid time (0001-01-01 to 9999-12-31, UTC)");
  }
  const filters = { tenant: tenant.id, userId, type, since: input.since?.toISOString(), until: input.until?.toISOString() };
  const limit = pageSize(input.pageSize);
  // Audit ids are PostgreSQL bigints.
  const before = decodeNumberPageToken(input.pageToken, filters, 9_223_372_036_854_775_807n) ?? undefined;
  const rows = await deps.audit.list({
    tenant: tenant.id,
    userId,
    type,
    since: input.since,
    until: input.until,
    beforeId: before,
    limit: limit + 1,
  });
  const { items, nextPageToken } = page(rows, limit, (event) => event.id, filters);
  return { events: items, nextPageToken };
}
