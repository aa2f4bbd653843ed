/**
 * A new access token for the caller's own session, from a still-valid access token: the refresh of
 * the VidaPlus API (`POST /auth/refresh_token` with a bearer), whose clients hold no refresh token.
 * Re-issuing counts as using the session (its idle lifetime restarts), and the new token never
 * outlives the session.
 */
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import { accessClaimsFor } from "./login.js";
import type { RequestContext, User } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { supersededByAccountChange } from "./session-epoch.js";
import { loadTenant } from "./tenants.js";

export async function reissueAccessToken(
  deps: AuthDeps,
  ctx: RequestContext,
): Promise<{ accessToken: string; expiresIn: number; user: User }> {
  const claims = await authenticate(deps, ctx);
  for (let attempt = 1; ; attempt++) {
    const user = await deps.users.findById(claims.userId);
    if (user === null) throw new AuthError("SESSION_REVOKED");
    if (!user.isActive) throw new AuthError("ACCOUNT_DISABLED");
    // A tenant that requires roles refuses a user whose last role was taken away, as Refresh does.
    if (user.roles.length === 0 && (await loadTenant(deps, user.tenant)).policy.rolesRequired) throw new AuthError("NO_ROLES");
    const now = deps.clock.now();
    // Refused when a change to the account finished after the read above (see session-epoch.ts).
    const remainingMs = await deps.sessions.touch(claims.userId, claims.sessionId, now, deps.policy.refreshTokenTtlMs, user.sessionEpoch);
    if (remainingMs === null) throw new AuthError("SESSION_REVOKED");
    if (remainingMs === "stale") {
      // The session survived that change (ChangePassword keeps the caller's): read the user again, once.
      if (attempt < 2) continue;
      throw supersededByAccountChange();
    }
    const { token, expiresAt } = await deps.tokens.issue(
      accessClaimsFor(user, claims.sessionId, claims.amr),
      now,
      now + remainingMs,
      ctx.api,
    );
    return { accessToken: token, expiresIn: Math.max(0, expiresAt - Math.floor(now / 1000)), user };
  }
}
