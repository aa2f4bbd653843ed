/**
 * `cli unlock (--email <address> [--tenant <slug>] | --user-id <uuid>) [--ip <address>]`, or
 * `cli unlock --ip <address>`: lifts the guessing locks and throttles (domain/abuse-limits.ts) on
 * an account (at one client address, or at all of them) or on a client address, on every instance
 * at once (they live in Redis). Audited as `login_unlocked`.
 */
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { abuseLimitsFor } from "../app/adapters.js";
import type { Config } from "../config.js";
import { type Account, accountOf, liftLoginLimits } from "../domain/abuse-limits.js";
import { AuthError } from "../domain/errors.js";
import { isUserId, loginKey, resolveTenant, validateEmail } from "../domain/validation.js";
import { createAuditLog } from "../infra/postgres/audit.js";
import type { Database } from "../infra/postgres/schema.js";
import { createUserRepository } from "../infra/postgres/users.js";
import { openRedis, type RedisClient, waitForRedis } from "../infra/redis/client.js";
import { createLogger } from "../logger.js";
import { commandConfig, withMigratedDatabase } from "./database.js";

export interface UnlockCommand {
  readonly email: string | undefined;
  readonly tenant: string;
  readonly userId: string | undefined;
  readonly ip: string | undefined;
  /** Who runs the command, for the audit trail (the operating-system user). */
  readonly operator: string | undefined;
}

/** Runs the command; returns the line to print. Throws an AuthError for bad input. */
export async function runUnlockCommand(db: Kysely<Database>, redis: RedisClient, config: Config, logger: Logger, command: UnlockCommand) {
  if (command.email !== undefined && command.userId !== undefined) {
    throw new AuthError("INVALID_REQUEST", { message: "name the account with one of --email or --user-id, not both" });
  }
  if (command.email === undefined && command.userId === undefined && command.ip === undefined) {
    throw new AuthError("INVALID_REQUEST", { message: "name an account (--email or --user-id), a client address (--ip), or both" });
  }
  if (command.ip !== undefined && isIP(command.ip) === 0) {
    throw new AuthError("INVALID_REQUEST", { message: "--ip: not an IPv4 or IPv6 address" });
  }
  const tenant = resolveTenant(command.tenant, config.policy.defaultTenant);
  const users = createUserRepository(db);
  let account: Account | undefined;
  let who = "";
  if (command.email !== undefined) {
    const email = validateEmail(command.email);
    const found = await users.findCredentialsByLogin(tenant, email);
    // An identifier that names nobody is counted like an account too: its counters can be lifted.
    account = accountOf(tenant, loginKey(email), found?.user.id);
    who = found === null ? `${email} (no such user in ${tenant})` : `${email} (${found.user.id})`;
  } else if (command.userId !== undefined) {
    if (!isUserId(command.userId)) throw new AuthError("INVALID_REQUEST", { message: "--user-id: not a UUID" });
    const user = await users.findById(command.userId);
    if (user === null) throw new AuthError("USER_NOT_FOUND", { message: "No such user." });
    account = { kind: "user", userId: user.id };
    who = `${user.email} (${user.id})`;
  }
  const { loginThrottle, mailThrottle } = abuseLimitsFor(config, redis);
  const deps = { loginThrottle, mailThrottle, events: createAuditLog(db, logger) };
  const cleared = await liftLoginLimits(deps, {
    ...(account === undefined ? {} : { account }),
    ...(command.ip === undefined ? {} : { address: command.ip }),
    tenant,
    actor: { kind: "operator", ...(command.operator === undefined ? {} : { id: command.operator }) },
  });
  const scope = [who, command.ip === undefined ? (account === undefined ? "" : "at every address") : `at ${command.ip}`]
    .filter((part) => part !== "")
    .join(" ");
  return cleared === 0 ? `nothing was locked for ${scope}` : `unlocked ${scope}: cleared ${cleared} counter(s)`;
}

/** `unlock` on the stores: lifts sign-in locks and throttles in Redis (the embedded stand-in is the service's own: nothing to do here). */
export async function unlockCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { email: { type: "string" }, tenant: { type: "string" }, "user-id": { type: "string" }, ip: { type: "string" } },
  });
  const config = commandConfig();
  if (config.embedded.redis) {
    process.stderr.write(
      "unlock: no Redis configured: the embedded service keeps its limits in its own process (restart it to clear them)\n",
    );
    return 1;
  }
  // Audit events are written to the database; only problems reach standard error.
  const logger = createLogger("warn", process.stderr);
  const line = await withMigratedDatabase(config, "unlock", async (db) => {
    const redis = await openRedis(config.redis, { onError: (error) => process.stderr.write(`Redis connection error: ${error.message}\n`) });
    try {
      if (!(await waitForRedis(redis, 5000))) throw new Error("Redis is not reachable: nothing was changed");
      const command = { email: values.email, userId: values["user-id"], ip: values.ip, operator: process.env.USER };
      return await runUnlockCommand(db, redis, config, logger, { ...command, tenant: values.tenant ?? config.policy.defaultTenant });
    } finally {
      redis.disconnect();
    }
  });
  process.stdout.write(`${line}\n`);
  return 0;
}
