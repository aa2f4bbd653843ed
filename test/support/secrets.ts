/**
 * Records every password and token the tests use, so that the global teardown can prove none of
 * them reached a log line.
 */
import { randomBytes } from "node:crypto";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { inject } from "vitest";

let file: string | undefined;

export function recordSecret<T extends string>(value: T): T {
  file ??= join(inject("logDir"), `${process.pid}-${randomBytes(4).toString("hex")}.secrets`);
  if (value.length >= 8) appendFileSync(file, `${value}\n`);
  return value;
}

/** A fresh, recorded password that passes the policy. */
export function newPassword(prefix = "pw"): string {
  return recordSecret(`${prefix}-${randomBytes(12).toString("base64url")}`);
}
