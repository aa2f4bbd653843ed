/** The accounts the enumeration scenario asks about, with the hashes an import would have stored. */
import { randomBytes } from "node:crypto";
import { hash as argon2Hash } from "@node-rs/argon2";
import { hash as bcryptHash } from "@node-rs/bcrypt";
import { createPasswordHasher } from "../../src/infra/crypto/passwords.js";
import { openDatabase } from "../../src/infra/postgres/database.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";

export const ADDRESSES_PER_SIDE = 8;
/** OWASP's minimum for argon2id (RFC 9106's second recommendation is far costlier). */
const IMPORTED_ARGON2 = { memoryCost: 19_456, timeCost: 2, parallelism: 1, algorithm: 2 } as const;
/** Lower than the current cost by two: four times cheaper. */
export const IMPORTED_BCRYPT_COST_BELOW = 2;

export interface Accounts {
  /** Login identifiers. */
  readonly current: string;
  readonly argon2id: string;
  readonly bcrypt: string;
  /** Active, unverified accounts for the mail RPCs. */
  readonly mail: readonly string[];
}

/** Users straight into the migrated database, with the hashes an import would have stored. */
export async function seedAccounts(databaseUrl: string, cost: number): Promise<Accounts> {
  const db = openDatabase({ url: databaseUrl, dataDir: "unused", poolMax: 2, onPoolError: () => {} });
  const hasher = await createPasswordHasher(cost);
  try {
    const users = createUserRepository(db);
    const password = `the-password-${randomBytes(6).toString("hex")}`;
    const create = async (email: string, passwordHash: string) => {
      await users.create({ tenant: "default", email, username: null, fullName: null, passwordHash, roles: ["user"] });
      return email;
    };
    const current = await create(address("l"), await hasher.hash(password));
    const argon2id = await create(address("l"), await argon2Hash(password, IMPORTED_ARGON2));
    const bcrypt = await create(address("l"), await bcryptHash(password, { cost: cost - IMPORTED_BCRYPT_COST_BELOW, version: "2b" }));
    const mail: string[] = [];
    for (let i = 0; i < ADDRESSES_PER_SIDE; i++) mail.push(await create(address("m"), await hasher.hash(password)));
    return { current, argon2id, bcrypt, mail };
  } finally {
    await hasher.close();
    await db.destroy();
  }
}

/** A fresh address; every one has the same length, so validation and normalization cost the same. */
export function address(prefix: string): string {
  return `${prefix}${randomBytes(8).toString("hex")}@example.com`;
}
