/**
 * Records every password and token the tests use, so that the global teardown can prove none of
 * them reached a log line. Secrets of 8 characters or more are looked for anywhere in a line; a
 * TOTP code (6 digits, too short for that) is looked for as a number of its own inside the lines'
 * string values (see checkLogs in test/global-setup.ts).
 */
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

let file: string | undefined;
let codesFile: string | undefined;

export function recordSecret<T extends string>(value: T): T {
  file ??= join(inject("logDir"), `${process.pid}-${randomBytes(4).toString("hex")}.secrets`);
  if (value.length >= 8) appendFileSync(file, `${value}\n`);
  return value;
}

/** A fresh, recorded password that passes the policy. */
export function newPassword(prefix = "pw"): string {
  return recordSecret(`${prefix}-${randomBytes(12).toString("base64url")}`);
}

/** A 6-digit TOTP code a test sent or received. */
export function recordCode<T extends string>(code: T): T {
  codesFile ??= join(inject("logDir"), `${process.pid}-${randomBytes(4).toString("hex")}.codes`);
  if (/^[0-9]{6}$/.test(code)) appendFileSync(codesFile, `${code}\n`);
  return code;
}

/** A recovery code as shown and in every form the service may have handled it (no dashes, upper case). */
export function recordRecoveryCode(code: string): string {
  recordSecret(code);
  recordSecret(code.replace(/[\s-]/g, "").toUpperCase());
  return code;
}
