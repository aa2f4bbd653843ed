/**
 * TOTP, recovery codes and MFA tickets, against the RFCs' test vectors and an independent
 * implementation (otplib): the codes our service accepts are the codes authenticator apps show.
 */
import { randomBytes } from "node:crypto";
import { generateSync } from "otplib";
import { describe, expect, it } from "vitest";
import { hashRecoveryCode, newRecoveryCodes, normalizeRecoveryCode } from "../../src/domain/mfa/recovery-codes.js";
import { hashTicketSecret, newTicket, parseTicket } from "../../src/domain/mfa/ticket.js";
import { base32Encode, matchTotp, newTotpSecret, normalizeTotpCode, otpauthUri, totpCode, totpStep } from "../../src/domain/mfa/totp.js";

describe("TOTP", () => {
  it("gives RFC 6238's SHA-1 test vectors (Appendix B), truncated to 6 digits", () => {
    const secret = new Uint8Array(Buffer.from("12345678901234567890", "ascii"));
    const vectors: [seconds: number, eightDigits: string][] = [
      [59, "94287082"],
      [1111111109, "07081804"],
      [1111111111, "14050471"],
      [1234567890, "89005924"],
      [2000000000, "69279037"],
      [20000000000, "65353130"],
    ];
    for (const [seconds, code] of vectors) expect(totpCode(secret, totpStep(seconds * 1000))).toBe(code.slice(2));
  });

  it("agrees with otplib on random secrets and times, through the base32 the apps read", () => {
    for (let i = 0; i < 200; i++) {
      const secret = newTotpSecret();
      expect(secret).toHaveLength(20);
      const seconds = Math.floor(Math.random() * 4_000_000_000);
      expect(totpCode(secret, totpStep(seconds * 1000))).toBe(generateSync({ secret: base32Encode(secret), epoch: seconds }));
    }
  });

  it("encodes base32 as RFC 4648 does (section 10 vectors, padding dropped)", () => {
    const cases: [string, string][] = [
      ["", ""],
      ["f", "MY"],
      ["fo", "MZXQ"],
      ["foo", "MZXW6"],
      ["foob", "MZXW6YQ"],
      ["fooba", "MZXW6YTB"],
      ["foobar", "MZXW6YTBOI"],
    ];
    for (const [text, encoded] of cases) expect(base32Encode(new Uint8Array(Buffer.from(text)))).toBe(encoded);
  });

  it("matches a code within the window either side of now, and nothing one step beyond", () => {
    const secret = newTotpSecret();
    const now = 1_800_000_015_000;
    const step = totpStep(now);
    for (const delta of [-1, 0, 1]) expect(matchTotp(secret, totpCode(secret, step + delta), now, 1)).toBe(step + delta);
    for (const delta of [-2, 2]) expect(matchTotp(secret, totpCode(secret, step + delta), now, 1)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, step + 1), now, 0)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, step - 2), now, 2)).toBe(step - 2);
  });

  it("reads codes typed with spaces, and nothing else", () => {
    expect(normalizeTotpCode(" 123 456 ")).toBe("123456");
    for (const bad of ["12345", "1234567", "12345a", "１２３４５６", "123\u0000456", ""]) expect(normalizeTotpCode(bad)).toBeNull();
  });

  it("builds the key URI authenticator apps read", () => {
    const secret = new Uint8Array(Buffer.from("12345678901234567890", "ascii"));
    const uri = new URL(otpauthUri("ONI Justicia", "ana+mfa@example.com", secret));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/ONI Justicia:ana+mfa@example.com");
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
      issuer: "ONI Justicia",
      algorithm: "SHA1",
      digits: "6",
      period: "30",
    });
  });
});

describe("recovery codes", () => {
  it("makes ten distinct codes of four groups of four", () => {
    const codes = newRecoveryCodes();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
  });

  it("reads a code in any case, with dashes or spaces anywhere, and I, L, O as 1, 1, 0", () => {
    expect(normalizeRecoveryCode("7kq2-m9xd-4tpa-hw3c")).toBe("7KQ2M9XD4TPAHW3C");
    expect(normalizeRecoveryCode(" 7KQ2 M9XD4TPA--HW3C ")).toBe("7KQ2M9XD4TPAHW3C");
    expect(normalizeRecoveryCode("0000-1111-AAAA-BBBB")).toBe(normalizeRecoveryCode("oOoO-iIlL-aaaa-bbbb"));
    for (const bad of [
      "7KQ2-M9XD-4TPA-HW3",
      "7KQ2-M9XD-4TPA-HW3CX",
      "7KQ2-M9XD-4TPA-HW3U",
      "7KQ2-M9XD-4TPA-HW3\u0000",
      "７KQ2-M9XD-4TPA-HW3C",
    ]) {
      expect(normalizeRecoveryCode(bad)).toBeNull();
    }
  });

  it("hashes a code per user, so one table cannot serve two users", () => {
    expect(hashRecoveryCode("u1", "7KQ2M9XD4TPAHW3C")).not.toBe(hashRecoveryCode("u2", "7KQ2M9XD4TPAHW3C"));
    expect(hashRecoveryCode("u1", "7KQ2M9XD4TPAHW3C")).toBe(hashRecoveryCode("u1", "7KQ2M9XD4TPAHW3C"));
  });
});

describe("MFA tickets", () => {
  it("round-trips the user, and refuses anything not exactly our shape", () => {
    const userId = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const { ticket, secret } = newTicket(userId);
    expect(parseTicket(ticket)).toEqual({ userId, secret });
    expect(hashTicketSecret(secret)).not.toContain(secret);
    const [prefix, user, rest] = ticket.split(".") as [string, string, string];
    for (const bad of [
      "",
      `${user}.${rest}`,
      `mfb.${user}.${rest}`,
      `${prefix}.${user}.${rest}.x`,
      `${prefix}.${user.slice(0, -1)}B.${rest}`,
      `${prefix}.${user}.${rest.slice(1)}`,
      `${prefix}.${user}.${rest.slice(1)}+`,
      `${prefix}.${randomBytes(16).toString("base64url")}x.${rest}`,
    ]) {
      expect(parseTicket(bad)).toBeNull();
    }
  });
});
