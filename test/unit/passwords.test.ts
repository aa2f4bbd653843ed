import { hash as argon2Hash } from "@node-rs/argon2";
import { hash as rawBcrypt } from "@node-rs/bcrypt";
import { describe, expect, it } from "vitest";
import { createBcryptPool } from "../../src/infra/crypto/bcrypt-pool.js";
import { createPasswordHasher, createPasswordHasherOn } from "../../src/infra/crypto/passwords.js";

describe("the password hasher (bcrypt over a salted HMAC-SHA256 pre-hash)", async () => {
  const hasher = await createPasswordHasher(4);

  it("stores a self-describing hash that holds no trace of the password", async () => {
    const stored = await hasher.hash("correct horse battery staple");
    expect(stored).toMatch(/^\$bcrypt-sha256\$v=2,t=2b,r=4\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{31}$/);
    expect(stored).not.toContain("horse");
    expect(await hasher.hash("correct horse battery staple")).not.toBe(stored);
  });

  it("verifies the password and nothing else", async () => {
    const stored = await hasher.hash("correct horse battery staple");
    expect(await hasher.verify("correct horse battery staple", stored)).toBe(true);
    expect(await hasher.verify("correct horse battery stapl", stored)).toBe(false);
    expect(await hasher.verify("", stored)).toBe(false);
  });

  it("does not truncate at 72 bytes", async () => {
    const long = "a".repeat(72);
    const stored = await hasher.hash(`${long}-one`);
    expect(await hasher.verify(`${long}-one`, stored)).toBe(true);
    expect(await hasher.verify(`${long}-two`, stored)).toBe(false);
    expect(await hasher.verify(long, stored)).toBe(false);
  });

  it("counts every byte of multi-byte passwords past 72 bytes", async () => {
    const base = "é".repeat(40); // 80 bytes in UTF-8
    const stored = await hasher.hash(`${base}1`);
    expect(await hasher.verify(`${base}2`, stored)).toBe(false);
  });

  it("matches the same password typed in composed or decomposed Unicode (NFKC)", async () => {
    const composed = "Ma\u00f1ana-secret";
    const decomposed = "Man\u0303ana-secret";
    const stored = await hasher.hash(composed);
    expect(await hasher.verify(decomposed, stored)).toBe(true);
  });

  it("refuses stored values it does not know, and tampered hashes", async () => {
    const stored = await hasher.hash("correct horse battery staple");
    expect(await hasher.verify("correct horse battery staple", stored.replace("r=4", "r=5"))).toBe(false);
    expect(await hasher.verify("x", "$2b$04$abcdefghijklmnopqrstuuFC8N/3M2B6mV2LFZcN3yUKNNrNp9Fca")).toBe(false);
    expect(await hasher.verify("x", "plaintext")).toBe(false);
  });

  it("spends the work of a verify on unknown users without ever succeeding", async () => {
    await expect(hasher.verifyAgainstDummy("anything")).resolves.toBeUndefined();
  });
});

describe("imported password hashes", async () => {
  const { isSupportedPasswordHash } = await import("../../src/infra/crypto/passwords.js");
  const hasher = await createPasswordHasher(5);

  it("verifies argon2id hashes as VidaPlus's pwdlib made them, and asks for a re-hash", async () => {
    // pwdlib's recommended() argon2id: 64 MiB, 3 passes, 4 lanes.
    const stored = await argon2Hash("vidaplus password", { memoryCost: 65536, timeCost: 3, parallelism: 4, algorithm: 2 });
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(isSupportedPasswordHash(stored)).toBe(true);
    expect(await hasher.verify("vidaplus password", stored)).toBe(true);
    expect(await hasher.verify("vidaplus passwore", stored)).toBe(false);
    expect(hasher.needsRehash(stored)).toBe(true);
  });

  it("verifies raw bcrypt hashes as UContact made them, and asks for a re-hash", async () => {
    for (const version of ["2a", "2b"] as const) {
      const stored = await rawBcrypt("ucontact password", { cost: 4, version });
      expect(isSupportedPasswordHash(stored)).toBe(true);
      expect(await hasher.verify("ucontact password", stored)).toBe(true);
      expect(await hasher.verify("ucontact passwore", stored)).toBe(false);
      expect(hasher.needsRehash(stored)).toBe(true);
    }
  });

  it("asks to re-hash its own hashes when their cost is not today's", async () => {
    expect(hasher.needsRehash(await (await createPasswordHasher(4)).hash("p"))).toBe(true);
    expect(hasher.needsRehash(await (await createPasswordHasher(6)).hash("p"))).toBe(true);
    expect(hasher.needsRehash(await hasher.hash("p"))).toBe(false);
    expect(isSupportedPasswordHash("md5:abc")).toBe(false);
    expect(isSupportedPasswordHash("$argon2i$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA")).toBe(false);
  });
});

describe("the work of a verification, whatever the account (no timing oracle)", async () => {
  // The bcrypt work the pool's threads ran for one call, in units of 2^cost: counted, not timed.
  const cost = 7;
  const pool = createBcryptPool({ threads: 1, niceness: 10 });
  const hasher = await createPasswordHasherOn(pool, cost);
  const workOf = async (call: () => Promise<unknown>) => {
    const before = pool.workDone();
    await call();
    return pool.workDone() - before;
  };
  const password = "a password of theirs";
  const stored = {
    ours: await hasher.hash(password),
    oursAtLowerCost: await (await createPasswordHasher(4)).hash(password),
    importedBcrypt: await rawBcrypt(password, { cost: 5, version: "2b" }),
    importedBcrypt2a: await rawBcrypt(password, { cost: 4, version: "2a" }),
    unreadable: "plaintext",
  };

  it("costs an unknown user one verification at the current cost", async () => {
    expect(await workOf(() => hasher.verifyAgainstDummy(password))).toBe(2 ** cost);
  });

  it.each(Object.keys(stored))("costs a %s hash exactly that, right or wrong password", async (kind) => {
    const hash = stored[kind as keyof typeof stored];
    expect(await workOf(() => hasher.verify("not their password", hash))).toBe(2 ** cost);
    if (kind !== "unreadable") expect(await workOf(() => hasher.verify(password, hash))).toBe(2 ** cost);
  });

  it("answers an imported or cheaper hash correctly after the padding", async () => {
    for (const kind of ["oursAtLowerCost", "importedBcrypt", "importedBcrypt2a"] as const) {
      expect(await hasher.verify(password, stored[kind])).toBe(true);
      expect(await hasher.verify(`${password}!`, stored[kind])).toBe(false);
    }
    expect(await hasher.verify(password, stored.unreadable)).toBe(false);
  });

  it("pads an imported argon2id hash with bcrypt work up to the current cost, in the same job", async () => {
    // Light parameters, so that the argon2 is a small part of a cost-7 bcrypt's work.
    const argon2 = await argon2Hash(password, { memoryCost: 256, timeCost: 1, parallelism: 1, algorithm: 2 });
    let padding = 0;
    for (const attempt of [password, "not their password"]) padding += await workOf(() => hasher.verify(attempt, argon2));
    expect(padding).toBeGreaterThan(0);
    expect(padding).toBeLessThanOrEqual(2 * 2 ** cost);
    expect(await hasher.verify(password, argon2)).toBe(true);
  });

  it("cannot pad a costlier hash down: ours above today's cost does its own work only", async () => {
    const costlier = await (await createPasswordHasher(cost + 1)).hash(password);
    expect(await workOf(() => hasher.verify(password, costlier))).toBe(2 ** (cost + 1));
  });
});
