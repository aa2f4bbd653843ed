/**
 * The JWT claim checks of jose 6's `jwtVerify` (`validateClaimsSet` in lib/jwt_claims_set.js,
 * which jose does not export), rule for rule and in its order, for a payload whose signature
 * jws.ts verified. Each failure is the reason jose's error would have mapped to in ValidateToken:
 * a failed check of `iss`, `aud`, `nbf`/`iat` or `typ` names that claim, anything else is
 * `malformed`, an `exp` in the past `expired`.
 */
import type { JwsFailure } from "./jws.js";

export interface ClaimRules {
  readonly typ: string;
  readonly issuer: string;
  readonly audience: string;
  /** Seconds. */
  readonly toleranceSeconds: number;
  /** Seconds since the epoch. */
  readonly nowSeconds: number;
  /** Claims that must be present, as jose's `requiredClaims`. */
  readonly requiredClaims: readonly string[];
}

export type ClaimsVerdict =
  | { readonly ok: true; readonly claims: Record<string, unknown> }
  | { readonly ok: false; readonly reason: JwsFailure };

/** UTF-8 that refuses invalid bytes, as jose decodes. */
export const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** jose's `isObject`: a plain object (its prototype Object.prototype or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Object.prototype.toString.call(value) !== "[object Object]") return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}

/** jose's `normalizeTyp`: case-insensitive, `application/` implied. */
const normalizeTyp = (value: string) => {
  const normalized = value.toLowerCase();
  return value.includes("/") ? normalized : `application/${normalized}`;
};

/** The reason a failed check of `claim` maps to (see access-tokens.ts' jose mapping before this file). */
function failedClaim(claim: string): ClaimsVerdict {
  switch (claim) {
    case "iss":
      return { ok: false, reason: "wrong_issuer" };
    case "aud":
      return { ok: false, reason: "wrong_audience" };
    case "nbf":
    case "iat":
      return { ok: false, reason: "not_yet_valid" };
    default:
      return { ok: false, reason: "malformed" };
  }
}

const MALFORMED: ClaimsVerdict = { ok: false, reason: "malformed" };

/** The order of the presence checks for each list of required claims, worked out once per list. */
const presenceOrders = new WeakMap<readonly string[], readonly string[]>();

/** jose checks presence in this order: iss, aud, then the required claims last to first, each once. */
function presenceOrder(required: readonly string[]): readonly string[] {
  let order = presenceOrders.get(required);
  if (order === undefined) {
    order = [...new Set(["iss", "aud", ...[...required].reverse()])];
    presenceOrders.set(required, order);
  }
  return order;
}

/** The claims of a verified payload if they pass jose's checks with these rules. */
export function checkClaims(header: Readonly<Record<string, unknown>>, payload: Uint8Array, rules: ClaimRules): ClaimsVerdict {
  let claims: unknown;
  try {
    claims = JSON.parse(strictUtf8.decode(payload));
  } catch {
    return MALFORMED;
  }
  if (!isPlainObject(claims)) return MALFORMED;
  if (typeof header.typ !== "string" || normalizeTyp(header.typ) !== normalizeTyp(rules.typ)) return { ok: false, reason: "wrong_type" };
  for (const claim of presenceOrder(rules.requiredClaims)) {
    if (!Object.hasOwn(claims, claim)) return failedClaim(claim);
  }
  if (claims.iss !== rules.issuer) return failedClaim("iss");
  const { aud } = claims;
  const audienceMatches = typeof aud === "string" ? aud === rules.audience : Array.isArray(aud) && aud.includes(rules.audience);
  if (!audienceMatches) return failedClaim("aud");
  const { now, tolerance } = { now: rules.nowSeconds, tolerance: rules.toleranceSeconds };
  if (claims.iat !== undefined && typeof claims.iat !== "number") return failedClaim("iat");
  const { nbf, exp } = claims;
  if (nbf !== undefined && typeof nbf !== "number") return failedClaim("nbf");
  if (typeof nbf === "number" && nbf > now + tolerance) return failedClaim("nbf");
  if (exp !== undefined && typeof exp !== "number") return failedClaim("exp");
  if (typeof exp === "number" && exp <= now - tolerance) return { ok: false, reason: "expired" };
  return { ok: true, claims };
}
