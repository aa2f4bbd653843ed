/**
 * Encryption at rest of private signing keys: AES-256-GCM under the key-encryption key, with the
 * key's kid as associated data so that a ciphertext cannot be moved to another row.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

export function seal(kek: Buffer, plaintext: string, associatedData: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", kek, iv);
  cipher.setAAD(Buffer.from(associatedData, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Throws when the key-encryption key is wrong or the ciphertext was altered. */
export function open(kek: Buffer, sealed: string, associatedData: string): string {
  const bytes = Buffer.from(sealed, "base64url");
  const decipher = createDecipheriv("aes-256-gcm", kek, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(associatedData, "utf8"));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
}
