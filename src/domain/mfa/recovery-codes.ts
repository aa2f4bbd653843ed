/**
 * Recovery codes: ten single-use codes shown once when MFA is turned on (and when they are
 * regenerated), for the day the authenticator is lost. Without them, losing a phone means asking
 * support to "reset 2FA", the social-engineering hole they exist to close.
 *
 * Each code is 16 characters of Crockford's base32 (80 random bits), shown as four groups of four
 * (`7KQ2-M9XD-4TPA-HW3C`). Crockford's alphabet has no I, L, O or U, and reads I and L as 1 and O
 * as 0, so a code copied from paper by eye still works; input is also case-insensitive and may
 * hold dashes and spaces anywhere. 80 bits make the stored SHA-256 useless to someone who steals
 * the table (no offline search can cover 2^80), so no slow hash is needed, and checking a code
 * costs one indexed lookup. The hash is salted with the user's id, so one precomputed table
 * cannot serve every user.
 */
import { createHash, randomInt } from "node:crypto";

export const RECOVERY_CODE_COUNT = 10;
const CODE_LENGTH = 16;
const GROUP = 4;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Fresh codes, as shown to the user. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  const codes = new Set<string>();
  while (codes.size < count) {
    let code = "";
    for (let i = 0; i < CODE_LENGTH; i++) code += CROCKFORD[randomInt(CROCKFORD.length)];
    codes.add(code);
  }
  return [...codes].map(format);
}

function format(code: string): string {
  const groups: string[] = [];
  for (let i = 0; i < code.length; i += GROUP) groups.push(code.slice(i, i + GROUP));
  return groups.join("-");
}

/** A code as typed, in its canonical form (no separators, upper case, I/L as 1, O as 0); null when it cannot be one of ours. */
export function normalizeRecoveryCode(input: string): string | null {
  const compact = input
    .replace(/[\s-]+/g, "")
    .toUpperCase()
    .replace(/[IL]/g, "1")
    .replace(/O/g, "0");
  if (compact.length !== CODE_LENGTH) return null;
  for (const character of compact) if (!CROCKFORD.includes(character)) return null;
  return compact;
}

/** The stored form of a normalized code: SHA-256 over the user's id and the code. */
export function hashRecoveryCode(userId: string, normalized: string): string {
  return createHash("sha256").update(`auth.v1 recovery code\u0000${userId}\u0000${normalized}`, "utf8").digest("base64url");
}
