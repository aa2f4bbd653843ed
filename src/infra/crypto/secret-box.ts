/**
 * The SecretBox port: second-factor secrets sealed with AES-256-GCM under the key-encryption key
 * (KEY_ENCRYPTION_KEY, or the one embedded mode generates), the context (the user) as associated
 * data. Without a key it refuses with MFA_UNAVAILABLE, rather than store a secret in the clear.
 */
import { AuthError } from "../../domain/errors.js";
import type { SecretBox } from "../../domain/ports.js";
import { open, seal } from "./envelope.js";

export function createSecretBox(kek: Buffer | undefined): SecretBox {
  return {
    seal(secret, context) {
      if (kek === undefined) throw new AuthError("MFA_UNAVAILABLE");
      return seal(kek, Buffer.from(secret).toString("base64"), context);
    },
    open(sealed, context) {
      if (kek === undefined) throw new AuthError("MFA_UNAVAILABLE");
      let text: string;
      try {
        text = open(kek, sealed, context);
      } catch (error) {
        // Another key (KEY_ENCRYPTION_KEY replaced), or a row altered or moved to another user.
        throw new AuthError("MFA_UNAVAILABLE", {
          message: "The second factor's secret cannot be read with this service's key-encryption key; use a recovery code.",
          cause: error,
        });
      }
      return new Uint8Array(Buffer.from(text, "base64"));
    },
  };
}
