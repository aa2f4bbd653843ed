/**
 * `cli create-admin --email <address> [--username <name>] [--full-name <name>] [--tenant <slug>]`:
 * an administrator of the tenant (roles user and admin, address verified), and
 * `cli bootstrap-platform-admin --email <address> …`: the first platform administrator (role
 * `platform-admin` in PLATFORM_TENANT, both made if missing), who can then administer everything
 * through the AdminService. The password comes from ADMIN_PASSWORD or, with --password-stdin, from
 * standard input: never from the command line, which other users of the machine can read. An
 * existing user of that address is given the role(s) and keeps their password.
 *
 * Both write to the database directly, for the moment before any administrator exists: in
 * embedded mode they refuse while a running service holds the data folder (see cli.ts).
 */
import type { Kysely } from "kysely";
import { commonPasswordsFor, passwordHasherFor } from "../app/adapters.js";
import type { Config } from "../config.js";
import { PLATFORM_ADMIN_ROLE } from "../domain/admin/authority.js";
import { checkNewPassword, validateEmail, validateFullName, validateUsername } from "../domain/validation.js";
import { createAuditLog } from "../infra/postgres/audit.js";
import { ensureTenant } from "../infra/postgres/database.js";
import type { Database } from "../infra/postgres/schema.js";
import { createUserAdministration, createUserRepository } from "../infra/postgres/users.js";

export interface CreateAdminInput {
  readonly email: string;
  readonly username: string | undefined;
  readonly fullName: string | undefined;
  readonly tenant: string;
  readonly password: string | undefined;
}

/** Creates (or promotes) a user holding `roles` in the tenant; returns what it did, for the operator. */
async function ensureAdmin(
  db: Kysely<Database>,
  config: Config,
  input: CreateAdminInput,
  roles: { readonly create: readonly string[]; readonly promote: string },
  what: string,
) {
  const users = createUserRepository(db);
  const admin = createUserAdministration(db);
  const email = validateEmail(input.email);
  await ensureTenant(db, input.tenant, input.tenant);
  const existing = await users.findCredentialsByLogin(input.tenant, email);
  if (existing !== null) {
    const granted = await admin.grantRole(existing.user.id, input.tenant, roles.promote);
    return {
      userId: existing.user.id,
      message: granted
        ? `${email} exists in ${input.tenant}: granted the ${roles.promote} role (password unchanged)`
        : `${email} is ${what} of ${input.tenant} already`,
    };
  }
  if (input.password === undefined)
    throw new Error("no password: set ADMIN_PASSWORD, or pass --password-stdin and write it to standard input");
  const username = validateUsername(input.username);
  checkNewPassword("password", input.password, {
    minLength: config.policy.passwordMinLength,
    commonPasswords: commonPasswordsFor(config),
    context: [email, username],
  });
  const passwords = await passwordHasherFor(config, "command");
  const passwordHash = await passwords.hash(input.password).finally(() => passwords.close());
  const user = await users.create({
    tenant: input.tenant,
    email,
    username,
    fullName: validateFullName(input.fullName),
    passwordHash,
    roles: roles.create,
    emailVerifiedAt: new Date(),
  });
  return { userId: user.id, message: `created ${what.replace(/^an? /, "")} ${email} (${user.id}) in ${input.tenant}` };
}

export async function createAdmin(db: Kysely<Database>, config: Config, input: CreateAdminInput): Promise<string> {
  return (await ensureAdmin(db, config, input, { create: ["user", "admin"], promote: "admin" }, "an admin")).message;
}

export async function bootstrapPlatformAdmin(
  db: Kysely<Database>,
  config: Config,
  input: Omit<CreateAdminInput, "tenant">,
): Promise<string> {
  const tenant = config.policy.platformTenant;
  await ensureTenant(db, tenant, tenant);
  await db
    .insertInto("roles")
    .values({ tenant_id: tenant, name: PLATFORM_ADMIN_ROLE, description: "Administers every tenant (AdminService)" })
    .onConflict((oc) => oc.columns(["tenant_id", "name"]).doNothing())
    .execute();
  const { userId, message } = await ensureAdmin(
    db,
    config,
    { ...input, tenant },
    { create: [PLATFORM_ADMIN_ROLE], promote: PLATFORM_ADMIN_ROLE },
    "a platform admin",
  );
  await createAuditLog(db, silentLogger).record({ type: "platform_admin_bootstrapped", tenant, userId, detail: { by: "cli" } });
  return message;
}

/** The CLI has no log: the audit row is the record. */
const silentLogger = { info: () => {}, error: () => {} } as unknown as Parameters<typeof createAuditLog>[1];
