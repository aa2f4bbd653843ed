#!/usr/bin/env node
/**
 * Operator commands (the package's `authward` bin).
 *
 * Administration goes through a running service's AdminService (cli/admin-commands.ts), so that
 * nothing is written behind a server's back: create-tenant, create-role, create-user, grant,
 * revoke, disable, enable, unlock, list-users. They take `--url` (default PUBLIC_URL, else
 * http://localhost:$HTTP_PORT), `--tenant` (default DEFAULT_TENANT), and a credential:
 * AUTH_ADMIN_TOKEN, or `--login <email> [--login-tenant <tenant>]` with the password typed or piped
 * on standard input.
 *
 * These open the database themselves, before or beside a service:
 * - `migrate`: runs the database migrations (the service also runs them at start-up);
 * - `bootstrap-platform-admin --email <address> …` and `create-admin --email <address> [--tenant t]`:
 *   the first platform administrator, an administrator of a tenant (see cli/create-admin.ts);
 * - `import-users <file.csv|file.jsonl> [--tenant t] [--create-roles]`: users with their existing
 *   password hashes and integer ids (see cli/import-users.ts);
 * - `identifier-conflicts [--renormalize]`: users whose email or username collided with an earlier
 *   user's when identifier keys were computed (see cli/identifier-conflicts.ts);
 * - `disable` / `enable` `--email <address> [--tenant t] | --user-id <uuid>` `[--reason <text>]`:
 *   on the stores directly, for when no administrator can sign in (see cli/user-status.ts);
 * - `unlock (--email <address> [--tenant t] | --user-id <uuid>) [--ip <address>]`, or `unlock --ip
 *   <address>`: lifts the sign-in locks and throttles on an account or a client address, in Redis,
 *   on every instance at once (see cli/unlock.ts);
 * - `keys rotate`: makes a new key of JWT_ALGORITHM the signer of the database key ring and tells
 *   running instances (through Redis); old keys keep verifying until their tokens expire;
 * - `keys list`: the ring's keys and their state (no key material).
 * With the embedded database (no DATABASE_URL) they refuse while a running service holds the data
 * folder (infra/postgres/data-dir-lock.ts): PGlite is one process's database, and a write beside
 * the service's would be lost, or worse. `keys generate [ES256|EdDSA|RS256]` touches no database:
 * it prints a new private key (PKCS#8 PEM) for JWT_PRIVATE_KEY_FILE.
 * Usage: npm run cli -- <command>, or npm run keys -- <rotate|list|generate>
 * (compiled: node dist/cli.js <command>).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { describeError, openAdminSession, UsageError } from "./cli/admin-client.js";
import { adminCommands } from "./cli/admin-commands.js";
import { bootstrapPlatformAdmin, createAdmin } from "./cli/create-admin.js";
import { commandConfig, withDatabase, withMigratedDatabase } from "./cli/database.js";
import { identifierConflicts } from "./cli/identifier-conflicts.js";
import { importUsers, parseCsv, parseJsonl } from "./cli/import-users.js";
import { readStdin } from "./cli/input.js";
import { generateKey, list, rotate } from "./cli/keys.js";
import { unlockCommand } from "./cli/unlock.js";
import { runUserStatusCommand } from "./cli/user-status.js";
import { loadAdminClientConfig, loadConfig, readEnvironment } from "./config.js";
import { DataDirBusyError } from "./infra/postgres/data-dir-lock.js";
import { ensureTenant, migrateToLatest } from "./infra/postgres/database.js";
import { openRedis, waitForRedis } from "./infra/redis/client.js";
import { createLogger } from "./logger.js";

const usage = [
  "usage: authward <administration command> [--url <service URL>] [--tenant <slug>] [--login <email> [--login-tenant <slug>]]",
  "  create-tenant <id> [--name <display name>] [--password-min-length <6-64>] [--roles-required] [--verified-email-required] [--mfa-required]",
  "  create-role <name> [--description <text>] [--permissions <JSON object>]",
  "  create-user <email> [--username <name>] [--full-name <name>] [--role <role>]... [--email-verified] [--invite]",
  "  grant <user> <role>...      revoke <user> <role>...      (user: email, username, id or #number)",
  "  disable <user>              enable <user>              unlock <user> [--ip <address>]",
  "  list-users [--email-prefix <p>] [--username-prefix <p>] [--role <r>] [--active | --disabled]",
  "   (credential: AUTH_ADMIN_TOKEN, or --login with the password typed or piped on standard input)",
  "       authward migrate",
  "       authward bootstrap-platform-admin --email <address> [--username <name>] [--full-name <name>] [--password-stdin]",
  "       authward create-admin --email <address> [--username <name>] [--full-name <name>] [--tenant <slug>] [--password-stdin]",
  "       authward import-users <file.csv|file.jsonl> [--tenant <slug>] [--create-roles]",
  "       authward identifier-conflicts [--renormalize]",
  "       authward disable|enable (--email <address> [--tenant <slug>] | --user-id <uuid>) [--reason <text>]   (on the stores directly)",
  "       authward unlock (--email <address> [--tenant <slug>] | --user-id <uuid>) [--ip <address>] | unlock --ip <address>   (on the stores directly)",
  "       authward keys rotate | keys list | keys generate [ES256|EdDSA|RS256]",
].join("\n");

/**
 * `disable`/`enable` with `--email` or `--user-id`: the user-status flows on the stores directly
 * (as an operator does when no administrator can sign in), with the embedded database only while
 * no service holds it.
 */
