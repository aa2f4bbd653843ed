/**
 * Input rules shared by the flows: tenants, email addresses, usernames, display names and the
 * password policy (NIST SP 800-63B: a minimum length, at least 64 characters allowed, no
 * composition rules, a blocklist of common passwords). The identifier profile itself (what is
 * refused, what counts as the same account, what counts as a lookalike) is in identifiers.ts.
 */
import { AuthError, invalidField } from "./errors.js";
import { lookupKey, normalizeEmail, normalizeUsername } from "./identifiers.js";
import type { CommonPasswords } from "./ports.js";

/** Longest password accepted, in characters; well past the 64 NIST asks us to allow. */
export const PASSWORD_MAX_LENGTH = 1024;
const FULL_NAME_MAX_LENGTH = 200;

const tenantSlug = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
// A display name may hold what names need (letters of any script, spaces, punctuation, the joiners
// some scripts and emoji use), but no control characters (NUL cannot even be stored in PostgreSQL
// text; the rest break logs and UIs), no bidi controls (they reorder what is shown around the
// name), no surrogates, unassigned code points or line and paragraph separators.
const refusedInName = /[\p{Cc}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\p{Bidi_Control}]/u;

/**
 * Whether free text a caller gives (a name, a description, a reason) holds what breaks logs and
 * UIs: control, bidi-control, line-separator, unassigned or lone-surrogate characters.
 */
export const hasRefusedTextCharacter = (text: string): boolean => refusedInName.test(text);

/** Whether `text` is a tenant slug: lowercase letters, digits and inner dashes, 1 to 64 characters. */
export function isTenantSlug(text: string): boolean {
  return tenantSlug.test(text);
}

/** The tenant `text` names once trimmed and lowercased, as an `x-tenant` header is read; undefined when it is no slug. */
export function tenantSlugOf(text: string): string | undefined {
  const tenant = text.trim().toLowerCase();
  return isTenantSlug(tenant) ? tenant : undefined;
}

/** The tenant of a call: the `x-tenant` header (lowercased), or the default. */
export function resolveTenant(header: string | undefined, defaultTenant: string): string {
  if (header === undefined || header.trim() === "") return defaultTenant;
  const tenant = tenantSlugOf(header);
  if (tenant === undefined) {
    throw new AuthError("INVALID_TENANT", {
      message: "x-tenant: expected a slug of lowercase letters, digits and dashes",
      metadata: { field: "x-tenant" },
    });
  }
  return tenant;
}

/**
 * The tenant an optional `x-tenant` header names, as every check compares it (trimmed, lower
 * case, as `resolveTenant` reads it); undefined when it names none.
 */
export function tenantNamedBy(header: string | undefined): string | undefined {
  const named = header?.trim().toLowerCase();
  return named === "" ? undefined : named;
}

/** Whether an optional `x-tenant` header names `tenant`; no header names every tenant. */
export function tenantHeaderAllows(header: string | undefined, tenant: string): boolean {
  const named = tenantNamedBy(header);
  return named === undefined || named === tenant;
}

const roleName = /^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;
const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant id named in a request field (not a header): required, a slug, as typed (no case folding). */
export function validateTenantId(field: string, value: string): string {
  const tenant = required(field, value.trim());
  if (!tenantSlug.test(tenant)) {
    throw invalidField(field, "1 to 64 lowercase letters, digits and dashes, starting and ending with a letter or digit", "INVALID_TENANT");
  }
  return tenant;
}

/** A role name: 1 to 64 lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit. */
export function validateRoleName(field: string, value: string): string {
  const name = required(field, value.trim());
  if (!roleName.test(name)) {
    throw invalidField(field, `${JSON.stringify(name.slice(0, 80))}: 1 to 64 lowercase letters, digits, '-' and '_'`, "INVALID_ROLE");
  }
  return name;
}

/** Whether a value has the shape of a user id (a UUID); for ids read from a token, not a request field. */
export const isUserId = (value: string): boolean => uuidShape.test(value);

/** A user id named in a request: a UUID (anything else would reach PostgreSQL as a type error). */
export function validateUserId(field: string, value: string): string {
  const id = required(field, value.trim());
  if (!uuidShape.test(id)) throw invalidField(field, "not a user id (a UUID)");
  return id.toLowerCase();
}

