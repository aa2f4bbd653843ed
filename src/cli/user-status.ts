/**
 * `cli disable` and `cli enable` (`--email <address> [--tenant <slug>]` or `--user-id <uuid>`,
 * `[--reason <text>]`): the user-status flows of domain/user-status.ts, run by an operator
 * against the service's PostgreSQL and Redis. Disabling ends every session of the user at once on
 * every instance; ValidateToken then answers USER_DISABLED for their tokens.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import { sessionStoreFor } from "../app/adapters.js";
import type { Config } from "../config.js";
import { AuthError } from "../domain/errors.js";
import { disableUser, enableUser, type UserStatusDeps } from "../domain/user-status.js";
import { validateEmail } from "../domain/validation.js";
import { createAuditLog } from "../infra/postgres/audit.js";
import type { Database } from "../infra/postgres/schema.js";
import { createUserRepository } from "../infra/postgres/users.js";
import type { RedisClient } from "../infra/redis/client.js";
import { openLegacySessions } from "../infra/redis/legacy-sessions.js";

export interface UserStatusCommand {
  readonly action: "disable" | "enable";
  readonly email: string | undefined;
  readonly tenant: string;
  readonly userId: string | undefined;
  readonly reason: string | undefined;
  /** Who runs the command, for the audit trail (the operating-system user). */
  readonly operator: string | undefined;
}

/** Runs the command; returns the line to print. Throws an AuthError (USER_NOT_FOUND …) for bad input. */
export async function runUserStatusCommand(
  db: Kysely<Database>,
  redis: RedisClient,
  config: Config,
  logger: Logger,
  command: UserStatusCommand,
): Promise<string> {
  if ((command.email === undefined) === (command.userId === undefined)) {
    throw new AuthError("INVALID_REQUEST", { message: "name the user with exactly one of --email or --user-id" });
  }
  const users = createUserRepository(db);
  const deps: UserStatusDeps = {
    users,
    sessions: sessionStoreFor(config, redis, {
      legacy: await openLegacySessions(redis, config.redisKeyPrefix, config.policy.sessionMaxLifetimeMs),
    }),
    events: createAuditLog(db, logger),
    clock: { now: () => Date.now() },
  };
  let userId = command.userId;
  let tenant: string | undefined;
  if (command.email !== undefined) {
    const found = await users.findCredentialsByLogin(command.tenant, validateEmail(command.email));
    if (found === null) throw new AuthError("USER_NOT_FOUND");
    userId = found.user.id;
    tenant = command.tenant;
  }
  const input = {
    userId: userId ?? "",
    tenant,
    reason: command.reason,
    actor: { kind: "operator" as const, ...(command.operator === undefined ? {} : { id: command.operator }) },
  };
  const result = command.action === "disable" ? await disableUser(deps, input) : await enableUser(deps, input);
  const who = command.email ?? result.userId;
  if (command.action === "disable") {
    return result.changed
      ? `disabled ${who} (${result.userId}) in ${result.tenant}; ended ${result.sessionsEnded} session(s)`
      : `${who} (${result.userId}) was disabled already; ended ${result.sessionsEnded} session(s)`;
  }
  return result.changed ? `enabled ${who} (${result.userId}) in ${result.tenant}` : `${who} (${result.userId}) was enabled already`;
}
