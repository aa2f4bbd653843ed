/**
 * Offline verification of our access tokens, for other teams' services: signature against the
 * published JWKS (fetched once, cached, refetched when a token names an unknown kid, at most once
 * per cooldown), algorithm allow-list, `typ: at+jwt`, issuer, audience, expiry with a clock skew.
 * Optionally confirms each token with ValidateToken, which also sees revocations (a logout, a
 * password change) at once, for one round trip.
 */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { AuthService, InactiveReason } from "./gen/auth/v1/auth_pb.js";

export interface VerifiedAccessToken {
  readonly userId: string;
  readonly tenant: string;
  readonly sessionId: string;
  readonly roles: readonly string[];
  readonly email: string;
  /** Whether the address was verified when the token was issued (the `email_verified` claim; false when absent). */
  readonly emailVerified: boolean;
  readonly username: string | undefined;
  /**
   * How the user signed in (RFC 8176 `amr`): ["pwd"], or with a second factor ["pwd", "otp",
   * "mfa"] (a TOTP code) or ["pwd", "mfa"] (a recovery code). Require "mfa" for sensitive operations.
   */
  readonly amr: readonly string[];
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
  /** Every claim, for anything not above. */
  readonly claims: JWTPayload;
}

/** Why a token was refused; `reason` matches the service's error reasons. */
export class AccessTokenError extends Error {
  constructor(
    readonly reason: "TOKEN_MISSING" | "TOKEN_INVALID" | "TOKEN_EXPIRED" | "SESSION_REVOKED" | "ACCOUNT_DISABLED",
    message: string,
  ) {
    super(message);
    this.name = "AccessTokenError";
  }
}

export interface AccessTokenVerifierOptions {
  /** The service's JWKS, e.g. `https://auth.internal:8080/.well-known/jwks.json`. */
  readonly jwksUrl: string | URL;
  /** The service's JWT_ISSUER. */
  readonly issuer: string;
  /** The audience this service accepts (the service's JWT_AUDIENCE unless tokens are minted for you). */
  readonly audience: string;
  /** Accepted algorithms; default the asymmetric ones the service signs with. */
  readonly algorithms?: readonly string[];
  /** Tolerance on exp/nbf/iat in seconds; default 30. */
  readonly clockToleranceSeconds?: number;
  /** How long a fetched key set is trusted; default 5 minutes. */
  readonly cacheMaxAgeMs?: number;
  /** Least time between two fetches caused by unknown kids; default 30 s. */
  readonly cooldownMs?: number;
  /** Confirm every token with ValidateToken over this transport (Connect, gRPC or gRPC-Web). */
  readonly confirmWith?: Transport;
}

export interface AccessTokenVerifier {
  /** Resolves with the token's claims, or rejects with an AccessTokenError. */
  verify(token: string): Promise<VerifiedAccessToken>;
}

const inactiveToError: Partial<Record<InactiveReason, AccessTokenError["reason"]>> = {
  [InactiveReason.EXPIRED]: "TOKEN_EXPIRED",
  [InactiveReason.REVOKED]: "SESSION_REVOKED",
  [InactiveReason.USER_DISABLED]: "ACCOUNT_DISABLED",
};

export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const keys = createRemoteJWKSet(new URL(options.jwksUrl), {
    cacheMaxAge: options.cacheMaxAgeMs ?? 300_000,
    cooldownDuration: options.cooldownMs ?? 30_000,
  });
  const algorithms = [...(options.algorithms ?? ["ES256", "EdDSA", "RS256"])];
  const service: Client<typeof AuthService> | undefined = options.confirmWith ? createClient(AuthService, options.confirmWith) : undefined;

  return {
    async verify(token) {
      if (token === "") throw new AccessTokenError("TOKEN_MISSING", "no access token");
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: options.issuer,
          audience: options.audience,
          algorithms,
          typ: "at+jwt",
          clockTolerance: options.clockToleranceSeconds ?? 30,
          requiredClaims: ["sub", "sid", "tid", "exp", "iat"],
        }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new AccessTokenError("TOKEN_EXPIRED", "the access token has expired");
        throw new AccessTokenError("TOKEN_INVALID", `the access token is not valid (${(error as Error).message})`);
      }
      if (service !== undefined) {
        const check = await service.validateToken({ token, audience: options.audience });
        if (!check.active) {
          throw new AccessTokenError(
            inactiveToError[check.reason] ?? "TOKEN_INVALID",
            `the service says the token is inactive (${InactiveReason[check.reason]})`,
          );
        }
      }
      const { sub, sid, tid, roles, email, email_verified, username, amr, iat, exp } = payload as Record<string, unknown>;
      return {
        userId: String(sub),
        tenant: String(tid),
        sessionId: String(sid),
        roles: Array.isArray(roles) ? roles.map(String) : [],
        email: typeof email === "string" ? email : "",
        emailVerified: email_verified === true,
        username: typeof username === "string" ? username : undefined,
        amr: Array.isArray(amr) ? amr.map(String) : [],
        issuedAt: Number(iat),
        expiresAt: Number(exp),
        claims: payload,
      };
    },
  };
}
