import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generatePrivateKey, generatePrivateKeyPem, parsePrivateKey, privateJwkOf, signingKeyFrom } from "../../src/infra/crypto/keys.js";

describe("configured signing keys", () => {
  it.each(["ES256", "EdDSA", "RS256"] as const)("reads a %s key as PEM or as a JWK, with the same kid", async (algorithm) => {
    const pem = generatePrivateKeyPem(algorithm);
    const jwk = JSON.stringify(privateJwkOf(createPrivateKey(pem)));
    const fromPem = await signingKeyFrom(algorithm, parsePrivateKey(algorithm, pem));
    const fromJwk = await signingKeyFrom(algorithm, parsePrivateKey(algorithm, jwk));
    expect(fromJwk.kid).toBe(fromPem.kid);
    expect(fromPem.publicJwk).toMatchObject({ kid: fromPem.kid, alg: algorithm, use: "sig" });
    expect(fromPem.publicJwk).not.toHaveProperty("d");
  });

  it.each([
    ["ES256", "EdDSA"],
    ["EdDSA", "RS256"],
    ["RS256", "ES256"],
  ] as const)("refuses a %s key configured for %s", (made, configured) => {
    expect(() => parsePrivateKey(configured, generatePrivateKeyPem(made))).toThrow(/must be/);
  });

  it("refuses an RSA key shorter than 2048 bits", () => {
    const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    expect(() => parsePrivateKey("RS256", small)).toThrow(/2048/);
  });

  it("never publishes an HS256 secret", async () => {
    const key = await signingKeyFrom("HS256", generatePrivateKey("HS256"));
    expect(key.publicJwk).toBeUndefined();
  });
});
