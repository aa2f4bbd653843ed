/** The caller's own sessions: ListSessions and RevokeSession. */
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import type { RequestContext, SessionInfo } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { isSessionId } from "./refresh-token.js";
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
  // Sessions are stored under their user, so someone else's session is simply not found among the
  // caller's: it answers exactly like one that does not exist, and is left alone. A value that is
  // not shaped like a session id never reaches the store.
  if (!isSessionId(sessionId) || !(await deps.sessions.revoke(claims.userId, sessionId))) throw new AuthError("SESSION_NOT_FOUND");
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
