/** Bearer authentication for the calls that need a signed-in user. */
import { AuthError } from "./errors.js";
import type { AccessClaims, RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { tenantHeaderAllows } from "./validation.js";

/**
 * Verifies the caller's access token and that its session is alive; returns its claims. Our own
 * tokens on every route; a legacy token only on the routes of the old API whose profile it is
 * (`ctx.api`). UNAUTHENTICATED with TOKEN_MISSING, TOKEN_EXPIRED, TOKEN_INVALID or SESSION_REVOKED
 * otherwise, or PERMISSION_DENIED with ACCOUNT_DISABLED when the session ended because its user
 * was disabled.
 */
export async function authenticate(deps: AuthDeps, ctx: RequestContext): Promise<AccessClaims> {
  const { credential } = ctx;
  if (credential.kind === "none") throw new AuthError("TOKEN_MISSING");
  if (credential.kind === "malformed") {
    throw new AuthError("TOKEN_INVALID", { message: "The authorization header must be 'Bearer <token>'." });
  }
  const token = credential.token;
  if (Buffer.byteLength(token, "utf8") > deps.policy.maxTokenBytes) throw new AuthError("TOKEN_INVALID");
  const check = await deps.tokens.verify(token, { audience: undefined, now: deps.clock.now(), accept: ctx.api });
  if (!check.active) {
    throw new AuthError(check.reason === "expired" ? "TOKEN_EXPIRED" : "TOKEN_INVALID");
  }
  const claims = check.claims;
  if (!tenantHeaderAllows(ctx.tenantHeader, claims.tenant)) throw new AuthError("TENANT_MISMATCH");
  const session = await sessionOf(deps, claims);
  if (session === "mismatch") throw new AuthError("TOKEN_INVALID");
  if (session !== "active") throw new AuthError(session === "user_disabled" ? "ACCOUNT_DISABLED" : "SESSION_REVOKED");
  ctx.onIdentified?.({ userId: claims.userId, tenant: claims.tenant });
  return claims;
}

/**
 * Whether the session a verified token names is alive: one round trip when it is. A legacy token
 * is signed with a secret its old API's backends hold too, so that anyone holding the secret could
 * sign one: its session is also checked to be of the tenant the token names (`mismatch` if not).
 * Our own tokens are signed with a key only this service holds.
 */
export async function sessionOf(deps: AuthDeps, claims: AccessClaims): Promise<"active" | "revoked" | "user_disabled" | "mismatch"> {
  const { userId, sessionId } = claims;
  if (claims.profile !== undefined) {
    const { tenant, userDisabled } = await deps.sessions.lookup(userId, sessionId);
    if (tenant === null) return userDisabled ? "user_disabled" : "revoked";
    return tenant === claims.tenant ? "active" : "mismatch";
  }
  if (await deps.sessions.isActive(userId, sessionId)) return "active";
  return (await deps.sessions.isUserDisabled(userId)) ? "user_disabled" : "revoked";
}
