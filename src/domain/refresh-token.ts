/**
 * Opaque refresh tokens: `<user>.<session id>.<secret>`, each part base64url: the user's UUID as
 * its 16 bytes, the session id 16 random bytes, the secret 256 random bits.
 *
 * The user part finds the session without a lookup: every key of a user's sessions shares the
 * user's Redis Cluster hash tag (see infra/redis/keys.ts). It is no secret: the same id is the
 * `sub` of every access token. Tokens of the earlier shape, `<session id>.<secret>`, are still
 * read (their user is found through a pointer the layout migration left); their successor has the
 * current shape.
 *
 * Only a SHA-256 of the secret is stored. When a token is rotated, its successor's secret is
 * stored sealed (AES-256-GCM) under a key derived from the presented secret, so that a retry with
 * the same token inside the grace window receives the same successor: concurrent refreshes converge
 * on one usable token, and the store never holds a secret it could hand to anyone else.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync } from "node:crypto";
import { secureRandomBytes } from "./random-bytes.js";
import { isUserId } from "./validation.js";

const USER_ID_BYTES = 16;
const SESSION_ID_BYTES = 16;
const SECRET_BYTES = 32;
const base64url = /^[A-Za-z0-9_-]+$/;
const encodedLength = (bytes: number) => Math.ceil((bytes * 4) / 3);

export interface ParsedRefreshToken {
  /** The user; undefined for a token of the earlier two-part shape, whose user the store knows. */
  readonly userId: string | undefined;
  readonly sessionId: string;
  readonly secret: string;
}

export function newSessionId(): string {
  return secureRandomBytes(SESSION_ID_BYTES).toString("base64url");
}

export function newSecret(): string {
  return secureRandomBytes(SECRET_BYTES).toString("base64url");
}

/** Whether a value has the shape of our session ids (a caller-named id is checked before any lookup). */
export function isSessionId(value: string): boolean {
  return value.length === encodedLength(SESSION_ID_BYTES) && base64url.test(value);
}

export function formatRefreshToken(userId: string, sessionId: string, secret: string): string {
  if (!isUserId(userId)) throw new Error("user ids are UUIDs");
  return `${Buffer.from(userId.replaceAll("-", ""), "hex").toString("base64url")}.${sessionId}.${secret}`;
}

/** The UUID a token's user part encodes; undefined unless it is the canonical encoding of 16 bytes. */
function userIdOf(part: string): string | undefined {
  if (part.length !== encodedLength(USER_ID_BYTES) || !base64url.test(part)) return undefined;
  const bytes = Buffer.from(part, "base64url");
  // Exactly one text per user: the last character's unused bits must be zero.
  if (bytes.length !== USER_ID_BYTES || bytes.toString("base64url") !== part) return undefined;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Splits a refresh token; null for anything that is not exactly one of our two shapes. */
export function parseRefreshToken(token: string): ParsedRefreshToken | null {
  const parts = token.split(".");
  const [first, second, third] = parts;
  if (parts.length === 3 && first !== undefined && second !== undefined && third !== undefined) {
    const userId = userIdOf(first);
    if (userId === undefined || !isSessionId(second) || !isSecret(third)) return null;
    return { userId, sessionId: second, secret: third };
  }
  if (parts.length === 2 && first !== undefined && second !== undefined) {
    if (!isSessionId(first) || !isSecret(second)) return null;
    return { userId: undefined, sessionId: first, secret: second };
  }
  return null;
}

function isSecret(value: string): boolean {
  return value.length === encodedLength(SECRET_BYTES) && base64url.test(value);
}

/** The stored form of a secret. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("base64url");
}

function sealingKey(presentedSecret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(presentedSecret, "utf8"), Buffer.alloc(0), "auth.v1 refresh successor", 32));
}

/** Encrypts `nextSecret` so that only the holder of `presentedSecret` can recover it. */
export function sealSuccessor(nextSecret: string, presentedSecret: string): string {
  const iv = secureRandomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(presentedSecret), iv);
  const body = Buffer.concat([cipher.update(nextSecret, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Recovers the successor sealed by `sealSuccessor`; null if it was not sealed for this secret. */
export function openSuccessor(sealed: string, presentedSecret: string): string | null {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length < 12 + 16 + 1) return null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(presentedSecret), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}
