/**
 * The MFA tickets port on Redis. A ticket is one string key, `<prefix>{<user>}:mfa:<hash>` (see
 * keys.ts), under the user's Redis Cluster hash tag like the user's sessions, holding its record as JSON
 * and expiring with it. Only a hash of the ticket's secret names the key. Taking a ticket is one
 * GETDEL: of concurrent callers, exactly one receives it. Every command touches one key, so one
 * slot of a Cluster.
 */
import type { MfaTicketRecord, MfaTickets } from "../../domain/ports.js";
import { type RedisClient, redisCall } from "./client.js";
import { sessionKeys } from "./keys.js";

function parseRecord(text: string | null): MfaTicketRecord | null {
  if (text === null) return null;
  const value = JSON.parse(text) as Partial<MfaTicketRecord>;
  const { purpose, userId, tenant, sessionEpoch, expiresAt, failures } = value;
  if ((purpose !== "verify" && purpose !== "enroll") || typeof userId !== "string" || typeof tenant !== "string") return null;
  if (typeof sessionEpoch !== "number" || typeof expiresAt !== "number" || typeof failures !== "number") return null;
  return { purpose, userId, tenant, sessionEpoch, expiresAt, failures };
}

export function createMfaTickets(redis: RedisClient, prefix: string): MfaTickets {
  const keys = sessionKeys(prefix);
  const key = (userId: string, hash: string) => keys.mfaTicket(userId, hash);
  const store = (record: MfaTicketRecord, hash: string, now: number) =>
    redisCall(redis, async () => {
      const ttlMs = record.expiresAt - now;
      if (ttlMs <= 0) return;
      const { purpose, userId, tenant, sessionEpoch, expiresAt, failures } = record;
      const value = JSON.stringify({ purpose, userId, tenant, sessionEpoch, expiresAt, failures });
      await redis.set(key(userId, hash), value, "PX", ttlMs, "NX");
    });
  // Redis expires the key by its own clock; the record's expiry is checked by ours as well.
  const live = (record: MfaTicketRecord | null, now: number) => (record !== null && record.expiresAt > now ? record : null);
  return {
    issue: store,
    putBack: store,
    peek: (userId, hash, now) => redisCall(redis, async () => live(parseRecord(await redis.get(key(userId, hash))), now)),
    take: (userId, hash, now) => redisCall(redis, async () => live(parseRecord(await redis.getdel(key(userId, hash))), now)),
  };
}
