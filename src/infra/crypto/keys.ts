/**
 * The signing key of access tokens: ES256 from configuration (PEM or JWK) or, in embedded mode,
 * generated once and kept in the data folder; or an HS256 secret from JWT_SECRET.
 */
import { createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calculateJwkThumbprint, type JWK } from "jose";
import type { JwtAlgorithm } from "../../config.js";

export interface SigningKey {
  readonly algorithm: JwtAlgorithm;
  /** RFC 7638 thumbprint of the public (or secret) key. */
  readonly kid: string;
  readonly signingKey: KeyObject;
  readonly verificationKey: KeyObject;
  /** The public JWK (ES256 only; never the HS256 secret). */
  readonly publicJwk: JWK | undefined;
}

export interface KeySource {
  readonly algorithm: JwtAlgorithm;
  readonly secret: string | undefined;
  readonly privateKey: string | undefined;
  readonly dataDir: string;
}

export interface LoadedKey {
  readonly key: SigningKey;
  /** Where it came from, for the start-up log line (never the key itself). */
  readonly origin: string;
}

/** Parses an ES256 private key given as PEM (PKCS#8 or SEC1) or as a JWK JSON object. */
export function parseEs256PrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.startsWith("{")
    ? createPrivateKey({ key: JSON.parse(trimmed) as JWK as import("node:crypto").JsonWebKey, format: "jwk" })
    : createPrivateKey(trimmed);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || (curve !== "prime256v1" && curve !== "P-256")) {
    throw new Error("the JWT private key must be an EC key on the P-256 curve for ES256");
  }
  return key;
}

export function generateEs256PrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

export async function loadSigningKey(source: KeySource): Promise<LoadedKey> {
  if (source.algorithm === "HS256") {
    const secret = createSecretKey(Buffer.from(source.secret ?? "", "utf8"));
    const kid = await calculateJwkThumbprint(secret.export({ format: "jwk" }) as JWK);
    return { key: { algorithm: "HS256", kid, signingKey: secret, verificationKey: secret, publicJwk: undefined }, origin: "JWT_SECRET" };
  }
  let pem = source.privateKey;
  let origin = "JWT_PRIVATE_KEY";
  if (pem === undefined) {
    const file = join(source.dataDir, "keys", "jwt-es256.pem");
    origin = file;
    if (existsSync(file)) {
      pem = readFileSync(file, "utf8");
    } else {
      mkdirSync(join(source.dataDir, "keys"), { recursive: true, mode: 0o700 });
      pem = generateEs256PrivateKeyPem();
      writeFileSync(file, pem, { mode: 0o600, flag: "wx" });
      chmodSync(file, 0o600);
      origin = `${file} (generated now)`;
    }
  }
  const privateKey = parseEs256PrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  const publicJwk = publicKey.export({ format: "jwk" }) as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    key: {
      algorithm: "ES256",
      kid,
      signingKey: privateKey,
      verificationKey: publicKey,
      publicJwk: { ...publicJwk, kid, alg: "ES256", use: "sig" },
    },
    origin,
  };
}
