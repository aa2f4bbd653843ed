/**
 * A new access token for the caller's own session, from a still-valid access token: the refresh of
 * the VidaPlus API (`POST /auth/refresh_token` with a bearer), whose clients hold no refresh token.
 * Re-issuing counts as using the session (its idle lifetime restarts), and the new token never
 * outlives the session.
 */
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import type { RequestContext, User } from "./model.js";
import type { AuthDeps } from "./ports.js";

export async function reissueAccessToken(
  deps: AuthDeps,
  ctx: RequestContext,
): Promise<{ accessToken: string; expiresIn: number; user: User }> {
  const claims = await authenticate(deps, ctx);
  const user = await deps.users.findById(claims.userId);
  if (user === null) throw new AuthError("SESSION_REVOKED");
  if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
  const now = deps.clock.now();
  const remainingMs = await deps.sessions.touch(claims.sessionId, now, deps.policy.refreshTokenTtlMs);
  if (remainingMs === null) throw new AuthError("SESSION_REVOKED");
  const { token, expiresAt } = await deps.tokens.issue(
    { userId: user.id, tenant: user.tenant, sessionId: claims.sessionId, roles: user.roles, email: user.email, username: user.username },
    now,
    now + remainingMs,
  );
  return { accessToken: token, expiresIn: Math.max(0, expiresAt - Math.floor(now / 1000)), user };
}
