/**
 * The identifier profile (src/domain/identifiers.ts): what is refused, what is one key, what is
 * one skeleton. Every case names the decision it pins down.
 */
import { describe, expect, it } from "vitest";
import { AuthError } from "../../src/domain/errors.js";
import {
  caseFold,
  foldKey,
  identifierSkeleton,
  isIdentifierAllowed,
  isSingleScript,
  lookupKey,
  normalizeEmail,
  normalizeUsername,
} from "../../src/domain/identifiers.js";
import { UNICODE_DATA_VERSIONS } from "../../src/domain/unicode-data.js";
import { loginKey, validateEmail, validateFullName, validateUsername } from "../../src/domain/validation.js";

const reasonOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    if (error instanceof AuthError) return error.reason;
    throw error;
  }
  return undefined;
};

const email = (value: string) => normalizeEmail(value);
const username = (value: string) => normalizeUsername(value)!;

describe("emails: one key for what is one address", () => {
  it("maps the Kelvin sign to K: the squatter's address is the owner's key, and shows as plain K", () => {
    const squatter = email("\u212Aate@example.com");
    expect(squatter.key).toBe(email("kate@example.com").key);
    expect(squatter.display).toBe("Kate@example.com");
    expect(squatter.display).not.toContain("\u212A");
  });
  it("maps fullwidth letters, at sign and full stop (NFKC)", () => {
    expect(email("ｋａｔｅ＠ｅｘａｍｐｌｅ．ｃｏｍ")).toEqual(email("kate@example.com"));
  });
  it("folds case in the local part (RFC 5321 allows case-sensitive mailboxes; nobody runs one) and the domain", () => {
    expect(email("Kate@EXAMPLE.com").key).toBe("kate@example.com");
    expect(email("Kate@EXAMPLE.com").display).toBe("Kate@EXAMPLE.com");
  });
  it("keeps dots and +tags: which a provider ignores is the provider's business", () => {
    expect(email("k.ate+x@example.com").key).not.toBe(email("kate@example.com").key);
  });
  it("composes combining sequences (NFKC): e + U+0301 is é", () => {
    expect(email("jose\u0301@example.com")).toEqual(email("josé@example.com"));
  });
  it("makes the Unicode and punycode forms of one IDN domain one key", () => {
    const unicode = email("user@münchen.de");
    expect(unicode.key).toBe("user@xn--mnchen-3ya.de");
    expect(email("user@XN--MNCHEN-3YA.DE").key).toBe(unicode.key);
    expect(email("user@MÜNCHEN.DE").key).toBe(unicode.key);
    expect(unicode.display).toBe("user@münchen.de");
  });
  it("folds ß to ss (full case folding): straße@ and strasse@ are one mailbox name", () => {
    expect(email("straße@example.de").key).toBe(email("STRASSE@example.de").key);
  });
  it("keeps Turkish dotless ı distinct from i in the key (no Turkic mappings), but gives both one skeleton", () => {
    expect(email("kıra@example.com").key).not.toBe(email("kira@example.com").key);
    expect(email("kıra@example.com").skeleton).toBe(email("kira@example.com").skeleton);
  });
  it("gives a Cyrillic 'а' local part the Latin one's skeleton, not its key", () => {
    const cyrillic = email("k\u0430te@example.com");
    expect(cyrillic.key).not.toBe(email("kate@example.com").key);
    expect(cyrillic.skeleton).toBe(email("kate@example.com").skeleton);
  });
  it("compares skeletons of local parts on one domain only (a lookalike domain is a different domain)", () => {
    expect(email("kate@ex\u0430mple.com").skeleton).not.toBe(email("kate@example.com").skeleton);
  });
});