async function userStatus(action: "disable" | "enable", args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { email: { type: "string" }, tenant: { type: "string" }, "user-id": { type: "string" }, reason: { type: "string" } },
  });
  const config = commandConfig();
  if (config.embedded.redis) {
    // The embedded stand-in lives inside the service's process, and forgets every session when it
    // restarts: only the database changes here.
    process.stderr.write("no Redis configured: the embedded service's sessions end when it restarts\n");
  }
  // Audit events are written to the database; only problems reach standard error.
  const logger = createLogger("warn", process.stderr);
  const line = await withDatabase(config, action, async (db) => {
    const redis = await openRedis(config.redis, { onError: (error) => process.stderr.write(`Redis connection error: ${error.message}\n`) });
    try {
      if (!(await waitForRedis(redis, 5000))) throw new Error("Redis is not reachable: nothing was changed");
      await migrateToLatest(db);
      return await runUserStatusCommand(db, redis, config, logger, {
        action,
        email: values.email,
        tenant: values.tenant ?? config.policy.defaultTenant,
        userId: values["user-id"],
        reason: values.reason,
        operator: process.env.USER,
      });
    } finally {
      redis.disconnect();
    }
  });
  process.stdout.write(`${line}\n`);
  return 0;
}

/** `create-admin` (an admin of a tenant) and `bootstrap-platform-admin` (the first platform admin). */
async function createAdminCommand(command: "create-admin" | "bootstrap-platform-admin", args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      email: { type: "string" },
      username: { type: "string" },
      "full-name": { type: "string" },
      tenant: { type: "string" },
      "password-stdin": { type: "boolean" },
    },
  });
  const config = commandConfig();
  const password = values["password-stdin"] ? await readStdin() : config.adminPassword;
  const input = { email: values.email ?? "", username: values.username, fullName: values["full-name"], password };
  const message = await withMigratedDatabase(config, command, (db) =>
    command === "create-admin"
      ? createAdmin(db, config, { ...input, tenant: values.tenant ?? config.policy.defaultTenant })
      : bootstrapPlatformAdmin(db, config, input),
  );
  process.stdout.write(`${message}\n`);
  return 0;
}

async function importUsersCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    allowPositionals: true,
    options: { tenant: { type: "string" }, "create-roles": { type: "boolean" } },
  });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  const config = commandConfig();
  const content = readFileSync(file, "utf8");
  const rows = file.toLowerCase().endsWith(".csv") ? parseCsv(content) : parseJsonl(content);
  const options = { tenant: (values.tenant ?? config.policy.defaultTenant).toLowerCase(), createRoles: values["create-roles"] === true };
  const report = await withMigratedDatabase(config, "import-users", (db) => importUsers(db, rows, options));
  for (const created of report.tenantsCreated) process.stdout.write(`created tenant ${created}\n`);
  for (const role of report.rolesCreated) process.stdout.write(`created role ${role}\n`);
  for (const { line, reason } of report.skipped) process.stdout.write(`line ${line}: skipped (${reason})\n`);
  for (const { line, reason } of report.failed) process.stdout.write(`line ${line}: failed: ${reason}\n`);
  process.stdout.write(`imported ${report.imported}, skipped ${report.skipped.length}, failed ${report.failed.length}\n`);
  return report.failed.length > 0 ? 1 : 0;
}

