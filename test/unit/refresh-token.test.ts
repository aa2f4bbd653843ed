import { createCipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  formatRefreshToken,
  hashSecret,
  newSecret,
  newSessionId,
  openSuccessor,
  parseRefreshToken,
  sealSuccessor,
} from "../../src/domain/refresh-token.js";

describe("refresh tokens", () => {
  const userId = "0f8fad5b-d9cb-469f-a165-70867728950e";
  const userPart = Buffer.from(userId.replaceAll("-", ""), "hex").toString("base64url");

  it("are <user>.<session id>.<256-bit secret> in base64url and parse back", () => {
    const sessionId = newSessionId();
    const secret = newSecret();
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    const token = formatRefreshToken(userId, sessionId, secret);
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(token.startsWith(`${userPart}.`)).toBe(true);
    expect(parseRefreshToken(token)).toEqual({ userId, sessionId, secret });
    // Upper-case UUIDs are the same user.
    expect(parseRefreshToken(formatRefreshToken(userId.toUpperCase(), sessionId, secret))?.userId).toBe(userId);
  });

  it("still reads the earlier <session id>.<secret> shape, without a user", () => {
    const sessionId = newSessionId();
    const secret = newSecret();
    expect(parseRefreshToken(`${sessionId}.${secret}`)).toEqual({ userId: undefined, sessionId, secret });
  });

  it("refuses to format a user id that is not a UUID", () => {
    expect(() => formatRefreshToken("user-1", newSessionId(), newSecret())).toThrow();
  });

  // The last character of 16 bytes in base64url carries 2 bits and 4 zero bits: the next letter
  // of the alphabet decodes to the same bytes with a stray bit set.
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const nonCanonicalUser = `${userPart.slice(0, 21)}${alphabet[alphabet.indexOf(userPart.at(-1) ?? "A") + 1]}`;
  it.each([
    "",
    "nodot",
    "a.b",
    "a.b.c",
    `${newSessionId()}.${newSecret()}x`,
    `${newSessionId()}.${newSecret().slice(1)}+`,
    `${newSessionId()}=.${newSecret()}`,
    `${userPart}.${newSessionId()}.${newSecret()}.extra`,
    `${userPart}..${newSecret()}`,
    `${userPart}x.${newSessionId()}.${newSecret()}`,
    `${userPart.slice(1)}.${newSessionId()}.${newSecret()}`,
    `${nonCanonicalUser}.${newSessionId()}.${newSecret()}`,
    `${userPart}.${newSessionId()}.${newSecret()}\u0000`,
    `${userPart}.${newSessionId()}\u200b.${newSecret()}`,
    ` ${userPart}.${newSessionId()}.${newSecret()}`,
  ])("refuses %j", (token) => expect(parseRefreshToken(token)).toBeNull());

  it("store only a digest of the secret", () => {
    const secret = newSecret();
    const digest = hashSecret(secret);
    expect(digest).not.toContain(secret);
    expect(digest).toBe(hashSecret(secret));
    expect(digest).not.toBe(hashSecret(newSecret()));
  });

  it("seal a successor that only the presented secret opens, and only to the session's current digest", () => {
    const presented = newSecret();
    const next = newSecret();
    const current = hashSecret(next);
    const sealed = sealSuccessor(next, presented);
    expect(sealed).toMatch(/^[A-Za-z0-9_-]{65}$/);
    expect(sealed).not.toContain(next);
    expect(openSuccessor(sealed, presented, current)).toBe(next);
    // Each seal has a nonce of its own: the same successor sealed twice shares nothing.
    const again = sealSuccessor(next, presented);
    expect(again).not.toBe(sealed);
    expect(again.slice(22)).not.toBe(sealed.slice(22));
    expect(openSuccessor(again, presented, current)).toBe(next);
    expect(openSuccessor(sealed, newSecret(), current)).toBeNull();
    // Opened to anything but the session's current digest: nothing.
    expect(openSuccessor(sealed, presented, hashSecret(newSecret()))).toBeNull();
    for (const index of [0, 21, 22, 40, 63]) {
      const chars = [...sealed];
      chars[index] = chars[index] === "A" ? "B" : "A";
      expect(openSuccessor(chars.join(""), presented, current)).toBeNull();
    }
    expect(openSuccessor("short", presented, current)).toBeNull();
    expect(openSuccessor(`${sealed.slice(0, 64)}+`, presented, current)).toBeNull();
    expect(openSuccessor(sealed, "not a secret", current)).toBeNull();
  });

  it("still open a successor sealed in the earlier form (AES-256-GCM under an HKDF key), checked the same way", () => {
    const presented = newSecret();
    const next = newSecret();
    const key = Buffer.from(hkdfSync("sha256", Buffer.from(presented, "utf8"), Buffer.alloc(0), "auth.v1 refresh successor", 32));
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const body = Buffer.concat([cipher.update(next, "utf8"), cipher.final()]);
    const sealed = Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
    expect(openSuccessor(sealed, presented, hashSecret(next))).toBe(next);
    expect(openSuccessor(sealed, newSecret(), hashSecret(next))).toBeNull();
    expect(openSuccessor(sealed, presented, hashSecret(newSecret()))).toBeNull();
    const tampered = Buffer.from(sealed, "base64url");
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    expect(openSuccessor(tampered.toString("base64url"), presented, hashSecret(next))).toBeNull();
  });

  it("hash a secret to the base64url SHA-256 of its text", () => {
    const secret = newSecret();
    expect(hashSecret(secret)).toBe(createHash("sha256").update(secret, "utf8").digest("base64url"));
  });
});