/**
 * The highest number a user may keep from another system (CreateUser's `number`, import-users'
 * `id`): 2^52 - 1. Numbers come from one sequence for every tenant, and a kept number moves it
 * past itself; bounded by 2^53 - 1, one kept number would make the users created after it, in
 * every tenant, get numbers beyond 2^53, which JavaScript (and every JSON client that reads
 * numbers as doubles) rounds, so that two people share one `id` on the seed routes. Under 2^52,
 * the sequence has 2^52 numbers left after the highest kept one.
 */
export const MAX_KEPT_USER_NUMBER = 2 ** 52 - 1;

/** A user number kept from another system: a positive integer up to MAX_KEPT_USER_NUMBER; INVALID_REQUEST naming `field` otherwise. */
export function validateKeptNumber(field: string, number: number): number {
  if (!Number.isSafeInteger(number) || number < 1 || number > MAX_KEPT_USER_NUMBER) {
    throw invalidField(field, `must be a positive integer up to ${MAX_KEPT_USER_NUMBER} (2^52 - 1)`);
  }
  return number;
}

/** Checks a required string field and returns it; INVALID_REQUEST naming the field when empty. */
export function required(field: string, value: string): string {
  if (value === "") throw invalidField(field, "required");
  return value;
}

/**
 * Checks an email address against the identifier profile (identifiers.ts) and returns its display
 * form: as typed, trimmed, in NFKC. INVALID_EMAIL for refused characters (NUL, zero-width, bidi
 * controls…) or a malformed address.
 */
export function validateEmail(email: string): string {
  return normalizeEmail(email).display;
}

/** Checks an optional username against the profile (identifiers.ts); its display form, or null when empty. */
export function validateUsername(username: string | undefined): string | null {
  return normalizeUsername(username)?.display ?? null;
}

/** Trims and checks an optional display name (the request field `field`, `full_name` by default); empty means none. */
export function validateFullName(fullName: string | undefined, field = "full_name"): string | null {
  const trimmed = fullName?.trim() ?? "";
  if (trimmed === "") return null;
  if ([...trimmed].length > FULL_NAME_MAX_LENGTH || refusedInName.test(trimmed)) {
    throw invalidField(field, `at most ${FULL_NAME_MAX_LENGTH} characters, no control or bidi control characters`);
  }
  return trimmed;
}

/**
 * The key an email or username is looked up by (NFKC, case fold; an email's domain in its ASCII
 * form), as identifiers.ts defines it. INVALID_EMAIL / INVALID_USERNAME when it holds a character
 * no identifier may hold (NUL, zero-width, bidi controls…), so none reaches the database.
 */
export function loginKey(identifier: string): string {
  return lookupKey(identifier);
}

export interface PasswordRules {
  readonly minLength: number;
  readonly commonPasswords: CommonPasswords;
  /** Words the password must not equal: the user's email, its local part, the username. */
  readonly context: readonly (string | null)[];
}

/**
 * Applies the password policy to a new password. Length counts characters (code points) after
 * Unicode NFKC normalization, as NIST SP 800-63B asks; every character counts and none is dropped.
 */
export function checkNewPassword(field: string, password: string, rules: PasswordRules): void {
  if (password === "") throw invalidField(field, "required");
  const length = [...password.normalize("NFKC")].length;
  if (length < rules.minLength) {
    throw invalidField(field, `must be at least ${rules.minLength} characters`, "WEAK_PASSWORD");
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw invalidField(field, `must be at most ${PASSWORD_MAX_LENGTH} characters`, "PASSWORD_TOO_LONG");
  }
  const lowered = password.toLowerCase();
  if (rules.commonPasswords.includes(lowered)) {
    throw invalidField(field, "this password is too common; choose another", "WEAK_PASSWORD");
  }
  for (const word of rules.context) {
    if (word === null || word === "") continue;
    const candidate = word.toLowerCase();
    if (lowered === candidate || lowered === candidate.split("@")[0]) {
      throw invalidField(field, "must not be your email address or username", "WEAK_PASSWORD");
    }
  }
}

/** Rejects a password too long to be worth hashing, before any work is spent on it. */
export function checkPasswordInput(field: string, password: string): string {
  if (password === "") throw invalidField(field, "required");
  if (password.length > PASSWORD_MAX_LENGTH * 2) {
    throw invalidField(field, `must be at most ${PASSWORD_MAX_LENGTH} characters`, "PASSWORD_TOO_LONG");
  }
  return password;
}
