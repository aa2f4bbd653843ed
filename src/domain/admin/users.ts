/**
 * User administration within a tenant: create (with a password, or invited by mail), read, list
 * and change; what ends or restores a user's access is in user-access.ts.
 */
import { randomBytes } from "node:crypto";
import { changeUser } from "../changes.js";
import { ATTRIBUTES_LIMITS, checkDocument } from "../documents.js";
import { deferVerificationMail } from "../email-verification.js";
import { AuthError, invalidField } from "../errors.js";
import type { RequestContext, User } from "../model.js";
import { issueOneTimeToken, linkWithToken } from "../one-time-tokens.js";
import { DEFAULT_ROLE } from "../register.js";
import { policyInForce } from "../tenants.js";
import {
  checkNewPassword,
  loginKey,
  validateEmail,
  validateFullName,
  validateKeptNumber,
  validateRoleName,
  validateUserId,
  validateUsername,
} from "../validation.js";
import { byActor, tenantActor } from "./authority.js";
import { decodeNumberPageToken, page, pageSize } from "./paging.js";
import type { AdminDeps, UserChanges, UserFilter, UserRef } from "./ports.js";

/** Most roles one user may hold. */
const MAX_ROLES = 64;
/** Longest email or username prefix a filter accepts. */
const MAX_PREFIX = 254;

/** Checks role names and drops repeats, keeping the first occurrence's place. */
export function checkRoles(roles: readonly string[]): string[] {
  if (roles.length > MAX_ROLES) throw invalidField("roles", `at most ${MAX_ROLES} roles`);
  return [...new Set(roles.map((role) => validateRoleName("roles", role)))];
}

function checkNumber(number: number | undefined): number | undefined {
  if (number === undefined) return undefined;
  if (!Number.isSafeInteger(number) || number < 1) throw invalidField("number", "must be a positive integer below 2^53");
  return number;
}

/** The user of the tenant named by `ref`; USER_NOT_FOUND when there is none (another tenant's user included). */
async function targetUser(deps: AdminDeps, tenant: string, ref: UserRef): Promise<User> {
  const user = await deps.directory.find(tenant, ref);
  if (user === null) throw new AuthError("USER_NOT_FOUND", { message: "The tenant has no such user." });
  return user;
}

/** The user named by the request's `user_id`, within the tenant the actor may administer. */
export async function administeredUser(deps: AdminDeps, ctx: RequestContext, input: { readonly tenant: string; readonly userId: string }) {
  const { actor, tenant } = await tenantActor(deps, ctx, input.tenant);
  const user = await targetUser(deps, tenant.id, { id: validateUserId("user_id", input.userId) });
  return { actor, tenant, user };
}

export interface CreateUserInput {
  readonly tenant: string;
  readonly email: string;
  readonly username: string | undefined;
  readonly fullName: string | undefined;
  /** Empty with `invite`. */
  readonly password: string;
  readonly invite: boolean;
  /** Empty: the default role. */
  readonly roles: readonly string[];
  readonly emailVerified: boolean;
  readonly attributes: Readonly<Record<string, unknown>> | undefined;
  readonly number: number | undefined;
}

export async function createUser(deps: AdminDeps, ctx: RequestContext, input: CreateUserInput): Promise<User> {
  const { actor, tenant } = await tenantActor(deps, ctx, input.tenant);
  const email = validateEmail(input.email);
  const username = validateUsername(input.username);
  const fullName = validateFullName(input.fullName);
  const roles = input.roles.length === 0 ? [DEFAULT_ROLE] : checkRoles(input.roles);
  const attributes = input.attributes === undefined ? {} : checkDocument(input.attributes, ATTRIBUTES_LIMITS);
  const number = input.number === undefined ? undefined : validateKeptNumber("number", input.number);
  if ((input.password === "") === !input.invite) throw invalidField("password", "set exactly one of password and invite");
  if (!input.invite) {
    checkNewPassword("password", input.password, {
      minLength: policyInForce(tenant.settings, deps.policy).passwordMinLength,
      commonPasswords: deps.commonPasswords,
      context: [email, username],
    });
  }
  // An invited user has a password nobody knows until they choose theirs: a hash like any other,
  // so that signing in as them costs the same time as for everyone else.
  const passwordHash = await deps.passwords.hash(input.invite ? randomBytes(32).toString("base64url") : input.password);
  const now = deps.clock.now();
  const user = await deps.users.create({
    tenant: tenant.id,
    email,
    username,
    fullName,
    passwordHash,
    roles,
    attributes,
    ...(number === undefined ? {} : { number }),
    emailVerifiedAt: input.emailVerified ? new Date(now) : null,
  });
  if (input.invite) deferInvitation(deps, ctx, user);
  else if (!input.emailVerified) deferVerificationMail(deps, ctx, user);
  await deps.events.record({
    type: input.invite ? "user_invited" : "user_created",
    tenant: tenant.id,
    userId: user.id,
    ...byActor(actor),
    detail: { roles },
  });
  return user;
}

