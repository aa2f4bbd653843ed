/**
 * The identifier profile: how an email address or a username becomes the key that says "same
 * account", the skeleton that says "looks like the same account", and which characters are refused.
 *
 * - Refused anywhere in an identifier: control and format characters (\p{Cc}, \p{Cf}: NUL, zero-width
 *   spaces and joiners, bidi overrides and isolates, soft hyphen), every other default-ignorable
 *   code point (variation selectors, Hangul fillers, combining grapheme joiner), surrogates,
 *   private-use and unassigned code points, line and paragraph separators.
 * - Display form: what was typed, trimmed, in NFKC (fullwidth letters, the Kelvin sign, ligatures
 *   become their ordinary letters; letter case is kept). Tokens, mail and Me carry it.
 * - Key: the display form case-folded (Unicode full case folding, C+F, not the Turkic mappings),
 *   then NFKC again: `K`, `ｋ` and `k` are one key; `ß` and `ss` too; dotless `ı` stays `ı`.
 *   For an email, the domain is IDNA-mapped to its ASCII (punycode) form, so `münchen.de` and
 *   `xn--mnchen-3ya.de` are one domain. The local part is folded too: RFC 5321 lets a server treat
 *   it case-sensitively, no mainstream one does, and two accounts for `Ann@` and `ann@` would be
 *   one mailbox with two owners. Dots and `+tags` are kept: which of them a provider ignores is
 *   the provider's business.
 * - Skeleton (UTS #39 §4, made case-insensitive): skeleton(casefold(skeleton(display))). Two
 *   usernames with one skeleton cannot coexist in a tenant, nor two email local parts on one domain.
 *
 * Usernames follow PRECIS UsernameCaseMapped (RFC 8265) with stated differences: NFKC instead of
 * width mapping plus NFC (a superset), full case folding instead of toLowerCase (so `ß` = `ss`), and
 * narrower: letters, combining marks and digits that UTS #39 marks Identifier_Status=Allowed, plus
 * `.`, `_`, `-`; starting with a letter or digit; 3 to 64 characters; one script (UTS #39 "highly
 * restrictive": a single script, or Latin with Han and Japanese kana, Han and Bopomofo, or Han and
 * Hangul). A username never holds `@`, so the shape of a login identifier says which it is.
 */
import { domainToASCII } from "node:url";
import { invalidField } from "./errors.js";
import { CASE_FOLDING, CONFUSABLES, IDENTIFIER_ALLOWED, IDENTIFIER_SCRIPTS } from "./unicode-data.js";

export interface NormalizedIdentifier {
  /** As typed, trimmed, in NFKC: what the user sees and what mail is sent to. */
  readonly display: string;
  /** The case-insensitive key: one account per key per tenant. */
  readonly key: string;
  /** The UTS #39 skeleton: one account per skeleton per tenant. */
  readonly skeleton: string;
}

export const USERNAME_MIN_LENGTH = 3;
export const USERNAME_MAX_LENGTH = 64;
const EMAIL_MAX_LENGTH = 254;
const LOCAL_PART_MAX_BYTES = 64;
/**
 * Longest input looked at, in UTF-16 units, before any normalization work: well past what NFKC
 * can shrink to a valid identifier (composing sequences), so that a 256 KB identifier costs a
 * length check rather than milliseconds of folding on the event loop.
 */
const INPUT_MAX_LENGTH = 4 * EMAIL_MAX_LENGTH;

/** Code points no identifier may hold (see the file comment). */
const refusedCodePoint = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;

function parseMap(table: string): Map<number, string> {
  const map = new Map<number, string>();
  for (const entry of table.split(",")) {
    if (entry === "") continue;
    const [source, target] = entry.split(":");
    map.set(Number.parseInt(source!, 16), String.fromCodePoint(...target!.split(" ").map((cp) => Number.parseInt(cp, 16))));
  }
  return map;
}

const confusables = parseMap(CONFUSABLES);
const caseFolding = parseMap(CASE_FOLDING);
const allowedRanges: Uint32Array = (() => {
  const bounds = IDENTIFIER_ALLOWED.split(",")
    .filter((range) => range !== "")
    .flatMap((range) => range.split("-").map((cp) => Number.parseInt(cp, 16)));
  return Uint32Array.from(bounds);
})();

