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
  it("are <session id>.<256-bit secret> in base64url and parse back", () => {
    const sessionId = newSessionId();
    const secret = newSecret();
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    const token = formatRefreshToken(sessionId, secret);
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(parseRefreshToken(token)).toEqual({ sessionId, secret });
  });

  it.each([
    "",
    "nodot",
    "a.b",
    `${newSessionId()}.${newSecret()}x`,
    `${newSessionId()}.${newSecret().slice(1)}+`,
    `${newSessionId()}=.${newSecret()}`,
  ])("refuses %j", (token) => expect(parseRefreshToken(token)).toBeNull());

  it("store only a digest of the secret", () => {
    const secret = newSecret();
    const digest = hashSecret(secret);
    expect(digest).not.toContain(secret);
    expect(digest).toBe(hashSecret(secret));
    expect(digest).not.toBe(hashSecret(newSecret()));
  });

  it("seal a successor that only the presented secret opens", () => {
    const presented = newSecret();
    const next = newSecret();
    const sealed = sealSuccessor(next, presented);
    expect(sealed).not.toContain(next);
    expect(openSuccessor(sealed, presented)).toBe(next);
    expect(openSuccessor(sealed, newSecret())).toBeNull();
    const tampered = Buffer.from(sealed, "base64url");
    tampered[14] = (tampered[14] ?? 0) ^ 1;
    expect(openSuccessor(tampered.toString("base64url"), presented)).toBeNull();
    expect(openSuccessor("short", presented)).toBeNull();
  });
});
