/** The pooled CSPRNG draws behind refresh secrets, session ids and nonces (src/domain/random-bytes.ts). */
import { describe, expect, it } from "vitest";
import { secureRandomBytes, secureRandomText } from "../../src/domain/random-bytes.js";

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

describe("secureRandomText", () => {
  it("gives base64url text of the size asked for, never the same twice, from the same pool as secureRandomBytes", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const size = i % 3 === 0 ? 16 : 32;
      const text = i % 2 === 0 ? secureRandomText(size) : secureRandomBytes(size).toString("base64url");
      expect(Buffer.from(text, "base64url")).toHaveLength(size);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      seen.add(text);
    }
    expect(seen.size).toBe(20_000);
  });

  it("looks random: every byte value turns up, none far more often than the others", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4096; i++)
      for (const byte of Buffer.from(secureRandomText(32), "base64url")) counts[byte] = (counts[byte] ?? 0) + 1;
    expect(Math.min(...counts)).toBeGreaterThan(380);
    expect(Math.max(...counts)).toBeLessThan(650);
  });
});