/** Mails the invited user a link to choose a password: a reset token with the longer invitation lifetime. */
function deferInvitation(deps: AdminDeps, ctx: RequestContext, user: User): void {
  deps.background.defer(ctx, "invitation mail", async () => {
    const { token, expiresAt } = await issueOneTimeToken(deps, user, "reset_password", deps.policy.inviteTokenTtlMs);
    await deps.mailer.sendInvitation(user.email, linkWithToken(deps.policy.resetPasswordUrl, token), expiresAt);
  });
}

export async function getUser(
  deps: AdminDeps,
  ctx: RequestContext,
  input: { readonly tenant: string; readonly userId: string; readonly number: number },
): Promise<User> {
  const { tenant } = await tenantActor(deps, ctx, input.tenant);
  if (input.userId.trim() !== "") return targetUser(deps, tenant.id, { id: validateUserId("user_id", input.userId) });
  if (input.number !== 0) return targetUser(deps, tenant.id, { number: checkNumber(input.number) ?? 0 });
  throw invalidField("user_id", "required (or number)");
}

export interface ListUsersInput {
  readonly tenant: string;
  readonly pageSize: number;
  readonly pageToken: string;
  readonly emailPrefix: string;
  readonly usernamePrefix: string;
  readonly role: string;
  readonly active: boolean | undefined;
}

function prefix(field: string, value: string): string | undefined {
  let key: string;
  try {
    key = loginKey(value);
  } catch (error) {
    // loginKey names `email` or `username` by the value's shape; a prefix is the request's own field.
    if (error instanceof AuthError) throw invalidField(field, error.message.replace(/^(email|username): /, ""));
    throw error;
  }
  if (key === "") return undefined;
  if (key.length > MAX_PREFIX) throw invalidField(field, `at most ${MAX_PREFIX} characters`);
  return key;
}

export async function listUsers(
  deps: AdminDeps,
  ctx: RequestContext,
  input: ListUsersInput,
): Promise<{ users: User[]; nextPageToken: string }> {
  const { tenant } = await tenantActor(deps, ctx, input.tenant);
  const filter: UserFilter = {
    emailPrefix: prefix("email_prefix", input.emailPrefix),
    usernamePrefix: prefix("username_prefix", input.usernamePrefix),
    role: input.role.trim() === "" ? undefined : validateRoleName("role", input.role),
    active: input.active,
  };
  const filters = { tenant: tenant.id, ...filter };
  const limit = pageSize(input.pageSize);
  // User numbers are read as JS numbers: below 2^53.
  const after = decodeNumberPageToken(input.pageToken, filters, BigInt(Number.MAX_SAFE_INTEGER));
  const rows = await deps.directory.list(tenant.id, filter, after === null ? null : Number(after), limit + 1);
  const { items, nextPageToken } = page(rows, limit, (user) => String(user.number), filters);
  return { users: items, nextPageToken };
}

export interface UpdateUserInput {
  readonly tenant: string;
  readonly userId: string;
  readonly email: string | undefined;
  readonly username: string | undefined;
  readonly fullName: string | undefined;
  readonly attributes: Readonly<Record<string, unknown>> | undefined;
  readonly emailVerified: boolean | undefined;
}

export async function updateUser(deps: AdminDeps, ctx: RequestContext, input: UpdateUserInput): Promise<User> {
  const { actor, tenant, user } = await administeredUser(deps, ctx, input);
  const now = new Date(deps.clock.now());
  const changes: { -readonly [K in keyof UserChanges]: UserChanges[K] } = {};
  let emailChanged = false;
  if (input.email !== undefined) {
    changes.email = validateEmail(input.email);
    emailChanged = loginKey(changes.email) !== loginKey(user.email);
    // A new address is unverified until proven (or vouched for below).
    if (emailChanged) changes.emailVerifiedAt = null;
  }
  if (input.username !== undefined) changes.username = validateUsername(input.username);
  if (input.fullName !== undefined) changes.fullName = validateFullName(input.fullName);
  if (input.attributes !== undefined) changes.attributes = checkDocument(input.attributes, ATTRIBUTES_LIMITS);
  if (input.emailVerified !== undefined) changes.emailVerifiedAt = input.emailVerified ? (user.emailVerifiedAt ?? now) : null;
  const updated = await changeUser(deps, { tenant: user.tenant, userId: user.id }, () => deps.directory.update(user.id, changes, now));
  if (updated === null) throw new AuthError("USER_NOT_FOUND", { message: "The tenant has no such user." });
  if (emailChanged) {
    // Links mailed to the old address must not act on the account any more.
    await deps.oneTimeTokens.voidAll(user.id, "reset_password", now);
    await deps.oneTimeTokens.voidAll(user.id, "verify_email", now);
  }
  await deps.events.record({
    type: "user_updated",
    tenant: tenant.id,
    userId: user.id,
    ...byActor(actor),
    // The names of what changed, never the values: an audit row is no place for personal data.
    detail: { fields: Object.keys(changes) },
  });
  return updated;
}
