import { describe, expect, it } from "vitest";
import { AuthError } from "../../src/domain/errors.js";
import {
  checkNewPassword,
  resolveTenant,
  tenantHeaderAllows,
  validateEmail,
  validateFullName,
  validateUsername,
} from "../../src/domain/validation.js";

const reasonOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    if (error instanceof AuthError) return error.reason;
    throw error;
  }
  return undefined;
};

const blocklist = { includes: (pw: string) => ["password123", "qwertyuiop"].includes(pw.toLowerCase()) };
const rules = { minLength: 8, commonPasswords: blocklist, context: ["ann@example.com", "ann_smith"] };

describe("validateEmail", () => {
  it.each(["a@example.com", "first.last+tag@sub.example.co.uk", "josé@exämple.de", "  padded@example.com  "])("accepts %s", (email) => {
    expect(validateEmail(email)).toBe(email.trim());
  });
  it.each(["plain", "a@b", "a@@example.com", "a b@example.com", "<a>@example.com", "a@example.c0m", `${"a".repeat(65)}@example.com`])(
    "refuses %s",
    (email) => expect(reasonOf(() => validateEmail(email))).toBe("INVALID_EMAIL"),
  );
  it("calls an empty email missing, not malformed", () => expect(reasonOf(() => validateEmail(" "))).toBe("INVALID_REQUEST"));
});

describe("validateUsername", () => {
  it("treats empty as none", () => expect(validateUsername("")).toBeNull());
  it.each(["ann", "ann.smith", "a_b-c", "A1".repeat(32)])("accepts %s", (name) => expect(validateUsername(name)).toBe(name));
  it.each(["an", "ann smith", "ann@example.com", "-ann", "a".repeat(65)])("refuses %s", (name) =>
    expect(reasonOf(() => validateUsername(name))).toBe("INVALID_USERNAME"),
  );
});

describe("validateFullName", () => {
  it("trims and accepts names in any script", () => expect(validateFullName("  Juan Pérez García ")).toBe("Juan Pérez García"));
  it("refuses control characters", () => expect(reasonOf(() => validateFullName("Ann\u0000"))).toBe("INVALID_REQUEST"));
});

describe("resolveTenant", () => {
  it("falls back to the default", () => expect(resolveTenant(undefined, "default")).toBe("default"));
  it("lowercases", () => expect(resolveTenant(" ACME-Pharma ", "default")).toBe("acme-pharma"));
  it.each(["acme_pharma", "-acme", "a".repeat(65), "acme/../x"])("refuses %s", (tenant) =>
    expect(reasonOf(() => resolveTenant(tenant, "default"))).toBe("INVALID_TENANT"),
  );
  it("lets a missing header name any tenant, and a present one only its own", () => {
    expect(tenantHeaderAllows(undefined, "acme")).toBe(true);
    expect(tenantHeaderAllows("ACME", "acme")).toBe(true);
    expect(tenantHeaderAllows("other", "acme")).toBe(false);
  });
});

describe("checkNewPassword", () => {
  it("accepts a long passphrase and 64+ characters", () => {
    expect(() => checkNewPassword("password", "correct horse battery staple", rules)).not.toThrow();
    expect(() => checkNewPassword("password", "x".repeat(64) + "y".repeat(36), rules)).not.toThrow();
  });
  it("has no composition rules: all lowercase letters are fine", () => {
    expect(() => checkNewPassword("password", "abcdefghij", rules)).not.toThrow();
  });
  it("counts characters, not bytes or UTF-16 units", () => {
    // Eight emoji: 8 characters, 16 UTF-16 units, 32 bytes.
    expect(() => checkNewPassword("password", "😀".repeat(8), rules)).not.toThrow();
    expect(reasonOf(() => checkNewPassword("password", "😀".repeat(7), rules))).toBe("WEAK_PASSWORD");
  });
  it("refuses short, common and personal passwords, and says which field", () => {
    expect(reasonOf(() => checkNewPassword("password", "short", rules))).toBe("WEAK_PASSWORD");
    expect(reasonOf(() => checkNewPassword("password", "Password123", rules))).toBe("WEAK_PASSWORD");
    expect(reasonOf(() => checkNewPassword("password", "ANN@example.com", rules))).toBe("WEAK_PASSWORD");
    expect(reasonOf(() => checkNewPassword("password", "ann_smith", rules))).toBe("WEAK_PASSWORD");
    try {
      checkNewPassword("new_password", "short", rules);
    } catch (error) {
      expect((error as AuthError).metadata.field).toBe("new_password");
      expect((error as AuthError).message).toMatch(/^new_password: must be at least 8 characters$/);
    }
  });
  it("refuses more than 1024 characters", () => {
    expect(reasonOf(() => checkNewPassword("password", "x".repeat(1025), rules))).toBe("PASSWORD_TOO_LONG");
  });
});

describe("mergePermissions", () => {
  it("merges role permissions key by key, and a grant from any role stays", async () => {
    const { mergePermissions } = await import("../../src/domain/model.js");
    expect(
      mergePermissions([
        { icsr: { view: true, edit: false }, reports: { view: true } },
        { icsr: { edit: true, delete: false }, admin: true },
        { icsr: { view: false } },
      ]),
    ).toEqual({ icsr: { view: true, edit: true, delete: false }, reports: { view: true }, admin: true });
    expect(mergePermissions([])).toEqual({});
  });
});
