import { dictionary } from "@zxcvbn-ts/language-common";
import { describe, expect, it } from "vitest";
import { loadCommonPasswords } from "../../src/infra/crypto/common-passwords.js";

describe("the common-password blocklist", () => {
  it("blocks every word of the package's list that is long enough, in any case, and nothing else", () => {
    // The list is read from the package's file, not its entry point: it must be the same list.
    const words = dictionary["passwords-common"];
    expect(words.length).toBeGreaterThan(40_000);
    const blocklist = loadCommonPasswords(6);
    for (const word of words) expect(blocklist.includes(word)).toBe(word.length >= 6);
    expect(blocklist.includes("PassWord123")).toBe(true);
    expect(blocklist.includes("correct horse battery staple, but mine")).toBe(false);
    // Neighbours of listed words in the sorted list are not listed themselves.
    expect(blocklist.includes("password1234567")).toBe(false);
    expect(blocklist.includes("")).toBe(false);
    expect(blocklist.includes("\u0000password")).toBe(false);
  });

  it("keeps only the words that can pass the length rule", () => {
    const blocklist = loadCommonPasswords(10);
    expect(blocklist.includes("password")).toBe(false);
    expect(blocklist.includes("1234567890")).toBe(true);
  });
});
