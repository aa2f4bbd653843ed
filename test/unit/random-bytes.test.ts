/** The pooled CSPRNG draws behind refresh secrets, session ids and nonces (src/domain/random-bytes.ts). */
import { describe, expect, it } from "vitest";
import { secureRandomBytes } from "../../src/domain/random-bytes.js";

describe("secureRandomBytes", () => {
  it("gives the size asked for, in a buffer of its own that later draws do not touch", () => {
    const first = secureRandomBytes(32);
    const copy = Buffer.from(first);
    for (let i = 0; i < 1000; i++) secureRandomBytes(32);
    expect(first.length).toBe(32);
    expect(first.buffer.byteLength).toBe(32);
    expect(first.equals(copy)).toBe(true);
  });

  it("never hands out the same bytes twice, across many refills of the pool and sizes that do not divide it", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(secureRandomBytes(i % 3 === 0 ? 12 : i % 3 === 1 ? 16 : 32).toString("hex"));
    expect(seen.size).toBe(20_000);
  });

  it("looks random: every byte value turns up, none far more often than the others", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4096; i++) for (const byte of secureRandomBytes(32)) counts[byte] = (counts[byte] ?? 0) + 1;
    // 131,072 bytes: 512 of each value expected; a zeroed or repeated pool would skew this far.
    expect(Math.min(...counts)).toBeGreaterThan(380);
    expect(Math.max(...counts)).toBeLessThan(650);
  });

  it("draws larger requests straight from the CSPRNG", () => {
    const big = secureRandomBytes(10_000);
    expect(big.length).toBe(10_000);
    expect(new Set(big).size).toBe(256);
  });
});
