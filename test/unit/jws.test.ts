/**
 * The access tokens' verification on node:crypto (jws.ts, jwt-claims.ts) against jose's own
 * `jwtVerify` on generated tokens: the same verdict, reason for reason, for every header, claim
 * set and signature the generators make (hostile ones included), and signatures each side accepts.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import fc from "fast-check";
import { errors, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import type { JwtAlgorithm } from "../../src/config.js";
import { type JwsRules, signCompact, type VerificationKey, verifyCompact, verifySignature } from "../../src/infra/crypto/jws.js";
import { checkClaims } from "../../src/infra/crypto/jwt-claims.js";

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
const KID = "k1";
const ISSUER = "https://auth.test";
const AUDIENCE = "api";
const NOW = 1_800_000_000;
const SKEW = 30;
const REQUIRED = ["sub", "exp", "iat", "jti"];
const key: VerificationKey = { algorithm: "ES256", verificationKey: publicKey };
const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** jose's errors as ValidateToken mapped them before jws.ts (the mapping this file must keep). */
function joseReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (error instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, string> = {
      iss: "wrong_issuer",
      aud: "wrong_audience",
      nbf: "not_yet_valid",
      iat: "not_yet_valid",
      typ: "wrong_type",
    };
    return byClaim[error.claim] ?? "malformed";
  }
  if (error instanceof errors.JOSEError) return "malformed";
  if (error instanceof Error && error.message === "unknown_key") return "unknown_key";
  if (error instanceof Error && error.message === "algorithm_not_allowed") return "algorithm_not_allowed";
  throw error;
}

async function viaJose(token: string): Promise<string> {
  const cryptoKey = await importJWK({ ...(publicKey.export({ format: "jwk" }) as JWK), alg: "ES256" }, "ES256");
  try {
    await jwtVerify(
      token,
      async (header) => {
        if (header.kid !== KID) throw new Error("unknown_key");
        if (header.alg !== "ES256") throw new Error("algorithm_not_allowed");
        return cryptoKey;
      },
      {
        algorithms: ["ES256"],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: "at+jwt",
        clockTolerance: SKEW,
        currentDate: new Date(NOW * 1000),
        requiredClaims: REQUIRED,
      },
    );
    return "ok";
  } catch (error) {
    return joseReason(error);
  }
}

async function viaNodeCrypto(token: string): Promise<string> {
  const jws = await verifyCompact(token, {
    algorithms: ["ES256"],
    keyFor: (header) => (header.kid !== KID ? "unknown_key" : header.alg !== "ES256" ? "algorithm_not_allowed" : key),
  });
  if (!jws.ok) return jws.reason;
  const claims = checkClaims(jws.header, jws.payload, {
    typ: "at+jwt",
    issuer: ISSUER,
    audience: AUDIENCE,
    toleranceSeconds: SKEW,
    nowSeconds: NOW,
    requiredClaims: REQUIRED,
  });
  return claims.ok ? "ok" : claims.reason;
}

/** A value of any JSON type, or absent, with a bias toward `good`. */
const maybe = <T>(good: T, ...others: unknown[]) =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(good) }, fc.constantFrom(undefined, null, 1, "x", [], {}, true, ...others));

const headers = fc.record(
  {
    alg: maybe("ES256", "none", "HS256", "EdDSA", "ES512", ""),
    kid: maybe(KID, "k2", "../x"),
    typ: maybe("at+jwt", "JWT", "AT+JWT", "application/at+jwt", "application/jwt"),
    crit: fc.constantFrom(undefined, undefined, undefined, ["b64"], ["x"], [], [""], "b64"),
    b64: fc.constantFrom(undefined, undefined, true, false, "no"),
    x: fc.constantFrom(undefined, 1),
  },
  { requiredKeys: [] },
);

const claimSets = fc.record(
  {
    iss: maybe(ISSUER, "https://evil.example"),
    aud: maybe(AUDIENCE, ["other", AUDIENCE], ["other"], "other"),
    sub: maybe("user-1"),
    jti: maybe("j-1"),
    iat: maybe(NOW - 10, NOW + 100, "1"),
    exp: maybe(NOW + 600, NOW - SKEW, NOW - SKEW + 1, NOW - 600, "9999999999"),
    nbf: fc.constantFrom(undefined, undefined, NOW, NOW + SKEW, NOW + SKEW + 1, "0"),
  },
  { requiredKeys: [] },
);

/** How the signature part is made: ours, another key's, truncated, not base64url, or absent. */
const signatures = fc.constantFrom("ours", "ours", "ours", "other", "truncated", "garbage", "empty", "der");

function compact(header: object, payload: object | string, how: string, signer: KeyObject = privateKey): string {
  const input = `${b64(header)}.${typeof payload === "string" ? payload : b64(payload)}`;
  const p1363 = (k: KeyObject) => sign("sha256", Buffer.from(input), { key: k, dsaEncoding: "ieee-p1363" }).toString("base64url");
  const signature = {
    ours: () => p1363(signer),
    other: () => p1363(other),
    truncated: () => p1363(signer).slice(0, 40),
    garbage: () => "***",
    empty: () => "",
    der: () => sign("sha256", Buffer.from(input), signer).toString("base64url"),
  }[how]!();
  return `${input}.${signature}`;
}

