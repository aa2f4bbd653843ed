/**
 * ValidateToken against hostile and broken tokens: every one is an answer (`active` false with the
 * right reason), never an error status, over gRPC and over Connect.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp, testSigningKey } from "../support/app.js";
import { bearer, ok, type TestClient, transports } from "../support/clients.js";
import { newPassword, recordSecret } from "../support/secrets.js";

const b64 = (value: object | string) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

describe("ValidateToken with hostile tokens", () => {
  let app: TestApp;
  let clients: TestClient[];
  let good: string;
  let refreshToken: string;
  let claims: Record<string, unknown>;
  let kid: string;

  const ourKey = () => createPrivateKey(testSigningKey());

  /** Signs with our real key and our kid, with any claims and header changes. */
  async function forge(changes: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = ourKey()): Promise<string> {
    const payload = { ...claims, ...changes };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return recordSecret(await new SignJWT(payload).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid, ...header }).sign(key));
  }

  /** Signs by hand, for headers jose refuses to produce. */
  function signRaw(header: Record<string, unknown>, payload: Record<string, unknown> | string): string {
    const input = `${b64(header)}.${b64(payload)}`;
    const signature = sign("sha256", Buffer.from(input), { key: ourKey(), dsaEncoding: "ieee-p1363" });
    return recordSecret(`${input}.${signature.toString("base64url")}`);
  }

  beforeAll(async () => {
    app = await startTestApp({ name: "validate" });
    clients = transports.map((t) => t.connect(app));
    const [grpc] = clients as [TestClient];
    const email = `v.${randomBytes(4).toString("hex")}@example.com`;
    const password = newPassword();
    await grpc.call("Register", { email, password });
    const login = await grpc.call("Login", { identifier: email, password });
    if (!login.ok) throw new Error("login failed");
    good = login.response.accessToken;
    refreshToken = login.response.refreshToken;
    kid = decodeProtectedHeader(good).kid!;
    claims = JSON.parse(Buffer.from(good.split(".")[1]!, "base64url").toString());
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await app?.stop();
  });

  const now = () => Math.floor(Date.now() / 1000);

  // At least 30 hostile or broken tokens; each must be an answer with this reason, never an error.
  const cases: [string, () => Promise<string> | string, string][] = [
    ["a garbage string", () => "not-a-token", "MALFORMED"],
    ["two segments", () => good.split(".").slice(0, 2).join("."), "MALFORMED"],
    ["a truncated token", () => good.slice(0, good.length - 20), "BAD_SIGNATURE"],
    [
      "a tampered payload (roles: admin)",
      () => {
        const [h, , s] = good.split(".");
        return `${h}.${b64({ ...claims, roles: ["admin"] })}.${s}`;
      },
      "BAD_SIGNATURE",
    ],
    [
      "a tampered signature",
      () => {
        const [h, p, s] = good.split(".") as [string, string, string];
        const middle = Math.floor(s.length / 2);
        return `${h}.${p}.${s.slice(0, middle)}${s[middle] === "A" ? "B" : "A"}${s.slice(middle + 1)}`;
      },
      "BAD_SIGNATURE",
    ],
    [
      "a tampered header (typ)",
      () => {
        const [, p, s] = good.split(".");
        return `${b64({ alg: "ES256", typ: "JWT", kid })}.${p}.${s}`;
      },
      "BAD_SIGNATURE",
    ],
    ["alg none", () => `${b64({ alg: "none", typ: "at+jwt", kid })}.${b64(claims)}.`, "ALGORITHM_NOT_ALLOWED"],
    [
      "HS256 signed with our public key (algorithm confusion)",
      async () => {
        const publicPem = createPublicKey(ourKey()).export({ format: "pem", type: "spki" }).toString();
        return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid }).sign(Buffer.from(publicPem));
      },
      "ALGORITHM_NOT_ALLOWED",
    ],
    [
      "HS256 signed with our public JWK",
      async () => {
        const jwk = createPublicKey(ourKey()).export({ format: "jwk" });
        return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid }).sign(Buffer.from(JSON.stringify(jwk)));
      },
      "ALGORITHM_NOT_ALLOWED",
    ],
    ["another key under our kid", () => forge({}, {}, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey), "BAD_SIGNATURE"],
    ["an unknown kid", () => forge({}, { kid: "someone-elses-key" }), "UNKNOWN_KEY"],
    ["no kid", () => forge({}, { kid: undefined }), "UNKNOWN_KEY"],
    [
      "an embedded jwk header with the attacker's key",
      async () => {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        const jwk = publicKey.export({ format: "jwk" }) as JWK;
        return forge({}, { jwk, kid: await calculateJwkThumbprint(jwk) }, privateKey);
      },
      "UNKNOWN_KEY",
    ],
    [
      "an unknown crit header",
      () => signRaw({ alg: "ES256", typ: "at+jwt", kid, crit: ["x-must-understand"], "x-must-understand": true }, claims),
      "MALFORMED",
    ],
    [
      "a jku header pointing elsewhere (ignored; kid unknown)",
      () => forge({}, { jku: "https://evil.example/jwks.json", kid: "evil" }),
      "UNKNOWN_KEY",
    ],
    ["an expired token", () => forge({ iat: now() - 3600, exp: now() - 600 }), "EXPIRED"],
    ["nbf in the future", () => forge({ nbf: now() + 600 }), "NOT_YET_VALID"],
    ["iat in the future", () => forge({ iat: now() + 600, exp: now() + 1200 }), "NOT_YET_VALID"],
    ["a wrong issuer", () => forge({ iss: "https://evil.example" }), "WRONG_ISSUER"],
    ["a wrong audience", () => forge({ aud: "another-api" }), "WRONG_AUDIENCE"],
    ["typ JWT instead of at+jwt", () => forge({}, { typ: "JWT" }), "WRONG_TYPE"],
    ["no sid claim", () => forge({ sid: undefined }), "MALFORMED"],
    ["roles not an array", () => forge({ roles: "admin" }), "MALFORMED"],
    ["a session that never existed", () => forge({ sid: randomBytes(16).toString("base64url") }), "REVOKED"],
    ["a 100 KB token", () => `${good}${"A".repeat(100_000)}`, "TOO_LARGE"],
    ["kid injection (path traversal)", () => forge({}, { kid: "../../../../dev/null" }), "UNKNOWN_KEY"],
    ["kid injection (SQL)", () => forge({}, { kid: "' OR '1'='1" }), "UNKNOWN_KEY"],
    [
      "an x5u header pointing elsewhere with the attacker's key",
      () => forge({}, { x5u: "https://evil.example/cert.pem" }, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey),
      "BAD_SIGNATURE",
    ],
    ["a refresh token presented as an access token", () => refreshToken, "MALFORMED"],
    ["a mailed one-time token presented as an access token", () => recordSecret(randomBytes(32).toString("base64url")), "MALFORMED"],
    [
      "an EdDSA header on our ES256 kid",
      () => {
        const [, p, sig] = good.split(".");
        return `${b64({ alg: "EdDSA", typ: "at+jwt", kid })}.${p}.${sig}`;
      },
      "ALGORITHM_NOT_ALLOWED",
    ],
    [
      "ES512",
      () => {
        const [, p, sig] = good.split(".");
        return `${b64({ alg: "ES512", typ: "at+jwt", kid })}.${p}.${sig}`;
      },
      "ALGORITHM_NOT_ALLOWED",
    ],
    ["a header that is not JSON", () => `${b64("not json")}.${good.split(".")[1]}.${good.split(".")[2]}`, "MALFORMED"],
    ["a payload that is not JSON", () => signRaw({ alg: "ES256", typ: "at+jwt", kid }, "not json"), "MALFORMED"],
    ["five segments (a JWE shape)", () => `${good}.AAAA.BBBB`, "MALFORMED"],
    ["the Bearer prefix left on", () => `Bearer ${good}`, "MALFORMED"],
    ["an empty string", () => "", "MALFORMED"],
    ["typ application/jwt", () => forge({}, { typ: "application/jwt" }), "WRONG_TYPE"],
  ];

  it("covers at least 30 cases", () => expect(cases.length).toBeGreaterThanOrEqual(30));

  for (const [index, transport] of transports.entries()) {
    describe(`over ${transport.name}`, () => {
      it("answers active for the untouched token", async () => {
        const result = await clients[index]!.call("ValidateToken", { token: good });
        expect(result.ok && result.response.active).toBe(true);
      });

      it.each(cases)("answers inactive for %s", async (_, make, reason) => {
        const result = await clients[index]!.call("ValidateToken", { token: await make() });
        if (!result.ok) throw new Error(`an error status instead of an answer: ${result.code} ${result.message}`);
        expect(result.response.active).toBe(false);
        expect(result.response.reason).toBe(`INACTIVE_REASON_${reason}`);
        expect(result.response.userId).toBe("");
      });

      it("checks the audience the caller names", async () => {
        const matching = await clients[index]!.call("ValidateToken", { token: good, audience: "api" });
        expect(matching.ok && matching.response.active).toBe(true);
        const other = await clients[index]!.call("ValidateToken", { token: good, audience: "billing" });
        expect(other.ok && other.response.reason).toBe("INACTIVE_REASON_WRONG_AUDIENCE");
      });

      it("answers inactive for a token of another tenant than x-tenant", async () => {
        const result = await clients[index]!.call("ValidateToken", { token: good }, { "x-tenant": "acme" });
        expect(result.ok && result.response.reason).toBe("INACTIVE_REASON_WRONG_TENANT");
      });

      // From the third call a token's signature is remembered (at its second verification) and
      // its session's liveness too: the same answer, and none once the session ended.
      it("answers a remembered token as the full check did, and refuses it once its session ended", async () => {
        const client = clients[index]!;
        const email = `m.${randomBytes(4).toString("hex")}@example.com`;
        const password = newPassword();
        await client.call("Register", { email, password });
        const login = ok(await client.call("Login", { identifier: email, password }));
        const token = recordSecret(login.accessToken as string);
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(ok(await client.call("ValidateToken", { token })));
        expect(answers[0]).toMatchObject({ active: true, email });
        for (const answer of answers.slice(1)) expect(answer).toEqual(answers[0]);
        const roles = ok(await client.call("ValidateToken", { token, requiredRoles: ["admin"] }));
        expect(roles.reason).toBe("INACTIVE_REASON_INSUFFICIENT_PERMISSIONS");
        ok(await client.call("Logout", { refreshToken: login.refreshToken }, bearer(token)));
        expect(ok(await client.call("ValidateToken", { token })).reason).toBe("INACTIVE_REASON_REVOKED");
      });
    });
  }
});
