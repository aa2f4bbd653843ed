/** The caller's own sessions: ListSessions and RevokeSession. */
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import type { RequestContext, SessionInfo } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { required } from "./validation.js";

export interface ListedSession extends SessionInfo {
  readonly current: boolean;
}

export async function listSessions(deps: AuthDeps, ctx: RequestContext): Promise<ListedSession[]> {
  const claims = await authenticate(deps, ctx);
  const sessions = await deps.sessions.list(claims.userId, deps.clock.now());
  return sessions.sort((a, b) => b.createdAt - a.createdAt).map((session) => ({ ...session, current: session.id === claims.sessionId }));
}

export async function revokeSession(deps: AuthDeps, ctx: RequestContext, input: { readonly sessionId: string }): Promise<void> {
  const claims = await authenticate(deps, ctx);
  const sessionId = required("session_id", input.sessionId.trim());
  // Someone else's session answers exactly like one that does not exist.
  const owner = await deps.sessions.owner(sessionId);
  if (owner === null || owner.userId !== claims.userId) throw new AuthError("SESSION_NOT_FOUND");
  await deps.sessions.revoke(sessionId, claims.userId);
  await deps.events.record({
    type: "session_revoked",
    tenant: claims.tenant,
    userId: claims.userId,
    sessionId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { current: sessionId === claims.sessionId },
  });
}
