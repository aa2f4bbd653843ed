/**
 * Input rules shared by the flows: tenants, email addresses, usernames, display names and the
 * password policy (NIST SP 800-63B: a minimum length, at least 64 characters allowed, no
 * composition rules, a blocklist of common passwords).
 */
import { AuthError, invalidField } from "./errors.js";
import type { CommonPasswords } from "./ports.js";

/** Longest password accepted, in characters; well past the 64 NIST asks us to allow. */
export const PASSWORD_MAX_LENGTH = 1024;
const EMAIL_MAX_LENGTH = 254;
const FULL_NAME_MAX_LENGTH = 200;

const tenantSlug = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
// Pragmatic, not RFC 5322: one @, no spaces or angle brackets, a dotted domain with a
// letters-only top-level label. Unicode letters are allowed on both sides.
const emailShape = /^[^\s@<>()[\]\\,;:"]{1,64}@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}$/u;
const usernameShape = /^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$/;
// Control characters have no place in a display name (they break logs and UIs).
const controlChars = /\p{Cc}/u;

/** The tenant of a call: the `x-tenant` header (lowercased), or the default. */
export function resolveTenant(header: string | undefined, defaultTenant: string): string {
  if (header === undefined || header.trim() === "") return defaultTenant;
  const tenant = header.trim().toLowerCase();
  if (!tenantSlug.test(tenant)) {
    throw new AuthError("INVALID_TENANT", {
      message: "x-tenant: expected a slug of lowercase letters, digits and dashes",
      metadata: { field: "x-tenant" },
    });
  }
  return tenant;
}

/** Whether an optional `x-tenant` header names `tenant`; no header names every tenant. */
export function tenantHeaderAllows(header: string | undefined, tenant: string): boolean {
  const named = header?.trim().toLowerCase();
  return named === undefined || named === "" || named === tenant;
}

/** Checks a required string field and returns it; INVALID_REQUEST naming the field when empty. */
export function required(field: string, value: string): string {
  if (value === "") throw invalidField(field, "required");
  return value;
}

/** Trims and checks an email address; returns it as typed (trimmed). */
export function validateEmail(email: string): string {
  const trimmed = email.trim();
  if (trimmed === "") throw invalidField("email", "required");
  if (trimmed.length > EMAIL_MAX_LENGTH || !emailShape.test(trimmed)) {
    throw invalidField("email", "not a valid email address", "INVALID_EMAIL");
  }
  return trimmed;
}

/** Trims and checks an optional username; empty means none. */
export function validateUsername(username: string | undefined): string | null {
  const trimmed = username?.trim() ?? "";
  if (trimmed === "") return null;
  if (!usernameShape.test(trimmed)) {
    throw invalidField("username", "3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", "INVALID_USERNAME");
  }
  return trimmed;
}

/** Trims and checks an optional display name; empty means none. */
export function validateFullName(fullName: string | undefined): string | null {
  const trimmed = fullName?.trim() ?? "";
  if (trimmed === "") return null;
  if ([...trimmed].length > FULL_NAME_MAX_LENGTH || controlChars.test(trimmed)) {
    throw invalidField("full_name", `at most ${FULL_NAME_MAX_LENGTH} characters, no control characters`);
  }
  return trimmed;
}

/** The case-insensitive key for an email or username lookup. */
export function loginKey(identifier: string): string {
  return identifier.trim().toLowerCase();
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
