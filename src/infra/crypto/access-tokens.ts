/**
 * The AccessTokens port with jose: JWTs per RFC 9068 (`typ: at+jwt`, `kid` in the header) with
 * the claims iss, aud, sub, exp, iat, jti, sid, tid, roles, email, username, amr.
 */
import { randomUUID } from "node:crypto";
import { errors, type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { AccessClaims, InactiveReason, TokenCheck } from "../../domain/model.js";
import type { AccessTokens } from "../../domain/ports.js";
import type { KeyRing } from "./key-ring.js";

export interface AccessTokenOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly ttlMs: number;
  readonly clockSkewMs: number;
}

const ACCESS_TOKEN_TYPE = "at+jwt";

class UnknownKeyError extends Error {}
/** A token whose `alg` is not the algorithm of the key its `kid` names (algorithm confusion). */
class AlgorithmMismatchError extends Error {}

const isString = (value: unknown): value is string => typeof value === "string" && value !== "";

/** The domain claims of a verified payload; undefined when a claim is missing or mistyped. */
function claimsOf(payload: JWTPayload): AccessClaims | undefined {
  const { sub, sid, tid, roles, email, username, iat, exp } = payload as Record<string, unknown>;
  if (!isString(sub) || !isString(sid) || !isString(tid) || typeof email !== "string") return undefined;
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === "string")) return undefined;
  if (username !== undefined && typeof username !== "string") return undefined;
  if (typeof iat !== "number" || typeof exp !== "number") return undefined;
  return { userId: sub, tenant: tid, sessionId: sid, roles, email, username: username ?? null, issuedAt: iat, expiresAt: exp };
}

function inactiveReason(error: unknown): InactiveReason {
  if (error instanceof UnknownKeyError) return "unknown_key";
  if (error instanceof AlgorithmMismatchError) return "algorithm_not_allowed";
  if (error instanceof errors.JWTExpired) return "expired";
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "iss":
        return "wrong_issuer";
      case "aud":
        return "wrong_audience";
      case "nbf":
      case "iat":
        return "not_yet_valid";
      case "typ":
        return "wrong_type";
      default:
        return "malformed";
    }
  }
  if (error instanceof errors.JOSEError) return "malformed";
  throw error;
}

export function createAccessTokens(ring: KeyRing, options: AccessTokenOptions): AccessTokens {
  const ttlSeconds = Math.floor(options.ttlMs / 1000);
  const skewSeconds = Math.floor(options.clockSkewMs / 1000);

  return {
    async issue(claims, now, notAfter) {
      const key = ring.signer();
      const issuedAt = Math.floor(now / 1000);
      const expiresAt = Math.min(issuedAt + ttlSeconds, notAfter === undefined ? Number.POSITIVE_INFINITY : Math.floor(notAfter / 1000));
      const token = await new SignJWT({
        sid: claims.sessionId,
        tid: claims.tenant,
        roles: [...claims.roles],
        email: claims.email,
        ...(claims.username === null ? {} : { username: claims.username }),
        amr: ["pwd"],
      })
        .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(claims.userId)
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .setJti(randomUUID())
        .sign(key.signingKey);
      return { token, expiresAt };
    },

    async verify(token, { audience, now }): Promise<TokenCheck> {
      try {
        const { payload } = await jwtVerify(
          token,
          async (header) => {
            // Only our own keys, found by kid: headers such as jku, x5u or jwk are never followed.
            const key = typeof header.kid === "string" ? await ring.find(header.kid, now) : undefined;
            if (key === undefined) throw new UnknownKeyError();
            // Each kid is bound to one algorithm, so a ring holding keys of two algorithms (during a
            // migration) never lets a token pick the algorithm for a key.
            if (header.alg !== key.algorithm) throw new AlgorithmMismatchError();
            return key.verificationKey;
          },
          {
            algorithms: [...ring.algorithms()],
            issuer: options.issuer,
            audience: audience ?? options.audience,
            typ: ACCESS_TOKEN_TYPE,
            clockTolerance: skewSeconds,
            currentDate: new Date(now),
            requiredClaims: ["sub", "exp", "iat", "jti"],
          },
        );
        const claims = claimsOf(payload);
        if (claims === undefined) return { active: false, reason: "malformed" };
        if (claims.issuedAt > Math.floor(now / 1000) + skewSeconds) return { active: false, reason: "not_yet_valid" };
        return { active: true, claims };
      } catch (error) {
        return { active: false, reason: inactiveReason(error) };
      }
    },
  };
}
