/** bcrypt's own threads: lower priority than the event loop, errors as rejections, a clean close. */
import { readdirSync, readFileSync } from "node:fs";
import { hash as argon2Hash } from "@node-rs/argon2";
import { genSaltSync, hashSync } from "@node-rs/bcrypt";
import { afterEach, describe, expect, it } from "vitest";
import { type BcryptPool, createBcryptPool, padCosts } from "../../src/infra/crypto/bcrypt-pool.js";

/** The nice value of each thread of this process (field 19 of /proc/self/task/<tid>/stat). */
function threadNiceness(): number[] {
  return readdirSync("/proc/self/task").flatMap((tid) => {
    try {
      const fields = readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return [Number(fields[16])];
    } catch {
      return []; // the thread ended meanwhile
    }
  });
}

describe("the bcrypt pool", () => {
  let pool: BcryptPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it("hashes and verifies like bcrypt itself", async () => {
    pool = createBcryptPool({ threads: 2, niceness: 10 });
    const salt = genSaltSync({ cost: 4, version: "2b" });
    const hashed = await pool.hash("correct horse", salt);
    expect(hashed).toBe(hashSync("correct horse", { salt }));
    expect(await pool.verify("correct horse", hashed)).toBe(true);
    expect(await pool.verify("wrong horse", hashed)).toBe(false);
  });

  it.skipIf(process.platform !== "linux")("runs bcrypt on its own threads at the nice value asked for", async () => {
    const before = threadNiceness().filter((nice) => nice === 7).length;
    pool = createBcryptPool({ threads: 3, niceness: 7 });
    // Each thread sets its priority as it starts; a job per thread makes sure all have.
    const salt = genSaltSync({ cost: 4, version: "2b" });
    await Promise.all([1, 2, 3].map(() => pool?.hash("x", salt)));
    expect(threadNiceness().filter((nice) => nice === 7).length - before).toBe(3);
    expect(threadNiceness()).toContain(0);
  });

  it("rejects what bcrypt refuses, and keeps working", async () => {
    pool = createBcryptPool({ threads: 1, niceness: 10 });
    await expect(pool.hash("x", "$2b$04$not-a-salt")).rejects.toThrow(/^bcrypt: /);
    expect(await pool.verify("x", "$2b$04$not-a-hash")).toBe(false);
    const salt = genSaltSync({ cost: 4, version: "2b" });
    expect(await pool.verify("x", await pool.hash("x", salt))).toBe(true);
  });

  it("answers every job queued beyond its threads", async () => {
    pool = createBcryptPool({ threads: 2, niceness: 10 });
    const salt = genSaltSync({ cost: 4, version: "2b" });
    const hashes = await Promise.all(Array.from({ length: 9 }, (_, i) => pool?.hash(`p${i}`, salt)));
    expect(new Set(hashes).size).toBe(9);
  });

  it("pads a verification with dummy bcrypt work, in the same job, and counts the work", async () => {
    pool = createBcryptPool({ threads: 1, niceness: 10 });
    const stored = hashSync("correct horse", { cost: 4 });
    const before = pool.workDone();
    expect(await pool.verify("correct horse", stored, [6, 5])).toBe(true);
    expect(pool.workDone() - before).toBe(2 ** 4 + 2 ** 6 + 2 ** 5);
    expect(await pool.verify("wrong horse", stored, [6, 5])).toBe(false);
    expect(pool.workDone() - before).toBe(2 * (2 ** 4 + 2 ** 6 + 2 ** 5));
  });

  it("verifies argon2id and pads it with bcrypt work up to the cost asked for, never beyond", async () => {
    pool = createBcryptPool({ threads: 1, niceness: 10 });
    // Light parameters: the argon2 itself is a small part of a cost-9 bcrypt's work.
    const stored = await argon2Hash("vidaplus", { memoryCost: 1024, timeCost: 1, parallelism: 1, algorithm: 2 });
    const before = pool.workDone();
    expect(await pool.verifyArgon2("vidaplus", stored, 9)).toBe(true);
    expect(await pool.verifyArgon2("vidaplus!", stored, 9)).toBe(false);
    expect(await pool.verifyArgon2("vidaplus", "$argon2id$v=19$m=1024,t=1,p=1$bm90$YQ", 9)).toBe(false);
    const padding = pool.workDone() - before;
    // Each padded with some bcrypt work, and none with more than a whole cost-9 bcrypt's.
    expect(padding).toBeGreaterThan(0);
    expect(padding).toBeLessThanOrEqual(3 * 2 ** 9);
  });

  it("refuses work once closed", async () => {
    const closing = createBcryptPool({ threads: 1, niceness: 10 });
    await closing.close();
    await expect(closing.verify("x", hashSync("x", { cost: 4 }))).rejects.toThrow(/closed/);
  });
});

describe("padCosts", () => {
  it("spells bcrypt work as the costs of its binary digits", () => {
    expect(padCosts(2 ** 10 - 2 ** 8, 4)).toEqual([9, 8]);
    expect(padCosts(2 ** 12 - 2 ** 4, 4)).toEqual([11, 10, 9, 8, 7, 6, 5, 4]);
    expect(padCosts(2 ** 12 - 2 ** 4, 4).reduce((sum, cost) => sum + 2 ** cost, 0)).toBe(2 ** 12 - 2 ** 4);
  });

  it("rounds to the grain of the smallest cost, and pads nothing for no work or less", () => {
    expect(padCosts(2 ** 10 - 100.4, 4)).toEqual([9, 8, 7, 5]); // 928 = 1024 − 96
    expect(padCosts(7, 4)).toEqual([]);
    expect(padCosts(9, 4)).toEqual([4]);
    expect(padCosts(0, 4)).toEqual([]);
    expect(padCosts(-500, 4)).toEqual([]);
  });
});
