/**
 * Opaque refresh tokens: `<session id>.<secret>`, both base64url, the secret 256 random bits.
 *
 * Only a SHA-256 of the secret is stored. When a token is rotated, its successor's secret is
 * stored sealed (AES-256-GCM) under a key derived from the presented secret, so that a retry with
 * the same token inside the grace window receives the same successor: concurrent refreshes converge
 * on one usable token, and the store never holds a secret it could hand to anyone else.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

const SESSION_ID_BYTES = 16;
const SECRET_BYTES = 32;
const base64url = /^[A-Za-z0-9_-]+$/;
const SESSION_ID_LENGTH = Math.ceil((SESSION_ID_BYTES * 4) / 3);
const SECRET_LENGTH = Math.ceil((SECRET_BYTES * 4) / 3);

export interface ParsedRefreshToken {
  readonly sessionId: string;
  readonly secret: string;
}

export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString("base64url");
}

export function newSecret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

export function formatRefreshToken(sessionId: string, secret: string): string {
  return `${sessionId}.${secret}`;
}

/** Splits a refresh token; null for anything that is not exactly our shape. */
export function parseRefreshToken(token: string): ParsedRefreshToken | null {
  const dot = token.indexOf(".");
  if (dot < 0) return null;
  const sessionId = token.slice(0, dot);
  const secret = token.slice(dot + 1);
  if (sessionId.length !== SESSION_ID_LENGTH || secret.length !== SECRET_LENGTH) return null;
  if (!base64url.test(sessionId) || !base64url.test(secret)) return null;
  return { sessionId, secret };
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
  const iv = randomBytes(12);
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