/** Whether UTS #39 gives the code point Identifier_Status=Allowed (binary search in the ranges). */
export function isIdentifierAllowed(codePoint: number): boolean {
  let low = 0;
  let high = allowedRanges.length / 2 - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (codePoint < allowedRanges[mid * 2]!) high = mid - 1;
    else if (codePoint > allowedRanges[mid * 2 + 1]!) low = mid + 1;
    else return true;
  }
  return false;
}

/** The first refused code point of a string, if any. */
export function findRefusedCharacter(value: string): string | undefined {
  return refusedCodePoint.exec(value)?.[0];
}

/** Unicode full case folding (CaseFolding.txt, C and F). */
export function caseFold(value: string): string {
  let folded = "";
  for (const char of value) folded += caseFolding.get(char.codePointAt(0)!) ?? char;
  return folded;
}

/** NFKC, case fold, NFKC, until stable (twice at most in practice): the key form of a string. */
export function foldKey(value: string): string {
  let current = value.normalize("NFKC");
  for (let i = 0; i < 4; i++) {
    const next = caseFold(current).normalize("NFKC");
    if (next === current) return next;
    current = next;
  }
  return current;
}

/** UTS #39 skeleton: NFD, drop default-ignorables, map each code point to its prototype, NFD. */
function uts39Skeleton(value: string): string {
  let mapped = "";
  for (const char of value.normalize("NFD")) {
    if (/\p{Default_Ignorable_Code_Point}/u.test(char)) continue;
    mapped += confusables.get(char.codePointAt(0)!) ?? char;
  }
  return mapped.normalize("NFD");
}

/**
 * The case-insensitive skeleton: the skeleton of the case-folded skeleton. The inner skeleton sees
 * the letters as typed (Cyrillic `Н` looks like `H`, its lower case `н` does not look like `h`), the
 * fold makes `Hello` and `hello` one, and the outer skeleton maps what folding produced.
 */
export function identifierSkeleton(value: string): string {
  return uts39Skeleton(caseFold(uts39Skeleton(value)));
}

const refusal = (field: "email" | "username", char: string) =>
  invalidField(
    field,
    `must not contain control, format, invisible, private-use or unassigned characters (found U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")})`,
    field === "email" ? "INVALID_EMAIL" : "INVALID_USERNAME",
  );

// RFC 5322 dot-atom text, ASCII part; non-ASCII characters must be Allowed letters, marks or digits.
const asciiLocalChar = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]$/;
const letterMarkDigit = /^[\p{L}\p{M}\p{Nd}]$/u;
const asciiLabel = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const topLevel = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** The ASCII (A-label) form of an email domain, or undefined when it is not a usable host name. */
export function emailDomainKey(domain: string): string | undefined {
  const ascii = domainToASCII(domain.normalize("NFKC"));
  if (ascii === "" || ascii.length > 253) return undefined;
  const labels = ascii.split(".");
  if (labels.length < 2 || !labels.every((label) => asciiLabel.test(label))) return undefined;
  return topLevel.test(labels.at(-1)!) ? ascii : undefined;
}

function localPartIsValid(local: string): boolean {
  if (local === "" || Buffer.byteLength(local) > LOCAL_PART_MAX_BYTES) return false;
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return false;
  if (/^\p{M}/u.test(local)) return false;
  for (const char of local) {
    if (char.charCodeAt(0) < 0x80) {
      if (!asciiLocalChar.test(char)) return false;
    } else if (!letterMarkDigit.test(char) || !isIdentifierAllowed(char.codePointAt(0)!)) {
      return false;
    }
  }
  return true;
}

/**
 * Checks an email address and returns its display form, key and skeleton. INVALID_REQUEST when
 * empty, INVALID_EMAIL when it holds a refused character or is not an address we accept.
 */
