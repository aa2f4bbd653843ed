/**
 * TOTP (RFC 6238 over RFC 4226's HOTP) with the parameters every authenticator app accepts by
 * default, and that Google Authenticator accepts only: HMAC-SHA-1, 6 digits, 30-second steps, T0 =
 * 0. Secrets are 160 random bits (RFC 4226 §4 recommends 160), shown base32 (RFC 4648, no padding)
 * in an `otpauth://totp/` URI, the key URI format authenticator apps scan.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const TOTP_ALGORITHM = "SHA1";
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** 160 bits: RFC 4226 §4 recommends it, and it is the HMAC-SHA-1 block's natural key length. */
export const TOTP_SECRET_BYTES = 20;

const BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

export function newTotpSecret(): Uint8Array {
  return new Uint8Array(randomBytes(TOTP_SECRET_BYTES));
}

/** RFC 4648 base32, upper case, without padding (authenticator apps accept it so). */
export function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The time step that `nowMs` falls in. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

/** The HOTP value (RFC 4226 §5.3) of `secret` at counter `step`, as 6 digits. */
export function totpCode(secret: Uint8Array, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", secret).update(counter).digest();
  // Dynamic truncation: the low nibble of the last byte picks 4 bytes; their top bit is dropped.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, "0");
}

/**
 * The time step whose code `code` is, within `window` steps either side of `nowMs` (RFC 6238 §5.2
 * allows for clock drift and transmission delay so), or null. Every candidate is compared, in
 * constant time, so the time taken says nothing about which step matched or how close a guess was.
 */
export function matchTotp(secret: Uint8Array, code: string, nowMs: number, window: number): number | null {
  const presented = Buffer.from(code, "utf8");
  const current = totpStep(nowMs);
  let matched: number | null = null;
  for (let delta = -window; delta <= window; delta++) {
    const expected = Buffer.from(totpCode(secret, current + delta), "utf8");
    if (expected.length === presented.length && timingSafeEqual(expected, presented) && matched === null) matched = current + delta;
  }
  return matched;
}

/** A TOTP code as typed: digits, spaces allowed between them (some apps show `123 456`); null otherwise. */
export function normalizeTotpCode(input: string): string | null {
  const code = input.replace(/\s+/g, "");
  return /^[0-9]{6}$/.test(code) ? code : null;
}

/**
 * The key URI (`otpauth://totp/Issuer:account?secret=…&issuer=…`) of Google Authenticator's "Key
 * Uri Format", which every authenticator app reads: the label is the issuer and the account
 * joined by a colon, each percent-encoded (so neither can hold a raw colon), and the issuer is
 * repeated as a parameter. The parameters are spelled out even at their defaults, for apps that
 * read them strictly.
 */
export function otpauthUri(issuer: string, account: string, secret: Uint8Array): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = [
    `secret=${base32Encode(secret)}`,
    `issuer=${encodeURIComponent(issuer)}`,
    `algorithm=${TOTP_ALGORITHM}`,
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join("&");
  return `otpauth://totp/${label}?${query}`;
}
