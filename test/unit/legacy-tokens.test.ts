/**
 * Legacy token profiles: issued only for their API, accepted only where that API's profile is
 * (its routes, ValidateToken), each verified with its own secret, HS256 only, and never mistaken
 * for our own tokens or another API's.
 */
import { decodeJwt, decodeProtectedHeader, SignJWT, UnsecuredJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccessTokens } from "../../src/infra/crypto/access-tokens.js";
import type { KeyRing } from "../../src/infra/crypto/key-ring.js";
import { generatePrivateKey, type SigningKey, signingKeyFrom } from "../../src/infra/crypto/keys.js";

const NOW = 1_800_000_000_000;
const VIDAPLUS = "vidaplus-secret-of-at-least-32-bytes";
const VIGIA = "vigia-secret-of-at-least-32-bytes!!";
const SESSION_ID = "AAAAAAAAAAAAAAAAAAAAAA";
const subject = {
  userId: "00000000-0000-4000-8000-000000000123",
  userNumber: 123,
  tenant: "acme-pharma",
  sessionId: SESSION_ID,
  roles: ["qf", "admin"],
  email: "juan.perez@example.com",
  emailVerified: true,
  username: "juan.perez",
  amr: ["pwd", "otp", "mfa"],
};

const ringOf = (key: SigningKey): KeyRing => ({
  signer: () => key,
  find: (kid) => (kid === key.kid ? key : undefined),
  publicJwks: () => [],
  algorithms: () => [key.algorithm],
  reload: async () => {},
  close: () => {},
});

