/** Bearer authentication for the calls that need a signed-in user. */
import { AuthError } from "./errors.js";
import type { AccessClaims, RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { tenantHeaderAllows } from "./validation.js";

/** Extracts the token from an `authorization: Bearer <token>` header; undefined when absent. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization.trim());
  return match?.[1];
}

/**
 * Verifies the caller's access token and that its session is alive; returns its claims.
 * UNAUTHENTICATED with TOKEN_MISSING, TOKEN_EXPIRED, TOKEN_INVALID or SESSION_REVOKED otherwise.
 */
export async function authenticate(deps: AuthDeps, ctx: RequestContext): Promise<AccessClaims> {
  const token = bearerToken(ctx.authorization);
  if (token === undefined) {
    throw new AuthError(ctx.authorization === undefined ? "TOKEN_MISSING" : "TOKEN_INVALID", {
      message: ctx.authorization === undefined ? undefined : "The authorization header must be 'Bearer <token>'.",
    });
  }
  if (Buffer.byteLength(token, "utf8") > deps.policy.maxTokenBytes) throw new AuthError("TOKEN_INVALID");
  const check = await deps.tokens.verify(token, { audience: undefined, now: deps.clock.now() });
  if (!check.active) {
    throw new AuthError(check.reason === "expired" ? "TOKEN_EXPIRED" : "TOKEN_INVALID");
  }
  const claims = check.claims;
  if (!tenantHeaderAllows(ctx.tenantHeader, claims.tenant)) throw new AuthError("TENANT_MISMATCH");
  if (!(await deps.sessions.isActive(claims.sessionId))) throw new AuthError("SESSION_REVOKED");
  ctx.onIdentified?.({ userId: claims.userId, tenant: claims.tenant });
  return claims;
}
