/** bcrypt's own threads: lower priority than the event loop, errors as rejections, a clean close. */
import { readdirSync, readFileSync } from "node:fs";
import { genSaltSync, hashSync } from "@node-rs/bcrypt";
import { afterEach, describe, expect, it } from "vitest";
import { type BcryptPool, createBcryptPool } from "../../src/infra/crypto/bcrypt-pool.js";

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

  it("refuses work once closed", async () => {
    const closing = createBcryptPool({ threads: 1, niceness: 10 });
    await closing.close();
    await expect(closing.verify("x", hashSync("x", { cost: 4 }))).rejects.toThrow(/closed/);
  });
});
