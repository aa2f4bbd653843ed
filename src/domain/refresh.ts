/**
 * Refresh: rotates a refresh token and issues a new pair, detecting reuse.
 *
 * `keep` mode leaves the presented token current (only the session's idle lifetime restarts). It
 * exists for the compatibility routes of APIs (Solicitud Transporte, UContact) whose documented
 * clients keep using their first refresh token: rotating would log every such client out a grace
 * window after its first refresh. The native API always rotates.
 */
import { AuthError } from "./errors.js";
import { issueTokens } from "./login.js";
import type { IssuedTokens, RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";
import { hashSecret, newSecret, openSuccessor, parseRefreshToken, sealSuccessor } from "./refresh-token.js";
import { required, tenantHeaderAllows } from "./validation.js";

export async function refresh(
  deps: AuthDeps,
  ctx: RequestContext,
  input: { readonly refreshToken: string },
  mode: "rotate" | "keep" = "rotate",
): Promise<IssuedTokens> {
  const parsed = parseRefreshToken(required("refresh_token", input.refreshToken.trim()));
  if (parsed === null) throw new AuthError("TOKEN_INVALID");
  const { sessionId, secret } = parsed;

  // Read the owner and load the user before rotating: if PostgreSQL is down, nothing has
  // changed yet and the client can retry with the same token after the grace window too.
  const owner = await deps.sessions.owner(sessionId);
  if (owner === null) throw new AuthError("SESSION_REVOKED");
  if (!tenantHeaderAllows(ctx.tenantHeader, owner.tenant)) throw new AuthError("TENANT_MISMATCH");
  const user = await deps.users.findById(owner.userId);
  if (user === null || !user.isActive) {
    await deps.sessions.revoke(sessionId, owner.userId);
    throw new AuthError(user === null ? "SESSION_REVOKED" : "ACCOUNT_DISABLED");
  }

  ctx.onIdentified?.({ userId: user.id, tenant: user.tenant });
  const now = deps.clock.now();
  const next = mode === "rotate" ? newSecret() : secret;
  const outcome = await deps.sessions.rotate({
    mode,
    sessionId,
    presentedHash: hashSecret(secret),
    nextHash: hashSecret(next),
    sealedNext: mode === "rotate" ? sealSuccessor(next, secret) : "",
    now,
    graceMs: deps.policy.refreshReuseGraceMs,
    idleTtlMs: deps.policy.refreshTokenTtlMs,
  });
  switch (outcome.kind) {
    case "rotated":
    case "kept":
      return issueTokens(deps, user, sessionId, next, outcome.ttlMs, now);
    case "grace": {
      // A retry of a token rotated moments ago (a lost response, a concurrent tab): answer with
      // the successor it already received, so every retry converges on one usable token.
      const successor = openSuccessor(outcome.sealedNext, secret);
      if (successor === null) throw new AuthError("TOKEN_INVALID");
      return issueTokens(deps, user, sessionId, successor, outcome.ttlMs, now);
    }
    case "reused":
      // RFC 9700 §4.14.2: a rotated token came back after the grace window, so it may be in an
      // attacker's hands; the store already ended the whole session.
      await deps.events.record({
        type: "refresh_reuse_detected",
        tenant: outcome.tenant,
        userId: outcome.userId,
        sessionId,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
      });
      throw new AuthError("TOKEN_REUSED");
    case "mismatch":
      // The session id is not secret (it is the `sid` claim of access tokens), so a wrong secret
      // must not end the session: that would let anyone log anyone out.
      throw new AuthError("TOKEN_INVALID");
    case "missing":
      throw new AuthError("SESSION_REVOKED");
  }
}
