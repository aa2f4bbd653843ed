/**
 * The PasswordHasher port: bcrypt (@node-rs/bcrypt, on low-priority threads of its own, off the
 * event loop: see bcrypt-pool.ts) over a salted HMAC-SHA256 pre-hash. It also verifies the hashes users are imported with (raw
 * bcrypt `$2a$`/`$2b$`/`$2y$` as UContact stored them, argon2id as VidaPlus's pwdlib did); those,
 * and our own hashes of a lower cost than BCRYPT_COST, are to be re-hashed at the next login.
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
import { verify as argon2Verify } from "@node-rs/argon2";
import { genSaltSync } from "@node-rs/bcrypt";
import type { PasswordHasher } from "../../domain/ports.js";
import { type BcryptPoolOptions, createBcryptPool } from "./bcrypt-pool.js";

const PREFIX = "$bcrypt-sha256$";
const stored = /^\$bcrypt-sha256\$v=2,t=(2a|2b|2y),r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/;
const legacyBcrypt = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const legacyArgon2id = /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** Whether a stored hash is one the hasher can verify (ours, or an importable legacy one). */
export function isSupportedPasswordHash(hash: string): boolean {
  return stored.test(hash) || legacyBcrypt.test(hash) || legacyArgon2id.test(hash);
}

function preHash(password: string, salt: string): string {
  // NFKC as NIST SP 800-63B asks, so that the same password typed on two keyboards matches.
  return createHmac("sha256", salt).update(password.normalize("NFKC"), "utf8").digest("base64");
}

export interface ClosablePasswordHasher extends PasswordHasher {
  /** Ends bcrypt's threads. */
  close(): Promise<void>;
}

/** bcrypt's threads: one, at nice 10, unless told otherwise. */
const DEFAULT_POOL: BcryptPoolOptions = { threads: 1, niceness: 10 };

export async function createPasswordHasher(cost: number, poolOptions: BcryptPoolOptions = DEFAULT_POOL): Promise<ClosablePasswordHasher> {
  const pool = createBcryptPool(poolOptions);

  async function hash(password: string): Promise<string> {
    const salt = genSaltSync({ cost, version: "2b" }); // "$2b$12$" + 22 salt characters
    const saltChars = salt.slice(7);
    const full = await pool.hash(preHash(password, saltChars), salt);
    return `${PREFIX}v=2,t=2b,r=${cost}$${saltChars}$${full.slice(29)}`;
  }

  async function verify(password: string, storedHash: string): Promise<boolean> {
    // Imported hashes were made from the raw password, as their systems hashed it.
    if (legacyBcrypt.test(storedHash)) return pool.verify(password, storedHash);
    if (legacyArgon2id.test(storedHash)) return argon2Verify(storedHash, password).catch(() => false);
    const match = stored.exec(storedHash);
    if (match === null) return false;
    const [, version, rounds, salt, checksum] = match as unknown as [string, string, string, string, string];
    const bcryptForm = `$${version}$${rounds.padStart(2, "0")}$${salt}${checksum}`;
    return pool.verify(preHash(password, salt), bcryptForm);
  }

  // A hash of a random password at the current cost: verifying against it costs what verifying a
  // real user's password costs, and never succeeds.
  let dummy: string;
  try {
    dummy = await hash(randomBytes(32).toString("base64url"));
  } catch (error) {
    await pool.close();
    throw error;
  }

  return {
    close: () => pool.close(),
    hash,
    verify,
    needsRehash(storedHash) {
      const match = stored.exec(storedHash);
      return match === null || Number(match[2]) < cost;
    },
    async verifyAgainstDummy(password) {
      await verify(password, dummy);
    },
  };
}
