/** Bearer authentication for the calls that need a signed-in user. */
import { AuthError } from "./errors.js";
import type { AccessClaims, RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { tenantHeaderAllows } from "./validation.js";

/**
 * Verifies the caller's access token and that its session is alive; returns its claims.
 * UNAUTHENTICATED with TOKEN_MISSING, TOKEN_EXPIRED, TOKEN_INVALID or SESSION_REVOKED otherwise,
 * or PERMISSION_DENIED with ACCOUNT_DISABLED when the session ended because its user was disabled.
 */
export async function authenticate(deps: AuthDeps, ctx: RequestContext): Promise<AccessClaims> {
  const { credential } = ctx;
  if (credential.kind === "none") throw new AuthError("TOKEN_MISSING");
  if (credential.kind === "malformed") {
    throw new AuthError("TOKEN_INVALID", { message: "The authorization header must be 'Bearer <token>'." });
  }
  const token = credential.token;
  if (Buffer.byteLength(token, "utf8") > deps.policy.maxTokenBytes) throw new AuthError("TOKEN_INVALID");
  const check = await deps.tokens.verify(token, { audience: undefined, now: deps.clock.now() });
  if (!check.active) {
    throw new AuthError(check.reason === "expired" ? "TOKEN_EXPIRED" : "TOKEN_INVALID");
  }
  const claims = check.claims;
  if (!tenantHeaderAllows(ctx.tenantHeader, claims.tenant)) throw new AuthError("TENANT_MISMATCH");
  if (!(await deps.sessions.isActive(claims.userId, claims.sessionId))) {
    throw new AuthError((await deps.sessions.isUserDisabled(claims.userId)) ? "ACCOUNT_DISABLED" : "SESSION_REVOKED");
  }
  ctx.onIdentified?.({ userId: claims.userId, tenant: claims.tenant });
  return claims;
}