describe("refused characters", () => {
  it.each([
    ["NUL", "ka\u0000te@example.com"],
    ["zero-width space", "ka\u200Bte@example.com"],
    ["zero-width joiner", "ka\u200Dte@example.com"],
    ["zero-width non-joiner", "ka\u200Cte@example.com"],
    ["right-to-left override", "\u202Eetak@example.com"],
    ["right-to-left isolate", "kate\u2067@example.com"],
    ["zero-width no-break space (BOM)", "ka\uFEFFte@example.com"],
    ["soft hyphen", "ka\u00ADte@example.com"],
    ["line separator", "ka\u2028te@example.com"],
    ["a C1 control", "ka\u0085te@example.com"],
    ["private use", "ka\uE000te@example.com"],
    ["unassigned", "ka\u0378te@example.com"],
    ["lone surrogate", "ka\uD800te@example.com"],
    ["variation selector", "ka\uFE0Fte@example.com"],
    ["Hangul filler", "ka\u3164te@example.com"],
    ["NUL in the domain", "kate@exam\u0000ple.com"],
  ])("refuses %s in an email as INVALID_EMAIL", (_name, value) => {
    expect(reasonOf(() => normalizeEmail(value))).toBe("INVALID_EMAIL");
    expect(reasonOf(() => validateEmail(value))).toBe("INVALID_EMAIL");
  });
  it.each([
    ["NUL", "ann\u0000"],
    ["zero-width space", "an\u200Bn"],
    ["right-to-left override", "\u202Eann"],
    ["left-to-right mark", "ann\u200E"],
  ])("refuses %s in a username as INVALID_USERNAME", (_name, value) => {
    expect(reasonOf(() => normalizeUsername(value))).toBe("INVALID_USERNAME");
    expect(reasonOf(() => validateUsername(value))).toBe("INVALID_USERNAME");
  });
  it("refuses them in a sign-in identifier too, naming the kind the identifier looks like", () => {
    expect(reasonOf(() => loginKey("ann\u0000"))).toBe("INVALID_USERNAME");
    expect(reasonOf(() => loginKey("ann\u0000@example.com"))).toBe("INVALID_EMAIL");
    expect(reasonOf(() => lookupKey("an\u200Bn"))).toBe("INVALID_USERNAME");
  });
  it("refuses NUL and bidi controls in a display name, keeps joiners that scripts and emoji need", () => {
    expect(reasonOf(() => validateFullName("Ann\u0000"))).toBe("INVALID_REQUEST");
    expect(reasonOf(() => validateFullName("Ann \u202Eevil"))).toBe("INVALID_REQUEST");
    expect(validateFullName("می\u200Cخواهم")).toBe("می\u200Cخواهم");
  });
});

describe("emails: shape", () => {
  it.each([
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@1.2.3.4",
    "a@[127.0.0.1]",
    "a@example",
    "a@ex_ample.com",
    "a@-ex.com",
  ])("refuses %s", (value) => expect(reasonOf(() => normalizeEmail(value))).toBe("INVALID_EMAIL"));
  it("refuses symbols outside ASCII in the local part (emoji, lookalike punctuation)", () => {
    expect(reasonOf(() => normalizeEmail("a\u{1F600}@example.com"))).toBe("INVALID_EMAIL");
    expect(reasonOf(() => normalizeEmail("a\u2010b@example.com"))).toBe("INVALID_EMAIL");
  });
  it("counts the local part in bytes (RFC 5321: 64 octets)", () => {
    expect(normalizeEmail(`${"a".repeat(64)}@example.com`).key).toHaveLength(76);
    expect(reasonOf(() => normalizeEmail(`${"é".repeat(33)}@example.com`))).toBe("INVALID_EMAIL");
  });
});