describe("verification on node:crypto", () => {
  it("gives jose's verdict on generated headers, claim sets and signatures", async () => {
    await fc.assert(
      fc.asyncProperty(headers, claimSets, signatures, async (header, claims, how) => {
        const token = compact(header, claims, how);
        expect(await viaNodeCrypto(token)).toBe(await viaJose(token));
      }),
      { numRuns: 1500 },
    );
  });

  it("gives jose's verdict on broken shapes", async () => {
    const good = compact(
      { alg: "ES256", kid: KID, typ: "at+jwt" },
      { iss: ISSUER, aud: AUDIENCE, sub: "u", jti: "j", iat: NOW, exp: NOW + 60 },
      "ours",
    );
    const [h, p, s] = good.split(".") as [string, string, string];
    const shapes = [
      good,
      `${h}.${p}`,
      `${good}.x.y`,
      `${h}.${p}.${s}=`,
      `${h}.${p}+.${s}`,
      `${b64("not json")}.${p}.${s}`,
      `${b64([1])}.${p}.${s}`,
      compact({ alg: "ES256", kid: KID, typ: "at+jwt" }, b64("not json"), "ours"),
      compact({ alg: "ES256", kid: KID, typ: "at+jwt" }, b64("[1,2]"), "ours"),
      compact({ alg: "ES256", kid: KID, typ: "at+jwt" }, "\u00e9", "ours"),
      compact({ alg: "ES256", kid: KID, typ: "at+jwt", crit: ["b64"], b64: false }, "{}", "ours"),
      `${h}.${p}.${s.slice(0, -1)}\u00e9`,
      "",
      "..",
    ];
    for (const token of shapes)
      expect(`${JSON.stringify(token.slice(0, 30))}: ${await viaNodeCrypto(token)}`).toBe(
        `${JSON.stringify(token.slice(0, 30))}: ${await viaJose(token)}`,
      );
  });

  it("signs tokens jose verifies, and verifies tokens jose signs, for every algorithm", async () => {
    const algorithms: [JwtAlgorithm, KeyObject, KeyObject][] = [
      ["ES256", privateKey, publicKey],
      ["EdDSA", ...pair(generateKeyPairSync("ed25519"))],
      ["RS256", ...pair(generateKeyPairSync("rsa", { modulusLength: 2048 }))],
    ];
    for (const [algorithm, secret, pub] of algorithms) {
      const header = b64({ alg: algorithm, typ: "at+jwt" });
      const ours = signCompact(algorithm, secret, header, JSON.stringify({ sub: "u" }));
      await expect(jwtVerify(ours, pub)).resolves.toBeDefined();
      const theirs = await new SignJWT({ sub: "u" }).setProtectedHeader({ alg: algorithm }).sign(secret);
      const [th, tp, ts] = theirs.split(".") as [string, string, string];
      expect(verifySignature({ algorithm, verificationKey: pub }, Buffer.from(`${th}.${tp}`), Buffer.from(ts, "base64url"))).toBe(true);
      expect(verifySignature({ algorithm, verificationKey: pub }, Buffer.from(`${th}.${tp}x`), Buffer.from(ts, "base64url"))).toBe(false);
    }
  });
});

describe("a header seen before (parsed once per distinct header)", () => {
  const good = () =>
    compact({ alg: "ES256", kid: KID, typ: "at+jwt" }, { iss: ISSUER, aud: AUDIENCE, sub: "u", jti: "j", iat: NOW, exp: NOW + 60 }, "ours");
  const verdictOf = async (token: string, keyFor: JwsRules["keyFor"]) => {
    const jws = await verifyCompact(token, { algorithms: ["ES256"], keyFor });
    return jws.ok ? "ok" : jws.reason;
  };

  it("still asks for its key on every token, and still checks every signature", async () => {
    const token = good();
    expect(await verdictOf(token, () => key)).toBe("ok");
    expect(await verdictOf(token, () => "unknown_key")).toBe("unknown_key");
    expect(await verdictOf(token, () => Promise.resolve("algorithm_not_allowed"))).toBe("algorithm_not_allowed");
    expect(await verdictOf(token, () => Promise.resolve(key))).toBe("ok");
    expect(await verdictOf(`${token.slice(0, token.lastIndexOf(".") + 1)}${compact({}, {}, "other").split(".")[2]}`, () => key)).toBe(
      "bad_signature",
    );
    expect(await verdictOf(good().replace(/\.[^.]*\./, `.${b64({ iss: ISSUER, sub: "v" })}.`), () => key)).toBe("bad_signature");
  });

  it("cannot be changed through a verdict, for the tokens after it", async () => {
    const token = good();
    const first = await verifyCompact(token, { algorithms: ["ES256"], keyFor: () => key });
    if (!first.ok) throw new Error("expected a verified token");
    expect(() => {
      (first.header as Record<string, unknown>).kid = "k2";
    }).toThrow(TypeError);
    expect(await verdictOf(token, (header) => (header.kid === KID ? key : "unknown_key"))).toBe("ok");
  });

  it("gives jose's verdicts while more distinct headers arrive than are kept", async () => {
    for (let i = 0; i < 150; i++) {
      const token = compact(
        { alg: "ES256", kid: KID, typ: "at+jwt", n: i },
        { iss: ISSUER, aud: AUDIENCE, sub: "u", jti: "j", iat: NOW, exp: NOW + 60 },
        i % 3 === 0 ? "other" : "ours",
      );
      expect(await viaNodeCrypto(token)).toBe(await viaJose(token));
    }
    expect(await viaNodeCrypto(good())).toBe("ok");
  });
});

function pair(keys: { privateKey: KeyObject; publicKey: KeyObject }): [KeyObject, KeyObject] {
  return [keys.privateKey, keys.publicKey];
}
