/**
 * Signing key material for access tokens: parsing configured keys (PEM or JWK), generating new
 * ones, and deriving each key's `kid` (the RFC 7638 thumbprint of its public part).
 */
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  type webcrypto,
} from "node:crypto";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { JwtAlgorithm } from "../../config.js";

type JsonWebKey = webcrypto.JsonWebKey;

export interface SigningKey {
  readonly algorithm: JwtAlgorithm;
  /** RFC 7638 thumbprint of the public (or secret) key. */
  readonly kid: string;
  readonly signingKey: KeyObject;
  /** The public key (the secret for HS256), for node:crypto's one-shot verification (see jws.ts). */
  readonly verificationKey: KeyObject;
  /** The public JWK for the JWKS document; undefined for HS256 (a secret is never published). */
  readonly publicJwk: JWK | undefined;
}

/** Checks that a private key suits the algorithm: P-256 for ES256, Ed25519 for EdDSA, RSA ≥ 2048 bits for RS256. */
function assertKeyFits(algorithm: JwtAlgorithm, key: KeyObject): void {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  const fits =
    (algorithm === "ES256" && type === "ec" && (details?.namedCurve === "prime256v1" || details?.namedCurve === "P-256")) ||
    (algorithm === "EdDSA" && type === "ed25519") ||
    (algorithm === "RS256" && type === "rsa" && (details?.modulusLength ?? 0) >= 2048);
  if (!fits) {
    const wanted = { ES256: "an EC key on P-256", EdDSA: "an Ed25519 key", RS256: "an RSA key of at least 2048 bits", HS256: "a secret" }[
      algorithm
    ];
    throw new Error(`the JWT private key must be ${wanted} for ${algorithm}`);
  }
}

/** Parses a private key given as PEM (PKCS#8, SEC1 or PKCS#1) or as a JWK JSON object. */
export function parsePrivateKey(algorithm: JwtAlgorithm, text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith("{")
    ? createPrivateKey({ key: JSON.parse(trimmed) as JsonWebKey, format: "jwk" })
    : createPrivateKey(trimmed);
  assertKeyFits(algorithm, key);
  return key;
}

/** A new private key for the algorithm (HS256: 256 random bits). */
export function generatePrivateKey(algorithm: JwtAlgorithm): KeyObject {
  switch (algorithm) {
    case "ES256":
      return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    case "EdDSA":
      return generateKeyPairSync("ed25519").privateKey;
    case "RS256":
      return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    case "HS256":
      return createSecretKey(randomBytes(32));
  }
}

/** A new private key as PKCS#8 PEM, for JWT_PRIVATE_KEY_FILE. */
export function generatePrivateKeyPem(algorithm: Exclude<JwtAlgorithm, "HS256">): string {
  return generatePrivateKey(algorithm).export({ format: "pem", type: "pkcs8" }).toString();
}

/** The key's private part as a JWK (what the key ring stores, encrypted). */
export function privateJwkOf(key: KeyObject): JsonWebKey {
  return key.export({ format: "jwk" });
}

/** Builds the signing key (kid, verification key, public JWK) from a private key or secret. */
export async function signingKeyFrom(algorithm: JwtAlgorithm, privateKey: KeyObject): Promise<SigningKey> {
  if (algorithm === "HS256") {
    const secretJwk = privateKey.export({ format: "jwk" }) as JWK;
    const kid = await calculateJwkThumbprint(secretJwk);
    return { algorithm, kid, signingKey: privateKey, verificationKey: privateKey, publicJwk: undefined };
  }
  assertKeyFits(algorithm, privateKey);
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: "jwk" }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  return { algorithm, kid, signingKey: privateKey, verificationKey: publicKey, publicJwk: { ...jwk, kid, alg: algorithm, use: "sig" } };
}

/** The HS256 signing key of a JWT_SECRET. */
export function secretKeyFrom(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, "utf8"));
}
