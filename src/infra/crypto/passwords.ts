/**
 * The PasswordHasher port: bcrypt (@node-rs/bcrypt, on libuv's thread pool, off the event loop)
 * over a salted HMAC-SHA256 pre-hash.
 *
 * bcrypt reads at most 72 bytes of its input and silently ignores the rest. We never feed it the
 * password: we feed it base64(HMAC-SHA256(key = the bcrypt salt, message = NFKC(password))), 44
 * ASCII bytes whatever the password's length, so every character of a long password counts. Keying
 * the HMAC with the per-hash salt (rather than a bare SHA-256) stops "password shucking": a leaked
 * unsalted SHA-256 of a password from elsewhere cannot be tested against our hashes directly.
 *
 * Stored format: `$bcrypt-sha256$v=2,t=2b,r=<cost>$<22-char salt>$<31-char checksum>`.
 */
import { createHmac, randomBytes } from "node:crypto";
import { hash as bcryptHash, verify as bcryptVerify, genSalt } from "@node-rs/bcrypt";
import type { PasswordHasher } from "../../domain/ports.js";

const PREFIX = "$bcrypt-sha256$";
const stored = /^\$bcrypt-sha256\$v=2,t=(2a|2b|2y),r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/;

function preHash(password: string, salt: string): string {
  // NFKC as NIST SP 800-63B asks, so that the same password typed on two keyboards matches.
  return createHmac("sha256", salt).update(password.normalize("NFKC"), "utf8").digest("base64");
}

export async function createPasswordHasher(cost: number): Promise<PasswordHasher> {
  async function hash(password: string): Promise<string> {
    const salt = await genSalt({ cost, version: "2b" }); // "$2b$12$" + 22 salt characters
    const saltChars = salt.slice(7);
    const full = await bcryptHash(preHash(password, saltChars), { salt });
    return `${PREFIX}v=2,t=2b,r=${cost}$${saltChars}$${full.slice(29)}`;
  }

  async function verify(password: string, storedHash: string): Promise<boolean> {
    const match = stored.exec(storedHash);
    if (match === null) return false;
    const [, version, rounds, salt, checksum] = match as unknown as [string, string, string, string, string];
    const bcryptForm = `$${version}$${rounds.padStart(2, "0")}$${salt}${checksum}`;
    return bcryptVerify(preHash(password, salt), bcryptForm);
  }

  // A hash of a random password at the current cost: verifying against it costs what verifying a
  // real user's password costs, and never succeeds.
  const dummy = await hash(randomBytes(32).toString("base64url"));

  return {
    hash,
    verify,
    async verifyAgainstDummy(password) {
      await verify(password, dummy);
    },
  };
}
