/**
 * Compact JWS signing and verification for access tokens on node:crypto's one-shot `sign` and
 * `verify` with KeyObjects, with jose's rules.
 *
 * Why not jose's own `SignJWT` and `jwtVerify`: jose signs and verifies through WebCrypto, which in
 * Node runs each ECDSA operation as a job on the libuv pool and resolves a promise. Measured here
 * (bench/load/es256.ts), an ES256 verification cost 63 µs of CPU one-shot against 88 µs through
 * jose, a signature 23 µs against 47–62 µs. The primitive is all that changes: the checks below
 * follow jose 6's `jwtVerify` (lib/jws_verify.js, lib/jwt_claims_set.js) rule for rule and in the
 * same order, so each token gets the verdict jose would give it (test/unit/jws.test.ts compares
 * the two on generated tokens). jose's claim validation is internal to it, hence the copy.
 *
 * Failures are returned, not thrown: a flood of bad tokens costs no stack traces.
 */
import { createHmac, type KeyObject, sign, timingSafeEqual, verify } from "node:crypto";
import type { JwtAlgorithm } from "../../config.js";
import { isPlainObject, strictUtf8 } from "./jwt-claims.js";

/** Why a token did not verify, in ValidateToken's terms. */
export type JwsFailure =
  | "malformed"
  | "algorithm_not_allowed"
  | "unknown_key"
  | "bad_signature"
  | "wrong_type"
  | "wrong_issuer"
  | "wrong_audience"
  | "not_yet_valid"
  | "expired";

/** A key that may verify: its algorithm and the KeyObject to verify with (public, or the HS256 secret). */
export interface VerificationKey {
  readonly algorithm: JwtAlgorithm;
  readonly verificationKey: KeyObject;
}

export interface JwsRules {
  /** The `alg` values accepted at all (the ring's algorithms). */
  readonly algorithms: readonly string[];
  /**
   * The key a header names, or a failure: only our own keys, by `kid`, each bound to one
   * algorithm (no algorithm confusion). May be a promise (a reload of the ring).
   */
  readonly keyFor: (header: Readonly<Record<string, unknown>>) => VerificationKey | JwsFailure | Promise<VerificationKey | JwsFailure>;
}

export type JwsVerdict =
  | { readonly ok: true; readonly header: Readonly<Record<string, unknown>>; readonly payload: Uint8Array }
  | { readonly ok: false; readonly reason: JwsFailure };

const fail = (reason: JwsFailure): JwsVerdict => ({ ok: false, reason });
/** The header parameters jose recognises in `crit` for a JWS: `b64` (RFC 7797), which a JWT must not use. */
const RECOGNIZED_CRIT = new Set(["b64"]);
// biome-ignore lint/suspicious/noControlCharactersInRegex: the ASCII range, as jose's own check
const NON_ASCII = /[^\x00-\x7f]/;

/** `Uint8Array.fromBase64` (ES2026; the compiler's library here is ES2023). */
const Base64Array = Uint8Array as unknown as { fromBase64(text: string, options: { alphabet: "base64url" }): Uint8Array };

/** jose's base64url decoding (`Uint8Array.fromBase64`, alphabet base64url); undefined when not base64url. */
function decode(part: string): Uint8Array | undefined {
  try {
    return Base64Array.fromBase64(part, { alphabet: "base64url" });
  } catch {
    return undefined;
  }
}

/** A base64url JSON object part; undefined when it is not one. */
function decodeObject(part: string): Record<string, unknown> | undefined {
  const bytes = decode(part);
  if (bytes === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(strictUtf8.decode(bytes));
    return isPlainObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** jose's `validateCrit` for a compact JWS (the protected header is the whole header); the `b64` it implies. */
function critOf(header: Record<string, unknown>): { ok: true; b64: boolean } | { ok: false } {
  const { crit } = header;
  if (crit === undefined) return { ok: true, b64: true };
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== "string" || name === "")) return { ok: false };
  for (const name of crit as string[]) {
    if (!RECOGNIZED_CRIT.has(name) || header[name] === undefined) return { ok: false };
  }
  if (!(crit as string[]).includes("b64")) return { ok: true, b64: true };
  return typeof header.b64 === "boolean" ? { ok: true, b64: header.b64 } : { ok: false };
}

/** A protected header that parsed and passed `crit`: the object, and the `b64` it implies. */
interface ParsedHeader {
  readonly header: Readonly<Record<string, unknown>>;
  readonly b64: boolean;
}

/** Most distinct headers kept parsed; a key ring's tokens share one header per key. */
const PARSED_HEADERS_MAX = 64;
/** Longer header parts are parsed every time (ours are under 100 characters). */
const PARSED_HEADER_MAX_LENGTH = 512;

/**
 * Protected headers already parsed, by their base64url text: every token one key signs carries the
 * same header, so its decoding, JSON parse and `crit` check are done once, not per token. Only the
 * parsing is kept: `alg`, the key and the signature are checked on every token as before. Frozen,
 * since one object answers for many tokens; emptied when full, so a flood of distinct headers
 * costs what parsing always cost and no more memory.
 */