describe("usernames: the profile", () => {
  it("maps fullwidth to ASCII and folds case: ＡＤＡ, Ada and ada are one key", () => {
    expect(username("ＡＤＡ").key).toBe("ada");
    expect(username("ＡＤＡ").display).toBe("ADA");
    expect(username("Ada").key).toBe("ada");
  });
  it("maps the Kelvin sign", () => expect(username("\u212Aate").key).toBe("kate"));
  it("folds ß to ss", () => expect(username("Straße").key).toBe(username("strasse").key));
  it("accepts letters of one script, with marks and digits", () => {
    expect(username("josé_1").key).toBe("josé_1");
    expect(username("Дмитрий").key).toBe("дмитрий");
    expect(username("山田太郎").key).toBe("山田太郎");
    expect(username("やまだtaro").key).toBe("やまだtaro");
  });
  it("refuses mixed scripts (UTS #39 highly restrictive): Latin with a Cyrillic 'а'", () => {
    expect(reasonOf(() => normalizeUsername("p\u0430ypal"))).toBe("INVALID_USERNAME");
    expect(isSingleScript("p\u0430ypal")).toBe(false);
    expect(isSingleScript("paypal1")).toBe(true);
  });
  it("gives an all-Cyrillic lookalike the Latin name's skeleton", () => {
    expect(username("\u0430\u0441\u0435").skeleton).toBe(username("ace").skeleton);
  });
  it("gives classic ASCII lookalikes one skeleton: rn and m, l and 1 and I, 0 and O", () => {
    expect(username("adrnin").skeleton).toBe(username("admin").skeleton);
    expect(username("pay1").skeleton).toBe(username("payl").skeleton);
    expect(username("Ian").skeleton).toBe(username("lan").skeleton);
    expect(username("b0b").skeleton).toBe(username("bob").skeleton);
  });
  it("is case-insensitive in skeletons: a Cyrillic capital Н looks like H, and Hello is hello", () => {
    expect(email("\u041D\u0415LL\u041E@example.com").skeleton).toBe(email("hello@example.com").skeleton);
  });
  it.each(["an", "a".repeat(65), "_ann", "ann smith", "ann@example.com", "ann!", "a\u2010nn"])("refuses %s", (value) =>
    expect(reasonOf(() => normalizeUsername(value))).toBe("INVALID_USERNAME"),
  );
  it("keeps accepting what the old rule accepted", () => {
    for (const name of ["ann", "ann.smith", "a_b-c", "A1".repeat(32), "9lives"]) expect(validateUsername(name)).toBe(name);
  });
});

describe("sign-in lookup", () => {
  it("finds by the stored key whatever form is typed", () => {
    expect(lookupKey(" ＡＤＡ ")).toBe(username("ada").key);
    expect(lookupKey("\u212Aate@EXAMPLE.com")).toBe(email("kate@example.com").key);
    expect(lookupKey("user@münchen.de")).toBe(email("user@xn--mnchen-3ya.de").key);
  });
  it("refuses an identifier longer than any can be before folding it", () => {
    expect(reasonOf(() => lookupKey("ａ".repeat(250_000)))).toBe("INVALID_USERNAME");
    expect(reasonOf(() => lookupKey(`${"a".repeat(250_000)}@example.com`))).toBe("INVALID_EMAIL");
    expect(reasonOf(() => normalizeEmail(`${"a".repeat(250_000)}@example.com`))).toBe("INVALID_EMAIL");
    expect(reasonOf(() => normalizeUsername("a".repeat(250_000)))).toBe("INVALID_USERNAME");
  });
  it("is idempotent, so a flow may pass an already computed key", () => {
    for (const value of ["\u212Aate@example.com", "ＡＤＡ", "Straße", "İstanbul", "ΣΊΣΥΦΟΣ"]) {
      expect(lookupKey(lookupKey(value))).toBe(lookupKey(value));
      expect(foldKey(foldKey(value))).toBe(foldKey(value));
    }
  });
});

describe("the Unicode data", () => {
  it("is Unicode 17.0 throughout, the version Node's ICU normalizes with", () => {
    expect(Object.values(UNICODE_DATA_VERSIONS)).toEqual(["17.0.0", "17.0.0", "17.0.0", "17.0.0"]);
  });
  it("folds per CaseFolding.txt (C+F): final sigma, capital sharp s, Cherokee", () => {
    expect(caseFold("ς")).toBe("σ");
    expect(caseFold("ẞ")).toBe("ss");
    expect(caseFold("\u13F8")).toBe("\u13F0");
  });
  it("maps per confusables.txt", () => {
    expect(identifierSkeleton("\u0430")).toBe("a");
    expect(identifierSkeleton("m")).toBe("rn");
  });
  it("allows per IdentifierStatus.txt", () => {
    expect(isIdentifierAllowed("a".codePointAt(0)!)).toBe(true);
    expect(isIdentifierAllowed(0x2665)).toBe(false); // a heart suit
    expect(isIdentifierAllowed(0x10330)).toBe(false); // Gothic: a historic script
  });
});