export function normalizeEmail(input: string): NormalizedIdentifier {
  const trimmed = input.trim();
  if (trimmed === "") throw invalidField("email", "required");
  if (trimmed.length > INPUT_MAX_LENGTH) throw invalidField("email", "not a valid email address", "INVALID_EMAIL");
  const refused = findRefusedCharacter(trimmed);
  if (refused !== undefined) throw refusal("email", refused);
  const display = trimmed.normalize("NFKC");
  const at = display.lastIndexOf("@");
  const local = display.slice(0, Math.max(at, 0));
  const domainKey = at > 0 ? emailDomainKey(display.slice(at + 1)) : undefined;
  if (display.length > EMAIL_MAX_LENGTH || domainKey === undefined || !localPartIsValid(local)) {
    throw invalidField("email", "not a valid email address", "INVALID_EMAIL");
  }
  return {
    display,
    key: `${foldKey(local)}@${domainKey}`,
    skeleton: `${identifierSkeleton(local)}@${domainKey}`,
  };
}

const scriptTests = IDENTIFIER_SCRIPTS.map((name) => ({ name, test: new RegExp(`\\p{Script_Extensions=${name}}`, "u") }));
const anyScript = /[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]/u;
/** The combinations UTS #39 "highly restrictive" allows beside a single script. */
const scriptCombinations = [
  ["Latin", "Han", "Hiragana", "Katakana"],
  ["Latin", "Han", "Bopomofo"],
  ["Latin", "Han", "Hangul"],
].map((names) => new Set(names));

/** Whether every letter of the string belongs to one script, or to one of the allowed CJK combinations. */
export function isSingleScript(value: string): boolean {
  const sets: Set<string>[] = [];
  for (const char of value) {
    if (anyScript.test(char)) continue;
    const set = new Set(scriptTests.filter(({ test }) => test.test(char)).map(({ name }) => name));
    if (set.size === 0) return false;
    sets.push(set);
  }
  if (sets.length === 0) return true;
  if ([...sets[0]!].some((name) => sets.every((set) => set.has(name)))) return true;
  return scriptCombinations.some((combination) => sets.every((set) => [...set].some((name) => combination.has(name))));
}

const usernameRule = `${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} letters, digits, '.', '_' or '-' of one script, starting with a letter or digit`;

/**
 * Checks an optional username and returns its display form, key and skeleton; null when empty.
 * INVALID_USERNAME when it holds a refused character or breaks the profile.
 */
export function normalizeUsername(input: string | undefined): NormalizedIdentifier | null {
  const trimmed = input?.trim() ?? "";
  if (trimmed === "") return null;
  if (trimmed.length > INPUT_MAX_LENGTH) throw invalidField("username", usernameRule, "INVALID_USERNAME");
  const refused = findRefusedCharacter(trimmed);
  if (refused !== undefined) throw refusal("username", refused);
  const display = trimmed.normalize("NFKC");
  const chars = [...display];
  const valid =
    chars.length >= USERNAME_MIN_LENGTH &&
    chars.length <= USERNAME_MAX_LENGTH &&
    /^[\p{L}\p{Nd}]/u.test(display) &&
    chars.every((char) => "._-".includes(char) || (letterMarkDigit.test(char) && isIdentifierAllowed(char.codePointAt(0)!))) &&
    isSingleScript(display);
  if (!valid) throw invalidField("username", usernameRule, "INVALID_USERNAME");
  return { display, key: foldKey(display), skeleton: identifierSkeleton(display) };
}

/**
 * The key a sign-in identifier (an email address or a username) is looked up by: the same key
 * Register stored, so `ＡＤＡ`, `Ada` and `ada` find one account. Lenient about shape (an account
 * imported under older rules must still be found), strict about refused characters, which no
 * account can hold: INVALID_EMAIL (an identifier with `@`) or INVALID_USERNAME. Likewise for one
 * longer than any identifier can be.
 */
export function lookupKey(identifier: string): string {
  const trimmed = identifier.trim();
  const field = trimmed.includes("@") ? "email" : "username";
  if (trimmed.length > INPUT_MAX_LENGTH) {
    throw invalidField(field, "longer than any email address or username", field === "email" ? "INVALID_EMAIL" : "INVALID_USERNAME");
  }
  const refused = findRefusedCharacter(trimmed);
  if (refused !== undefined) throw refusal(field, refused);
  const display = trimmed.normalize("NFKC");
  const at = display.lastIndexOf("@");
  if (at < 0) return foldKey(display);
  const domain = display.slice(at + 1);
  return `${foldKey(display.slice(0, at))}@${emailDomainKey(domain) ?? foldKey(domain)}`;
}