const parsedHeaders = new Map<string, ParsedHeader>();

/** The header part parsed as jose does, or undefined when it is malformed (not base64url JSON of an object, or a bad `crit`). */
function parseHeader(part: string): ParsedHeader | undefined {
  const known = parsedHeaders.get(part);
  if (known !== undefined) return known;
  const header = decodeObject(part);
  if (header === undefined) return undefined;
  const crit = critOf(header);
  if (!crit.ok) return undefined;
  const parsed: ParsedHeader = { header: deepFreeze(header), b64: crit.b64 };
  if (part.length <= PARSED_HEADER_MAX_LENGTH) {
    if (parsedHeaders.size >= PARSED_HEADERS_MAX) parsedHeaders.clear();
    parsedHeaders.set(part, parsed);
  }
  return parsed;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const field of Object.values(value)) deepFreeze(field);
  }
  return value;
}

/** Verifies a signature with node:crypto's one-shot primitive (HMAC for HS256). */
export function verifySignature(key: VerificationKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (key.algorithm) {
      case "ES256":
        // IEEE P1363 (r || s), as JWS encodes it: anything but 64 bytes is not a P-256 signature.
        return signature.length === 64 && verify("sha256", data, { key: key.verificationKey, dsaEncoding: "ieee-p1363" }, signature);
      case "EdDSA":
        return verify(null, data, key.verificationKey, signature);
      case "RS256":
        return verify("sha256", data, key.verificationKey, signature);
      case "HS256": {
        const expected = createHmac("sha256", key.verificationKey).update(data).digest();
        // Constant-time comparison: no timing oracle on the MAC.
        return expected.length === signature.length && timingSafeEqual(expected, signature);
      }
    }
  } catch {
    return false;
  }
}

/** Signs `data` with node:crypto's one-shot primitive; the JWS signature bytes. */
export function signBytes(algorithm: JwtAlgorithm, key: KeyObject, data: Uint8Array): Buffer {
  switch (algorithm) {
    case "ES256":
      return sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
    case "EdDSA":
      return sign(null, data, key);
    case "RS256":
      return sign("sha256", data, key);
    case "HS256":
      return createHmac("sha256", key).update(data).digest();
  }
}

/** A compact JWS of a header and a payload, both given as JSON text already encoded in base64url for the header. */
export function signCompact(algorithm: JwtAlgorithm, key: KeyObject, encodedHeader: string, payloadJson: string): string {
  const signingInput = `${encodedHeader}.${Buffer.from(payloadJson, "utf8").toString("base64url")}`;
  return `${signingInput}.${signBytes(algorithm, key, Buffer.from(signingInput, "latin1")).toString("base64url")}`;
}

/**
 * Verifies a compact JWS as jose's `compactVerify` does, in its order: the header (a JSON object),
 * `crit`, `alg` against the allow-list, the key, the signature; then the payload's encoding.
 * The payload bytes are returned undecoded (a JWT's claims are checked by jwt-claims.ts).
 * Synchronous when `keyFor` is (the usual case: no promise, no turn of the microtask queue per
 * token); a promise only while `keyFor` waits.
 */
export function verifyCompact(token: string, rules: JwsRules): JwsVerdict | Promise<JwsVerdict> {
  const first = token.indexOf(".");
  const second = first < 0 ? -1 : token.indexOf(".", first + 1);
  if (second < 0 || token.indexOf(".", second + 1) >= 0) return fail("malformed");
  const parsed = parseHeader(token.slice(0, first));
  if (parsed === undefined) return fail("malformed");
  const { header } = parsed;
  const { alg } = header;
  if (typeof alg !== "string" || alg === "") return fail("malformed");
  if (!rules.algorithms.includes(alg)) return fail("algorithm_not_allowed");
  // A JWT with an unencoded payload (b64: false) is refused by jose too, after its signature check.
  const found = rules.keyFor(header);
  if (found instanceof Promise) return found.then((key) => verifyWithKey(token, first, second, parsed, key));
  return verifyWithKey(token, first, second, parsed, found);
}

/** The rest of `verifyCompact` once the key is known: the signature, then the payload's encoding. */
function verifyWithKey(
  token: string,
  first: number,
  second: number,
  parsed: ParsedHeader,
  found: VerificationKey | JwsFailure,
): JwsVerdict {
  if (typeof found === "string") return fail(found);
  if (NON_ASCII.test(token)) return fail("malformed");
  const signature = decode(token.slice(second + 1));
  if (signature === undefined) return fail("malformed");
  const signingInput = Buffer.from(token.slice(0, second), "latin1");
  if (!verifySignature(found, signingInput, signature)) return fail("bad_signature");
  const payload = decode(token.slice(first + 1, second));
  if (payload === undefined || !parsed.b64) return fail("malformed");
  return { ok: true, header: parsed.header, payload };
}
