/**
 * What the scenarios need in the stores, made directly rather than through the API (a login costs
 * a bcrypt; 30,000 of them would take the whole run) with the service's own adapters
 * (src/app/adapters.ts): sessions in Redis through our session store, and access tokens signed by
 * the service's own key ring (the benchmark holds its KEY_ENCRYPTION_KEY), so the service verifies
 * them exactly as it verifies its own.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { pino } from "pino";
import { accessTokensFor, openDatabaseFor, sessionStoreFor } from "../../src/app/adapters.js";
import type { Config } from "../../src/config.js";
import { formatRefreshToken, hashSecret, newSecret, newSessionId } from "../../src/domain/refresh-token.js";
import { RefreshRequestSchema, ValidateTokenRequestSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { openKeyRing } from "../../src/infra/crypto/key-setup.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";
import { closeRedis, openRedis, type RedisClient, waitForRedis } from "../../src/infra/redis/client.js";

const DAY = 86_400_000;

export interface Seeded {
  /** One serialized request message per line, base64: what bench/load/unary.ts sends. */
  readonly validateBodies: string[];
  readonly refreshBodies: string[];
  /** The access tokens themselves (for the revocation probe's Logouts). */
  readonly accessTokens: string[];
}

/**
 * `sessions` sessions spread over users of their own (150 each, as heavy users have), each with
 * one access token and its refresh token, and the copy of each user Login would have kept.
 */
export async function seedSessions(config: Config, redis: RedisClient, passwordHash: string, sessions: number): Promise<Seeded> {
  const db = openDatabaseFor(config, { poolMax: 4, onPoolError: () => {} });
  const logger = pino({ level: "silent" });
  const clock = { now: () => Date.now() };
  const ring = await openKeyRing(config, db, clock, logger);
  try {
    const users = createUserRepository(db);
    const store = sessionStoreFor(config, redis);
    const tokens = accessTokensFor(config, ring);
    const validateBodies: string[] = [];
    const refreshBodies: string[] = [];
    const accessTokens: string[] = [];
    const perUser = 150;
    const now = Date.now();
    for (let u = 0; u * perUser < sessions; u++) {
      const user = await users.create({
        tenant: config.policy.defaultTenant,
        email: `seeded.${u}.${now.toString(36)}@example.com`,
        username: null,
        fullName: null,
        passwordHash,
        roles: ["user"],
      });
      // As Login keeps one: Refresh then reads no PostgreSQL (src/infra/redis/user-copies.ts).
      await store.keepCopy(user, await store.copyMarks(user.id, user.tenant));
      await Promise.all(
        Array.from({ length: Math.min(perUser, sessions - u * perUser) }, async () => {
          const id = newSessionId();
          const secret = newSecret();
          await store.create({
            id,
            userId: user.id,
            tenant: user.tenant,
            secretHash: hashSecret(secret),
            ip: "127.0.0.1",
            userAgent: "bench",
            createdAt: now,
            absoluteExpiresAt: now + 30 * DAY,
            idleTtlMs: 7 * DAY,
            epoch: user.sessionEpoch,
            amr: ["pwd"],
          });
          const { token } = await tokens.issue(
            {
              userId: user.id,
              tenant: user.tenant,
              sessionId: id,
              roles: user.roles,
              email: user.email,
              emailVerified: false,
              username: null,
              amr: ["pwd"],
            },
            now,
          );
          accessTokens.push(token);
          validateBodies.push(base64(toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token }))));
          refreshBodies.push(
            base64(toBinary(RefreshRequestSchema, create(RefreshRequestSchema, { refreshToken: formatRefreshToken(user.id, id, secret) }))),
          );
        }),
      );
    }
    return { validateBodies, refreshBodies, accessTokens };
  } finally {
    ring.close();
    await db.destroy();
  }
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** The files of request bodies the Node generator sends, one base64 message per line. */
export interface SeededFiles {
  readonly validate: string;
  readonly refresh: string;
  /** Bodies for the empty RPC, which ignores them. */
  readonly empty: string;
  /** The access tokens, one a line. */
  readonly tokens: string;
}

/**
 * Seeds `sessions` sessions whose users share the stored hash of `email` (a real hash, for free),
 * and writes their ValidateToken and Refresh bodies into `dir`.
 */
export async function writeSeededBodies(config: Config, email: string, sessions: number, dir: string): Promise<SeededFiles> {
  // The service's own client factory: the topology the configuration names (standalone or Cluster).
  const redis = await openRedis(config.redis, { onError: () => {} });
  try {
    if (!(await waitForRedis(redis, 20_000))) throw new Error("Redis does not answer");
    const seeded = await seedSessions(config, redis, await passwordHashOf(config, email), sessions);
    const files = {
      validate: join(dir, "validate-bodies.txt"),
      refresh: join(dir, "refresh-bodies.txt"),
      empty: join(dir, "empty-bodies.txt"),
      tokens: join(dir, "tokens.txt"),
    };
    writeFileSync(files.validate, seeded.validateBodies.join("\n"));
    writeFileSync(files.refresh, seeded.refreshBodies.join("\n"));
    writeFileSync(files.tokens, seeded.accessTokens.join("\n"));
    writeFileSync(files.empty, Array.from({ length: 1000 }, () => "AA==").join("\n"));
    return files;
  } finally {
    await closeRedis(redis);
  }
}

/** The stored hash of a user. */
async function passwordHashOf(config: Config, email: string): Promise<string> {
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ password_hash: string }>("select password_hash from users where email = $1", [email]);
    return result.rows[0]?.password_hash ?? "";
  } finally {
    await client.end();
  }
}
