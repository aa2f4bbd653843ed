/**
 * The Grants port: users' current roles and merged permissions, read from PostgreSQL and kept in a
 * per-process cache, for ValidateToken's `required_roles` and `required_permissions`.
 *
 * How every instance learns of a change: the administration flow that changed roles or
 * permissions calls `changed`, which forgets the affected entries here at once and publishes the
 * change on a Redis channel; every instance subscribes and forgets them too. A message can be lost
 * (a subscriber reconnecting): on reconnection the whole cache is dropped, and every entry expires
 * after `ttlMs` anyway, which bounds how long a lost message can leave a role counted.
 *
 * A load that started before a change is not stored after it (a version counter), so a slow query
 * cannot put stale grants back into the cache. Concurrent misses for one user share one load (an
 * expired entry of a busy user, or a burst after a change, would otherwise send one query per
 * call to PostgreSQL, queueing behind its pool), but only callers that arrived before any change
 * since it began: a caller after a change waits for a load of its own.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { mergePermissions } from "../domain/model.js";
import type { Grants, UserGrants } from "../domain/ports.js";
import type { Database } from "./postgres/schema.js";
import { roleNamesOfUser, rolePermissionsOfUser } from "./postgres/user-rows.js";
import type { RedisClient } from "./redis/client.js";

export interface GrantsCacheOptions {
  /** How long an entry is trusted without a notice; 0 disables the cache. */
  readonly ttlMs: number;
  /** Most users remembered per process (the oldest entries go first). */
  readonly maxUsers: number;
  /** Where changes are announced (any topology: a Cluster broadcasts a PUBLISH to every node); undefined when this process is the only one (embedded mode). */
  readonly publisher: RedisClient | undefined;
  readonly channel: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

interface Entry {
  readonly grants: UserGrants | null;
  readonly tenant: string | undefined;
  readonly expiresAt: number;
}

export interface GrantsCache extends Grants {
  /** Applies a change announced by another instance (a message on the channel). */
  apply(message: string): void;
  /** Forgets everything (after the subscription was interrupted). */
  clear(): void;
}

export function grantsChannel(prefix: string): string {
  return `${prefix}grants-changed`;
}

async function loadGrants(db: Kysely<Database>, userId: string): Promise<UserGrants | null> {
  const row = await db
    .selectFrom("users")
    .select("users.tenant_id")
    .select(roleNamesOfUser())
    .select(rolePermissionsOfUser())
    .where("users.id", "=", userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return { tenant: row.tenant_id, roles: row.roles, permissions: mergePermissions(row.role_permissions) };
}

export function createGrantsCache(db: Kysely<Database>, options: GrantsCacheOptions): GrantsCache {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry>();
  // Bumped by every change: a load that began before one does not store its result.
  let version = 0;
  // The load under way per user, and the version it began at.
  const loading = new Map<string, { readonly version: number; readonly grants: Promise<UserGrants | null> }>();

  async function load(userId: string): Promise<UserGrants | null> {
    const startedAt = version;
    const grants = await loadGrants(db, userId);
    if (options.ttlMs > 0 && startedAt === version) {
      entries.delete(userId);
      if (entries.size >= options.maxUsers) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
      entries.set(userId, { grants, tenant: grants?.tenant, expiresAt: now() + options.ttlMs });
    }
    return grants;
  }

  function forget(change: { tenant?: unknown; userId?: unknown }): void {
    version += 1;
    if (typeof change.userId === "string") entries.delete(change.userId);
    else if (typeof change.tenant === "string") {
      for (const [userId, entry] of entries) if (entry.tenant === change.tenant) entries.delete(userId);
    } else entries.clear();
  }

  return {
    async of(userId) {
      const cached = entries.get(userId);
      if (cached !== undefined && cached.expiresAt > now()) return cached.grants;
      const pending = loading.get(userId);
      if (pending !== undefined && pending.version === version) return pending.grants;
      const started = { version, grants: load(userId) };
      loading.set(userId, started);
      try {
        return await started.grants;
      } finally {
        if (loading.get(userId) === started) loading.delete(userId);
      }
    },

    async changed(change) {
      forget(change);
      if (options.publisher === undefined) return;
      try {
        await options.publisher.publish(options.channel, JSON.stringify({ tenant: change.tenant, userId: change.userId }));
      } catch (error) {
        // The change is stored; other instances see it when their entries expire (ttlMs).
        options.logger.warn({ err: error }, "could not announce a change of grants; other instances see it within GRANTS_CACHE_TTL");
      }
    },

    apply(message) {
      try {
        const change = JSON.parse(message) as unknown;
        forget(typeof change === "object" && change !== null ? change : {});
      } catch {
        entries.clear();
      }
    },

    clear() {
      version += 1;
      entries.clear();
    },
  };
}