describe("legacy token profiles", () => {
  let key: SigningKey;
  beforeAll(async () => {
    key = await signingKeyFrom("ES256", generatePrivateKey("ES256"));
  });
  const tokensWith = (legacy = { vidaplus: { secret: VIDAPLUS, ttlMs: 15 * 60_000 }, vigia: { secret: VIGIA, ttlMs: 8 * 3_600_000 } }) =>
    createAccessTokens(ringOf(key), { issuer: "iss", audience: "api", ttlMs: 15 * 60_000, clockSkewMs: 30_000, legacy });
  const at = (now = NOW) => ({ audience: undefined, now });

  it("issues VidaPlus's shape on its routes: HS256, sub = email, no iss, aud or kid, our session and user beside", async () => {
    const { token, expiresAt } = await tokensWith().issue(subject, NOW, undefined, "vidaplus");
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    expect(decodeJwt(token)).toEqual({
      sub: "juan.perez@example.com",
      sid: SESSION_ID,
      tid: "acme-pharma",
      user_id: subject.userId,
      amr: ["pwd", "otp", "mfa"],
      iat: NOW / 1000,
      exp: NOW / 1000 + 900,
    });
    expect(expiresAt).toBe(NOW / 1000 + 900);
  });

  it("issues Vigia's shape: its example's claims, admin first, and never past the session (notAfter)", async () => {
    const { token } = await tokensWith().issue(subject, NOW, NOW + 60_000, "vigia");
    expect(decodeJwt(token)).toMatchObject({
      sub: "123",
      uid: 123,
      username: "juan.perez",
      email: "juan.perez@example.com",
      role: "admin",
      roles: ["admin", "qf"],
      tenant: "acme-pharma",
      trace: expect.stringMatching(/^[0-9a-f]{8}$/),
      exp: NOW / 1000 + 60,
    });
  });

  it("issues our own tokens elsewhere: the native API, and old APIs without a profile", async () => {
    const tokens = tokensWith();
    for (const api of [undefined, "solicitud", "ucontact"] as const) {
      expect(decodeProtectedHeader((await tokens.issue(subject, NOW, undefined, api)).token)).toMatchObject({
        typ: "at+jwt",
        kid: key.kid,
      });
    }
    const without = createAccessTokens(ringOf(key), { issuer: "iss", audience: "api", ttlMs: 60_000, clockSkewMs: 0 });
    expect(decodeProtectedHeader((await without.issue(subject, NOW, undefined, "vidaplus")).token)).toMatchObject({ typ: "at+jwt" });
  });

  it("accepts one only where its profile is accepted, with its claims and profile", async () => {
    const tokens = tokensWith();
    const { token } = await tokens.issue(subject, NOW, undefined, "vigia");
    // Our own bearer routes: not one of our tokens. Another old API's routes: not that API's secret.
    expect(await tokens.verify(token, at())).toEqual({ active: false, reason: "algorithm_not_allowed" });
    expect(await tokens.verify(token, { ...at(), accept: "vidaplus" })).toEqual({ active: false, reason: "bad_signature" });
    for (const accept of ["vigia", "any"] as const) {
      expect(await tokens.verify(token, { ...at(), accept })).toEqual({
        active: true,
        claims: {
          userId: subject.userId,
          tenant: "acme-pharma",
          sessionId: SESSION_ID,
          roles: ["admin", "qf"],
          email: "juan.perez@example.com",
          emailVerified: false,
          username: "juan.perez",
          amr: ["pwd", "otp", "mfa"],
          issuedAt: NOW / 1000,
          expiresAt: NOW / 1000 + 8 * 3600,
          profile: "vigia",
        },
      });
    }
    // Our own tokens are accepted wherever a profile is too.
    const native = await tokens.issue(subject, NOW);
    expect(await tokens.verify(native.token, { ...at(), accept: "any" })).toMatchObject({
      active: true,
      claims: { userId: subject.userId },
    });
  });

  it("refuses one signed with another secret, another algorithm, none, or claims that do not agree", async () => {
    const tokens = tokensWith();
    const any = { ...at(), accept: "any" as const };
    const sign = (claims: Record<string, unknown>, secret: string, alg = "HS256") =>
      new SignJWT({ sid: SESSION_ID, user_id: subject.userId, tid: "default", amr: ["pwd"], ...claims })
        .setProtectedHeader({ alg, typ: "JWT" })
        .setIssuedAt(NOW / 1000)
        .setExpirationTime(NOW / 1000 + 60)
        .sign(new TextEncoder().encode(secret));
    expect(await tokens.verify(await sign({ sub: "a@example.com" }, "some-other-secret-of-32-bytes-or-more"), any)).toEqual({
      active: false,
      reason: "bad_signature",
    });
    // HS512 with the right secret is not the profile's algorithm; nor is `none`.
    expect(await tokens.verify(await sign({ sub: "a@example.com" }, VIDAPLUS, "HS512"), any)).toMatchObject({ active: false });
    const unsigned = new UnsecuredJWT({ sub: "a@example.com", sid: "s", user_id: "u", tid: "default" })
      .setIssuedAt(NOW / 1000)
      .setExpirationTime(NOW / 1000 + 60)
      .encode();
    expect(await tokens.verify(unsigned, any)).toMatchObject({ active: false });
    // Vigia's sub must be its uid; a token without our session is not one of ours.
    expect(await tokens.verify(await sign({ sub: "124", uid: 123, email: "", username: "", roles: [], tenant: "t" }, VIGIA), any)).toEqual({
      active: false,
      reason: "malformed",
    });
    expect(await tokens.verify(await sign({ sub: "a@example.com", sid: undefined }, VIDAPLUS), any)).toEqual({
      active: false,
      reason: "malformed",
    });
  });

  it("refuses, as malformed and without throwing, a user id or session id not of our shape (the old backends hold the secret)", async () => {
    const tokens = tokensWith();
    const any = { ...at(), accept: "any" as const };
    const sign = (claims: Record<string, unknown>) =>
      new SignJWT({ sub: "a@example.com", sid: SESSION_ID, user_id: subject.userId, tid: "default", amr: ["pwd"], ...claims })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setIssuedAt(NOW / 1000)
        .setExpirationTime(NOW / 1000 + 60)
        .sign(new TextEncoder().encode(VIDAPLUS));
    expect(await tokens.verify(await sign({}), any)).toMatchObject({ active: true });
    const hostile = [
      { user_id: "a{b}" },
      { user_id: "00000000-0000-4000-8000-00000000012}" },
      { user_id: `${subject.userId} ` },
      { sid: "}{" },
      { sid: "x".repeat(10_000) },
      { sid: `${SESSION_ID}\u0000` },
      { sid: "AAAAAAAAAAAAAAAAAAAA{}" },
    ];
    for (const claims of hostile) {
      expect(await tokens.verify(await sign(claims), any), JSON.stringify(claims).slice(0, 60)).toEqual({
        active: false,
        reason: "malformed",
      });
    }
  });

  it("refuses an expired one, and one asked for with an audience (it has none)", async () => {
    const tokens = tokensWith();
    const { token } = await tokens.issue(subject, NOW, undefined, "vidaplus");
    expect(await tokens.verify(token, { ...at(NOW + 16 * 60_000), accept: "vidaplus" })).toEqual({ active: false, reason: "expired" });
    expect(await tokens.verify(token, { audience: "api", now: NOW, accept: "any" })).toEqual({ active: false, reason: "wrong_audience" });
  });
});
