/**
 * The CLI's administration commands, each one or a few AdminService calls on a running service:
 * create-tenant, create-role, create-user, grant, revoke, disable, enable, unlock, list-users. They print
 * one line per result on standard output; errors go to standard error with the service's reason.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { parseJson } from "../domain/keys.js";
import { isUserId } from "../domain/validation.js";
import type { AdminService } from "../gen/auth/admin/v1/admin_pb.js";
import type { User } from "../gen/auth/v1/auth_pb.js";
import { UsageError } from "./admin-client.js";
import { readSecret } from "./input.js";

type Admin = Client<typeof AdminService>;
type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;
type Print = (line: string) => void;

const str = (flags: Flags, name: string): string | undefined => {
  const value = flags[name];
  return typeof value === "string" ? value : undefined;
};

function positional(args: readonly string[], index: number, what: string): string {
  const value = args[index];
  if (value === undefined || value === "") throw new UsageError(`missing ${what}`);
  return value;
}

/**
 * The user an operator names: a UUID, `#<number>`, or an email address (or a username) of the
 * tenant, matched exactly in any letter case.
 */
export async function findUser(admin: Admin, tenant: string, name: string): Promise<User> {
  if (isUserId(name)) return (await admin.getUser({ tenant, userId: name })).user as User;
  if (/^#\d+$/.test(name)) return (await admin.getUser({ tenant, number: BigInt(name.slice(1)) })).user as User;
  const key = name.toLowerCase();
  const byEmail = name.includes("@");
  const { users } = await admin.listUsers({ tenant, pageSize: 10, ...(byEmail ? { emailPrefix: name } : { usernamePrefix: name }) });
  const user = users.find((u) => (byEmail ? u.email : u.username).toLowerCase() === key);
  if (user === undefined) throw new UsageError(`no user ${name} in tenant ${tenant}`);
  return user;
}

const describeUser = (user: User) =>
  `#${user.number} ${user.id} ${user.email}${user.username ? ` (${user.username})` : ""} ${user.isActive ? "active" : "disabled"} roles: ${user.roles.join(",") || "-"}`;

function permissionsFrom(flags: Flags): JsonObject | undefined {
  const text = str(flags, "permissions");
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = parseJson(text, "--permissions");
  } catch (error) {
    throw new UsageError(`--permissions: ${error instanceof SyntaxError ? "not JSON" : (error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError("--permissions: a JSON object");
  return value as JsonObject;
}

function intFlag(flags: Flags, name: string): number | undefined {
  const text = str(flags, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,3}$/.test(text)) throw new UsageError(`--${name}: a number`);
  return Number(text);
}

export interface CommandContext {
  readonly admin: Admin;
  readonly tenant: string;
  readonly args: readonly string[];
  readonly flags: Flags;
  readonly print: Print;
}

export const adminCommands: Record<string, (c: CommandContext) => Promise<void>> = {
  async "create-tenant"({ admin, args, flags, print }) {
    const { tenant } = await admin.createTenant({
      id: positional(args, 0, "the tenant id"),
      displayName: str(flags, "name") ?? "",
      policy: {
        passwordMinLength: intFlag(flags, "password-min-length"),
        ...(flags["roles-required"] ? { rolesRequired: true } : {}),
        ...(flags["verified-email-required"] ? { verifiedEmailRequired: true } : {}),
        ...(flags["mfa-required"] ? { mfaRequired: true } : {}),
      },
    });
    const policy = tenant?.policy;
    print(
      `created tenant ${tenant?.id}: password_min_length=${policy?.passwordMinLength} verified_email_required=${policy?.verifiedEmailRequired} ` +
        `roles_required=${policy?.rolesRequired} mfa_required=${policy?.mfaRequired}`,
    );
  },

  async "create-role"({ admin, tenant, args, flags, print }) {
    const { role } = await admin.createRole({
      tenant,
      name: positional(args, 0, "the role name"),
      description: str(flags, "description") ?? "",
      permissions: permissionsFrom(flags),
    });
    print(`created role ${role?.name} in ${tenant} with permissions ${JSON.stringify(role?.permissions ?? {})}`);
  },

  async "create-user"({ admin, tenant, args, flags, print }) {
    const email = positional(args, 0, "the email address");
    const invite = flags.invite === true;
    const password = invite ? "" : await readSecret(`password for ${email}: `);
    const roles = flags.role;
    const { user } = await admin.createUser({
      tenant,
      email,
      username: str(flags, "username"),
      fullName: str(flags, "full-name"),
      password,
      invite,
      roles: Array.isArray(roles) ? roles : [],
      emailVerified: flags["email-verified"] === true,
    });
    if (user) print(`created ${describeUser(user)}${invite ? " (invited by mail)" : ""}`);
  },

  async grant({ admin, tenant, args, print }) {
    const user = await findUser(admin, tenant, positional(args, 0, "the user"));
    const added = args.slice(1);
    if (added.length === 0) throw new UsageError("missing the roles to grant");
    const { user: updated } = await admin.setUserRoles({ tenant, userId: user.id, roles: [...user.roles, ...added] });
    if (updated) print(describeUser(updated));
  },

  async revoke({ admin, tenant, args, print }) {
    const user = await findUser(admin, tenant, positional(args, 0, "the user"));
    const removed = new Set(args.slice(1));
    if (removed.size === 0) throw new UsageError("missing the roles to revoke");
    const { user: updated } = await admin.setUserRoles({ tenant, userId: user.id, roles: user.roles.filter((r) => !removed.has(r)) });
    if (updated) print(describeUser(updated));
  },

  async disable({ admin, tenant, args, print }) {
    const user = await findUser(admin, tenant, positional(args, 0, "the user"));
    const { user: updated, sessionsEnded } = await admin.disableUser({ tenant, userId: user.id });
    if (updated) print(`${describeUser(updated)}; ${sessionsEnded} session(s) ended`);
  },

  async enable({ admin, tenant, args, print }) {
    const user = await findUser(admin, tenant, positional(args, 0, "the user"));
    const { user: updated } = await admin.enableUser({ tenant, userId: user.id });
    if (updated) print(describeUser(updated));
  },

  async unlock({ admin, tenant, args, flags, print }) {
    const user = await findUser(admin, tenant, positional(args, 0, "the user"));
    const ip = str(flags, "ip") ?? "";
    const { countersCleared } = await admin.unlockUser({ tenant, userId: user.id, clientAddress: ip });
    const where = ip === "" ? "at every address" : `at ${ip}`;
    print(
      countersCleared === 0
        ? `nothing was locked for ${user.email} ${where}`
        : `unlocked ${user.email} ${where}: cleared ${countersCleared} counter(s)`,
    );
  },

  async "list-users"({ admin, tenant, flags, print }) {
    const active = flags.active === true ? true : flags.disabled === true ? false : undefined;
    let pageToken = "";
    let count = 0;
    do {
      const page = await admin.listUsers({
        tenant,
        pageSize: 200,
        pageToken,
        emailPrefix: str(flags, "email-prefix") ?? "",
        usernamePrefix: str(flags, "username-prefix") ?? "",
        role: str(flags, "role") ?? "",
        active,
      });
      for (const user of page.users) print(describeUser(user));
      count += page.users.length;
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    print(`${count} user(s) in ${tenant}`);
  },
};
