/** The signing section of the configuration: JWT_* variables, KEY_ENCRYPTION_KEY, and how tokens are checked. */

import type { ConfigReader } from "./reader.js";

export const JWT_ALGORITHMS = ["ES256", "EdDSA", "RS256", "HS256"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** How access tokens are signed and verified. */
export interface JwtConfig {
  readonly issuer: string;
  readonly audience: string;
  /** The algorithm of the configured key, or of the keys the ring generates. */
  readonly algorithm: JwtAlgorithm;
  /**
   * `configured`: one key from JWT_PRIVATE_KEY(_FILE) or JWT_SECRET. `ring`: the rotatable key
   * ring in the database, private keys encrypted under `keyEncryptionKey`.
   */
  readonly keySource: "configured" | "ring";
  /** HS256 secret (UTF-8 bytes), only with HS256. */
  readonly secret: string | undefined;
  /** PEM or JWK JSON of the private key, from JWT_PRIVATE_KEY or the file. */
  readonly privateKey: string | undefined;
  /**
   * Base64 of the 32-byte key that encrypts the ring's private keys and second-factor (TOTP)
   * secrets (embedded mode makes one). Optional with a configured key: without it users cannot
   * enrol a second factor.
   */
  readonly keyEncryptionKey: string | undefined;
  readonly keyReloadIntervalMs: number;
  readonly clockSkewMs: number;
  /** Verified tokens remembered per process, so the signature of a token seen before is not checked again. */
  readonly verifiedCacheSize: number;
}

export interface JwtContext {
  readonly databaseEmbedded: boolean;
  /** The default issuer. */
  readonly publicUrl: string;
  /** False for commands that never sign tokens: the signing key is then not required. */
  readonly signingKeyRequired?: boolean | undefined;
}

/** The signing section: the algorithm, where the key comes from, and how tokens are checked. */
export function readJwt(r: ConfigReader, context: JwtContext): JwtConfig {
  const { publicUrl } = context;
  const algorithmText = r.str("JWT_ALGORITHM", "ES256");
  const algorithm = JWT_ALGORITHMS.find((a) => a.toLowerCase() === algorithmText.toLowerCase()) ?? "ES256";
  if (algorithm.toLowerCase() !== algorithmText.toLowerCase()) {
    r.problem(`JWT_ALGORITHM=${algorithmText}: supported values are ${JWT_ALGORITHMS.join(", ")}`);
  }
  const secret = r.raw("JWT_SECRET");
  if (algorithm === "HS256") {
    if (secret === undefined) r.problem("JWT_SECRET: required when JWT_ALGORITHM=HS256");
    else if (Buffer.byteLength(secret, "utf8") < 32) r.problem("JWT_SECRET: must be at least 32 bytes");
  } else if (secret !== undefined) {
    r.problem("JWT_SECRET: set, but JWT_ALGORITHM is not HS256; remove it or set JWT_ALGORITHM=HS256");
  }
  // PEM or JWK; JWT_PRIVATE_KEY_FILE, like every NAME_FILE, is read by the reader.
  const privateKey = r.raw("JWT_PRIVATE_KEY");
  if (algorithm === "HS256" && privateKey !== undefined) {
    r.problem("JWT_PRIVATE_KEY: set, but JWT_ALGORITHM=HS256 signs with JWT_SECRET; remove one");
  }
  const keyEncryptionKey = r.raw("KEY_ENCRYPTION_KEY");
  if (
    keyEncryptionKey !== undefined &&
    (!/^[A-Za-z0-9+/_-]{43}=?$/.test(keyEncryptionKey) || Buffer.from(keyEncryptionKey, "base64").length !== 32)
  ) {
    r.problem("KEY_ENCRYPTION_KEY: expected 32 bytes in base64 (create one with `openssl rand -base64 32`)");
  }
  // With a configured signing key, KEY_ENCRYPTION_KEY encrypts second-factor secrets only.
  const keySource = algorithm === "HS256" || privateKey !== undefined ? "configured" : "ring";
  if (keySource === "ring" && !context.databaseEmbedded && keyEncryptionKey === undefined && context.signingKeyRequired !== false) {
    // Every instance on a shared database must sign with keys every other one knows: either the
    // shared ring (its private keys need the key-encryption key) or one configured key.
    r.problem(
      "KEY_ENCRYPTION_KEY or JWT_PRIVATE_KEY(_FILE): one is required when DATABASE_URL is set; KEY_ENCRYPTION_KEY " +
        "keeps a rotatable key ring in PostgreSQL (create one with `openssl rand -base64 32`)",
    );
  }
  return {
    issuer: r.str("JWT_ISSUER", publicUrl),
    audience: r.str("JWT_AUDIENCE", "api"),
    algorithm,
    keySource,
    secret,
    privateKey,
    keyEncryptionKey,
    keyReloadIntervalMs: r.duration("KEY_RELOAD_INTERVAL", "60s", 1000),
    clockSkewMs: r.duration("CLOCK_SKEW", "30s", 0),
    verifiedCacheSize: r.int("TOKEN_CACHE_SIZE", 10_000, 0, 1_000_000),
  };
}
