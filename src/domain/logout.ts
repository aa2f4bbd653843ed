/** Logout: ends the caller's session, or all of the caller's sessions. */
import { authenticate } from "./authenticate.js";
import type { RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";

export async function logout(deps: AuthDeps, ctx: RequestContext, input: { readonly allSessions: boolean }): Promise<number> {
  const claims = await authenticate(deps, ctx);
  const ended = input.allSessions
    ? await deps.sessions.revokeAllForUser(claims.userId)
    : Number(await deps.sessions.revoke(claims.sessionId, claims.userId));
  await deps.events.record({
    type: "logout",
    tenant: claims.tenant,
    userId: claims.userId,
    sessionId: claims.sessionId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { allSessions: input.allSessions, sessionsEnded: ended },
  });
  return ended;
}