async function identifierConflictsCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { renormalize: { type: "boolean" } } });
  const lines = await withMigratedDatabase(commandConfig(), "identifier-conflicts", (db) =>
    identifierConflicts(db, { renormalize: values.renormalize ?? false }),
  );
  for (const line of lines) process.stdout.write(`${line}\n`);
  return 0;
}

async function migrate(): Promise<number> {
  const config = commandConfig();
  const applied = await withDatabase(config, "migrate", async (db) => {
    const names = await migrateToLatest(db);
    await ensureTenant(db, config.policy.defaultTenant, config.policy.defaultTenant);
    return names;
  });
  process.stdout.write(applied.length > 0 ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
  return 0;
}

const adminOptions = {
  url: { type: "string" },
  tenant: { type: "string" },
  login: { type: "string" },
  "login-tenant": { type: "string" },
  name: { type: "string" },
  "password-min-length": { type: "string" },
  "roles-required": { type: "boolean" },
  "verified-email-required": { type: "boolean" },
  "mfa-required": { type: "boolean" },
  description: { type: "string" },
  permissions: { type: "string" },
  username: { type: "string" },
  "full-name": { type: "string" },
  role: { type: "string", multiple: true },
  "email-verified": { type: "boolean" },
  invite: { type: "boolean" },
  "email-prefix": { type: "string" },
  "username-prefix": { type: "string" },
  active: { type: "boolean" },
  disabled: { type: "boolean" },
} as const;

/** Runs one administration command against a running service. */
async function administer(command: string, argv: readonly string[]): Promise<number> {
  const run = adminCommands[command];
  if (run === undefined) throw new Error(`no administration command ${command}`);
  const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, options: adminOptions });
  // The single-role flag reads as a list for create-user; `list-users --role r` takes the first.
  const flags = { ...values, role: command === "list-users" ? values.role?.[0] : values.role };
  const config = loadAdminClientConfig(readEnvironment(process.env));
  const session = await openAdminSession(values.url ?? config.url, {
    token: config.adminToken,
    login: values.login,
    loginTenant: values["login-tenant"] ?? config.platformTenant,
  });
  try {
    await run({
      admin: session.admin,
      tenant: values.tenant ?? config.defaultTenant,
      args: positionals,
      flags,
      print: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } finally {
    await session.close();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, sub, arg] = argv;
  const args = argv.slice(1);
  // `disable --email …` / `--user-id …` act on the stores; `disable <user>` goes through the service.
  if ((command === "disable" || command === "enable") && args.some((a) => /^--(email|user-id)(=|$)/.test(a))) {
    return userStatus(command, args);
  }
  // `unlock <user> [--ip a]` goes through the service; `unlock --email …` / `--user-id …` / `--ip …` act on the stores.
  if (command === "unlock" && !(args[0] !== undefined && !args[0].startsWith("-"))) return unlockCommand(args);
  if (command !== undefined && Object.hasOwn(adminCommands, command)) return administer(command, args);
  if (command === "create-admin" || command === "bootstrap-platform-admin") return createAdminCommand(command, args);
  if (command === "import-users") return importUsersCommand(args);
  if (command === "identifier-conflicts") return identifierConflictsCommand(args);
  if (command === "migrate") return migrate();
  if (command === "keys" && sub === "generate") {
    if (generateKey(arg)) return 0;
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  if (command === "keys" && sub === "rotate") return rotate(loadConfig(readEnvironment(process.env), { serving: false }));
  if (command === "keys" && sub === "list") return list(commandConfig());
  process.stderr.write(`${usage}\n`);
  return 64;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
      process.stderr.write(`${error.message}\n${usage}\n`);
      process.exit(64);
    }
    process.stderr.write(`${error instanceof DataDirBusyError ? error.message : describeError(error)}\n`);
    process.exit(1);
  },
);
