/**
 * The PasswordHasher port: bcrypt (@node-rs/bcrypt, on low-priority threads of its own, off the
 * event loop: see bcrypt-pool.ts) over a salted HMAC-SHA256 pre-hash. It also verifies the hashes users are imported with (raw
 * bcrypt `$2a$`/`$2b$`/`$2y$` as UContact stored them, argon2id as VidaPlus's pwdlib did); those,
 * and our own hashes of another cost than BCRYPT_COST, are to be re-hashed at the next login.
 *
 * bcrypt reads at most 72 bytes of its input and silently ignores the rest. We never feed it the
 * password: we feed it base64(HMAC-SHA256(key = the bcrypt salt, message = NFKC(password))), 44
 * ASCII bytes whatever the password's length, so every character of a long password counts. Keying
 * the HMAC with the per-hash salt (rather than a bare SHA-256) stops "password shucking": a leaked
 * unsalted SHA-256 of a password from elsewhere cannot be tested against our hashes directly.
 *
 * Stored format: `$bcrypt-sha256$v=2,t=2b,r=<cost>$<22-char salt>$<31-char checksum>`.
 *
 * Every verification does the same work, whatever the account: that of one bcrypt at BCRYPT_COST,
 * as one job on the same threads. An unknown user costs a verification against a dummy hash of
 * that cost, and so does a user whose hash is ours at that cost. A cheaper hash (imported raw
 * bcrypt at a lower cost, ours from before BCRYPT_COST was raised, imported argon2id) is verified
 * and then padded, in the same job, with dummy bcrypt work up to that cost: for bcrypt exactly
 * (2^cost − 2^c units, as bcrypts of the costs of its binary digits); for argon2id by its time on
 * that thread over the thread's recent time per bcrypt unit. A stored value we cannot read costs a
 * dummy verification. Imported hashes answered in 10–46 ms against 170 ms before: one request
 * told them apart.
 *
 * The alternatives, and why not:
 * - the dummy verification after the real one: time = legacy + current, still apart;
 * - the dummy verification beside the real one on another thread, time = max(legacy, current):
 *   right only with a core to spare. Measured on this 2-core VM while other work ran, the two
 *   threads shared what CPU they got and an imported login took legacy + current (+11 ms at
 *   cost 10); a container limited to one CPU, or a login storm, is the same case. It also spends
 *   the legacy work on top of the current one, and needs a second set of threads;
 * - a calibrated floor (sleep until a measured current-cost time has passed): no CPU, but a guess
 *   that the load moves. A sleeping login does not queue for the threads, so under load an
 *   imported user answers sooner than an unknown one; timers add their own granularity.
 * Padding puts every login through the same queue, on one thread, for the same work, so it holds
 * under contention and CPU quotas, and costs no more than a current-cost login. Its limits: the
 * argon2id share is measured, so it is as good as the thread's recent timing (a few percent); and
 * a hash costlier than a current-cost bcrypt (argon2id at pwdlib's 64 MiB and 3 passes is slower
 * than bcrypt at cost 10 here, faster than at 12; bcrypt above BCRYPT_COST after the cost was
 * lowered) cannot be padded down: that account answers later than an unknown user until its next
 * successful login re-hashes it. Hiding that would make every login pay for the costliest hash.
 */
import { createHmac, randomBytes } from "node:crypto";
import { genSaltSync } from "@node-rs/bcrypt";
import type { PasswordHasher } from "../../domain/ports.js";
import { type BcryptPool, type BcryptPoolOptions, createBcryptPool, MIN_COST, padCosts } from "./bcrypt-pool.js";

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
  return createPasswordHasherOn(createBcryptPool(poolOptions), cost);
}

/** The hasher on a given pool of threads (tests pass one that counts the work); closing it closes the pool. */
export async function createPasswordHasherOn(pool: BcryptPool, cost: number): Promise<ClosablePasswordHasher> {
  /** Dummy work that makes a verification at cost `c` do the work of one at `cost`. */
  const paddingFrom = (c: number) => (c >= cost ? [] : padCosts(2 ** cost - 2 ** c, MIN_COST));

  async function hash(password: string): Promise<string> {
    const salt = genSaltSync({ cost, version: "2b" }); // "$2b$12$" + 22 salt characters
    const saltChars = salt.slice(7);
    const full = await pool.hash(preHash(password, saltChars), salt);
    return `${PREFIX}v=2,t=2b,r=${cost}$${saltChars}$${full.slice(29)}`;
  }

  /** Checks a password against one of our hashes, as parsed by `stored`. */
  function verifyOurs(password: string, match: RegExpExecArray): Promise<boolean> {
    const [, version, rounds, salt, checksum] = match as unknown as [string, string, string, string, string];
    const bcryptForm = `$${version}$${rounds.padStart(2, "0")}$${salt}${checksum}`;
    return pool.verify(preHash(password, salt), bcryptForm, paddingFrom(Number(rounds)));
  }

  // A hash of a random password at the current cost: verifying against it costs what verifying a
  // real user's password costs, and never succeeds.
  let dummy: RegExpExecArray;
  try {
    dummy = stored.exec(await hash(randomBytes(32).toString("base64url"))) as RegExpExecArray;
  } catch (error) {
    await pool.close();
    throw error;
  }

  async function verify(password: string, storedHash: string): Promise<boolean> {
    const ours = stored.exec(storedHash);
    if (ours !== null) return verifyOurs(password, ours);
    // Imported hashes were made from the raw password, as their systems hashed it.
    if (legacyBcrypt.test(storedHash)) return pool.verify(password, storedHash, paddingFrom(Number(storedHash.slice(4, 6))));
    if (legacyArgon2id.test(storedHash)) return pool.verifyArgon2(password, storedHash, cost);
    // A value we cannot read matches nothing, after the same work.
    await verifyOurs(password, dummy);
    return false;
  }

  return {
    close: () => pool.close(),
    hash,
    verify,
    needsRehash(storedHash) {
      const match = stored.exec(storedHash);
      return match === null || Number(match[2]) !== cost;
    },
    async verifyAgainstDummy(password) {
      await verifyOurs(password, dummy);
    },
  };
}
