/**
 * `cli create-admin --email <address> [--username <name>] [--full-name <name>] [--tenant <slug>]`:
 * an administrator of the tenant (roles user and admin, address verified). The password comes from
 * ADMIN_PASSWORD or, with --password-stdin, from standard input: never from the command line,
 * which other users of the machine can read. An existing user of that address is given the admin
 * role and keeps their password.
 */
import type { Kysely } from "kysely";
import { commonPasswordsFor, passwordHasherFor } from "../app/adapters.js";
import type { Config } from "../config.js";
import { checkNewPassword, validateEmail, validateFullName, validateUsername } from "../domain/validation.js";
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

export async function createAdmin(db: Kysely<Database>, config: Config, input: CreateAdminInput): Promise<string> {
  const users = createUserRepository(db);
  const admin = createUserAdministration(db);
  const email = validateEmail(input.email);
  await ensureTenant(db, input.tenant, input.tenant);
  const existing = await users.findCredentialsByLogin(input.tenant, email);
  if (existing !== null) {
    const granted = await admin.grantRole(existing.user.id, input.tenant, "admin");
    return granted
      ? `${email} exists in ${input.tenant}: granted the admin role (password unchanged)`
      : `${email} is an admin of ${input.tenant} already`;
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
    roles: ["user", "admin"],
  });
  await admin.markEmailVerified(user.id, new Date());
  return `created admin ${email} (${user.id}) in ${input.tenant}`;
}
