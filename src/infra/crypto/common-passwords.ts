/**
 * The blocklist of common passwords (NIST SP 800-63B): the ~49,000 most common passwords from
 * the zxcvbn-ts common dictionary (MIT), compared case-insensitively.
 */
import { dictionary } from "@zxcvbn-ts/language-common";
import type { CommonPasswords } from "../../domain/ports.js";

export function loadCommonPasswords(minLength: number): CommonPasswords {
  const words = (dictionary as Record<string, readonly string[]>)["passwords-common"] ?? [];
  // Shorter entries can never pass the length rule, so they need not take memory.
  const blocked = new Set(words.filter((word) => word.length >= minLength).map((word) => word.toLowerCase()));
  if (blocked.size === 0) throw new Error("the common password list is empty: is @zxcvbn-ts/language-common installed?");
  return { includes: (password) => blocked.has(password.toLowerCase()) };
}
