/**
 * The memory of verified tokens: a token seen before skips its signature check only, never its
 * lifetime, audience or key, and the memory stays within its bound.
 */
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccessTokens } from "../../src/infra/crypto/access-tokens.js";
import type { KeyRing } from "../../src/infra/crypto/key-ring.js";
import { generatePrivateKey, type SigningKey, signingKeyFrom } from "../../src/infra/crypto/keys.js";
import { TestClock } from "../support/app.js";

const MINUTE = 60_000;
const claims = {
  userId: "u1",
  tenant: "default",
  sessionId: "s1",
  roles: ["user"],
  email: "a@example.com",
  emailVerified: true,
  username: null,
  amr: ["pwd"],
};

/** A ring of one key that a test can take away, as rotation does once a retired key's window ends. */
function ringOf(key: SigningKey): KeyRing & { remove(): void } {
  let present = true;
  return {
    signer: () => key,
    find: (kid) => (present && kid === key.kid ? key : undefined),
    publicJwks: () => [],
    algorithms: () => [key.algorithm],
    reload: async () => {},
    close: () => {},
    remove: () => {
      present = false;
    },
  };
}

describe("remembered verifications", () => {
  let key: SigningKey;
  beforeAll(async () => {
    key = await signingKeyFrom("ES256", generatePrivateKey("ES256"));
  });
  const setup = (verifiedCacheSize: number) => {
    const clock = new TestClock();
    const ring = ringOf(key);
    const tokens = createAccessTokens(ring, { issuer: "iss", audience: "api", ttlMs: 15 * MINUTE, clockSkewMs: 30_000, verifiedCacheSize });
    const verify = (token: string, audience?: string) => tokens.verify(token, { audience, now: clock.now() });
    /** Verifies `token` twice: a token is remembered at its second verification. */
    const remembered = async (token: string) => {
      await verify(token);
      return verify(token);
    };
    return { clock, ring, tokens, verify, remembered };
  };

  it("answers a token seen before from memory, with the same claims", async () => {
    const { tokens, verify, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    const first = await verify(token);
    const second = await verify(token);
    const third = await verify(token);
    expect(first).toMatchObject({ active: true, claims: { userId: "u1", sessionId: "s1", roles: ["user"] } });
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(tokens.cacheStats()).toEqual({ hits: 1, misses: 2, size: 1 });
  });

  it("shares (frozen) only the claims it remembers; a token verified once gets claims of its own", async () => {
    const { tokens, verify, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    const once = await verify(token);
    const again = await verify(token);
    const recalled = await verify(token);
    if (!once.active || !again.active || !recalled.active) throw new Error("expected active answers");
    // The transports keep what they build from frozen claims (gRPC serializes such an answer once).
    expect(Object.isFrozen(once.claims)).toBe(false);
    expect(Object.isFrozen(again.claims) && Object.isFrozen(again.claims.roles) && Object.isFrozen(again.claims.amr)).toBe(true);
    expect(recalled.claims).toBe(again.claims);
    expect(once.claims).toEqual(again.claims);
  });

  it("waits for a ring that is reloading, and answers as a ring that had the key", async () => {
    const clock = new TestClock();
    const ring = ringOf(key);
    const reloading: KeyRing = { ...ring, find: (kid, now) => Promise.resolve(ring.find(kid, now)) };
    const tokens = createAccessTokens(reloading, {
      issuer: "iss",
      audience: "api",
      ttlMs: 15 * MINUTE,
      clockSkewMs: 30_000,
      verifiedCacheSize: 10,
    });
    const { token } = await tokens.issue(claims, clock.now());
    expect(await tokens.verify(token, { audience: undefined, now: clock.now() })).toMatchObject({ active: true, claims: { userId: "u1" } });
    ring.remove();
    expect(await tokens.verify(token, { audience: undefined, now: clock.now() })).toEqual({ active: false, reason: "unknown_key" });
  });

  it("remembers a token at its second verification, not its first", async () => {
    const { tokens, verify, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    await verify(token);
    expect(tokens.cacheStats()).toEqual({ hits: 0, misses: 1, size: 0 });
    await verify(token);
    expect(tokens.cacheStats()).toEqual({ hits: 0, misses: 2, size: 1 });
  });

  it("remembers each of several tokens verified in turn at its second verification", async () => {
    const { tokens, verify, clock } = setup(10);
    const issued = await Promise.all([1, 2, 3].map(async () => (await tokens.issue(claims, clock.now())).token));
    for (const token of issued) await verify(token);
    expect(tokens.cacheStats().size).toBe(0);
    for (const token of issued) await verify(token);
    expect(tokens.cacheStats()).toEqual({ hits: 0, misses: 6, size: 3 });
    for (const token of issued) await verify(token);
    expect(tokens.cacheStats()).toEqual({ hits: 3, misses: 6, size: 3 });
  });

  it("keeps the tokens in use when a flood of tokens is verified once each", async () => {
    const { tokens, verify, remembered, clock } = setup(4);
    const inUse = await Promise.all([1, 2].map(async () => (await tokens.issue(claims, clock.now())).token));
    for (const token of inUse) await remembered(token);
    for (let i = 0; i < 200; i++) await verify((await tokens.issue(claims, clock.now())).token);
    expect(tokens.cacheStats().size).toBe(2);
    const { hits } = tokens.cacheStats();
    for (const token of inUse) expect(await verify(token)).toMatchObject({ active: true });
    expect(tokens.cacheStats().hits).toBe(hits + 2);
  });

  it("still expires a remembered token on time, and forgets it", async () => {
    const { tokens, verify, remembered, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    expect(await remembered(token)).toMatchObject({ active: true });
    expect(tokens.cacheStats().size).toBe(1);
    clock.advance(15 * MINUTE + 30_000 - 2000);
    expect(await verify(token)).toMatchObject({ active: true });
    clock.advance(3000);
    expect(await verify(token)).toEqual({ active: false, reason: "expired" });
    expect(tokens.cacheStats().size).toBe(0);
  });

  it("still checks the audience the caller names", async () => {
    const { tokens, verify, remembered, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    expect(await remembered(token)).toMatchObject({ active: true });
    expect(await verify(token, "billing")).toEqual({ active: false, reason: "wrong_audience" });
    expect(await verify(token, "api")).toMatchObject({ active: true });
  });

  it("answers a wrong audience from memory without forgetting the token for the callers that name the right one", async () => {
    const { tokens, verify, remembered, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    expect(await remembered(token)).toMatchObject({ active: true });
    for (let i = 0; i < 3; i++) expect(await verify(token, "billing")).toEqual({ active: false, reason: "wrong_audience" });
    expect(await verify(token)).toMatchObject({ active: true });
    // The two verifications that remembered it: the wrong audiences cost none, and the token is still remembered.
    expect(tokens.cacheStats()).toEqual({ hits: 4, misses: 2, size: 1 });
  });

  it("refuses a remembered token once its key has left the ring", async () => {
    const { tokens, verify, remembered, clock, ring } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    expect(await remembered(token)).toMatchObject({ active: true });
    expect(tokens.cacheStats().size).toBe(1);
    ring.remove();
    expect(await verify(token)).toEqual({ active: false, reason: "unknown_key" });
  });

  it("does not take a token that differs by one character for one it remembers", async () => {
    const { tokens, verify, remembered, clock } = setup(10);
    const { token } = await tokens.issue(claims, clock.now());
    expect(await remembered(token)).toMatchObject({ active: true });
    const last = token.at(-2) === "A" ? "B" : "A";
    const forged = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    expect(await verify(forged)).toMatchObject({ active: false });
  });

  it("remembers only successes, at most the configured number, forgetting the oldest first", async () => {
    const { tokens, verify, remembered, clock } = setup(2);
    await remembered("not.a.token");
    expect(tokens.cacheStats().size).toBe(0);
    const issued = await Promise.all([1, 2, 3].map(() => tokens.issue(claims, clock.now())));
    for (const { token } of issued) await remembered(token);
    expect(tokens.cacheStats()).toMatchObject({ size: 2, hits: 0 });
    await verify(issued[2]!.token);
    expect(tokens.cacheStats().hits).toBe(1);
    await verify(issued[0]!.token);
    expect(tokens.cacheStats()).toMatchObject({ hits: 1, size: 2 });
  });

  it("remembers nothing when the size is 0", async () => {
    const { tokens, verify, clock } = setup(0);
    const { token } = await tokens.issue(claims, clock.now());
    await verify(token);
    await verify(token);
    expect(tokens.cacheStats()).toEqual({ hits: 0, misses: 2, size: 0 });
  });
});

describe("the email_verified claim", () => {
  let key: SigningKey;
  beforeAll(async () => {
    key = await signingKeyFrom("ES256", generatePrivateKey("ES256"));
  });
  const tokens = () => createAccessTokens(ringOf(key), { issuer: "iss", audience: "api", ttlMs: 15 * MINUTE, clockSkewMs: 30_000 });

  /** A token as we sign them, with `email_verified` as given (absent when undefined). */
  function signed(emailVerified: unknown): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      sid: "s1",
      tid: "default",
      roles: [],
      email: "a@example.com",
      ...(emailVerified === undefined ? {} : { email_verified: emailVerified }),
    })
      .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "at+jwt" })
      .setIssuer("iss")
      .setAudience("api")
      .setSubject("u1")
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti("j1")
      .sign(key.signingKey);
  }

  it("is signed as a boolean and read back", async () => {
    for (const emailVerified of [true, false]) {
      const { token } = await tokens().issue({ ...claims, emailVerified }, Date.now());
      expect(JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()).email_verified).toBe(emailVerified);
      expect(await tokens().verify(token, { audience: undefined, now: Date.now() })).toMatchObject({
        active: true,
        claims: { emailVerified },
      });
    }
  });

  it("reads as not verified in a token signed before the claim existed", async () => {
    expect(await tokens().verify(await signed(undefined), { audience: undefined, now: Date.now() })).toMatchObject({
      active: true,
      claims: { emailVerified: false },
    });
  });

  it.each([["true"], [1], [null]])("makes a token with email_verified %j malformed", async (value) => {
    expect(await tokens().verify(await signed(value), { audience: undefined, now: Date.now() })).toEqual({
      active: false,
      reason: "malformed",
    });
  });
});
