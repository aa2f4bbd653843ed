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
 * stored sealed under a key derived from the presented secret, so that a retry with the same token
 * inside the grace window receives the same successor: concurrent refreshes converge on one usable
 * token, and the store never holds a secret it could hand to anyone else.
 *
 * The seal (since issue 17's third pass; it was AES-256-GCM under an HKDF key, 4 % of a Refresh's
 * CPU): a random 128-bit nonce N, and the successor's 32 bytes XORed with
 * HKDF-Expand(K, "auth.v1 refresh successor" || N, 32) = HMAC-SHA-256(K, info || 0x01), where K is
 * the presented secret's own 32 bytes. Why this keeps every property of the AEAD it replaces:
 * - HKDF's Extract step exists to turn non-uniform input into a key; K is already 256 uniformly
 *   random bits (from the CSPRNG), the case in which RFC 5869 §3.3 lets Expand use it directly.
 * - Confidentiality: a PRF output used once as a one-time pad (the randomised PRF encryption of
 *   the textbooks); the nonce makes every pad distinct even if a secret were ever sealed under
 *   twice. Without K, the pad is unpredictable.
 * - Key separation: what the store holds of K is SHA-256 of its text, an unkeyed hash; the pad is
 *   HMAC keyed with K over a label of its own, and nothing else is ever computed with K as a key.
 * - Integrity, which the GCM tag gave: the opened successor must hash to the session's current
 *   digest (the rotation script returns it with the sealed text), so a seal opened with another
 *   secret, or altered in the store, opens to nothing (`openSuccessor` answers null).
 * Seals of the earlier form (a rotation by the previous version moments before an upgrade) are
 * still opened.
 */
import { createDecipheriv, createHmac, hash, hkdfSync, timingSafeEqual } from "node:crypto";
import { secureRandomText } from "./random-bytes.js";
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
  return secureRandomText(SESSION_ID_BYTES);
}

export function newSecret(): string {
  return secureRandomText(SECRET_BYTES);
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
  return hash("sha256", secret, "base64url");
}

const SEAL_INFO = "auth.v1 refresh successor";
const NONCE_BYTES = 16;
const SEALED_LENGTH = encodedLength(NONCE_BYTES) + encodedLength(SECRET_BYTES);

/** HKDF-Expand(K = the secret's 32 bytes, info = label || nonce, 32 bytes): see the file's comment. */
function successorPad(presentedSecret: string, nonce: string): Buffer {
  return createHmac("sha256", Buffer.from(presentedSecret, "base64url")).update(`${SEAL_INFO}${nonce}\u0001`, "latin1").digest();
}

/** Encrypts `nextSecret` (one of ours: 32 bytes in base64url) so that only the holder of `presentedSecret` can recover it. */
export function sealSuccessor(nextSecret: string, presentedSecret: string): string {
  const nonce = secureRandomText(NONCE_BYTES);
  const sealed = successorPad(presentedSecret, nonce);
  const next = Buffer.from(nextSecret, "base64url");
  if (next.length !== SECRET_BYTES) throw new Error("a successor is a 256-bit secret");
  for (let i = 0; i < SECRET_BYTES; i++) sealed[i] = (sealed[i] as number) ^ (next[i] as number);
  return `${nonce}${sealed.toString("base64url")}`;
}

/**
 * Recovers the successor sealed by `sealSuccessor` (or by the earlier AES-GCM form), provided it
 * hashes to `currentHash`, the session's current digest; null otherwise.
 */
export function openSuccessor(sealed: string, presentedSecret: string, currentHash: string): string | null {
  const successor = sealed.length === SEALED_LENGTH ? openPadded(sealed, presentedSecret) : openGcm(sealed, presentedSecret);
  if (successor === null) return null;
  const digest = Buffer.from(hashSecret(successor));
  const expected = Buffer.from(currentHash);
  // Constant-time comparison, out of habit: both are digests.
  return digest.length === expected.length && timingSafeEqual(digest, expected) ? successor : null;
}

function openPadded(sealed: string, presentedSecret: string): string | null {
  if (!base64url.test(sealed)) return null;
  const nonce = sealed.slice(0, encodedLength(NONCE_BYTES));
  const body = Buffer.from(sealed.slice(nonce.length), "base64url");
  if (body.length !== SECRET_BYTES || !isSecret(presentedSecret)) return null;
  const pad = successorPad(presentedSecret, nonce);
  for (let i = 0; i < SECRET_BYTES; i++) pad[i] = (pad[i] as number) ^ (body[i] as number);
  return pad.toString("base64url");
}

/** The earlier seal: AES-256-GCM under HKDF-SHA-256 of the presented secret's text, IV || ciphertext || tag. */
function openGcm(sealed: string, presentedSecret: string): string | null {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length < 12 + 16 + 1) return null;
  try {
    const key = Buffer.from(hkdfSync("sha256", Buffer.from(presentedSecret, "utf8"), Buffer.alloc(0), SEAL_INFO, 32));
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}
